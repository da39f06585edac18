//! Counters the application can read at any time.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the counters, all in events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Sent to the server at least once.
    pub sent: u64,
    pub accepted: u64,
    /// Refused by the server's validation (reported to the callback, not retried).
    pub rejected: u64,
    /// Refused by `track` because the buffer was full.
    pub dropped: u64,
    /// Sent again after a retryable failure (one per event per retry).
    pub retried: u64,
    /// Given up on: a non-retryable answer (401, 403, 400...) or retries exhausted.
    pub failed: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub sent: AtomicU64,
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
    pub dropped: AtomicU64,
    pub retried: AtomicU64,
    pub failed: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, amount: usize) {
        counter.fetch_add(amount as u64, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Stats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Stats {
            sent: read(&self.sent),
            accepted: read(&self.accepted),
            rejected: read(&self.rejected),
            dropped: read(&self.dropped),
            retried: read(&self.retried),
            failed: read(&self.failed),
        }
    }
}
