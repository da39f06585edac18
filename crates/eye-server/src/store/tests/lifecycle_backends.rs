//! Retention as it is particular to each store: PostgreSQL drops partitions whole, SQLite
//! reuses the pages it frees, and every SQLite statement of retention and erasure walks an
//! index.

use std::sync::Arc;

use super::lifecycle::{apps, before, stored_events, summary, sweep};
use super::rollups::assert_counts_match_a_scan;
use super::{Harness, event, events_of, postgres_harness, sqlite_harness};
use crate::model::{EventRecord, QueueMessage};
use crate::store::SessionListQuery;

/// An old month whose events have all expired is dropped whole (more events than the
/// limit, in one call) with its sessions (and their users) corrected; later months stay;
/// and an event of the
/// dropped month arriving afterwards makes its partition again, also on a node that still
/// believed it existed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_drops_wholly_expired_partitions() {
    let Some(harness) = postgres_harness().await else {
        return;
    };
    let store = harness.store();
    let other_node = harness.reopen().await;
    let jan = 1_609_459_200_000_000; // 2021-01-01
    let feb = 1_612_137_600_000_000; // 2021-02-01
    let mar = 1_614_556_800_000_000; // 2021-03-01
    let day = 86_400_000_000;
    let of_user = |user: &str, record: EventRecord| EventRecord {
        user_id: Some(user.to_owned()),
        ..record
    };
    let mut january: Vec<EventRecord> = (0..5)
        .map(|n| {
            let record = event(
                "shop",
                "jan-only",
                "pageview",
                jan + n * day,
                Some(&format!("j{n}")),
            );
            of_user("u-jan", record)
        })
        .collect();
    january.push(of_user(
        "u-jan",
        event("blog", "both", "pageview", jan + 3 * day, None),
    ));
    store
        .write_batch(events_of(&january))
        .await
        .expect("january");
    other_node
        .write_batch(events_of(&[event(
            "shop",
            "elsewhere",
            "pageview",
            jan,
            None,
        )]))
        .await
        .expect("the other node knows january's partition");
    store
        .write_batch(events_of(&[
            of_user(
                "u-feb",
                event("shop", "both", "pageview", feb + 20 * day, None),
            ),
            event("shop", "both", "pageview", mar + day, None),
            event("shop", "early-feb", "pageview", feb + day, None),
        ]))
        .await
        .expect("later months");

    let cutoffs = before(feb + 10 * day);
    let first = store
        .delete_expired_events(&cutoffs, 1)
        .await
        .expect("drop");
    assert_eq!(first, 7, "january went whole, past the limit of one");
    let exists = |month: &'static str| {
        let schema = harness.schema.name.clone();
        async move {
            let (client, connection) =
                tokio_postgres::connect(&crate::testing::postgres_url(), tokio_postgres::NoTls)
                    .await
                    .expect("connect");
            tokio::spawn(connection);
            client
                .query_one(
                    "SELECT to_regclass($1) IS NOT NULL",
                    &[&format!("{schema}.events_y2021{month}")],
                )
                .await
                .expect("query")
                .get::<_, bool>(0)
        }
    };
    assert!(!exists("m01").await, "january's partition is gone");
    assert!(exists("m02").await && exists("m03").await);
    assert_eq!(summary(&*store, "jan-only").await, None);
    assert_eq!(summary(&*store, "elsewhere").await, None);
    assert_counts_match_a_scan(&*store).await;
    assert_eq!(
        summary(&*store, "both").await,
        Some((2, feb + 20 * day, mar + day, apps(&["shop"])))
    );
    let sessions_of = |user: &str| {
        let query = SessionListQuery {
            user_id: Some(user.to_owned()),
            limit: 10,
            ..SessionListQuery::default()
        };
        let store = Arc::clone(&store);
        async move {
            let listed = store.list_sessions(query).await.expect("list sessions");
            listed.into_iter().map(|s| s.session_id).collect::<Vec<_>>()
        }
    };
    assert!(
        sessions_of("u-jan").await.is_empty(),
        "january's user went with its partition"
    );
    assert_eq!(sessions_of("u-feb").await, vec!["both"]);
    // February is not wholly expired: its early event goes in a batch.
    assert_eq!(sweep(&*store, &cutoffs, 10).await, vec![1, 0]);
    assert_eq!(stored_events(&*store).await.len(), 2);

    // The keys went with the partition; january is made again on both nodes.
    let again = event("shop", "jan-only", "pageview", jan, Some("j0"));
    let outcome = store.write_batch(events_of(&[again])).await.expect("store");
    assert_eq!((outcome.stored, outcome.duplicates), (1, 0));
    assert!(exists("m01").await);
    assert_eq!(sweep(&*store, &cutoffs, 10).await, vec![1, 0]);
    assert!(!exists("m01").await);
    let outcome = other_node
        .write_batch(events_of(&[event(
            "shop",
            "late",
            "pageview",
            jan + day,
            None,
        )]))
        .await
        .expect("a node that still believed in january's partition makes it again");
    assert_eq!(outcome.stored, 1);
    assert_counts_match_a_scan(&*store).await;
}

/// Pages freed by retention are reused: writing again as much as expired leaves the file
/// about where it was, instead of doubling it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reuses_the_space_retention_frees() {
    let harness = sqlite_harness().await.expect("sqlite");
    let store = harness.store();
    let data = format!(r#"{{"note":"{}"}}"#, "x".repeat(400));
    let write = |round: i64| {
        let store = Arc::clone(&store);
        let data = data.clone();
        async move {
            for batch in 0..10 {
                let messages: Arc<[QueueMessage]> = (0..1000)
                    .map(|n| {
                        let ts = round * 1_000_000 + batch * 1000 + n;
                        let mut record = event("shop", &format!("s-{}", n % 50), "view", ts, None);
                        record.data = data.clone();
                        QueueMessage::Event(record)
                    })
                    .collect();
                store.write_batch(messages).await.expect("write");
            }
        }
    };
    let pages = || {
        let connection = rusqlite::Connection::open(harness.0.path().join("eye.db")).expect("open");
        let count = |pragma: &str| -> i64 {
            connection
                .query_row(&format!("PRAGMA {pragma}"), [], |row| row.get(0))
                .expect("pragma")
        };
        (count("page_count"), count("freelist_count"))
    };
    write(1).await;
    let (first, _) = pages();
    let swept = sweep(&*store, &before(2_000_000), 5_000).await;
    assert_eq!(swept.iter().sum::<u64>(), 10_000);
    let (_, free) = pages();
    assert!(
        free > first / 2,
        "the freed pages are on the freelist: {free} of {first}"
    );
    write(2).await;
    let (second, free) = pages();
    assert!(
        second <= first + first / 10,
        "the file grew from {first} to {second} pages ({free} free): freed pages were not reused"
    );
    assert_eq!(store.usage().await.expect("usage").events, 10_000);
}

/// Every delete of retention and erasure, and the look-up each batch makes, walks an index:
/// none scans a table whole.
#[test]
fn sqlite_lifecycle_statements_use_indexes() {
    use crate::store::sqlite::{erasure, retention, session_repair};

    let dir = tempfile::tempdir().expect("tempdir");
    drop(crate::store::SqliteStore::open(dir.path()).expect("open"));
    let connection = rusqlite::Connection::open(dir.path().join("eye.db")).expect("open");
    let sessions = r#"["s1","s2"]"#;
    let statements: Vec<(String, Vec<rusqlite::types::Value>, &str)> = {
        use rusqlite::types::Value::{Integer, Null, Text};
        vec![
            (
                retention::DELETE_EXPIRED_EVENTS.into(),
                vec![Text("shop".into()), Integer(10), Integer(100)],
                "events_by_app",
            ),
            (
                retention::DELETE_EXPIRED_ERRORS.into(),
                vec![Text("shop".into()), Integer(10), Integer(100)],
                "errors_by_app",
            ),
            (retention::apps_sql("events"), vec![], "events_by_app"),
            (retention::apps_sql("errors"), vec![], "errors_by_app"),
            (
                erasure::ERASE_EVENTS.into(),
                vec![Text(sessions.into()), Null, Integer(100)],
                "events_by_session",
            ),
            (
                erasure::ERASE_ERRORS.into(),
                vec![Text(sessions.into()), Text("shop".into()), Integer(100)],
                "errors_by_session",
            ),
            (
                erasure::JOBS_THAT_COVER.into(),
                vec![Integer(10)],
                "erasures_by_completion",
            ),
            // What a repair asks of a session's events: never a walk of every event of an
            // application, a type or a user.
            (
                session_repair::FORGET_GONE_LINK.into(),
                vec![Text("s1".into()), Text("shop".into())],
                "events_by_session",
            ),
            (
                session_repair::FORGET_GONE_TYPES.into(),
                vec![Text("s1".into())],
                "events_by_session",
            ),
            (
                session_repair::FORGET_GONE_USERS.into(),
                vec![Text("s1".into())],
                "events_by_session",
            ),
        ]
    };
    for (sql, values, index) in statements {
        let plan: Vec<String> = connection
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("prepare")
            .query_map(rusqlite::params_from_iter(values), |row| {
                row.get::<_, String>(3)
            })
            .expect("plan")
            .collect::<Result<_, _>>()
            .expect("rows");
        let full_scan = plan.iter().any(|step| {
            ["events", "errors", "erasures"]
                .iter()
                .any(|table| step == &format!("SCAN {table}"))
        });
        assert!(!full_scan, "{sql}: {plan:?}");
        assert!(
            plan.iter().any(|step| step.contains(index)),
            "{sql}: {plan:?}"
        );
    }
}
