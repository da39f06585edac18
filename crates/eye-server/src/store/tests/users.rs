//! What an event carries besides its type and payload (the user it was sent with, its
//! `context`, the timestamp the client sent before the server corrected it): kept and read
//! back as sent, events filtered by user, and each session's users (`session_users`), exact
//! through retention and erasure.

use std::collections::{BTreeMap, BTreeSet};

use super::erasure::{DONE_AT, run};
use super::lifecycle::{before, stored_events, sweep};
use super::{
    Harness, event, event_pages, events_of, query_plan, session_ids_page_by_page,
    session_list_plans, sqlite_plans,
};
use crate::model::EventRecord;
use crate::store::lifecycle::ErasureRequest;
use crate::store::{EventQuery, Order, Position, SessionListQuery, SessionSummary, Store};

const CONTEXT: &str = r#"{"page":{"url":"https://shop.example.com/cart","title":"Cart"},"userAgent":"Mozilla/5.0","library":{"name":"eye-js","version":"1.2.0"},"locale":"fr-FR"}"#;

/// `record` sent by `user` (`None`: by no user).
fn by(user: Option<&str>, record: EventRecord) -> EventRecord {
    EventRecord {
        user_id: user.map(str::to_owned),
        ..record
    }
}

/// A record with `data` and `context` as JSON values: PostgreSQL keeps both as `jsonb`, which
/// gives them back with its own spacing and key order.
fn comparable(record: &EventRecord) -> (EventRecord, serde_json::Value, Option<serde_json::Value>) {
    let json = |text: &str| serde_json::from_str(text).expect("stored JSON");
    let data = json(&record.data);
    let context = record.context.as_deref().map(json);
    let rest = EventRecord {
        data: String::new(),
        context: None,
        ..record.clone()
    };
    (rest, data, context)
}

fn comparables(
    records: &[EventRecord],
) -> Vec<(EventRecord, serde_json::Value, Option<serde_json::Value>)> {
    records.iter().map(comparable).collect()
}

pub(crate) async fn users_contexts_and_original_times_are_kept(harness: &dyn Harness) {
    let store = harness.store();
    let full = EventRecord {
        context: Some(CONTEXT.into()),
        // Two minutes behind the server's clock, corrected.
        original_timestamp: Some(1_699_999_880_000_000),
        ..by(
            Some("user-42"),
            event("shop", "s1", "pageview", 1_700_000_000_000_000, Some("e-1")),
        )
    };
    let user_only = by(
        Some("ü-✓"),
        event("shop", "s1", "pageview", 1_700_000_001_000_000, None),
    );
    let context_only = EventRecord {
        context: Some("{}".into()),
        ..event("blog", "s1", "cta click", 1_700_000_002_000_000, None)
    };
    let before_1970 = EventRecord {
        original_timestamp: Some(-1),
        ..event("blog", "s2", "pageview", 1_700_000_003_000_000, None)
    };
    let bare = event("blog", "s2", "pageview", 1_700_000_004_000_000, None);
    let sent = vec![full, user_only, context_only, before_1970, bare];
    store.write_batch(events_of(&sent)).await.expect("write");
    assert_eq!(
        comparables(&stored_events(&*store).await),
        comparables(&sent)
    );
    // The session page, and a second node (or a restart), read the same.
    let s1 = store
        .events(EventQuery {
            session_id: Some("s1".into()),
            limit: 10,
            ..EventQuery::default()
        })
        .await
        .expect("session page");
    assert_eq!(comparables(&s1), comparables(&sent[..3]));
    let reopened = harness.reopen().await;
    assert_eq!(
        comparables(&stored_events(&*reopened).await),
        comparables(&sent)
    );
    // A redelivery that differs (a retry built again) changes nothing stored.
    let retried = by(Some("someone-else"), sent[0].clone());
    let outcome = store
        .write_batch(events_of(&[retried]))
        .await
        .expect("retry");
    assert_eq!((outcome.stored, outcome.duplicates), (0, 1));
    assert_eq!(
        comparables(&stored_events(&*store).await),
        comparables(&sent)
    );
}

pub(crate) async fn events_are_filtered_by_user_and_paged(harness: &dyn Harness) {
    let store = harness.store();
    let records: Vec<EventRecord> = (0..45)
        .map(|n| {
            let user = match n % 3 {
                0 => Some("u-a"),
                1 => Some("u-b"),
                _ => None,
            };
            let app = if n % 2 == 0 { "shop" } else { "blog" };
            // Two events at each timestamp: pages must break ties by id.
            by(
                user,
                event(app, &format!("s{}", n % 4), "pageview", 1_000 + n / 2, None),
            )
        })
        .collect();
    store.write_batch(events_of(&records)).await.expect("write");

    let mut of_a: Vec<(i64, uuid::Uuid)> = records
        .iter()
        .filter(|e| e.user_id.as_deref() == Some("u-a"))
        .map(|e| (e.timestamp, e.id))
        .collect();
    of_a.sort();
    for order in [Order::Asc, Order::Desc] {
        let mut seen = Vec::new();
        let mut after = None;
        for _ in 0..20 {
            let mut page = store
                .events(EventQuery {
                    user_id: Some("u-a".into()),
                    order,
                    after,
                    limit: 4,
                    ..EventQuery::default()
                })
                .await
                .expect("page");
            let more = page.len() > 4;
            page.truncate(4);
            after = page.last().map(|e| Position {
                at: e.timestamp,
                id: e.id,
            });
            seen.extend(page.iter().map(|e| (e.timestamp, e.id)));
            if !more {
                break;
            }
        }
        let mut expected = of_a.clone();
        if order == Order::Desc {
            expected.reverse();
        }
        assert_eq!(seen, expected, "{order:?}");
    }

    let combined = EventQuery {
        user_id: Some("u-b".into()),
        session_id: Some("s1".into()),
        app: Some("blog".into()),
        from: Some(1_004),
        to: Some(1_020),
        limit: 100,
        ..EventQuery::default()
    };
    let found = store.events(combined).await.expect("combined");
    let expected = records
        .iter()
        .filter(|e| {
            e.user_id.as_deref() == Some("u-b")
                && e.session_id == "s1"
                && e.app == "blog"
                && (1_004..1_020).contains(&e.timestamp)
        })
        .count();
    assert!(expected > 0, "the filters leave something to find");
    assert_eq!(found.len(), expected);
    assert!(found.iter().all(|e| e.user_id.as_deref() == Some("u-b")));
    let nobody = store
        .events(EventQuery {
            user_id: Some("u-nobody".into()),
            limit: 100,
            ..EventQuery::default()
        })
        .await
        .expect("nobody");
    assert!(nobody.is_empty());
}

fn newest_first(limit: usize) -> SessionListQuery {
    SessionListQuery {
        order: Order::Desc,
        limit,
        ..SessionListQuery::default()
    }
}

async fn list(store: &dyn Store, query: SessionListQuery) -> Vec<String> {
    store
        .list_sessions(query)
        .await
        .expect("list sessions")
        .into_iter()
        .map(|s| s.session_id)
        .collect()
}

async fn sessions_of(store: &dyn Store, user: &str) -> Vec<String> {
    list(
        store,
        SessionListQuery {
            user_id: Some(user.into()),
            ..newest_first(1_000)
        },
    )
    .await
}

pub(crate) async fn sessions_are_listed_by_user(harness: &dyn Harness) {
    let store = harness.store();
    let typed = |app: &str, session: &str, category: &str, ts: i64| EventRecord {
        category: category.into(),
        ..event(app, session, "view", ts, Some(&format!("{session}-{ts}")))
    };
    let batch = [
        by(Some("u1"), typed("shop", "a", "page", 100)),
        by(None, typed("shop", "a", "form", 150)),
        by(Some("u2"), typed("shop", "b", "page", 200)),
        by(Some("u1"), typed("blog", "b", "page", 210)),
        by(Some("u2"), typed("shop", "c", "page", 300)),
        by(None, typed("shop", "d", "page", 400)),
        by(Some("u1"), typed("shop", "e", "form", 500)),
        by(Some("u1"), typed("shop", "e", "form", 510)),
    ];
    store.write_batch(events_of(&batch)).await.expect("write");
    // A redelivery adds no session twice.
    store.write_batch(events_of(&batch)).await.expect("again");

    assert_eq!(sessions_of(&*store, "u1").await, vec!["e", "b", "a"]);
    assert_eq!(sessions_of(&*store, "u2").await, vec!["c", "b"]);
    assert!(sessions_of(&*store, "u-nobody").await.is_empty());
    let oldest_first = list(
        &*store,
        SessionListQuery {
            user_id: Some("u1".into()),
            order: Order::Asc,
            ..newest_first(100)
        },
    )
    .await;
    assert_eq!(oldest_first, vec!["a", "b", "e"]);
    let summaries: Vec<SessionSummary> = store
        .list_sessions(SessionListQuery {
            user_id: Some("u2".into()),
            ..newest_first(100)
        })
        .await
        .expect("list");
    let b = &summaries[1];
    assert_eq!(
        (b.first_timestamp, b.last_timestamp, b.event_count, &b.apps),
        (200, 210, 2, &vec!["blog".to_owned(), "shop".to_owned()]),
        "a user's session is summed up whole, events of other users included"
    );

    // With the other filters.
    let with = |query: SessionListQuery| SessionListQuery {
        user_id: Some("u1".into()),
        ..query
    };
    let of_blog = with(SessionListQuery {
        app: Some("blog".into()),
        ..newest_first(100)
    });
    assert_eq!(list(&*store, of_blog).await, vec!["b"]);
    let submitted = with(SessionListQuery {
        has_event: Some(("form".into(), "view".into())),
        ..newest_first(100)
    });
    assert_eq!(list(&*store, submitted).await, vec!["e", "a"]);
    let overlapping = with(SessionListQuery {
        from: Some(205),
        to: Some(505),
        ..newest_first(100)
    });
    assert_eq!(list(&*store, overlapping).await, vec!["e", "b"]);
    let big = with(SessionListQuery {
        min_events: Some(2),
        ..newest_first(100)
    });
    assert_eq!(list(&*store, big).await, vec!["e", "b", "a"]);

    // Pages of one, each after the last of the one before, in both orders.
    for order in [Order::Desc, Order::Asc] {
        let seen = session_ids_page_by_page(
            &*store,
            with(SessionListQuery {
                order,
                ..newest_first(1)
            }),
        )
        .await;
        let whole = list(
            &*store,
            with(SessionListQuery {
                order,
                ..newest_first(100)
            }),
        )
        .await;
        assert_eq!(seen, whole, "{order:?}");
    }
}

/// Asserts that the sessions listed for each of `users` are exactly those a scan of the
/// stored events finds an event of that user in.
async fn assert_users_match_a_scan(store: &dyn Store, users: &[&str]) {
    let mut scanned: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let events = stored_events(store).await;
    for e in &events {
        if let Some(user) = e.user_id.as_deref() {
            scanned
                .entry(user)
                .or_default()
                .insert(e.session_id.clone());
        }
    }
    for user in users {
        let listed: BTreeSet<String> = sessions_of(store, user).await.into_iter().collect();
        assert_eq!(
            listed,
            scanned.get(user).cloned().unwrap_or_default(),
            "the sessions of {user}"
        );
    }
}

pub(crate) async fn session_users_stay_exact_through_retention_and_erasure(harness: &dyn Harness) {
    let store = harness.store();
    let users = [
        "u-old", "u-both", "u-new", "u-gone", "u-shop", "u-blog", "u-late",
    ];
    store
        .write_batch(events_of(&[
            // Loses u-old to retention, keeps u-both (one event of it stays) and u-new.
            by(Some("u-old"), event("shop", "mixed", "view", 10, None)),
            by(Some("u-both"), event("shop", "mixed", "view", 12, None)),
            by(Some("u-both"), event("shop", "mixed", "view", 60, None)),
            by(Some("u-new"), event("shop", "mixed", "view", 61, None)),
            // Goes whole to retention.
            by(Some("u-old"), event("shop", "old", "view", 5, None)),
            // Erased whole.
            by(Some("u-gone"), event("shop", "erased", "view", 70, None)),
            by(Some("u-new"), event("blog", "erased", "view", 80, None)),
            // Erased for the blog only.
            by(Some("u-shop"), event("shop", "one-app", "view", 90, None)),
            by(Some("u-blog"), event("blog", "one-app", "view", 95, None)),
            by(Some("u-both"), event("blog", "one-app", "view", 96, None)),
        ]))
        .await
        .expect("write");
    assert_users_match_a_scan(&*store, &users).await;

    assert_eq!(sweep(&*store, &before(25), 2).await, vec![2, 1, 0]);
    assert_users_match_a_scan(&*store, &users).await;
    assert!(sessions_of(&*store, "u-old").await.is_empty());
    assert_eq!(
        sessions_of(&*store, "u-both").await,
        vec!["one-app", "mixed"]
    );

    let erase = |session: &str, app: Option<&str>| ErasureRequest {
        session_ids: vec![session.into()],
        app: app.map(str::to_owned),
        suppress: false,
        requested_by: "key_test".into(),
    };
    for (session, app) in [("erased", None), ("one-app", Some("blog"))] {
        let job = store
            .create_erasure(erase(session, app), 1_000)
            .await
            .expect("erasure");
        run(&*store, &job.id, 1, DONE_AT).await;
        assert_users_match_a_scan(&*store, &users).await;
    }
    assert!(sessions_of(&*store, "u-gone").await.is_empty());
    assert!(sessions_of(&*store, "u-blog").await.is_empty());
    assert_eq!(sessions_of(&*store, "u-new").await, vec!["mixed"]);
    assert_eq!(sessions_of(&*store, "u-shop").await, vec!["one-app"]);
    assert_eq!(sessions_of(&*store, "u-both").await, vec!["mixed"]);

    // Sessions that went come back with events of other users only: none of their former
    // users is listed with them. (Received after the erasures finished, so no job covers
    // them.)
    let late = |session: &str, ts: i64| EventRecord {
        received_at: DONE_AT + 1,
        ..by(Some("u-late"), event("shop", session, "view", ts, None))
    };
    store
        .write_batch(events_of(&[late("old", 100), late("erased", 101)]))
        .await
        .expect("late");
    assert_users_match_a_scan(&*store, &users).await;
    assert_eq!(sessions_of(&*store, "u-late").await, vec!["erased", "old"]);
}

/// The events of the version-6 stores of the upgrade tests (`sqlite::migrations`,
/// `postgres::migrations`), all of session `s-old`, application `shop`, type `page`/`view`,
/// in January 2021: (id, timestamp, data).
pub(crate) fn version_6_events() -> Vec<(uuid::Uuid, i64, String)> {
    (0..3u8)
        .map(|n| {
            (
                uuid::Uuid::from_u128(u128::from(n) + 1),
                1_609_459_200_000_000 + i64::from(n),
                format!(r#"{{"n":{n}}}"#),
            )
        })
        .collect()
}

/// What a store upgraded from version 6 holding [`version_6_events`] (and their session's
/// summary) answers: every event, with no user, context or original timestamp; no session
/// for any user, until an event of one arrives.
pub(crate) async fn assert_upgraded_from_version_6(store: &dyn Store) {
    let kept: Vec<(uuid::Uuid, i64, serde_json::Value)> = stored_events(store)
        .await
        .iter()
        .map(|e| {
            assert_eq!(
                (&e.user_id, &e.context, e.original_timestamp),
                (&None, &None, None),
                "{e:?}"
            );
            let data = serde_json::from_str(&e.data).expect("data");
            (e.id, e.timestamp, data)
        })
        .collect();
    let written: Vec<(uuid::Uuid, i64, serde_json::Value)> = version_6_events()
        .into_iter()
        .map(|(id, ts, data)| (id, ts, serde_json::from_str(&data).expect("data")))
        .collect();
    assert_eq!(kept, written);
    assert!(sessions_of(store, "u-1").await.is_empty());
    let later = by(
        Some("u-1"),
        event("shop", "s-old", "view", 1_609_459_300_000_000, None),
    );
    store.write_batch(events_of(&[later])).await.expect("write");
    assert_eq!(sessions_of(store, "u-1").await, vec!["s-old"]);
    let summary = store
        .session("s-old")
        .await
        .expect("session")
        .expect("kept");
    assert_eq!(summary.event_count, 4);
}

/// With a user, events are read from `events_by_user` (first pages and later ones, both
/// orders, with a time range), and the session list reads the user's sessions from
/// `session_users_by_user`: neither scans a table.
#[test]
fn sqlite_user_filters_use_their_indexes() {
    use crate::store::sqlite::events::query_statement;

    let (_dir, connection) = sqlite_plans();
    let user = Some("u".to_owned());
    let event_queries = [
        EventQuery {
            user_id: user.clone(),
            ..EventQuery::default()
        },
        EventQuery {
            user_id: user.clone(),
            from: Some(1),
            to: Some(2),
            ..EventQuery::default()
        },
    ];
    for query in event_queries {
        for query in event_pages(&query) {
            let steps = query_plan(&connection, query_statement(&query));
            assert!(
                steps
                    .iter()
                    .any(|s| s.starts_with("SEARCH events USING INDEX events_by_user (user_id=?")),
                "{query:?}: {steps:?}"
            );
            assert!(
                !steps.iter().any(|s| s.contains("TEMP B-TREE")),
                "{query:?} sorts: {steps:?}"
            );
        }
    }
    let session_queries = [
        SessionListQuery {
            user_id: user.clone(),
            ..SessionListQuery::default()
        },
        SessionListQuery {
            user_id: user.clone(),
            from: Some(1),
            to: Some(2),
            app: Some("a".into()),
            has_event: Some(("c".into(), "n".into())),
            min_events: Some(2),
            ..SessionListQuery::default()
        },
    ];
    for query in session_queries {
        for (query, steps) in session_list_plans(&connection, &query) {
            assert!(
                steps.iter().any(|s| s.contains("session_users_by_user")),
                "{query:?}: {steps:?}"
            );
            assert!(
                !steps.iter().any(|s| s.starts_with("SCAN ")),
                "{query:?}: {steps:?}"
            );
        }
    }
}
