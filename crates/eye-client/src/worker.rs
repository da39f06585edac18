//! The background sender: waits until a batch is due (size, bytes or interval), posts it,
//! retries what may succeed later, splits what is too large, and resolves every event as
//! accepted, rejected or failed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use eye_types::{EventError, EventResult};
use rand::Rng;
use tokio::sync::Notify;

use crate::buffer::{Buffer, Tracked, remaining};
use crate::builder::Settings;
use crate::stats::Counters;
use crate::transport::{Answer, Transport};

/// An event the server refused, as reported to the `on_rejected` callback.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub event_id: String,
    /// The event as sent (JSON).
    pub event: String,
    pub error: EventError,
}

pub(crate) struct Shared {
    pub settings: Settings,
    pub buffer: Buffer,
    pub counters: Counters,
    pub transport: Transport,
    /// Wakes the sender: a batch is due, a flush was asked for, or the client closes.
    pub wake: Notify,
    /// Signalled after every resolved batch, for `flush`.
    pub resolved: Notify,
    /// Events tracked and not yet accepted, rejected or failed.
    pub unresolved: AtomicUsize,
    pub flush_requested: AtomicBool,
}

pub(crate) async fn run(shared: Arc<Shared>) {
    loop {
        if !wait_for_batch(&shared).await {
            return;
        }
        let batch = shared.buffer.take_batch(&shared.settings);
        if batch.is_empty() {
            continue;
        }
        Counters::add(&shared.counters.sent, batch.len());
        send(&shared, batch).await;
        if shared.buffer.len() == 0 {
            shared.flush_requested.store(false, Ordering::SeqCst);
        }
        shared.resolved.notify_waiters();
    }
}

/// Waits until a batch is due; false once the client is closed and nothing is left.
async fn wait_for_batch(shared: &Shared) -> bool {
    let settings = &shared.settings;
    let mut since = Instant::now();
    loop {
        let closed = shared.buffer.is_closed();
        if shared.buffer.len() == 0 {
            if closed {
                return false;
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), shared.wake.notified()).await;
            since = Instant::now();
            continue;
        }
        let due = closed
            || shared.flush_requested.load(Ordering::SeqCst)
            || shared.buffer.full_batch_ready(settings)
            || since.elapsed() >= settings.flush_interval;
        if due {
            return true;
        }
        let _ = tokio::time::timeout(
            remaining(settings.flush_interval, since),
            shared.wake.notified(),
        )
        .await;
    }
}

/// Posts `batch` until every event in it is resolved.
async fn send(shared: &Shared, batch: Vec<Tracked>) {
    let mut pending = vec![batch];
    while let Some(batch) = pending.pop() {
        let body = body_of(&batch);
        let mut attempt = 0u32;
        loop {
            match shared.transport.post_events(&body).await {
                Answer::Verdicts(response) => {
                    resolve_verdicts(shared, &batch, &response.results);
                    break;
                }
                Answer::TooLarge if batch.len() > 1 => {
                    let mut first = batch;
                    let second = first.split_off(first.len() / 2);
                    pending.push(second);
                    pending.push(first);
                    break;
                }
                Answer::TooLarge | Answer::Refused(_) => {
                    fail(shared, batch.len());
                    break;
                }
                Answer::Retry { after, problem: _ } => {
                    if attempt >= shared.settings.max_retries {
                        fail(shared, batch.len());
                        break;
                    }
                    Counters::add(&shared.counters.retried, batch.len());
                    tokio::time::sleep(after.unwrap_or_else(|| backoff(&shared.settings, attempt)))
                        .await;
                    attempt += 1;
                }
            }
        }
    }
}

/// The batch's events as one JSON array (the transport wraps it with `sent_at`).
fn body_of(batch: &[Tracked]) -> Vec<u8> {
    let mut body = Vec::with_capacity(batch.iter().map(|t| t.json.len() + 1).sum::<usize>() + 2);
    body.push(b'[');
    for (index, tracked) in batch.iter().enumerate() {
        if index > 0 {
            body.push(b',');
        }
        body.extend_from_slice(tracked.json.as_bytes());
    }
    body.push(b']');
    body
}

fn resolve_verdicts(shared: &Shared, batch: &[Tracked], results: &[EventResult]) {
    for result in results {
        match result {
            EventResult::Accepted { .. } => Counters::add(&shared.counters.accepted, 1),
            EventResult::Rejected { index, error } => {
                Counters::add(&shared.counters.rejected, 1);
                if let (Some(callback), Some(tracked)) =
                    (&shared.settings.on_rejected, batch.get(*index))
                {
                    callback(Rejected {
                        event_id: tracked.event_id.clone(),
                        event: tracked.json.clone(),
                        error: error.clone(),
                    });
                }
            }
        }
    }
    shared.unresolved.fetch_sub(batch.len(), Ordering::SeqCst);
}

fn fail(shared: &Shared, events: usize) {
    Counters::add(&shared.counters.failed, events);
    shared.unresolved.fetch_sub(events, Ordering::SeqCst);
}

/// Exponential backoff with full jitter: a random wait up to `base * 2^attempt`, capped.
pub(crate) fn backoff(settings: &Settings, attempt: u32) -> Duration {
    let ceiling = settings
        .backoff_base
        .saturating_mul(2u32.saturating_pow(attempt.min(16)))
        .min(settings.backoff_max);
    let millis = ceiling.as_millis().max(1) as u64;
    Duration::from_millis(rand::rng().random_range(millis / 2..=millis))
}
