//! The worker against a real store and queue: a message the store refuses ends in the error
//! store after `max_attempts`, and the rest of its batch is stored.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Worker;
use crate::ids;
use crate::model::{EventRecord, QueueMessage};
use crate::queue::{Queue, SqliteQueue};
use crate::store::tests::{Harness, postgres_harness};
use crate::store::{ErrorQuery, EventQuery};

fn event(session: &str, data: &str) -> EventRecord {
    EventRecord {
        id: ids::event_id("shop", None, 0),
        app: "shop".into(),
        session_id: session.into(),
        category: "c".into(),
        name: "n".into(),
        data: data.into(),
        timestamp: 1_600_000_000_000_000,
        received_at: 1_600_000_000_000_000,
        event_id: None,
        schema_version: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_message_is_quarantined_and_its_batch_stored() {
    // PostgreSQL refuses what SQLite would take: `data` that is not JSON cannot become JSONB.
    let Some(harness) = postgres_harness().await else {
        return;
    };
    let store = harness.store();
    let dir = tempfile::tempdir().expect("tempdir");
    let queue: Arc<dyn Queue> = Arc::new(SqliteQueue::open(dir.path(), 100).expect("queue"));
    let poison = event("s-bad", "{not json");
    let good = event("s-good", "{}");
    let messages = vec![
        QueueMessage::Event(poison.clone()),
        QueueMessage::Event(good.clone()),
    ];
    queue.publish(messages).await.expect("publish");

    let stop = CancellationToken::new();
    let worker = Worker {
        queue: Arc::clone(&queue),
        store: Arc::clone(&store),
        batch_size: 10,
        max_attempts: 3,
        live: None,
        lag: Default::default(),
    };
    let running = tokio::spawn(worker.run(stop.clone()));
    for _ in 0..200 {
        if queue.depth().await.expect("depth") == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    running.await.expect("worker");
    assert_eq!(
        queue.depth().await.expect("depth"),
        0,
        "the poison message must not block the queue"
    );

    let stored = store
        .events(EventQuery {
            limit: 10,
            ..EventQuery::default()
        })
        .await
        .expect("events");
    assert_eq!(
        stored.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![good.id]
    );
    let errors = store
        .errors(ErrorQuery {
            limit: 10,
            ..ErrorQuery::default()
        })
        .await
        .expect("errors");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, "processing_failed");
    assert_eq!(errors[0].id, poison.id);
    assert_eq!(errors[0].session_id.as_deref(), Some("s-bad"));
    assert!(
        errors[0].message.contains("3 times"),
        "{}",
        errors[0].message
    );
}
