//! The pipeline worker: takes batches from the queue, writes them to the store in one
//! transaction, and acknowledges only after the commit. A failed write is retried with
//! backoff; the batch stays in the queue meanwhile, so nothing acknowledged is ever lost.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::queue::{Delivery, Queue};
use crate::store::Store;

const IDLE_WAIT: Duration = Duration::from_millis(500);
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// On shutdown the worker keeps draining the queue this long, then leaves the rest for the
/// next start.
const DRAIN_DEADLINE: Duration = Duration::from_secs(5);

pub struct Worker {
    pub queue: Arc<dyn Queue>,
    pub store: Arc<dyn Store>,
    pub batch_size: usize,
}

impl Worker {
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let received = tokio::select! {
                () = shutdown.cancelled() => break,
                received = self.queue.receive(self.batch_size, IDLE_WAIT) => received,
            };
            match received {
                Ok(deliveries) if deliveries.is_empty() => {}
                Ok(deliveries) => {
                    if !self.process(deliveries, &shutdown).await {
                        return;
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "queue receive failed");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(MAX_BACKOFF) => {}
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

    /// Stores then acknowledges one batch, retrying until it succeeds. Returns false when
    /// shutdown came first (the batch stays queued and is delivered again at the next start).
    async fn process(&self, deliveries: Vec<Delivery>, shutdown: &CancellationToken) -> bool {
        let tokens: Vec<u64> = deliveries.iter().map(|d| d.token).collect();
        let messages: Arc<[_]> = deliveries.into_iter().map(|d| d.message).collect();
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
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "store write failed");
                    if !pause(&mut backoff, shutdown).await {
                        return false;
                    }
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
