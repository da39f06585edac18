//! The worker against a real store and queue: a message the store refuses ends in the error
//! store after `max_attempts`, and the rest of its batch is stored; with batches overlapping
//! (store, acknowledge and read at once) and lingering, every message is stored exactly once
//! and acknowledged, also when shutdown comes with a batch already read.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Worker;
use crate::model::ids;
use crate::model::{EventRecord, QueueMessage};
use crate::queue::{LogQueue, Queue};
use crate::store::tests::{Harness, postgres_harness};
use crate::store::{ErrorQuery, EventQuery, SqliteStore, Store};
use crate::testing::RefusingStore;

/// Longer than any wait here should take; each ends as soon as its condition holds.
const DEADLINE: Duration = Duration::from_secs(20);

/// Asks `probe` until it answers; fails the test when it has not after [`DEADLINE`].
async fn wait_for<T, F, R>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> R,
    R: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(answer) = probe().await {
            return answer;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

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
        user_id: None,
        context: None,
        original_timestamp: None,
    }
}

const MAX_ATTEMPTS: u32 = 3;

/// Runs a worker over `store` until the batch of `poison` and `good` is acknowledged; then
/// `good` must be stored and `poison` kept as `processing_failed` after `MAX_ATTEMPTS`.
async fn quarantines_the_refused_message_and_stores_the_rest(
    store: Arc<dyn Store>,
    poison: EventRecord,
    good: EventRecord,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue: Arc<dyn Queue> = Arc::new(LogQueue::open(dir.path(), 100).expect("queue"));
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
        linger: Duration::ZERO,
        max_attempts: MAX_ATTEMPTS,
        live: None,
    };
    let running = tokio::spawn(worker.run(stop.clone()));
    wait_for("the poison message must not block the queue", || async {
        (queue.depth().await.expect("depth") == 0).then_some(())
    })
    .await;
    stop.cancel();
    running.await.expect("worker");

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
    assert_eq!(
        errors[0].session_id.as_deref(),
        Some(poison.session_id.as_str())
    );
    assert!(
        errors[0].message.contains(&format!("{MAX_ATTEMPTS} times")),
        "{}",
        errors[0].message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_message_is_quarantined_and_its_batch_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).expect("store"));
    let (poison, good) = (event("s-bad", "{}"), event("s-good", "{}"));
    let refusing = Arc::new(RefusingStore::new(sqlite, [poison.id]));
    quarantines_the_refused_message_and_stores_the_rest(
        Arc::clone(&refusing) as Arc<dyn Store>,
        poison,
        good,
    )
    .await;
    assert_eq!(
        refusing.refusals(),
        1 + MAX_ATTEMPTS,
        "refused in its batch once, then alone `max_attempts` times"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_postgres_refuses_is_quarantined_and_its_batch_stored() {
    // PostgreSQL refuses what SQLite would take: JSONB cannot hold the character U+0000
    // (ingest refuses it, so only a message from elsewhere can carry it).
    let Some(harness) = postgres_harness().await else {
        return;
    };
    quarantines_the_refused_message_and_stores_the_rest(
        harness.store(),
        event("s-bad", r#"{"a":"\u0000"}"#),
        event("s-good", "{}"),
    )
    .await;
}

const SESSIONS: usize = 7;

/// An embedded store and queue in a temporary directory, and a worker over them.
struct Embedded {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    queue: Arc<dyn Queue>,
}

impl Embedded {
    fn open() -> Embedded {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).expect("store"));
        let queue: Arc<dyn Queue> = Arc::new(LogQueue::open(dir.path(), 1_000_000).expect("queue"));
        Embedded {
            _dir: dir,
            store,
            queue,
        }
    }

    fn worker(&self, batch_size: usize, linger: Duration) -> Worker {
        Worker {
            queue: Arc::clone(&self.queue),
            store: Arc::clone(&self.store),
            batch_size,
            linger,
            max_attempts: 3,
            live: None,
        }
    }

    async fn publish(&self, count: usize) {
        let messages = (0..count)
            .map(|i| QueueMessage::Event(event(&format!("s-{}", i % SESSIONS), "{}")))
            .collect();
        self.queue.publish(messages).await.expect("publish");
    }

    /// Events stored, as the session summaries count them (each counts an event once).
    async fn stored(&self) -> u64 {
        let mut total = 0;
        for session in 0..SESSIONS {
            if let Some(summary) = self
                .store
                .session(&format!("s-{session}"))
                .await
                .expect("session")
            {
                total += summary.event_count;
            }
        }
        total
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_lingering_batches_store_everything_once() {
    let embedded = Embedded::open();
    let stop = CancellationToken::new();
    let running = tokio::spawn(
        embedded
            .worker(100, Duration::from_millis(5))
            .run(stop.clone()),
    );
    // Published while the worker runs, in uneven chunks: some batches fill, some linger.
    for chunk in [1, 250, 3, 999, 40, 1052] {
        embedded.publish(chunk).await;
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    wait_for("every event stored and acknowledged", || async {
        let acknowledged = embedded.queue.depth().await.expect("depth") == 0;
        (acknowledged && embedded.stored().await == 2345).then_some(())
    })
    .await;
    stop.cancel();
    running.await.expect("worker");
    assert_eq!(embedded.stored().await, 2345);
    assert_eq!(embedded.queue.depth().await.expect("depth"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stores_and_acknowledges_what_was_already_read() {
    let embedded = Embedded::open();
    embedded.publish(3000).await;
    let stop = CancellationToken::new();
    let running = tokio::spawn(
        embedded
            .worker(500, Duration::from_millis(50))
            .run(stop.clone()),
    );
    // Shut down while batches are in flight: the drain finishes them (3,000 events take far
    // less than its five seconds).
    let stored_at_shutdown = wait_for("a first batch stored", || async {
        Some(embedded.stored().await).filter(|stored| *stored > 0)
    })
    .await;
    stop.cancel();
    assert!(
        stored_at_shutdown < 3000,
        "everything was stored before the shutdown: nothing was left to drain"
    );
    running.await.expect("worker");
    assert_eq!(embedded.stored().await, 3000);
    assert_eq!(
        embedded.queue.depth().await.expect("depth"),
        0,
        "every stored message is acknowledged before the worker returns"
    );
}

#[test]
fn slow_writes_space_the_next_write_out() {
    use super::gap_between_writes;
    let linger = Duration::from_millis(10);
    // Fast writes (light traffic): the linger, so lag stays low.
    assert_eq!(gap_between_writes(linger, Duration::from_millis(1)), linger);
    // A slow write: the next waits four times as long from its start, for a bigger batch.
    assert_eq!(
        gap_between_writes(linger, Duration::from_millis(20)),
        Duration::from_millis(80)
    );
    // However slow, the wait is capped (it is lag)...
    assert_eq!(
        gap_between_writes(linger, Duration::from_secs(3)),
        Duration::from_millis(200)
    );
    // ...unless the configured linger is longer still.
    assert_eq!(
        gap_between_writes(Duration::from_millis(500), Duration::from_secs(3)),
        Duration::from_millis(500)
    );
    // No linger configured: back to back, however slow the writes.
    assert_eq!(
        gap_between_writes(Duration::ZERO, Duration::from_millis(20)),
        Duration::ZERO
    );
}
