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

use crate::alerts::Lag;
use crate::live::LiveFeed;
use crate::metrics;
use crate::model::{ErrorEntry, QueueMessage};
use crate::queue::{Delivery, Queue};
use crate::store::{BatchOutcome, Store, StoreError};
use crate::timestamp::now_micros;

const IDLE_WAIT: Duration = Duration::from_millis(500);
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// On shutdown the worker keeps draining the queue this long, then leaves the rest for the
/// next start.
const DRAIN_DEADLINE: Duration = Duration::from_secs(5);
/// The raw message kept with a `processing_failed` record is cut to this many bytes.
const MAX_QUARANTINED_BYTES: usize = 8 * 1024;

pub struct Worker {
    pub queue: Arc<dyn Queue>,
    pub store: Arc<dyn Store>,
    pub batch_size: usize,
    pub max_attempts: u32,
    /// Where stored events are announced (the live feed); `None` announces nothing.
    pub live: Option<LiveFeed>,
    /// The latest processing lag, for alert rules.
    pub lag: Arc<Lag>,
}

enum Written {
    Done(BatchOutcome),
    Refused(String),
    Stopped,
}

impl Worker {
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let received = tokio::select! {
                () = shutdown.cancelled() => break,
                received = self.queue.receive(self.batch_size, IDLE_WAIT) => received,
            };
            match received {
                Ok(deliveries) if deliveries.is_empty() => self.lag.set(Duration::ZERO),
                Ok(deliveries) => {
                    if !self.process(deliveries, &shutdown).await {
                        return;
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "queue receive failed");
                    if !pause(&mut MAX_BACKOFF.clone(), &shutdown).await {
                        break;
                    }
                }
            }
        }
        self.drain().await;
    }

    async fn drain(&self) {
        let deadline = tokio::time::Instant::now() + DRAIN_DEADLINE;
        let never = CancellationToken::new();
        while tokio::time::Instant::now() < deadline {
            match self.queue.receive(self.batch_size, Duration::ZERO).await {
                Ok(deliveries) if !deliveries.is_empty() => {
                    let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
                    if tokio::time::timeout(remaining, self.process(deliveries, &never))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                _ => break,
            }
        }
    }

    /// Stores then acknowledges one batch. Returns false when shutdown came first (the batch
    /// stays queued and is delivered again).
    async fn process(&self, deliveries: Vec<Delivery>, shutdown: &CancellationToken) -> bool {
        let started = Instant::now();
        let tokens: Vec<u64> = deliveries.iter().map(|d| d.token).collect();
        let oldest = deliveries
            .iter()
            .map(|d| received_at(&d.message))
            .min()
            .unwrap_or_else(now_micros);
        let lag = Duration::from_micros(now_micros().saturating_sub(oldest).max(0) as u64);
        self.lag.set(lag);
        let messages: Arc<[QueueMessage]> = deliveries.into_iter().map(|d| d.message).collect();
        match self.write(Arc::clone(&messages), shutdown).await {
            Written::Done(outcome) => {
                metrics::batch_stored(&outcome, messages.len(), started.elapsed(), lag);
                self.announce(&messages);
            }
            Written::Stopped => return false,
            Written::Refused(reason) => {
                tracing::warn!(%reason, size = messages.len(), "the store refused a batch; retrying its messages one by one");
                if !self.isolate(&messages, shutdown).await {
                    return false;
                }
            }
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

    fn announce(&self, messages: &[QueueMessage]) {
        let Some(live) = self.live.as_ref().filter(|live| live.has_subscribers()) else {
            return;
        };
        for message in messages {
            if let QueueMessage::Event(event) = message {
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
                        self.announce(std::slice::from_ref(message));
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
    let mut raw = serde_json::to_string(message).unwrap_or_default();
    if raw.len() > MAX_QUARANTINED_BYTES {
        let mut end = MAX_QUARANTINED_BYTES;
        while !raw.is_char_boundary(end) {
            end -= 1;
        }
        raw.truncate(end);
    }
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
        id,
        app,
        code: "processing_failed".into(),
        message: format!("the store refused this message {attempts} times: {reason}"),
        path: None,
        received_at: received_at.min(now_micros()),
        category,
        name,
        session_id,
        schema_version: None,
        raw,
        replayed_at: None,
        replayed_event_id: None,
    }
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
