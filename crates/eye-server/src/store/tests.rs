//! The store conformance suite: one function per behaviour, stamped out per backend.
//! Retention and usage behaviours are in `tests/lifecycle.rs` (and `lifecycle_backends.rs`),
//! erasure in `tests/erasure.rs`, what moving to another store relies on in
//! `tests/moving.rs`, users, contexts and original timestamps in `tests/users.rs`. The
//! helpers those files share are here (SQLite query plans, walking the session list).

mod erasure;
mod lifecycle;
mod lifecycle_backends;
mod moving;
mod rollups;
pub(crate) mod users;

use std::sync::Arc;

use erasure::*;
use lifecycle::*;
use moving::*;
use rollups::*;
use users::*;

use async_trait::async_trait;

use uuid::Uuid;

use super::{ErrorQuery, EventQuery, Order, Position, Store, StoreError};
use crate::model::ids;
use crate::model::{ErrorEntry, EventRecord, QueueMessage, SchemaFileDigest, Scope};
use crate::testing::{self, conformance_suite};

#[async_trait]
pub(crate) trait Harness: Sync {
    fn store(&self) -> Arc<dyn Store>;
    /// A second store on the same database, as a second node (or a restart) opens it.
    async fn reopen(&self) -> Arc<dyn Store>;
}

#[async_trait]
impl Harness for Arc<dyn Store> {
    fn store(&self) -> Arc<dyn Store> {
        Arc::clone(self)
    }

    /// The same store: a bare store cannot say how it was opened.
    async fn reopen(&self) -> Arc<dyn Store> {
        Arc::clone(self)
    }
}

pub(crate) fn event(
    app: &str,
    session: &str,
    name: &str,
    ts: i64,
    event_id: Option<&str>,
) -> EventRecord {
    EventRecord {
        id: ids::event_id(app, event_id, ts),
        app: app.into(),
        session_id: session.into(),
        category: "page interaction".into(),
        name: name.into(),
        data: r#"{"host":"example.com"}"#.into(),
        timestamp: ts,
        received_at: ts + 5,
        event_id: event_id.map(str::to_owned),
        schema_version: None,
        user_id: None,
        context: None,
        original_timestamp: None,
    }
}

fn error(code: &str, received_at: i64, name: Option<&str>) -> ErrorEntry {
    ErrorEntry {
        id: Uuid::now_v7(),
        app: "shop".into(),
        code: code.into(),
        message: "bad".into(),
        path: Some("/data".into()),
        received_at,
        category: name.map(|_| "page interaction".to_owned()),
        name: name.map(str::to_owned),
        session_id: None,
        schema_version: None,
        raw: "{}".into(),
        replayed_at: None,
        replayed_event_id: None,
    }
}

fn events_of(records: &[EventRecord]) -> Arc<[QueueMessage]> {
    records.iter().cloned().map(QueueMessage::Event).collect()
}

pub(crate) async fn batches_are_idempotent(harness: &dyn Harness) {
    let store = harness.store();
    let batch = events_of(&[
        event("shop", "s1", "pageview", 10, None),
        event("shop", "s1", "pageview", 20, None),
    ]);
    let first = store.write_batch(batch.clone()).await.expect("write");
    let again = store.write_batch(batch).await.expect("write again");
    assert_eq!((first.stored, first.duplicates), (2, 0));
    assert_eq!((again.stored, again.duplicates), (0, 2));
    let summary = store.session("s1").await.expect("session").expect("exists");
    assert_eq!(
        (
            summary.event_count,
            summary.first_timestamp,
            summary.last_timestamp
        ),
        (2, 10, 20)
    );
}

pub(crate) async fn client_event_ids_deduplicate_per_app(harness: &dyn Harness) {
    let store = harness.store();
    let mut retry = event("shop", "s1", "pageview", 10, Some("e-1"));
    let original = retry.clone();
    retry.id = Uuid::now_v7(); // a different id must not defeat (app, event_id)
    let other_app = event("blog", "s1", "pageview", 10, Some("e-1"));
    let outcome = store
        .write_batch(events_of(&[original, retry, other_app]))
        .await
        .expect("write");
    assert_eq!((outcome.stored, outcome.duplicates), (2, 1));
    let summary = store.session("s1").await.expect("session").expect("exists");
    assert_eq!(summary.event_count, 2);
    assert_eq!(summary.apps, vec!["blog".to_owned(), "shop".to_owned()]);
    assert!(store.session("never").await.expect("session").is_none());
}

/// A batch carrying several events of one session, out of order, with a redelivery and a
/// second app, moves that session's summary once by all of them together.
pub(crate) async fn a_batch_folds_into_its_session_summaries(harness: &dyn Harness) {
    let store = harness.store();
    let earlier = event("shop", "s1", "pageview", 50, Some("e-50"));
    store
        .write_batch(events_of(std::slice::from_ref(&earlier)))
        .await
        .expect("first batch");
    let outcome = store
        .write_batch(events_of(&[
            event("shop", "s1", "pageview", 40, Some("e-40")),
            event("shop", "s2", "pageview", 5, Some("e-5")),
            earlier,
            event("shop", "s1", "cta click", 70, Some("e-70")),
            event("blog", "s1", "pageview", 30, Some("e-30")),
            event("shop", "s1", "pageview", 60, Some("e-60")),
        ]))
        .await
        .expect("second batch");
    assert_eq!((outcome.stored, outcome.duplicates), (5, 1));
    let s1 = store.session("s1").await.expect("session").expect("exists");
    assert_eq!(
        (s1.event_count, s1.first_timestamp, s1.last_timestamp),
        (5, 30, 70)
    );
    assert_eq!(s1.apps, vec!["blog".to_owned(), "shop".to_owned()]);
    let s2 = store.session("s2").await.expect("session").expect("exists");
    assert_eq!(
        (s2.event_count, s2.first_timestamp, s2.last_timestamp),
        (1, 5, 5)
    );
    assert_eq!(s2.apps, vec!["shop".to_owned()]);
}

/// A queue redelivers a message while the first delivery is still unacknowledged, and both
/// copies can land in one batch: the event is stored and counted once.
pub(crate) async fn a_message_twice_in_one_batch_counts_once(harness: &dyn Harness) {
    let store = harness.store();
    let keyed = event("shop", "s1", "pageview", 10, Some("e-10"));
    let unkeyed = event("shop", "s1", "pageview", 20, None);
    let outcome = store
        .write_batch(events_of(&[keyed.clone(), unkeyed.clone(), keyed, unkeyed]))
        .await
        .expect("batch");
    assert_eq!((outcome.stored, outcome.duplicates), (2, 2));
    let s1 = store.session("s1").await.expect("session").expect("exists");
    assert_eq!(
        (s1.event_count, s1.first_timestamp, s1.last_timestamp),
        (2, 10, 20)
    );
}

/// An error record written again (a redelivery, a second `migrate-data`) is kept once and
/// counted once in the batch's outcome.
pub(crate) async fn an_error_written_twice_counts_once(harness: &dyn Harness) {
    let store = harness.store();
    let entry = error("schema_violation", 1_000, Some("n"));
    let batch: Arc<[QueueMessage]> = vec![QueueMessage::Error(entry.clone())].into();
    let first = store.write_batch(Arc::clone(&batch)).await.expect("first");
    let again = store.write_batch(batch).await.expect("again");
    assert_eq!((first.errors, again.errors), (1, 0));
    let query = ErrorQuery {
        limit: 10,
        ..ErrorQuery::default()
    };
    assert_eq!(store.count_errors(query).await.expect("count"), 1);
}

pub(crate) async fn concurrent_overlapping_batches_store_each_event_once(harness: &dyn Harness) {
    let store = harness.store();
    let records: Vec<EventRecord> = (0..200)
        .map(|n| {
            event(
                "shop",
                &format!("s{}", n % 7),
                "pageview",
                n,
                Some(&format!("e{n}")),
            )
        })
        .collect();
    let writers: Vec<_> = (0..4)
        .map(|worker| {
            let store = Arc::clone(&store);
            let mine: Vec<EventRecord> = records
                .iter()
                .skip(worker * 30)
                .take(110)
                .cloned()
                .collect();
            tokio::spawn(async move { store.write_batch(events_of(&mine)).await })
        })
        .collect();
    for writer in writers {
        writer.await.expect("join").expect("write");
    }
    let all = store
        .events(EventQuery {
            limit: 1000,
            ..EventQuery::default()
        })
        .await
        .expect("query");
    assert_eq!(all.len(), 200);
    let mut total = 0;
    for session in 0..7 {
        let summary = store
            .session(&format!("s{session}"))
            .await
            .expect("session")
            .expect("exists");
        let expected = (0..200).filter(|n| n % 7 == session).count() as u64;
        assert_eq!(summary.event_count, expected);
        total += summary.event_count;
    }
    assert_eq!(total, 200);
}

pub(crate) async fn queries_filter_and_paginate(harness: &dyn Harness) {
    let store = harness.store();
    let mut records = Vec::new();
    for n in 0..30 {
        let name = if n % 3 == 0 { "cta click" } else { "pageview" };
        let app = if n % 2 == 0 { "shop" } else { "blog" };
        records.push(event(
            app,
            &format!("s{}", n % 4),
            name,
            1_000 + n / 2,
            None,
        ));
    }
    store.write_batch(events_of(&records)).await.expect("write");

    for order in [Order::Asc, Order::Desc] {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let query = EventQuery {
                name: Some("pageview".into()),
                order,
                after,
                limit: 4,
                ..EventQuery::default()
            };
            let mut page = store.events(query).await.expect("query");
            let more = page.len() > 4;
            page.truncate(4);
            after = page.last().map(|e| Position {
                at: e.timestamp,
                id: e.id,
            });
            seen.extend(page);
            if !more {
                break;
            }
        }
        assert_eq!(seen.len(), 20, "{order:?}");
        let keys: Vec<(i64, Uuid)> = seen.iter().map(|e| (e.timestamp, e.id)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        if order == Order::Desc {
            sorted.reverse();
        }
        assert_eq!(keys, sorted, "{order:?}");
    }

    let window = EventQuery {
        from: Some(1_003),
        to: Some(1_005),
        limit: 100,
        ..EventQuery::default()
    };
    assert_eq!(store.events(window).await.expect("query").len(), 4);
    let combined = EventQuery {
        session_id: Some("s0".into()),
        app: Some("shop".into()),
        category: Some("page interaction".into()),
        limit: 100,
        ..EventQuery::default()
    };
    let found = store.events(combined).await.expect("query");
    assert_eq!(found.len(), 8);
    assert!(
        found
            .iter()
            .all(|e| e.session_id == "s0" && e.app == "shop")
    );
}

pub(crate) async fn errors_are_kept_filtered_and_counted(harness: &dyn Harness) {
    let store = harness.store();
    let entries = [
        error("schema_violation", 100, Some("cta click")),
        error("schema_violation", 200, Some("cta click")),
        error("timestamp_in_future", 300, Some("pageview")),
        error("malformed_json", 400, None),
    ];
    let batch: Arc<[QueueMessage]> = entries.iter().cloned().map(QueueMessage::Error).collect();
    store.write_batch(batch.clone()).await.expect("write");
    store
        .write_batch(batch)
        .await
        .expect("redelivery is harmless");

    let newest_first = store
        .errors(ErrorQuery {
            order: Order::Desc,
            limit: 10,
            ..ErrorQuery::default()
        })
        .await
        .expect("query");
    let times: Vec<i64> = newest_first.iter().map(|e| e.received_at).collect();
    assert_eq!(times, vec![400, 300, 200, 100]);
    let by_code = ErrorQuery {
        code: Some("schema_violation".into()),
        limit: 10,
        ..ErrorQuery::default()
    };
    assert_eq!(store.errors(by_code).await.expect("query").len(), 2);

    let counts = store.error_counts(Some(150), None).await.expect("counts");
    assert_eq!(
        counts.by_code,
        vec![
            ("malformed_json".into(), 1),
            ("schema_violation".into(), 1),
            ("timestamp_in_future".into(), 1)
        ]
    );
    assert_eq!(counts.by_event_type.len(), 2);
}

pub(crate) async fn summaries_from_hourly_counts_equal_exact_counts(harness: &dyn Harness) {
    let store = harness.store();
    let hour = 3_600_000_000i64;
    let base = 1_700_000_000_000_000i64 / hour * hour;
    let codes = ["schema_violation", "invalid_timestamp", "malformed_json"];
    let entries: Vec<ErrorEntry> = (0..60)
        .map(|n| {
            let name = (n % 3 != 2).then_some(if n % 2 == 0 { "pageview" } else { "cta click" });
            error(codes[n % 3], base + (n as i64) * hour / 7, name)
        })
        .collect();
    let batch: Arc<[QueueMessage]> = entries.iter().cloned().map(QueueMessage::Error).collect();
    store.write_batch(Arc::clone(&batch)).await.expect("write");
    store
        .write_batch(batch)
        .await
        .expect("a redelivery must not count twice");
    let ranges = [
        (None, None),
        (Some(base + hour / 3), Some(base + 5 * hour + 17)),
        (Some(base + 2 * hour), Some(base + 4 * hour)),
        (Some(base + hour / 2), Some(base + hour - 1)),
        (Some(base - 10 * hour), Some(base + hour)),
        (Some(base + 7 * hour), None),
    ];
    for (from, to) in ranges {
        let inside: Vec<&ErrorEntry> = entries
            .iter()
            .filter(|e| {
                from.is_none_or(|f| e.received_at >= f) && to.is_none_or(|t| e.received_at < t)
            })
            .collect();
        let mut expected_codes: Vec<(String, u64)> = codes
            .iter()
            .map(|code| {
                (
                    code.to_string(),
                    inside.iter().filter(|e| e.code == *code).count() as u64,
                )
            })
            .filter(|(_, count)| *count > 0)
            .collect();
        expected_codes.sort();
        let counts = store.error_counts(from, to).await.expect("counts");
        assert_eq!(counts.by_code, expected_codes, "{from:?}..{to:?}");
        let typed: u64 = counts.by_event_type.iter().map(|(_, _, n)| n).sum();
        assert_eq!(
            typed,
            inside.iter().filter(|e| e.category.is_some()).count() as u64,
            "{from:?}..{to:?}"
        );
    }
}

pub(crate) async fn replayed_errors_are_marked_and_filtered(harness: &dyn Harness) {
    let store = harness.store();
    let entries = [
        error("schema_violation", 100, Some("cta click")),
        error("schema_violation", 200, Some("cta click")),
    ];
    let batch: Arc<[QueueMessage]> = entries.iter().cloned().map(QueueMessage::Error).collect();
    store.write_batch(batch).await.expect("write");
    let event = Uuid::now_v7();
    store
        .mark_replayed(vec![(entries[0].id, event)], 300)
        .await
        .expect("mark");
    store
        .mark_replayed(vec![(entries[0].id, Uuid::now_v7())], 400)
        .await
        .expect("marking again changes nothing");
    let all = store
        .errors(ErrorQuery {
            limit: 10,
            ..ErrorQuery::default()
        })
        .await
        .expect("errors");
    let marked = all.iter().find(|e| e.id == entries[0].id).expect("first");
    assert_eq!(
        (marked.replayed_at, marked.replayed_event_id),
        (Some(300), Some(event))
    );
    let open = store
        .errors(ErrorQuery {
            limit: 10,
            unreplayed_only: true,
            ..ErrorQuery::default()
        })
        .await
        .expect("errors");
    assert_eq!(
        open.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![entries[1].id]
    );
}

pub(crate) async fn errors_are_counted_exactly_with_their_filters(harness: &dyn Harness) {
    let store = harness.store();
    // More than any page holds, of two codes and two event types, one at each microsecond.
    let entries: Vec<ErrorEntry> = (0..1500)
        .map(|n| {
            let code = if n % 3 == 0 {
                "timestamp_in_future"
            } else {
                "schema_violation"
            };
            let name = if n % 2 == 0 { "cta click" } else { "pageview" };
            error(code, 1_000 + n, Some(name))
        })
        .collect();
    let batch: Arc<[QueueMessage]> = entries.iter().cloned().map(QueueMessage::Error).collect();
    store.write_batch(Arc::clone(&batch)).await.expect("write");
    store
        .write_batch(batch)
        .await
        .expect("a redelivery counts once");
    let replayed: Vec<(Uuid, Uuid)> = entries
        .iter()
        .take(10)
        .map(|e| (e.id, Uuid::now_v7()))
        .collect();
    store.mark_replayed(replayed, 5_000).await.expect("mark");

    let filters = [
        ErrorQuery::default(),
        ErrorQuery {
            code: Some("schema_violation".into()),
            ..ErrorQuery::default()
        },
        ErrorQuery {
            code: Some("timestamp_in_future".into()),
            category: Some("page interaction".into()),
            name: Some("cta click".into()),
            from: Some(1_100),
            to: Some(2_300),
            ..ErrorQuery::default()
        },
        ErrorQuery {
            app: Some("shop".into()),
            from: Some(2_000),
            unreplayed_only: true,
            // The page plays no part in a count.
            order: Order::Desc,
            limit: 1,
            ..ErrorQuery::default()
        },
        ErrorQuery {
            unreplayed_only: true,
            to: Some(1_050),
            ..ErrorQuery::default()
        },
        ErrorQuery {
            app: Some("elsewhere".into()),
            ..ErrorQuery::default()
        },
    ];
    for filter in filters {
        let expected = entries
            .iter()
            .enumerate()
            .filter(|(n, e)| {
                filter.code.as_ref().is_none_or(|c| *c == e.code)
                    && filter.app.as_ref().is_none_or(|a| *a == e.app)
                    && filter
                        .category
                        .as_ref()
                        .is_none_or(|c| Some(c) == e.category.as_ref())
                    && filter
                        .name
                        .as_ref()
                        .is_none_or(|m| Some(m) == e.name.as_ref())
                    && filter.from.is_none_or(|from| e.received_at >= from)
                    && filter.to.is_none_or(|to| e.received_at < to)
                    && (!filter.unreplayed_only || *n >= 10)
            })
            .count() as u64;
        let counted = store.count_errors(filter.clone()).await.expect("count");
        assert_eq!(counted, expected, "{filter:?}");
    }
}

pub(crate) async fn keys_are_found_by_hash_and_revoked(harness: &dyn Harness) {
    let store = harness.store();
    let key = store
        .create_key("shop", &[Scope::Query, Scope::Ingest], [7; 32])
        .await
        .expect("create");
    assert_eq!(key.scopes, vec![Scope::Ingest, Scope::Query]);
    let found = store
        .key_by_hash([7; 32])
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(found.id, key.id);
    assert!(store.key_by_hash([8; 32]).await.expect("lookup").is_none());
    let revoked = store.revoke_key(&key.id).await.expect("revoke");
    assert!(revoked.revoked_at.is_some());
    assert!(matches!(
        store.revoke_key("key_missing").await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.keys().await.expect("list").len(), 1);
}

pub(crate) async fn schema_changes_are_versioned(harness: &dyn Harness) {
    let store = harness.store();
    let (first, created) = store
        .put_schema("c", "n", r#"{"type":"object"}"#)
        .await
        .expect("put");
    assert_eq!((first.version, created), (1, true));
    let (same, created) = store
        .put_schema("c", "n", r#"{"type":"object"}"#)
        .await
        .expect("put");
    assert_eq!((same.version, created), (1, false));
    let (second, _) = store
        .put_schema("c", "n", r#"{"required":["a"]}"#)
        .await
        .expect("put");
    assert_eq!(second.version, 2);
    assert_eq!(
        store
            .schema("c", "n", Some(1))
            .await
            .expect("get")
            .expect("v1")
            .schema,
        first.schema
    );
    assert!(store.delete_schema("c", "n").await.expect("delete"));
    assert!(!store.delete_schema("c", "n").await.expect("delete twice"));
    assert!(store.schema("c", "n", None).await.expect("get").is_none());
    assert!(store.schemas().await.expect("list").is_empty());
    let (third, _) = store
        .put_schema("c", "n", r#"{"type":"object"}"#)
        .await
        .expect("put");
    assert_eq!(third.version, 4, "a deletion is a version too");
}

pub(crate) async fn schema_file_digests_are_kept_per_type(harness: &dyn Harness) {
    let store = harness.store();
    assert!(store.schema_file_digests().await.expect("list").is_empty());
    let digest = |category: &str, digest: &str, loaded_at| SchemaFileDigest {
        category: category.into(),
        name: "n".into(),
        digest: digest.into(),
        loaded_at,
    };
    store
        .record_schema_file_digest(&digest("b", "22", 2))
        .await
        .expect("record");
    store
        .record_schema_file_digest(&digest("a", "11", 1))
        .await
        .expect("record");
    store
        .record_schema_file_digest(&digest("b", "33", 3))
        .await
        .expect("a later load replaces the digest");
    assert_eq!(
        store.schema_file_digests().await.expect("list"),
        vec![digest("a", "11", 1), digest("b", "33", 3)]
    );
}

/// The directory lives as long as the store that uses it.
struct SqliteHarness(tempfile::TempDir, Arc<dyn Store>);

#[async_trait]
impl Harness for SqliteHarness {
    fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.1)
    }

    async fn reopen(&self) -> Arc<dyn Store> {
        Arc::new(super::SqliteStore::open(self.0.path()).expect("open the store again"))
    }
}

async fn sqlite_harness() -> Option<SqliteHarness> {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(super::SqliteStore::open(dir.path()).expect("open store"));
    Some(SqliteHarness(dir, store))
}

/// Under a steady stream of worker batches the embedded store's write-ahead log stays
/// bounded: the writer completes a checkpoint once the log is long, so it restarts instead
/// of growing with the traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_log_stays_bounded_under_steady_writes() {
    let harness = sqlite_harness().await.expect("sqlite");
    let store = harness.store();
    let data = format!(r#"{{"note":"{}"}}"#, "x".repeat(1_000));
    // 60,000 events of about 1.2 KB, with their index entries: some 300 MB of log.
    for batch in 0..60 {
        let messages: Arc<[QueueMessage]> = (0..1000)
            .map(|n| {
                let mut record = event("shop", &format!("s-{n}"), "view", batch * 1000 + n, None);
                record.data = data.clone();
                QueueMessage::Event(record)
            })
            .collect();
        store.write_batch(messages).await.expect("write");
    }
    // In WAL mode the log exists while a connection is open: a missing file means the test
    // looks in the wrong place, not that the log is short.
    let log = harness.0.path().join("eye.db-wal");
    let bytes = log
        .metadata()
        .unwrap_or_else(|e| panic!("{}: {e}", log.display()))
        .len();
    assert!(bytes > 0, "the log at {} is empty", log.display());
    let bound = u64::from(crate::store::sqlite::wal_checkpoint::STORE_LOG_PAGES) * 4096;
    // A few batches (about 5 MB of log each) may pass the bound before the log restarts:
    // the writer's own checkpoint gives way while the background thread holds the
    // checkpoint lock. Without the bound the log reaches 160 MB and more.
    assert!(
        bytes < bound + 32 * 1024 * 1024,
        "the log grew to {bytes} bytes (bound: {bound})"
    );
}

/// A PostgreSQL store in a schema of its own, dropped when the test ends.
pub(crate) struct PostgresHarness {
    // Before the schema: the store's connections close before the schema is dropped.
    store: Arc<dyn Store>,
    schema: PostgresSchema,
}

#[async_trait]
impl Harness for PostgresHarness {
    fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.store)
    }

    async fn reopen(&self) -> Arc<dyn Store> {
        let url = testing::postgres_url();
        Arc::new(
            super::PostgresStore::connect(&url, Some(&self.schema.name), 4)
                .await
                .expect("connect a second store"),
        )
    }
}

pub(crate) async fn postgres_harness() -> Option<PostgresHarness> {
    let (schema, _) = PostgresSchema::create().await?;
    let store = super::PostgresStore::connect(&testing::postgres_url(), Some(&schema.name), 8)
        .await
        .expect("connect store");
    Some(PostgresHarness {
        store: Arc::new(store),
        schema,
    })
}

/// An empty PostgreSQL schema of the test's own, dropped when the test ends.
pub(crate) struct PostgresSchema {
    pub name: String,
}

impl PostgresSchema {
    /// The schema, and a client whose `search_path` is it; `None` when PostgreSQL is out of
    /// reach (see [`testing::unreachable`]).
    pub(crate) async fn create() -> Option<(PostgresSchema, tokio_postgres::Client)> {
        let name = testing::unique_name("eye_test");
        let connected =
            tokio_postgres::connect(&testing::postgres_url(), tokio_postgres::NoTls).await;
        let (client, connection) = match connected {
            Ok(pair) => pair,
            Err(error) => {
                testing::unreachable("PostgreSQL", &error);
                return None;
            }
        };
        tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE SCHEMA {name}; SET search_path TO {name}"))
            .await
            .expect("create schema");
        Some((PostgresSchema { name }, client))
    }
}

impl Drop for PostgresSchema {
    fn drop(&mut self) {
        let schema = self.name.clone();
        // Drop runs outside async code: a short-lived thread with its own runtime cleans up.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                if let Ok((client, connection)) =
                    tokio_postgres::connect(&testing::postgres_url(), tokio_postgres::NoTls).await
                {
                    tokio::spawn(connection);
                    let _ = client
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

conformance_suite!(
    sqlite => sqlite_harness(),
    postgres => postgres_harness();
    batches_are_idempotent,
    a_batch_folds_into_its_session_summaries,
    a_message_twice_in_one_batch_counts_once,
    an_error_written_twice_counts_once,
    client_event_ids_deduplicate_per_app,
    concurrent_overlapping_batches_store_each_event_once,
    queries_filter_and_paginate,
    errors_are_kept_filtered_and_counted,
    replayed_errors_are_marked_and_filtered,
    errors_are_counted_exactly_with_their_filters,
    summaries_from_hourly_counts_equal_exact_counts,
    keys_are_found_by_hash_and_revoked,
    schema_changes_are_versioned,
    schema_file_digests_are_kept_per_type,
    a_partly_expired_session_keeps_an_exact_summary,
    a_wholly_expired_session_loses_its_summary,
    each_application_expires_at_its_own_cutoff,
    an_expired_event_id_can_be_stored_again,
    expired_errors_go_and_hourly_counts_stay,
    expiry_respects_the_limit_and_keeps_summaries_exact,
    usage_counts_what_is_stored,
    the_pii_secret_is_made_once_and_shared,
    an_erasure_removes_its_sessions_and_counts_exactly,
    an_erasure_for_one_app_keeps_the_others,
    an_erasure_of_unknown_sessions_is_done_with_nothing,
    error_records_are_erased_by_their_redacted_session,
    erasures_are_claimed_oldest_first_and_listed_newest_first,
    a_batch_skips_sessions_under_erasure,
    suppressed_sessions_stay_out,
    the_stored_pii_secret_is_read_without_making_one,
    a_pii_secret_is_imported_only_where_none_is_kept,
    a_store_with_its_own_secret_reports_an_import,
    erasures_are_imported_as_exported_once,
    imported_suppressions_keep_their_sessions_out,
    an_imported_job_not_yet_run_is_run_here,
    counts_equal_a_scan_through_redelivery_and_late_events,
    concurrent_workers_count_each_event_once,
    retention_and_erasure_take_their_events_out_of_the_counts,
    sessions_are_listed_filtered_and_paged,
    users_contexts_and_original_times_are_kept,
    events_are_filtered_by_user_and_paged,
    sessions_are_listed_by_user,
    session_users_stay_exact_through_retention_and_erasure,
);

/// The ids of the sessions `query` lists, walked in pages of `query.limit`, each after the
/// last of the page before (ten pages at most): a page holds one session more than its
/// limit when another follows.
pub(super) async fn session_ids_page_by_page(
    store: &dyn Store,
    query: super::SessionListQuery,
) -> Vec<String> {
    let size = query.limit;
    let mut seen = Vec::new();
    let mut after: Option<super::SessionPosition> = None;
    for _ in 0..10 {
        let mut got = store
            .list_sessions(super::SessionListQuery {
                after: after.clone(),
                ..query.clone()
            })
            .await
            .expect("page");
        let more = got.len() > size;
        got.truncate(size);
        seen.extend(got.iter().map(|s| s.session_id.clone()));
        if !more {
            break;
        }
        let last = got.last().expect("a full page");
        after = Some(super::SessionPosition {
            last_ts: last.last_timestamp,
            session_id: last.session_id.clone(),
        });
    }
    seen
}

/// A fresh SQLite store's database (the store made its tables and closed), opened bare to
/// read the plans of the statements the store builds. The directory holds the file: keep
/// it while the connection is used.
pub(super) fn sqlite_plans() -> (tempfile::TempDir, rusqlite::Connection) {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(super::SqliteStore::open(dir.path()).expect("open"));
    let connection = rusqlite::Connection::open(dir.path().join("eye.db")).expect("open");
    (dir, connection)
}

/// SQLite's plan of `statement`, its values bound: one line a step.
pub(super) fn query_plan(
    connection: &rusqlite::Connection,
    statement: super::sqlite::events::SqliteStatement,
) -> Vec<String> {
    connection
        .prepare(&format!("EXPLAIN QUERY PLAN {}", statement.text))
        .expect("prepare")
        .query_map(rusqlite::params_from_iter(statement.values), |row| {
            row.get::<_, String>(3)
        })
        .expect("plan")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// `query` in both orders, each as a first page and as a later one, 100 events a page.
pub(super) fn event_pages(query: &EventQuery) -> Vec<EventQuery> {
    let mut pages = Vec::new();
    for order in [Order::Asc, Order::Desc] {
        for after in [
            None,
            Some(Position {
                at: 0,
                id: Uuid::nil(),
            }),
        ] {
            pages.push(EventQuery {
                order,
                after,
                limit: 100,
                ..query.clone()
            });
        }
    }
    pages
}

/// SQLite's plan of the session list as the store builds it for `query`, in both orders,
/// each as a first page and as a later one, 100 sessions a page: the pages and their plans.
pub(super) fn session_list_plans(
    connection: &rusqlite::Connection,
    query: &super::SessionListQuery,
) -> Vec<(super::SessionListQuery, Vec<String>)> {
    let mut plans = Vec::new();
    for order in [Order::Asc, Order::Desc] {
        for after in [
            None,
            Some(super::SessionPosition {
                last_ts: 5,
                session_id: "s".into(),
            }),
        ] {
            let page = super::SessionListQuery {
                order,
                after,
                limit: 100,
                ..query.clone()
            };
            let mut statement = super::sqlite::events::SqliteStatement::new("");
            super::session_list::statement(&mut statement, &page, Some(3_600_000_000));
            plans.push((page, query_plan(connection, statement)));
        }
    }
    plans
}

/// Every filter of the query API is served by an index, never a full scan of `events`:
/// the plans of the statements the store itself builds, with their values bound, for
/// every filter, both orders, first pages and later ones.
#[test]
fn sqlite_event_queries_use_indexes() {
    use super::sqlite::events::query_statement;

    let (_dir, connection) = sqlite_plans();
    let text = |value: &str| Some(value.to_owned());
    let queries = [
        EventQuery {
            session_id: text("s"),
            ..EventQuery::default()
        },
        EventQuery {
            category: text("c"),
            ..EventQuery::default()
        },
        EventQuery {
            category: text("c"),
            name: text("n"),
            ..EventQuery::default()
        },
        EventQuery {
            app: text("a"),
            ..EventQuery::default()
        },
        EventQuery {
            from: Some(1),
            to: Some(2),
            ..EventQuery::default()
        },
        EventQuery {
            session_id: text("s"),
            from: Some(1),
            ..EventQuery::default()
        },
        EventQuery::default(),
    ];
    let mut planned = 0;
    for query in queries {
        for query in event_pages(&query) {
            let plan = query_plan(&connection, query_statement(&query));
            assert!(!plan.is_empty(), "no plan for {query:?}");
            let full_scan = plan
                .iter()
                .any(|step| step.starts_with("SCAN events") && !step.contains("INDEX"));
            assert!(!full_scan, "{query:?}: {plan:?}");
            planned += 1;
        }
    }
    assert_eq!(planned, 28);
}
