//! What the log adds to the queue conformance suite: segments, restarts, torn appends,
//! damage, the upgrade from `queue.db`, and one owner per directory.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

use super::{LogQueue, segment};
use crate::model::{ErrorEntry, QueueMessage};
use crate::queue::{Delivery, Queue, QueueError};

fn message(n: i64) -> QueueMessage {
    QueueMessage::Error(ErrorEntry {
        id: uuid::Uuid::now_v7(),
        app: "test".into(),
        code: "malformed_json".into(),
        message: format!("message {n}"),
        path: None,
        received_at: n,
        category: None,
        name: None,
        session_id: None,
        schema_version: None,
        raw: "x".repeat(200),
        replayed_at: None,
        replayed_event_id: None,
    })
}

fn ordinal(delivery: &Delivery) -> i64 {
    match &delivery.message {
        QueueMessage::Error(entry) => entry.received_at,
        QueueMessage::Event(event) => event.received_at,
    }
}

/// A queue whose segments hold a few messages each (about 300 bytes per message).
fn small_segments(dir: &Path) -> LogQueue {
    LogQueue::open_with_segments_of(dir, 1_000_000, 2_000).expect("open queue")
}

async fn publish(queue: &LogQueue, range: std::ops::Range<i64>) {
    queue
        .publish(range.map(message).collect())
        .await
        .expect("publish");
}

async fn receive_all(queue: &LogQueue) -> Vec<Delivery> {
    let mut all = Vec::new();
    loop {
        let batch = queue.receive(7, Duration::ZERO).await.expect("receive");
        if batch.is_empty() {
            return all;
        }
        all.extend(batch);
    }
}

fn segment_count(dir: &Path) -> usize {
    segment::list(&dir.join("queue")).expect("list").len()
}

#[tokio::test]
async fn messages_cross_segments_in_order_and_acknowledged_segments_go() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = small_segments(dir.path());
    for round in 0..10 {
        publish(&queue, round * 10..round * 10 + 10).await;
    }
    assert!(segment_count(dir.path()) >= 10, "the log rolled too rarely");
    let delivered = receive_all(&queue).await;
    let order: Vec<i64> = delivered.iter().map(ordinal).collect();
    assert_eq!(order, (0..100).collect::<Vec<_>>());

    queue
        .ack(delivered.iter().map(|d| d.token).collect())
        .await
        .expect("ack");
    assert_eq!(queue.depth().await.expect("depth"), 0);
    assert_eq!(segment_count(dir.path()), 1, "acknowledged segments stayed");
    let spares = || segment::list_spares(&dir.path().join("queue")).expect("spares");
    assert_eq!(spares().len(), super::MAX_SPARES, "{:?}", spares());

    // A new segment takes a spare's file rather than a new one; its old records stay unseen.
    publish(&queue, 100..110).await;
    assert_eq!(spares().len(), super::MAX_SPARES - 1, "{:?}", spares());
    let order: Vec<i64> = receive_all(&queue).await.iter().map(ordinal).collect();
    assert_eq!(order, (100..110).collect::<Vec<_>>());
    drop(queue);
    let reopened = small_segments(dir.path());
    assert_eq!(reopened.depth().await.expect("depth"), 10);
}

#[tokio::test]
async fn a_restart_delivers_exactly_what_was_not_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = small_segments(dir.path());
    publish(&queue, 0..40).await;
    let delivered = receive_all(&queue).await;
    // 0..25 in order, and 30 out of order: the watermark reaches 24 only.
    let mut tokens: Vec<u64> = delivered[..25].iter().map(|d| d.token).collect();
    tokens.push(delivered[30].token);
    queue.ack(tokens).await.expect("ack");
    assert_eq!(queue.depth().await.expect("depth"), 14);
    drop(queue);

    let reopened = small_segments(dir.path());
    // An acknowledgement above the watermark is not kept: message 30 comes again.
    assert_eq!(reopened.depth().await.expect("depth"), 15);
    publish(&reopened, 40..45).await;
    let again: Vec<i64> = receive_all(&reopened).await.iter().map(ordinal).collect();
    assert_eq!(again, (25..45).collect::<Vec<_>>());
}

#[tokio::test]
async fn publishing_continues_over_a_torn_append() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = small_segments(dir.path());
    publish(&queue, 0..3).await;
    drop(queue);
    // A crash in the middle of the next append leaves part of a record.
    let queue_dir = dir.path().join("queue");
    let newest = *segment::list(&queue_dir)
        .expect("list")
        .last()
        .expect("segment");
    let mut torn = Vec::new();
    segment::encode(4, b"{\"never\":\"acknowledged\"}", &mut torn);
    torn.truncate(torn.len() / 2);
    let end_of_log = segment::scan(&queue_dir, newest).expect("scan").valid_bytes;
    OpenOptions::new()
        .write(true)
        .open(segment::path(&queue_dir, newest))
        .expect("open segment")
        .write_all_at(&torn, end_of_log)
        .expect("tear");

    let reopened = small_segments(dir.path());
    assert_eq!(reopened.depth().await.expect("depth"), 3);
    publish(&reopened, 3..6).await;
    let order: Vec<i64> = receive_all(&reopened).await.iter().map(ordinal).collect();
    assert_eq!(order, (0..6).collect::<Vec<_>>());
}

#[tokio::test]
async fn damage_before_the_newest_segment_is_refused_with_its_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = small_segments(dir.path());
    for round in 0..4 {
        publish(&queue, round * 10..round * 10 + 10).await;
    }
    drop(queue);
    let queue_dir = dir.path().join("queue");
    let first = segment::list(&queue_dir).expect("list")[0];
    let path = segment::path(&queue_dir, first);
    let mut bytes = std::fs::read(&path).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, bytes).expect("damage");

    let refused = LogQueue::open_with_segments_of(dir.path(), 100, 2_000);
    match refused {
        Err(QueueError::Unavailable(reason)) => {
            assert!(reason.contains("damaged"), "{reason}");
            assert!(reason.contains(&format!("{first:020}.log")), "{reason}");
        }
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("a damaged log opened"),
    }
}

#[tokio::test]
async fn messages_left_in_queue_db_move_into_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let old = rusqlite::Connection::open(dir.path().join("queue.db")).expect("queue.db");
        old.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL);",
        )
        .expect("schema");
        for n in 0..3 {
            let body = serde_json::to_vec(&message(n)).expect("encode");
            old.execute("INSERT INTO messages (body) VALUES (?1)", [body])
                .expect("insert");
        }
    }
    let queue = small_segments(dir.path());
    assert!(!dir.path().join("queue.db").exists(), "queue.db was kept");
    assert_eq!(queue.depth().await.expect("depth"), 3);
    publish(&queue, 3..5).await;
    let order: Vec<i64> = receive_all(&queue).await.iter().map(ordinal).collect();
    assert_eq!(order, (0..5).collect::<Vec<_>>());
}

#[tokio::test]
async fn one_process_at_a_time_owns_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = small_segments(dir.path());
    match LogQueue::open(dir.path(), 100) {
        Err(QueueError::Unavailable(reason)) => {
            assert!(reason.contains("in use by another process"), "{reason}")
        }
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("a second owner opened the log"),
    }
    drop(queue);
    LogQueue::open(dir.path(), 100).expect("open once the first owner let go");
}

/// Under steady traffic the log's files stay bounded: acknowledged segments are reused or
/// removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_stays_bounded_under_steady_traffic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue =
        LogQueue::open_with_segments_of(dir.path(), 1_000_000, 1024 * 1024).expect("open queue");
    let payload = "x".repeat(2_000);
    // 20,000 messages of about 2.3 KB: some 46 MB pass through the log.
    for round in 0..200 {
        let messages = (0..100)
            .map(|n| {
                let mut big = message(round * 100 + n);
                if let QueueMessage::Error(entry) = &mut big {
                    entry.raw = payload.clone();
                }
                big
            })
            .collect();
        queue.publish(messages).await.expect("publish");
        let delivered = queue.receive(100, Duration::ZERO).await.expect("receive");
        queue
            .ack(delivered.iter().map(|d| d.token).collect())
            .await
            .expect("ack");
    }
    let bytes: u64 = std::fs::read_dir(dir.path().join("queue"))
        .expect("read dir")
        .map(|entry| entry.expect("entry").metadata().expect("metadata").len())
        .sum();
    // The newest segment and the spares, each a segment and at most one append over.
    let bound = (1 + super::MAX_SPARES as u64) * (1024 * 1024 + 240 * 1024);
    assert!(
        bytes < bound,
        "the log holds {bytes} bytes after 46 MB of traffic, all acknowledged"
    );
    assert_eq!(queue.depth().await.expect("depth"), 0);
}
