//! The embedded queue: an append-only log of segment files in `<data_dir>/queue/`.
//!
//! One thread appends every publish waiting at that moment with one write and one
//! `fdatasync` (group commit), so many concurrent requests share one sync, and each message
//! is written once: its framed bytes, nothing else. The consumer reads the segments in order
//! behind the writer; acknowledgements move a watermark (`acked`), and a segment goes once
//! every message in it is acknowledged (its file kept as a spare for a later segment). At
//! start the segments are scanned: appends continue after the newest one's last intact
//! record (over a torn one a crash left, never acknowledged to its publisher), and
//! everything after the watermark is delivered again.
//!
//! One process owns the log (`queue/lock`); messages that a build before the log left in
//! `queue.db` are moved into it at start.

mod acks;
mod legacy;
mod reader;
mod segment;
mod writer;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::{Notify, oneshot};

use super::{Delivery, Queue, QueueError, received_at};
use crate::model::QueueMessage;
use crate::model::timestamp::Micros;
use acks::{Acks, WatermarkFile};
use reader::Reader;
use writer::{Shared, Writer, lock};

/// A new segment starts once the newest one holds this much.
const SEGMENT_BYTES: u64 = 32 * 1024 * 1024;

/// Publishes merged into one append at most; bounds an append's size and latency.
const MAX_PUBLISHES_PER_APPEND: usize = 512;

/// Acknowledged segments' files kept for reuse at most; more are removed.
const MAX_SPARES: usize = 2;

/// How long opening waits for another holder of the log (a process shutting down) to let go.
const LOCK_WAIT: Duration = Duration::from_secs(2);

type Reply = oneshot::Sender<Result<(), String>>;

struct Publish {
    bodies: Vec<Vec<u8>>,
    reply: Reply,
}

struct Acknowledged {
    acks: Acks,
    file: WatermarkFile,
}

pub struct LogQueue {
    dir: PathBuf,
    publishes: Mutex<mpsc::Sender<Publish>>,
    shared: Arc<Mutex<Shared>>,
    reader: Arc<Mutex<Reader>>,
    /// Messages handed out and not acknowledged yet: sequence number → receive time. Every
    /// other unacknowledged message is at or after the reader's cursor.
    delivered: Arc<Mutex<BTreeMap<u64, Micros>>>,
    acknowledged: Arc<Mutex<Acknowledged>>,
    depth: Arc<AtomicU64>,
    max_depth: u64,
    arrivals: Arc<Notify>,
    _lock: File,
}

impl LogQueue {
    /// Opens (creating if needed) the queue in `data_dir/queue/`. Messages left
    /// unacknowledged by an earlier process are delivered again.
    pub fn open(data_dir: &Path, max_depth: u64) -> Result<LogQueue, QueueError> {
        Self::open_with_segments_of(data_dir, max_depth, SEGMENT_BYTES)
    }

    pub(crate) fn open_with_segments_of(
        data_dir: &Path,
        max_depth: u64,
        segment_bytes: u64,
    ) -> Result<LogQueue, QueueError> {
        let dir = data_dir.join("queue");
        std::fs::create_dir_all(&dir).map_err(|e| unavailable(&e))?;
        let lock_file = hold_lock(&dir)?;
        let (watermark_file, through) =
            WatermarkFile::open(&dir.join("acked")).map_err(|e| unavailable(&e))?;
        let spares = segment::list_spares(&dir).map_err(|e| unavailable(&e))?;
        let shared = Arc::new(Mutex::new(Shared {
            segments: Vec::new(),
            synced_through: 0,
            synced_bytes: 0,
            spares,
        }));
        let recovered = recover(&dir, through, &shared)?;
        {
            let mut shared = lock(&shared);
            shared.segments = recovered.segments.clone();
            shared.synced_through = recovered.next_seq - 1;
            shared.synced_bytes = recovered.append_at;
        }
        let mut writer = Writer::open(
            dir.clone(),
            recovered.append_to,
            recovered.append_at,
            recovered.next_seq,
            segment_bytes,
            Arc::clone(&shared),
        )
        .map_err(|e| unavailable(&e))?;
        let imported = legacy::import(data_dir, &mut writer).map_err(|e| unavailable(&e))?;
        let depth = Arc::new(AtomicU64::new(recovered.depth + imported));
        let arrivals = Arc::new(Notify::new());
        let (sender, receiver) = mpsc::channel();
        let (writer_depth, writer_arrivals) = (Arc::clone(&depth), Arc::clone(&arrivals));
        std::thread::Builder::new()
            .name("eye-queue-writer".into())
            .spawn(move || write_loop(writer, &receiver, &writer_depth, &writer_arrivals))
            .map_err(|e| unavailable(&e))?;
        let start_at = through.max(recovered.segments.first().copied().unwrap_or(1) - 1) + 1;
        Ok(LogQueue {
            reader: Arc::new(Mutex::new(Reader::new(dir.clone(), start_at))),
            delivered: Arc::default(),
            dir,
            publishes: Mutex::new(sender),
            shared,
            acknowledged: Arc::new(Mutex::new(Acknowledged {
                acks: Acks::starting_at(through),
                file: watermark_file,
            })),
            depth,
            max_depth,
            arrivals,
            _lock: lock_file,
        })
    }
}

/// Takes `dir/lock` for this process, waiting briefly for one shutting down.
fn hold_lock(dir: &Path) -> Result<File, QueueError> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join("lock"))
        .map_err(|e| unavailable(&e))?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(QueueError::Unavailable(format!(
                    "the queue in {} is in use by another process: one data directory \
                     serves one `eye serve` (scale out with PostgreSQL and NATS instead)",
                    dir.display()
                )));
            }
            Err(std::fs::TryLockError::Error(error)) => return Err(unavailable(&error)),
        }
    }
}

/// The log as the scan at start found it.
struct Recovered {
    segments: Vec<u64>,
    /// The segment appends go to, and how many bytes it already holds.
    append_to: u64,
    append_at: u64,
    next_seq: u64,
    /// Messages after the watermark.
    depth: u64,
}

/// Scans every segment, refuses damage before the newest one's end, and retires segments
/// the watermark has passed.
fn recover(dir: &Path, through: u64, shared: &Mutex<Shared>) -> Result<Recovered, QueueError> {
    let firsts = segment::list(dir).map_err(|e| unavailable(&e))?;
    let mut scanned = Vec::with_capacity(firsts.len());
    for (index, first) in firsts.iter().enumerate() {
        let found = segment::scan(dir, *first).map_err(|e| unavailable(&e))?;
        let newest = index + 1 == firsts.len();
        let follows = scanned
            .last()
            .is_none_or(|before: &segment::Scanned| before.last_seq + 1 == *first);
        if !follows || (found.tail_bytes > 0 && !newest) {
            return Err(QueueError::Unavailable(format!(
                "the queue log in {} is damaged in or just before segment {}: synced \
                 messages are missing; to start without them, move the damaged segment \
                 file and every older one out of the directory",
                dir.display(),
                segment::path(dir, *first).display()
            )));
        }
        scanned.push(found);
    }
    let last_seq = scanned.last().map_or(0, |newest| newest.last_seq);
    let next_seq = last_seq.max(through) + 1;
    let depth = scanned.iter().map(|s| s.records_after(through)).sum();
    let (append_to, append_at) = match scanned.last() {
        // A newest segment numbered past the watermark's end would leave a gap; start anew.
        Some(newest) if newest.last_seq + 1 == next_seq => (newest.first_seq, newest.valid_bytes),
        _ => (next_seq, 0),
    };
    // Segments the watermark has passed go; the newest stays while appends continue it.
    let mut segments = Vec::with_capacity(scanned.len());
    for found in &scanned {
        let appended_to = found.first_seq == append_to;
        if found.last_seq <= through && !appended_to {
            retire_segment(dir, found.first_seq, shared);
        } else {
            segments.push(found.first_seq);
        }
    }
    Ok(Recovered {
        segments,
        append_to,
        append_at,
        next_seq,
        depth,
    })
}

/// Keeps an acknowledged segment's file as a spare, or removes it when there are enough.
fn retire_segment(dir: &Path, first: u64, shared: &Mutex<Shared>) {
    let path = segment::path(dir, first);
    let mut shared = lock(shared);
    let outcome = if shared.spares.len() < MAX_SPARES {
        let spare = segment::spare_path(dir, first);
        std::fs::rename(&path, &spare).map(|()| shared.spares.push(spare))
    } else {
        std::fs::remove_file(&path)
    };
    match outcome {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => tracing::warn!(%error, first, "could not retire an acknowledged segment"),
    }
}

#[async_trait]
impl Queue for LogQueue {
    async fn publish(&self, messages: Vec<QueueMessage>) -> Result<(), QueueError> {
        if messages.is_empty() {
            return Ok(());
        }
        let depth = self.depth.load(Ordering::Relaxed);
        if depth + messages.len() as u64 > self.max_depth {
            return Err(QueueError::Full {
                depth,
                max: self.max_depth,
            });
        }
        let bodies = messages
            .iter()
            .map(serde_json::to_vec)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| QueueError::Unavailable(e.to_string()))?;
        let (reply, answer) = oneshot::channel();
        let stopped = || QueueError::Unavailable("the queue writer has stopped".into());
        self.publishes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .send(Publish { bodies, reply })
            .map_err(|_| stopped())?;
        answer
            .await
            .map_err(|_| stopped())?
            .map_err(QueueError::Unavailable)
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let (reader, shared) = (Arc::clone(&self.reader), Arc::clone(&self.shared));
            let delivered = Arc::clone(&self.delivered);
            let deliveries = tokio::task::spawn_blocking(move || {
                let synced = synced(&shared);
                let mut reader = guard(&reader);
                let deliveries = decode(reader.read(max, &synced)?);
                // Recorded while the cursor is still held, so that every unacknowledged
                // message is always either recorded here or at or after the cursor.
                let mut delivered = guard(&delivered);
                for delivery in &deliveries {
                    delivered.insert(delivery.token, received_at(&delivery.message));
                }
                Ok::<_, std::io::Error>(deliveries)
            })
            .await
            .map_err(|e| unavailable(&e))?
            .map_err(|e| unavailable(&e))?;
            if !deliveries.is_empty() {
                return Ok(deliveries);
            }
            if tokio::time::timeout_at(deadline, self.arrivals.notified())
                .await
                .is_err()
            {
                return Ok(Vec::new());
            }
        }
    }

    async fn ack(&self, tokens: Vec<u64>) -> Result<(), QueueError> {
        if tokens.is_empty() {
            return Ok(());
        }
        {
            let mut delivered = guard(&self.delivered);
            for token in &tokens {
                delivered.remove(token);
            }
        }
        let (acknowledged, shared) = (Arc::clone(&self.acknowledged), Arc::clone(&self.shared));
        let dir = self.dir.clone();
        let newly = tokio::task::spawn_blocking(move || {
            let mut acknowledged = acknowledged
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let before = acknowledged.acks.through();
            let newly = acknowledged.acks.acknowledge(tokens);
            let through = acknowledged.acks.through();
            if through > before {
                acknowledged.file.write(through)?;
                let mut passed = Vec::new();
                {
                    let mut shared = lock(&shared);
                    while shared.segments.len() > 1 && shared.segments[1] - 1 <= through {
                        passed.push(shared.segments.remove(0));
                    }
                }
                for first in passed {
                    retire_segment(&dir, first, &shared);
                }
            }
            Ok::<u64, std::io::Error>(newly)
        })
        .await
        .map_err(|e| unavailable(&e))?
        .map_err(|e| unavailable(&e))?;
        let _ = self
            .depth
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
                Some(now.saturating_sub(newly))
            });
        Ok(())
    }

    async fn depth(&self) -> Result<u64, QueueError> {
        Ok(self.depth.load(Ordering::Relaxed))
    }

    async fn stored_bytes(&self) -> Result<u64, QueueError> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            let mut bytes = 0;
            for entry in std::fs::read_dir(&dir).map_err(|e| unavailable(&e))? {
                // A segment removed while this reads is simply not counted.
                if let Ok(metadata) = entry.and_then(|entry| entry.metadata()) {
                    bytes += metadata.len();
                }
            }
            Ok(bytes)
        })
        .await
        .map_err(|e| QueueError::Unavailable(e.to_string()))?
    }

    async fn oldest_unacknowledged(&self) -> Result<Option<Micros>, QueueError> {
        let (reader, shared) = (Arc::clone(&self.reader), Arc::clone(&self.shared));
        let delivered = Arc::clone(&self.delivered);
        tokio::task::spawn_blocking(move || {
            let synced = synced(&shared);
            let mut reader = guard(&reader);
            if let Some((_, at)) = guard(&delivered).first_key_value() {
                return Ok(Some(*at));
            }
            // Nothing handed out is waiting: the oldest is the next one to hand out (one that
            // cannot be decoded, which `receive` skips, tells no time).
            let next = reader.peek(&synced)?;
            Ok(next
                .and_then(|body| serde_json::from_slice::<QueueMessage>(body).ok())
                .map(|message| received_at(&message)))
        })
        .await
        .map_err(|e| unavailable(&e))?
        .map_err(|e: std::io::Error| unavailable(&e))
    }
}

/// What the writer has synced so far, for the reader.
fn synced(shared: &Mutex<Shared>) -> reader::Synced {
    let shared = lock(shared);
    reader::Synced {
        segments: shared.segments.clone(),
        through: shared.synced_through,
        newest_bytes: shared.synced_bytes,
    }
}

fn guard<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Messages that cannot be decoded were written by an incompatible build; they are logged
/// and skipped rather than blocking the queue forever.
fn decode(records: Vec<(u64, Vec<u8>)>) -> Vec<Delivery> {
    records
        .into_iter()
        .filter_map(|(seq, body)| match serde_json::from_slice(&body) {
            Ok(message) => Some(Delivery {
                token: seq,
                message,
            }),
            Err(error) => {
                tracing::error!(seq, %error, "skipping an undecodable queue message");
                None
            }
        })
        .collect()
}

fn write_loop(
    mut writer: Writer,
    publishes: &mpsc::Receiver<Publish>,
    depth: &AtomicU64,
    arrivals: &Notify,
) {
    while let Ok(first) = publishes.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_PUBLISHES_PER_APPEND {
            match publishes.try_recv() {
                Ok(publish) => batch.push(publish),
                Err(_) => break,
            }
        }
        let bodies = batch
            .iter()
            .flat_map(|publish| publish.bodies.iter().map(Vec::as_slice));
        let outcome = writer.append(bodies);
        match &outcome {
            Ok(appended) => {
                depth.fetch_add(*appended, Ordering::Relaxed);
                arrivals.notify_one();
            }
            Err(error) => tracing::error!(%error, "queue append failed"),
        }
        let reply = outcome.map(|_| ()).map_err(|e| e.to_string());
        for publish in batch {
            let _ = publish.reply.send(reply.clone());
        }
    }
}

fn unavailable(error: &dyn std::fmt::Display) -> QueueError {
    QueueError::Unavailable(error.to_string())
}

#[cfg(test)]
mod tests;
