//! The queue conformance suite: one function per behaviour, stamped out per backend.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::{Queue, QueueError};
use crate::model::{ErrorEntry, QueueMessage};
use crate::testing::conformance_suite;

/// A queue under test, and how to reopen it on the same durable state.
pub(crate) trait Harness {
    fn open(&self, max_depth: u64) -> Arc<dyn Queue>;
}

fn message(n: usize) -> QueueMessage {
    QueueMessage::Error(ErrorEntry {
        id: Uuid::now_v7(),
        app: "test".into(),
        code: "malformed_json".into(),
        message: format!("message {n}"),
        path: None,
        received_at: n as i64,
        category: None,
        name: None,
        session_id: None,
        schema_version: None,
        raw: String::new(),
    })
}

fn ordinal(message: &QueueMessage) -> i64 {
    match message {
        QueueMessage::Error(entry) => entry.received_at,
        QueueMessage::Event(event) => event.received_at,
    }
}

const SHORT: Duration = Duration::from_millis(50);

pub(crate) async fn delivers_in_order_and_ack_removes(harness: &dyn Harness) {
    let queue = harness.open(100);
    queue
        .publish((0..5).map(message).collect())
        .await
        .expect("publish");
    assert_eq!(queue.depth().await.expect("depth"), 5);
    let first = queue.receive(3, SHORT).await.expect("receive");
    let second = queue.receive(10, SHORT).await.expect("receive");
    let order: Vec<i64> = first
        .iter()
        .chain(&second)
        .map(|d| ordinal(&d.message))
        .collect();
    assert_eq!(order, vec![0, 1, 2, 3, 4]);
    queue
        .ack(first.iter().chain(&second).map(|d| d.token).collect())
        .await
        .expect("ack");
    assert_eq!(queue.depth().await.expect("depth"), 0);
    assert!(queue.receive(10, SHORT).await.expect("receive").is_empty());
}

pub(crate) async fn unacknowledged_messages_survive_a_restart(harness: &dyn Harness) {
    let queue = harness.open(100);
    queue
        .publish((0..4).map(message).collect())
        .await
        .expect("publish");
    let delivered = queue.receive(10, SHORT).await.expect("receive");
    queue
        .ack(delivered.iter().take(2).map(|d| d.token).collect())
        .await
        .expect("ack");
    drop(queue);
    let reopened = harness.open(100);
    assert_eq!(reopened.depth().await.expect("depth"), 2);
    let again = reopened.receive(10, SHORT).await.expect("receive");
    let order: Vec<i64> = again.iter().map(|d| ordinal(&d.message)).collect();
    assert_eq!(order, vec![2, 3]);
}

pub(crate) async fn refuses_to_grow_past_its_bound(harness: &dyn Harness) {
    let queue = harness.open(3);
    queue
        .publish((0..2).map(message).collect())
        .await
        .expect("publish");
    let refused = queue.publish((0..2).map(message).collect()).await;
    assert!(
        matches!(refused, Err(QueueError::Full { depth: 2, max: 3 })),
        "{refused:?}"
    );
    assert_eq!(queue.depth().await.expect("depth"), 2);
}

pub(crate) async fn receive_wakes_on_publish(harness: &dyn Harness) {
    let queue = harness.open(100);
    let publisher = Arc::clone(&queue);
    let publish = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        publisher.publish(vec![message(7)]).await
    });
    let delivered = queue
        .receive(10, Duration::from_secs(10))
        .await
        .expect("receive");
    publish.await.expect("join").expect("publish");
    assert_eq!(delivered.len(), 1);
}

pub(crate) async fn concurrent_publishes_all_land(harness: &dyn Harness) {
    let queue = harness.open(10_000);
    let tasks: Vec<_> = (0..50)
        .map(|task| {
            let queue = Arc::clone(&queue);
            tokio::spawn(async move {
                queue
                    .publish((0..10).map(|n| message(task * 10 + n)).collect())
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("join").expect("publish");
    }
    assert_eq!(queue.depth().await.expect("depth"), 500);
    let mut seen = Vec::new();
    loop {
        let batch = queue.receive(128, SHORT).await.expect("receive");
        if batch.is_empty() {
            break;
        }
        seen.extend(batch.iter().map(|d| ordinal(&d.message)));
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..500).collect::<Vec<_>>());
}

struct SqliteHarness(tempfile::TempDir);

impl Harness for SqliteHarness {
    fn open(&self, max_depth: u64) -> Arc<dyn Queue> {
        Arc::new(super::SqliteQueue::open(self.0.path(), max_depth).expect("open queue"))
    }
}

async fn sqlite_harness() -> Option<SqliteHarness> {
    Some(SqliteHarness(tempfile::tempdir().expect("tempdir")))
}

conformance_suite!(
    sqlite,
    sqlite_harness(),
    delivers_in_order_and_ack_removes,
    unacknowledged_messages_survive_a_restart,
    refuses_to_grow_past_its_bound,
    receive_wakes_on_publish,
    concurrent_publishes_all_land,
);
