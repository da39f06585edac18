//! The retention sweep: at start and every `retention_interval_secs`, deletes expired events
//! (with their deduplication keys and session summaries) and error records, in short
//! transactions paced so that ingest keeps most of the store's writer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::model::timestamp::now_micros;
use crate::ops::metrics;
use crate::store::{Cutoffs, Store, StoreError};

/// Rows deleted per transaction.
const BATCH_ROWS: usize = 2000;
/// After each batch the sweep waits this many times the batch's duration: it holds the
/// store's writer at most a fifth of the time, leaving the rest to the worker.
const PAUSE_FACTOR: u32 = 4;

pub struct RetentionSweep {
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Events,
    Errors,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Events => "events",
            Kind::Errors => "errors",
        }
    }
}

/// What one sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub events: u64,
    pub errors: u64,
}

impl RetentionSweep {
    /// Sweeps now, then every interval, until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        loop {
            let started = Instant::now();
            match self.sweep(&stop).await {
                Ok(swept) => {
                    metrics::retention_sweep("done");
                    if swept != Swept::default() {
                        tracing::info!(
                            events = swept.events,
                            errors = swept.errors,
                            took_ms = started.elapsed().as_millis() as u64,
                            "retention sweep deleted expired records"
                        );
                    }
                }
                Err(error) => {
                    metrics::retention_sweep("failed");
                    tracing::warn!(%error, "retention sweep failed; it runs again at the next interval");
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(self.config.retention_interval()) => {}
            }
        }
    }

    /// Deletes everything expired now (or until `stop`).
    pub async fn sweep(&self, stop: &CancellationToken) -> Result<Swept, StoreError> {
        let now = now_micros();
        let events = self.config.event_cutoffs(now);
        let errors = self.config.error_cutoffs(now);
        let mut swept = Swept::default();
        if events.any() {
            swept.events = self.drain(Kind::Events, &events, stop).await?;
        }
        if errors.any() {
            swept.errors = self.drain(Kind::Errors, &errors, stop).await?;
        }
        Ok(swept)
    }

    async fn drain(
        &self,
        kind: Kind,
        cutoffs: &Cutoffs,
        stop: &CancellationToken,
    ) -> Result<u64, StoreError> {
        let mut total = 0;
        while !stop.is_cancelled() {
            let started = Instant::now();
            let deleted = match kind {
                Kind::Events => self.store.delete_expired_events(cutoffs, BATCH_ROWS),
                Kind::Errors => self.store.delete_expired_errors(cutoffs, BATCH_ROWS),
            }
            .await?;
            metrics::retention_deleted(kind.name(), deleted);
            total += deleted;
            if deleted == 0 {
                break;
            }
            let pause = started.elapsed() * PAUSE_FACTOR;
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(pause.min(Duration::from_secs(1))) => {}
            }
        }
        Ok(total)
    }
}
