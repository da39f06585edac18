//! The queue conformance suite: one function per behaviour, stamped out per backend.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::{Queue, QueueError};
use crate::model::timestamp::{Micros, now_micros};
use crate::model::{ErrorEntry, QueueMessage};
use crate::testing::{self, conformance_suite};

/// A queue under test, and how to reopen it on the same durable state.
#[async_trait::async_trait]
pub(crate) trait Harness: Sync {
    async fn open(&self, max_depth: u64) -> Arc<dyn Queue>;
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
        replayed_at: None,
        replayed_event_id: None,
    })
}

fn ordinal(message: &QueueMessage) -> i64 {
    match message {
        QueueMessage::Error(entry) => entry.received_at,
        QueueMessage::Event(event) => event.received_at,
    }
}

const SHORT: Duration = Duration::from_millis(50);

/// Receives until `count` deliveries arrived (each receive bounded by `max`), or 10 s passed.
async fn receive_at_least(queue: &dyn Queue, count: usize, max: usize) -> Vec<super::Delivery> {
    let mut deliveries = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while deliveries.len() < count && tokio::time::Instant::now() < deadline {
        let batch = queue
            .receive(max, Duration::from_millis(200))
            .await
            .expect("receive");
        assert!(
            batch.len() <= max,
            "receive gave {} messages, over its max of {max}",
            batch.len()
        );
        deliveries.extend(batch);
    }
    deliveries
}

pub(crate) async fn delivers_in_order_and_ack_removes(harness: &dyn Harness) {
    let queue = harness.open(100).await;
    queue
        .publish((0..5).map(message).collect())
        .await
        .expect("publish");
    assert_eq!(queue.depth().await.expect("depth"), 5);
    let delivered = receive_at_least(queue.as_ref(), 5, 3).await;
    let order: Vec<i64> = delivered.iter().map(|d| ordinal(&d.message)).collect();
    assert_eq!(order, vec![0, 1, 2, 3, 4]);
    queue
        .ack(delivered.iter().map(|d| d.token).collect())
        .await
        .expect("ack");
    assert_eq!(queue.depth().await.expect("depth"), 0);
    assert!(queue.receive(10, SHORT).await.expect("receive").is_empty());
}

pub(crate) async fn unacknowledged_messages_survive_a_restart(harness: &dyn Harness) {
    let queue = harness.open(100).await;
    queue
        .publish((0..4).map(message).collect())
        .await
        .expect("publish");
    let delivered = receive_at_least(queue.as_ref(), 4, 10).await;
    queue
        .ack(delivered.iter().take(2).map(|d| d.token).collect())
        .await
        .expect("ack");
    drop(queue);
    let reopened = harness.open(100).await;
    assert_eq!(reopened.depth().await.expect("depth"), 2);
    // A networked queue redelivers what a dead consumer held once its ack deadline passes.
    let mut again = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while again.len() < 2 && tokio::time::Instant::now() < deadline {
        again.extend(
            reopened
                .receive(10, Duration::from_millis(500))
                .await
                .expect("receive"),
        );
    }
    let order: Vec<i64> = again.iter().map(|d| ordinal(&d.message)).collect();
    assert_eq!(order, vec![2, 3]);
}

pub(crate) async fn refuses_to_grow_past_its_bound(harness: &dyn Harness) {
    let queue = harness.open(3).await;
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
    let queue = harness.open(100).await;
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
    let queue = harness.open(10_000).await;
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
    let mut seen: Vec<i64> = receive_at_least(queue.as_ref(), 500, 128)
        .await
        .iter()
        .map(|d| ordinal(&d.message))
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..500).collect::<Vec<_>>());
}

/// Publishes one message received now; returns the clock's reading just before and just
/// after, which bound any time the queue records for it.
async fn publish_now(queue: &dyn Queue) -> (Micros, Micros) {
    let before = now_micros();
    let QueueMessage::Error(mut entry) = message(0) else {
        unreachable!("an error message")
    };
    entry.received_at = now_micros();
    queue
        .publish(vec![QueueMessage::Error(entry)])
        .await
        .expect("publish");
    (before, now_micros())
}

async fn assert_oldest_within(queue: &dyn Queue, (before, after): (Micros, Micros), when: &str) {
    let oldest = queue
        .oldest_unacknowledged()
        .await
        .expect("oldest unacknowledged");
    assert!(
        oldest.is_some_and(|at| (before..=after).contains(&at)),
        "{when}: the oldest unacknowledged message came at {oldest:?}, not in {before}..={after}"
    );
}

pub(crate) async fn tells_when_its_oldest_unacknowledged_message_came(harness: &dyn Harness) {
    let queue = harness.open(100).await;
    assert_eq!(queue.oldest_unacknowledged().await.expect("oldest"), None);
    let first = publish_now(queue.as_ref()).await;
    let second = publish_now(queue.as_ref()).await;
    assert!(first.1 < second.0);
    assert_oldest_within(queue.as_ref(), first, "nothing delivered yet").await;

    let delivered = receive_at_least(queue.as_ref(), 2, 10).await;
    assert_eq!(delivered.len(), 2);
    assert_oldest_within(queue.as_ref(), first, "delivered, not acknowledged").await;
    queue.ack(vec![delivered[0].token]).await.expect("ack");
    assert_oldest_within(queue.as_ref(), second, "the first acknowledged").await;

    drop(queue);
    let reopened = harness.open(100).await;
    assert_oldest_within(reopened.as_ref(), second, "after a restart").await;
    let again = receive_at_least(reopened.as_ref(), 1, 10).await;
    reopened
        .ack(again.iter().map(|d| d.token).collect())
        .await
        .expect("ack");
    assert_eq!(
        reopened.oldest_unacknowledged().await.expect("oldest"),
        None,
        "every message acknowledged"
    );
}

struct LogHarness(tempfile::TempDir);

#[async_trait::async_trait]
impl Harness for LogHarness {
    async fn open(&self, max_depth: u64) -> Arc<dyn Queue> {
        Arc::new(super::LogQueue::open(self.0.path(), max_depth).expect("open queue"))
    }
}

async fn log_harness() -> Option<LogHarness> {
    Some(LogHarness(tempfile::tempdir().expect("tempdir")))
}

conformance_suite!(
    log,
    log_harness(),
    delivers_in_order_and_ack_removes,
    unacknowledged_messages_survive_a_restart,
    refuses_to_grow_past_its_bound,
    receive_wakes_on_publish,
    concurrent_publishes_all_land,
    tells_when_its_oldest_unacknowledged_message_came,
);

/// A JetStream stream and consumer of their own, deleted when the test ends.
struct JetStreamHarness(super::JetStreamSettings);

async fn jetstream_harness() -> Option<JetStreamHarness> {
    if !testing::nats_reachable().await {
        return None;
    }
    Some(JetStreamHarness(super::JetStreamSettings {
        url: testing::nats_url(),
        stream: testing::unique_name("EYE_TEST"),
        consumer: testing::unique_name("worker"),
        replicas: 1,
        ack_wait: Duration::from_secs(1),
        max_depth: 0,
    }))
}

#[async_trait::async_trait]
impl Harness for JetStreamHarness {
    async fn open(&self, max_depth: u64) -> Arc<dyn Queue> {
        let settings = super::JetStreamSettings {
            max_depth,
            ..self.0.clone()
        };
        Arc::new(
            super::JetStreamQueue::open(&settings)
                .await
                .expect("open JetStream queue"),
        )
    }
}

impl Drop for JetStreamHarness {
    fn drop(&mut self) {
        let (url, stream) = (self.0.url.clone(), self.0.stream.clone());
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                if let Ok(client) = async_nats::connect(url.as_str()).await {
                    let _ = async_nats::jetstream::new(client)
                        .delete_stream(&stream)
                        .await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

conformance_suite!(
    jetstream,
    jetstream_harness(),
    delivers_in_order_and_ack_removes,
    unacknowledged_messages_survive_a_restart,
    refuses_to_grow_past_its_bound,
    receive_wakes_on_publish,
    concurrent_publishes_all_land,
    tells_when_its_oldest_unacknowledged_message_came,
);
