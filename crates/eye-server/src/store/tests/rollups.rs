//! The counts over time and the session list: every count equals a scan of the stored
//! events, through redelivery, concurrent workers, late events, retention and erasure.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::erasure::{DONE_AT, run};
use super::lifecycle::{before, stored_events, sweep};
use super::{
    Harness, event, events_of, query_plan, session_ids_page_by_page, session_list_plans,
    sqlite_plans,
};
use crate::model::EventRecord;
use crate::store::lifecycle::ErasureRequest;
use crate::store::{CountQuery, GroupBy, Interval, Order, SessionListQuery, Store};

const FAR: i64 = 1 << 60;

fn typed(app: &str, session: &str, category: &str, name: &str, ts: i64) -> EventRecord {
    EventRecord {
        category: category.into(),
        ..event(
            app,
            session,
            name,
            ts,
            Some(&format!("{app}-{session}-{name}-{ts}")),
        )
    }
}

/// Asserts that every count, at every interval, equals what a scan of the stored events
/// gives: events per (bucket, app, category, name), and sessions per bucket of their
/// first event.
pub(super) async fn assert_counts_match_a_scan(store: &dyn Store) {
    let events = stored_events(store).await;
    for interval in Interval::ALL {
        let mut expected: BTreeMap<(i64, String, String, String), u64> = BTreeMap::new();
        let mut firsts: BTreeMap<&str, i64> = BTreeMap::new();
        for e in &events {
            *expected
                .entry((
                    interval.floor(e.timestamp),
                    e.app.clone(),
                    e.category.clone(),
                    e.name.clone(),
                ))
                .or_default() += 1;
            let first = firsts.entry(&e.session_id).or_insert(e.timestamp);
            *first = (*first).min(e.timestamp);
        }
        let rows = store
            .event_counts(CountQuery {
                interval,
                from: interval.floor(-FAR),
                to: interval.floor(FAR),
                app: None,
                category: None,
                name: None,
                group_by: GroupBy {
                    app: true,
                    category: true,
                    name: true,
                },
            })
            .await
            .expect("counts");
        let counted: BTreeMap<(i64, String, String, String), u64> = rows
            .into_iter()
            .map(|row| {
                let key = (
                    row.bucket,
                    row.app.expect("grouped by app"),
                    row.category.expect("grouped by category"),
                    row.name.expect("grouped by name"),
                );
                (key, row.count)
            })
            .collect();
        assert_eq!(counted, expected, "event counts by {interval:?}");

        // The same added up across applications (`type_counts`), by type and ungrouped.
        let mut by_type: BTreeMap<(i64, String, String), u64> = BTreeMap::new();
        let mut by_bucket: BTreeMap<i64, u64> = BTreeMap::new();
        for ((bucket, _, category, name), count) in &expected {
            *by_type
                .entry((*bucket, category.clone(), name.clone()))
                .or_default() += count;
            *by_bucket.entry(*bucket).or_default() += count;
        }
        let across_apps = |group_by: GroupBy| CountQuery {
            interval,
            from: interval.floor(-FAR),
            to: interval.floor(FAR),
            app: None,
            category: None,
            name: None,
            group_by,
        };
        let typed_rows = store
            .event_counts(across_apps(GroupBy {
                app: false,
                category: true,
                name: true,
            }))
            .await
            .expect("counts by type");
        let typed: BTreeMap<(i64, String, String), u64> = typed_rows
            .into_iter()
            .map(|row| {
                assert_eq!(row.app, None);
                let key = (
                    row.bucket,
                    row.category.expect("grouped by category"),
                    row.name.expect("grouped by name"),
                );
                (key, row.count)
            })
            .collect();
        assert_eq!(
            typed, by_type,
            "counts by type, across apps, by {interval:?}"
        );
        let totals: BTreeMap<i64, u64> = store
            .event_counts(across_apps(GroupBy::default()))
            .await
            .expect("totals")
            .into_iter()
            .map(|row| (row.bucket, row.count))
            .collect();
        assert_eq!(totals, by_bucket, "totals by {interval:?}");

        let mut starts: BTreeMap<i64, u64> = BTreeMap::new();
        for first in firsts.values() {
            *starts.entry(interval.floor(*first)).or_default() += 1;
        }
        let kept: BTreeMap<i64, u64> = store
            .session_starts(interval, interval.floor(-FAR), interval.floor(FAR))
            .await
            .expect("session starts")
            .into_iter()
            .collect();
        assert_eq!(kept, starts, "session starts by {interval:?}");
    }
}

pub(crate) async fn counts_equal_a_scan_through_redelivery_and_late_events(harness: &dyn Harness) {
    let store = harness.store();
    let minute = 60_000_000;
    let first = [
        typed("shop", "s1", "page", "view", 10 * minute),
        typed("shop", "s1", "page", "view", 10 * minute + 5),
        typed("blog", "s1", "form", "submit", 70 * minute),
        typed("shop", "s2", "page", "view", 25 * 60 * minute),
    ];
    store.write_batch(events_of(&first)).await.expect("write");
    // The same batch again (a redelivery), and one with a copy of an event inside it.
    store.write_batch(events_of(&first)).await.expect("again");
    let late = typed("shop", "s2", "page", "view", 2 * minute);
    store
        .write_batch(events_of(&[late.clone(), late.clone(), first[0].clone()]))
        .await
        .expect("late");
    assert_counts_match_a_scan(&*store).await;

    let hour = store
        .event_counts(CountQuery {
            interval: Interval::Hour,
            from: 0,
            to: 48 * 60 * minute,
            app: Some("shop".into()),
            category: None,
            name: None,
            group_by: GroupBy::default(),
        })
        .await
        .expect("counts");
    let by_bucket: Vec<(i64, u64)> = hour.iter().map(|r| (r.bucket, r.count)).collect();
    assert_eq!(
        by_bucket,
        vec![(0, 3), (25 * 60 * minute, 1)],
        "filtered by app, not grouped: {hour:?}"
    );
    assert!(hour.iter().all(|r| r.app.is_none() && r.name.is_none()));
    // s2's first event moved from hour 25 to hour 0 when the late event came.
    let starts = store
        .session_starts(Interval::Hour, 0, 48 * 60 * minute)
        .await
        .expect("starts");
    assert_eq!(starts, vec![(0, 2)]);
}

pub(crate) async fn concurrent_workers_count_each_event_once(harness: &dyn Harness) {
    let store = harness.store();
    let records: Vec<EventRecord> = (0..300)
        .map(|n| {
            typed(
                if n % 3 == 0 { "blog" } else { "shop" },
                &format!("s{}", n % 11),
                "page",
                if n % 5 == 0 { "click" } else { "view" },
                // Spread over three hours, every session starting at a different moment.
                (300 - n) * 37_000_000,
            )
        })
        .collect();
    let writers: Vec<_> = (0..4)
        .map(|worker| {
            let store = Arc::clone(&store);
            let mine: Vec<EventRecord> = records
                .iter()
                .skip(worker * 60)
                .take(130)
                .cloned()
                .collect();
            tokio::spawn(async move {
                store.write_batch(events_of(&mine)).await?;
                // Each worker redelivers its batch once.
                store.write_batch(events_of(&mine)).await
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("join").expect("write");
    }
    assert_eq!(stored_events(&*store).await.len(), 300);
    assert_counts_match_a_scan(&*store).await;
}

pub(crate) async fn retention_and_erasure_take_their_events_out_of_the_counts(
    harness: &dyn Harness,
) {
    let store = harness.store();
    let hour = 3_600_000_000;
    store
        .write_batch(events_of(&[
            typed("shop", "old", "page", "view", hour),
            typed("shop", "spans", "page", "view", hour + 5),
            typed("shop", "spans", "form", "submit", 3 * hour),
            typed("shop", "gone", "form", "submit", 4 * hour),
            typed("blog", "kept", "page", "view", 5 * hour),
        ]))
        .await
        .expect("write");
    assert_eq!(sweep(&*store, &before(2 * hour), 100).await, vec![2, 0]);
    assert_counts_match_a_scan(&*store).await;

    let job = store
        .create_erasure(
            ErasureRequest {
                session_ids: vec!["gone".into()],
                app: None,
                suppress: false,
                requested_by: "key_test".into(),
            },
            10 * hour,
        )
        .await
        .expect("erasure");
    run(&*store, &job.id, 1, DONE_AT).await;
    assert_counts_match_a_scan(&*store).await;

    let submitted = list(
        &*store,
        SessionListQuery {
            has_event: Some(("form".into(), "submit".into())),
            ..page(10)
        },
    )
    .await;
    assert_eq!(
        ids(&submitted),
        vec!["spans"],
        "the erased session's type went with it"
    );
    let viewed = list(
        &*store,
        SessionListQuery {
            has_event: Some(("page".into(), "view".into())),
            ..page(10)
        },
    )
    .await;
    assert_eq!(
        ids(&viewed),
        vec!["kept"],
        "spans lost its only view to retention"
    );
}

fn page(limit: usize) -> SessionListQuery {
    SessionListQuery {
        order: Order::Desc,
        limit,
        ..SessionListQuery::default()
    }
}

async fn list(store: &dyn Store, query: SessionListQuery) -> Vec<crate::store::SessionSummary> {
    store.list_sessions(query).await.expect("list sessions")
}

fn ids(sessions: &[crate::store::SessionSummary]) -> Vec<&str> {
    sessions.iter().map(|s| s.session_id.as_str()).collect()
}

pub(crate) async fn sessions_are_listed_filtered_and_paged(harness: &dyn Harness) {
    let store = harness.store();
    store
        .write_batch(events_of(&[
            typed("shop", "a", "page", "view", 100),
            typed("shop", "a", "form", "submit", 150),
            typed("blog", "b", "page", "view", 200),
            typed("shop", "b", "page", "view", 210),
            typed("shop", "b", "page", "view", 220),
            typed("shop", "c", "page", "view", 300),
            typed("blog", "d", "form", "submit", 400),
            // Same last activity as d: the id breaks the tie.
            typed("blog", "e", "page", "view", 400),
        ]))
        .await
        .expect("write");

    let all = list(&*store, page(100)).await;
    assert_eq!(ids(&all), vec!["e", "d", "c", "b", "a"]);
    let b = &all[3];
    assert_eq!(
        (
            b.first_timestamp,
            b.last_timestamp,
            b.event_count,
            b.apps.clone()
        ),
        (200, 220, 3, vec!["blog".to_owned(), "shop".to_owned()])
    );
    let oldest_first = list(
        &*store,
        SessionListQuery {
            order: Order::Asc,
            ..page(100)
        },
    )
    .await;
    assert_eq!(ids(&oldest_first), vec!["a", "b", "c", "d", "e"]);

    // Activity overlapping [210, 301): b (200..220) and c (300), not a (ends 150).
    let overlapping = list(
        &*store,
        SessionListQuery {
            from: Some(210),
            to: Some(301),
            ..page(100)
        },
    )
    .await;
    assert_eq!(ids(&overlapping), vec!["c", "b"]);
    let started_before = list(
        &*store,
        SessionListQuery {
            to: Some(201),
            ..page(100)
        },
    )
    .await;
    assert_eq!(ids(&started_before), vec!["b", "a"], "b went on after 201");
    let of_blog = list(
        &*store,
        SessionListQuery {
            app: Some("blog".into()),
            ..page(100)
        },
    )
    .await;
    assert_eq!(ids(&of_blog), vec!["e", "d", "b"]);
    let big = list(
        &*store,
        SessionListQuery {
            min_events: Some(2),
            ..page(100)
        },
    )
    .await;
    assert_eq!(ids(&big), vec!["b", "a"]);
    let submitted = list(
        &*store,
        SessionListQuery {
            has_event: Some(("form".into(), "submit".into())),
            app: Some("shop".into()),
            ..page(100)
        },
    )
    .await;
    assert_eq!(ids(&submitted), vec!["a"]);

    // Pages of two, each starting after the last of the one before, in both orders.
    for order in [Order::Desc, Order::Asc] {
        let seen = session_ids_page_by_page(&*store, SessionListQuery { order, ..page(2) }).await;
        let whole: Vec<String> = list(&*store, SessionListQuery { order, ..page(100) })
            .await
            .into_iter()
            .map(|s| s.session_id)
            .collect();
        assert_eq!(seen, whole, "{order:?}");
    }
    // A session far longer than the others: the bound on the walk grows with it.
    store
        .write_batch(events_of(&[
            typed("shop", "long", "page", "view", 1),
            typed("shop", "long", "page", "view", 5_000),
        ]))
        .await
        .expect("write");
    let early = list(
        &*store,
        SessionListQuery {
            to: Some(2),
            ..page(100)
        },
    )
    .await;
    assert_eq!(ids(&early), vec!["long"]);
    let later = list(
        &*store,
        SessionListQuery {
            from: Some(150),
            to: Some(201),
            ..page(100)
        },
    )
    .await;
    assert_eq!(ids(&later), vec!["long", "b", "a"]);
}

/// The session list walks `sessions_by_activity` in the asked order (no sort of all the
/// sessions) and the counts read a range of `event_counts`' primary key, whatever the
/// filters: the plans of the statements the store builds, with values bound.
#[test]
fn sqlite_session_list_and_counts_use_indexes() {
    use crate::store::sqlite::events::SqliteStatement;

    let (_dir, connection) = sqlite_plans();
    let plan = |statement: SqliteStatement| query_plan(&connection, statement);
    let filters = [
        SessionListQuery::default(),
        SessionListQuery {
            from: Some(1),
            to: Some(2),
            ..SessionListQuery::default()
        },
        SessionListQuery {
            app: Some("a".into()),
            min_events: Some(3),
            has_event: Some(("c".into(), "n".into())),
            ..SessionListQuery::default()
        },
    ];
    for query in filters {
        for (query, steps) in session_list_plans(&connection, &query) {
            assert!(
                steps.iter().any(|s| s.contains("sessions_by_activity")
                    || s.contains("COVERING INDEX sessions_by_activity")),
                "{query:?}: {steps:?}"
            );
            assert!(
                !steps.iter().any(|s| s.contains("TEMP B-TREE")),
                "{query:?} sorts: {steps:?}"
            );
            assert!(
                !steps
                    .iter()
                    .any(|s| s.starts_with("SCAN session_apps")
                        || s.starts_with("SCAN session_types")),
                "{query:?}: {steps:?}"
            );
        }
    }
    // The statements the SQLite store runs: ungrouped, grouped by every field of a table's
    // key (its order; coarser groups of `event_counts` are added up in Rust), and by type
    // across applications (`type_counts`' key). None sorts.
    let every_field = GroupBy {
        app: true,
        category: true,
        name: true,
    };
    let by_type = GroupBy {
        app: false,
        category: true,
        name: true,
    };
    for (app, group_by) in [
        (None, GroupBy::default()),
        (Some("a".to_owned()), GroupBy::default()),
        (None, every_field),
        (Some("a".to_owned()), every_field),
        (None, by_type),
    ] {
        let mut statement = SqliteStatement::new("");
        crate::store::rollup::count_statement(
            &mut statement,
            &CountQuery {
                interval: Interval::Hour,
                from: 0,
                to: 3_600_000_000,
                app,
                category: None,
                name: None,
                group_by,
            },
        );
        let steps = plan(statement);
        assert!(
            steps.iter().any(|s| s.starts_with("SEARCH ")
                && s.ends_with("_counts USING PRIMARY KEY (span=? AND bucket>? AND bucket<?)")),
            "{steps:?}"
        );
        assert!(
            !steps.iter().any(|s| s.contains("TEMP B-TREE")),
            "{group_by:?} sorts: {steps:?}"
        );
    }
}
