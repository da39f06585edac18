//! The pipeline worker: takes batches from the queue, writes them to the store in one
//! transaction, and acknowledges only after the commit.
//!
//! Two kinds of failure are handled differently. A store that cannot be reached (down,
//! disk full) is retried with backoff for as long as it takes: the batch stays in the queue
//! meanwhile, so nothing acknowledged is lost. A batch the store *refuses* is split; each
//! message is retried alone up to `max_attempts` times and, if still refused, recorded in
//! the error store as `processing_failed` and acknowledged — never an endless loop.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use std::time::Instant;

use crate::model::timestamp::now_micros;
use crate::model::{ErrorEntry, QueueMessage, truncate_utf8};
use crate::ops::metrics;
use crate::pipeline::live::LiveFeed;
use crate::queue::{Delivery, Queue};
use crate::store::{BatchOutcome, Store, StoreError};

const IDLE_WAIT: Duration = Duration::from_millis(500);
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// On shutdown the worker keeps draining the queue this long, then leaves the rest for the
/// next start.
const DRAIN_DEADLINE: Duration = Duration::from_secs(5);
/// Under load, the next store write starts no sooner than this many times the previous
/// one's duration after it: the writer is busy at most a quarter of the time unless full
/// batches are waiting.
const SLOW_WRITE_GAP_FACTOR: u32 = 4;
/// However slow writes get, the wait for a fuller batch stops here (it is lag).
const MAX_WRITE_GAP: Duration = Duration::from_millis(200);
/// While waiting for a fuller batch, how often (at the least) the queue is looked at.
const MIN_GATHER_STEP: Duration = Duration::from_millis(5);
/// The raw message kept with a `processing_failed` record is cut to this many bytes.
const MAX_QUARANTINED_BYTES: usize = 8 * 1024;

pub struct Worker {
    pub queue: Arc<dyn Queue>,
    pub store: Arc<dyn Store>,
    pub batch_size: usize,
    /// Under load, the least time between the starts of two store writes (unless a full
    /// batch is waiting): fewer, bigger commits. Zero writes as soon as anything is read.
    pub linger: Duration,
    pub max_attempts: u32,
    /// Where stored events are announced (the live feed); `None` announces nothing.
    pub live: Option<LiveFeed>,
}

enum Written {
    Done(BatchOutcome),
    Refused(String),
    Stopped,
}

impl Worker {
    /// Stores batch after batch. Under load the three steps overlap: while one batch is
    /// written to the store, the previous one is acknowledged and the next one read, so the
    /// store's single writer is never left waiting on the queue.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut current: Vec<Delivery> = Vec::new();
        let mut unacknowledged: Vec<u64> = Vec::new();
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            if current.is_empty() {
                // Nothing read ahead: settle what is stored, then wait for more.
                if !self
                    .ack(std::mem::take(&mut unacknowledged), &shutdown)
                    .await
                {
                    return;
                }
                current = tokio::select! {
                    () = shutdown.cancelled() => break,
                    received = self.receive(IDLE_WAIT, &shutdown) => received,
                };
                continue;
            }
            let started = tokio::time::Instant::now();
            let tokens: Vec<u64> = current.iter().map(|d| d.token).collect();
            let timed_write = async {
                let stored = self.process(std::mem::take(&mut current), &shutdown).await;
                (stored, started.elapsed())
            };
            let ((stored, write_took), acknowledged, next) = tokio::join!(
                timed_write,
                self.ack(std::mem::take(&mut unacknowledged), &shutdown),
                self.receive(Duration::ZERO, &shutdown),
            );
            if !stored || !acknowledged {
                return;
            }
            unacknowledged = tokens;
            current = next;
            let write_after = started + gap_between_writes(self.linger, write_took);
            self.gather_more(&mut current, write_after, &shutdown).await;
        }
        self.drain(current, unacknowledged).await;
    }

    /// When events are still arriving but not a batch's worth, tops the batch up as more
    /// arrive until it is full or `write_after` passes. It looks every `linger` (at least
    /// `MIN_GATHER_STEP`), so a long wait after a slow write ends soon after a full batch
    /// is waiting, and never holds the worker below the rate events arrive at.
    async fn gather_more(
        &self,
        batch: &mut Vec<Delivery>,
        write_after: tokio::time::Instant,
        shutdown: &CancellationToken,
    ) {
        if batch.is_empty() {
            return;
        }
        let step = self.linger.max(MIN_GATHER_STEP);
        while batch.len() < self.batch_size {
            let wake = (tokio::time::Instant::now() + step).min(write_after);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep_until(wake) => {}
            }
            let room = self.batch_size - batch.len();
            if let Ok(more) = self.queue.receive(room, Duration::ZERO).await {
                batch.extend(more);
            }
            if tokio::time::Instant::now() >= write_after {
                return;
            }
        }
    }

    /// Up to a batch from the queue; an error is logged and paused on, and reads as empty.
    async fn receive(&self, wait: Duration, shutdown: &CancellationToken) -> Vec<Delivery> {
        match self.queue.receive(self.batch_size, wait).await {
            Ok(deliveries) => deliveries,
            Err(error) => {
                tracing::error!(%error, "queue receive failed");
                pause(&mut MAX_BACKOFF.clone(), shutdown).await;
                Vec::new()
            }
        }
    }

    /// After shutdown: settles what is stored, then keeps storing what is queued (the batch
    /// already read first) until the queue is empty or the drain deadline passes; the rest
    /// waits for the next start.
    async fn drain(&self, mut pending: Vec<Delivery>, unacknowledged: Vec<u64>) {
        let never = CancellationToken::new();
        let drained = async {
            if !self.ack(unacknowledged, &never).await {
                return;
            }
            loop {
                if pending.is_empty() {
                    match self.queue.receive(self.batch_size, Duration::ZERO).await {
                        Ok(deliveries) if !deliveries.is_empty() => pending = deliveries,
                        _ => return,
                    }
                }
                let tokens = pending.iter().map(|d| d.token).collect();
                let batch = std::mem::take(&mut pending);
                if !(self.process(batch, &never).await && self.ack(tokens, &never).await) {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(DRAIN_DEADLINE, drained).await;
    }

    /// Stores one batch (it is acknowledged later, by the caller). Returns false when
    /// shutdown came first (the batch stays queued and is delivered again).
    async fn process(&self, deliveries: Vec<Delivery>, shutdown: &CancellationToken) -> bool {
        let started = Instant::now();
        let oldest = deliveries
            .iter()
            .map(|d| received_at(&d.message))
            .min()
            .unwrap_or_else(now_micros);
        let lag = Duration::from_micros(now_micros().saturating_sub(oldest).max(0) as u64);
        let messages: Arc<[QueueMessage]> = deliveries.into_iter().map(|d| d.message).collect();
        match self.write(Arc::clone(&messages), shutdown).await {
            Written::Done(outcome) => {
                metrics::batch_stored(&outcome, messages.len(), started.elapsed(), lag);
                self.announce(&messages, &outcome.erased);
                true
            }
            Written::Stopped => false,
            Written::Refused(reason) => {
                tracing::warn!(%reason, size = messages.len(), "the store refused a batch; retrying its messages one by one");
                self.isolate(&messages, shutdown).await
            }
        }
    }

    /// Acknowledges stored messages, retrying until the queue takes it; false when shutdown
    /// came first (they are delivered again, and storing them again changes nothing).
    async fn ack(&self, tokens: Vec<u64>, shutdown: &CancellationToken) -> bool {
        if tokens.is_empty() {
            return true;
        }
        let mut backoff = FIRST_BACKOFF;
        while let Err(error) = self.queue.ack(tokens.clone()).await {
            tracing::warn!(%error, "queue ack failed");
            if !pause(&mut backoff, shutdown).await {
                return false;
            }
        }
        true
    }

    /// Publishes the stored events to the live feed; `erased` were not stored.
    fn announce(&self, messages: &[QueueMessage], erased: &[uuid::Uuid]) {
        let Some(live) = self.live.as_ref().filter(|live| live.has_subscribers()) else {
            return;
        };
        for message in messages {
            if let QueueMessage::Event(event) = message
                && !erased.contains(&event.id)
            {
                live.publish(event.clone());
            }
        }
    }

    /// Writes `messages`, retrying for as long as the store is unreachable.
    async fn write(&self, messages: Arc<[QueueMessage]>, shutdown: &CancellationToken) -> Written {
        let mut backoff = FIRST_BACKOFF;
        loop {
            match self.store.write_batch(Arc::clone(&messages)).await {
                Ok(outcome) => {
                    tracing::debug!(
                        stored = outcome.stored,
                        duplicates = outcome.duplicates,
                        errors = outcome.errors,
                        "batch stored"
                    );
                    return Written::Done(outcome);
                }
                Err(StoreError::Rejected(reason)) => {
                    metrics::store_error("rejected");
                    return Written::Refused(reason);
                }
                Err(error) => {
                    metrics::store_error("unavailable");
                    tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "store write failed");
                    if !pause(&mut backoff, shutdown).await {
                        return Written::Stopped;
                    }
                }
            }
        }
    }

    /// Retries each message alone; one still refused after `max_attempts` goes to the error
    /// store. False when shutdown came first.
    async fn isolate(&self, messages: &[QueueMessage], shutdown: &CancellationToken) -> bool {
        for message in messages {
            let mut backoff = FIRST_BACKOFF;
            let mut attempts = 1;
            loop {
                match self.write(Arc::from([message.clone()]), shutdown).await {
                    Written::Done(outcome) => {
                        metrics::batch_stored(&outcome, 1, Duration::ZERO, Duration::ZERO);
                        self.announce(std::slice::from_ref(message), &outcome.erased);
                        break;
                    }
                    Written::Stopped => return false,
                    Written::Refused(reason) if attempts >= self.max_attempts => {
                        metrics::quarantined();
                        tracing::error!(%reason, attempts, "message refused repeatedly; moving it to the error store");
                        let entry = quarantine_entry(message, attempts, &reason);
                        match self
                            .write(Arc::from([QueueMessage::Error(entry)]), shutdown)
                            .await
                        {
                            Written::Stopped => return false,
                            Written::Done(_) | Written::Refused(_) => break,
                        }
                    }
                    Written::Refused(_) => {
                        attempts += 1;
                        if !pause(&mut backoff, shutdown).await {
                            return false;
                        }
                    }
                }
            }
        }
        true
    }
}

/// The error record of a message the store would not take. It reuses the message's id, so
/// recording it again after a redelivery changes nothing.
fn quarantine_entry(message: &QueueMessage, attempts: u32, reason: &str) -> ErrorEntry {
    let encoded = serde_json::to_string(message).unwrap_or_default();
    let raw = truncate_utf8(&encoded, MAX_QUARANTINED_BYTES).to_owned();
    let (id, app, category, name, session_id, received_at) = match message {
        QueueMessage::Event(e) => (
            e.id,
            e.app.clone(),
            Some(e.category.clone()),
            Some(e.name.clone()),
            Some(e.session_id.clone()),
            e.received_at,
        ),
        QueueMessage::Error(e) => (
            e.id,
            e.app.clone(),
            e.category.clone(),
            e.name.clone(),
            e.session_id.clone(),
            e.received_at,
        ),
    };
    ErrorEntry {
        category,
        name,
        session_id,
        ..ErrorEntry::new(
            id,
            app,
            "processing_failed".into(),
            format!("the store refused this message {attempts} times: {reason}"),
            received_at.min(now_micros()),
            raw,
        )
    }
}

/// The least time from the start of one store write to the start of the next, unless a
/// full batch is waiting: `linger`, or longer when writes are slow. A commit costs a fixed
/// part whatever its size (the log pages of every index leaf it touches, the fsync), so
/// when writes take long, waiting for a bigger batch stores the same events in fewer
/// commits and leaves the CPU to ingest. Light traffic (short writes) still gets `linger`,
/// so its lag stays low; however slow writes get, the wait stops at `MAX_WRITE_GAP`. A
/// zero `linger` turns waiting off: each write starts as soon as the previous one ends.
fn gap_between_writes(linger: Duration, write_took: Duration) -> Duration {
    if linger.is_zero() {
        return Duration::ZERO;
    }
    (write_took * SLOW_WRITE_GAP_FACTOR).clamp(linger, linger.max(MAX_WRITE_GAP))
}

fn received_at(message: &QueueMessage) -> i64 {
    match message {
        QueueMessage::Event(event) => event.received_at,
        QueueMessage::Error(entry) => entry.received_at,
    }
}

/// Sleeps for `backoff` (then doubles it, up to the maximum); false if shutdown came first.
async fn pause(backoff: &mut Duration, shutdown: &CancellationToken) -> bool {
    let slept = tokio::select! {
        () = shutdown.cancelled() => false,
        () = tokio::time::sleep(*backoff) => true,
    };
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
    slept
}

#[cfg(test)]
mod tests;
