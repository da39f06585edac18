//! `migrate-data` carries what an event holds besides its type and payload (the user it was
//! sent with, its `context`, the timestamp the client sent before the server corrected it),
//! and so each user's sessions, to another embedded store and to PostgreSQL.

#[path = "../../../eye-server/src/testing/services.rs"]
#[expect(dead_code, reason = "shared word for word; these tests use part of it")]
mod services;

use eye_server::model::{EventRecord, QueueMessage};
use eye_server::store::{EventQuery, Order, PostgresStore, SessionListQuery, SqliteStore, Store};
use serde_json::Value;

use super::checkpoint::Checkpoint;
use crate::cli::MigrateDataArgs;

const USERS: [&str; 3] = ["u-1", "u-2", "u-nobody"];

fn record(session: &str, ts: i64, user: Option<&str>) -> EventRecord {
    EventRecord {
        id: uuid::Uuid::now_v7(),
        app: "shop".into(),
        session_id: session.into(),
        category: "page interaction".into(),
        name: "pageview".into(),
        data: r#"{"path":"/"}"#.into(),
        timestamp: ts,
        received_at: ts + 5,
        event_id: None,
        schema_version: None,
        user_id: user.map(str::to_owned),
        context: None,
        original_timestamp: None,
    }
}

/// Events of three sessions and two users, some with a context and a corrected timestamp,
/// some with none of the three.
fn events() -> Vec<EventRecord> {
    let at = 1_609_459_200_000_000; // 2021-01-01
    vec![
        EventRecord {
            context: Some(
                r#"{"page":{"url":"https://shop.example.com/"},"locale":"fr-FR"}"#.into(),
            ),
            original_timestamp: Some(at - 120_000_000),
            ..record("s-a", at, Some("u-1"))
        },
        record("s-a", at + 1, None),
        EventRecord {
            context: Some("{}".into()),
            ..record("s-b", at + 2, Some("u-2"))
        },
        record("s-b", at + 3, Some("u-1")),
        record("s-c", at + 4, None),
    ]
}

/// The copy's checkpoint file (in the working directory) goes however the test ends.
struct CheckpointGuard(Checkpoint);

impl Drop for CheckpointGuard {
    fn drop(&mut self) {
        self.0.finish();
    }
}

async fn migrate(from: &str, to: &str) {
    let _checkpoint = CheckpointGuard(Checkpoint::for_urls(from, to));
    let args = MigrateDataArgs {
        from: from.to_owned(),
        to: to.to_owned(),
        // Several batches.
        batch: 2,
    };
    super::migrate_data(args).await.expect("migrate-data");
}

/// A source store holding [`events`], and its URL.
async fn source(dir: &std::path::Path) -> (SqliteStore, String) {
    let store = SqliteStore::open(dir).expect("source");
    let messages: std::sync::Arc<[QueueMessage]> =
        events().into_iter().map(QueueMessage::Event).collect();
    store.write_batch(messages).await.expect("write");
    (store, format!("sqlite://{}", dir.display()))
}

/// Every event, with `data` and `context` as JSON values (PostgreSQL keeps both as `jsonb`,
/// which gives them back with its own spacing).
async fn all_events(store: &dyn Store) -> Vec<(EventRecord, Value, Option<Value>)> {
    let json = |text: &str| serde_json::from_str::<Value>(text).expect("stored JSON");
    store
        .events(EventQuery {
            order: Order::Asc,
            limit: 100,
            ..EventQuery::default()
        })
        .await
        .expect("events")
        .into_iter()
        .map(|e| {
            let (data, context) = (json(&e.data), e.context.as_deref().map(json));
            let rest = EventRecord {
                data: String::new(),
                context: None,
                ..e
            };
            (rest, data, context)
        })
        .collect()
}

async fn sessions_of(store: &dyn Store, user: &str) -> Vec<String> {
    store
        .list_sessions(SessionListQuery {
            user_id: Some(user.to_owned()),
            order: Order::Desc,
            limit: 100,
            ..SessionListQuery::default()
        })
        .await
        .expect("sessions")
        .into_iter()
        .map(|s| s.session_id)
        .collect()
}

async fn assert_moved(source: &dyn Store, target: &dyn Store) {
    let moved = all_events(target).await;
    assert_eq!(moved, all_events(source).await);
    assert!(
        moved.iter().any(|(e, _, context)| e.user_id.is_some()
            && context.is_some()
            && e.original_timestamp.is_some()),
        "{moved:?}"
    );
    let expected = [vec!["s-b", "s-a"], vec!["s-b"], vec![]];
    for (user, sessions) in USERS.iter().zip(expected) {
        assert_eq!(sessions_of(target, user).await, sessions, "{user}");
        assert_eq!(sessions_of(source, user).await, sessions, "{user}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_contexts_and_original_times_move_to_an_embedded_store() {
    let work = tempfile::tempdir().expect("tempdir");
    let (from_store, from) = source(&work.path().join("source")).await;
    let target = work.path().join("target");
    migrate(&from, &format!("sqlite://{}", target.display())).await;
    let to_store = SqliteStore::open(&target).expect("target");
    assert_moved(&from_store, &to_store).await;
}

/// A schema of the test's own on the test PostgreSQL, dropped when the test ends.
struct Schema(String);

impl Drop for Schema {
    fn drop(&mut self) {
        let schema = self.0.clone();
        // Drop runs outside async code: a short-lived thread with its own runtime cleans up.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let connected =
                    tokio_postgres::connect(&services::postgres_url(), tokio_postgres::NoTls).await;
                if let Ok((client, connection)) = connected {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_contexts_and_original_times_move_to_postgres() {
    let url = services::postgres_url();
    let (client, connection) = match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
        Ok(pair) => pair,
        Err(error) => return services::unreachable("PostgreSQL", &error),
    };
    tokio::spawn(connection);
    let schema = Schema(services::unique_name("eye_migrate"));
    client
        .batch_execute(&format!("CREATE SCHEMA {}", schema.0))
        .await
        .expect("create schema");
    let work = tempfile::tempdir().expect("tempdir");
    let (from_store, from) = source(&work.path().join("source")).await;
    let separator = if url.contains('?') { '&' } else { '?' };
    let to = format!("{url}{separator}options=-csearch_path%3D{}", schema.0);
    migrate(&from, &to).await;
    let to_store = PostgresStore::connect(&url, Some(&schema.0), 1)
        .await
        .expect("target");
    assert_moved(&from_store, &to_store).await;
}
