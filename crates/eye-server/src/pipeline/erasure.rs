//! Runs erasure jobs: claims the oldest one not finished, deletes its sessions' rows in
//! short steps (each one transaction that also counts what it removed), then marks it done.
//! A job a stopped or killed process left `running` is claimed again and resumed: every step
//! is idempotent, so nothing is half done and nothing is counted twice.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::model::timestamp::now_micros;
use crate::ops::metrics;
use crate::pipeline::live::LiveFeed;
use crate::store::{Erasure, Store, StoreError};

/// How often the store is asked for a job when nothing woke the runner.
const POLL: Duration = Duration::from_secs(1);
/// Rows deleted per transaction: short enough that ingest never waits long behind one.
const STEP_ROWS: usize = 1000;

pub struct ErasureRunner {
    pub store: Arc<dyn Store>,
    pub live: LiveFeed,
    /// Notified when this node records an erasure, so it starts at once.
    pub wakeup: Arc<Notify>,
}

impl ErasureRunner {
    pub async fn run(self, stop: CancellationToken) {
        loop {
            if stop.is_cancelled() {
                return;
            }
            match self.store.next_erasure().await {
                Ok(Some(job)) => self.execute(job, &stop).await,
                Ok(None) => self.wait(POLL, &stop).await,
                Err(error) => {
                    tracing::warn!(%error, "could not look for erasures; trying again");
                    self.wait(POLL * 5, &stop).await;
                }
            }
        }
    }

    async fn wait(&self, time: Duration, stop: &CancellationToken) {
        tokio::select! {
            () = stop.cancelled() => {}
            () = self.wakeup.notified() => {}
            () = tokio::time::sleep(time) => {}
        }
    }

    async fn execute(&self, job: Erasure, stop: &CancellationToken) {
        let id = job.id.clone();
        tracing::info!(erasure = %id, sessions = job.request.session_ids.len(), "erasure started");
        loop {
            if stop.is_cancelled() {
                // Left `running`: the next start resumes it.
                return;
            }
            match self.store.erase_step(&id, STEP_ROWS).await {
                Ok(0) => break,
                Ok(_) => tokio::task::yield_now().await,
                Err(StoreError::Unavailable(error)) => {
                    tracing::warn!(erasure = %id, %error, "erasure paused: the store is unavailable");
                    self.wait(POLL * 5, stop).await;
                }
                Err(error) => {
                    self.finish(&id, Some(error.to_string())).await;
                    return;
                }
            }
        }
        self.finish(&id, None).await;
    }

    async fn finish(&self, id: &str, failure: Option<String>) {
        let failed = failure.is_some();
        match self.store.finish_erasure(id, now_micros(), failure).await {
            Ok(done) => {
                if let Some(completed_at) = done.completed_at {
                    self.live.forget(&done.id, &done.request, completed_at);
                }
                metrics::erasure_finished(if failed { "failed" } else { "done" });
                tracing::info!(
                    erasure = %id,
                    status = done.status.as_str(),
                    events_deleted = done.events_deleted,
                    errors_deleted = done.errors_deleted,
                    "erasure finished"
                );
            }
            Err(error) => {
                tracing::warn!(erasure = %id, %error, "could not mark the erasure finished; it runs again");
            }
        }
    }
}
