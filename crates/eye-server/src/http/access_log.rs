//! One structured info line per request: method, matched route (bounded, never the raw path
//! or its query string, which may hold session ids or a key), status and latency. Never keys,
//! never payloads.
//!
//! Under load the lines are capped: past `access_log_max_per_sec` answers under 500 in one
//! second, the rest of that second are counted, not written, and the next line written says
//! how many in `skipped`. Answers of 500 and above are always written, at warn.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// The cap on access-log lines, shared by every request of the process.
pub struct AccessLog {
    max_per_sec: u64,
    started: Instant,
    /// The second (since `started`) that `written` counts.
    second: AtomicU64,
    written: AtomicU64,
    skipped: AtomicU64,
}

impl AccessLog {
    /// `max_per_sec` 0 writes every request.
    pub fn new(max_per_sec: u64) -> Arc<AccessLog> {
        Arc::new(AccessLog {
            max_per_sec,
            started: Instant::now(),
            second: AtomicU64::new(0),
            written: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        })
    }

    /// Whether an answer under 500 given at `now` is written; if so, how many were skipped
    /// since the last line written.
    fn admit(&self, now: Instant) -> Option<u64> {
        if self.max_per_sec > 0 {
            let second = now.saturating_duration_since(self.started).as_secs();
            let current = self.second.load(Ordering::Relaxed);
            if current != second
                && self
                    .second
                    .compare_exchange(current, second, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                self.written.store(0, Ordering::Relaxed);
            }
            if self.written.fetch_add(1, Ordering::Relaxed) >= self.max_per_sec {
                self.skipped.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        }
        Some(self.taken_skipped())
    }

    fn taken_skipped(&self) -> u64 {
        match self.skipped.load(Ordering::Relaxed) {
            0 => 0,
            _ => self.skipped.swap(0, Ordering::Relaxed),
        }
    }
}

pub async fn log_request(
    State(log): State<Arc<AccessLog>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    crate::ops::metrics::http_request(method.as_str(), &route, status, elapsed);
    let latency_us = elapsed.as_micros() as u64;
    if response.status().is_server_error() {
        let skipped = log.taken_skipped();
        tracing::warn!(%method, %route, status, latency_us, skipped, "request failed");
    } else if let Some(skipped) = log.admit(started + elapsed) {
        tracing::info!(%method, %route, status, latency_us, skipped, "request");
    }
    response
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn past_the_cap_requests_are_counted_and_the_next_line_says_how_many() {
        let log = AccessLog::new(3);
        let start = log.started;
        let verdicts: Vec<Option<u64>> = (0..5).map(|_| log.admit(start)).collect();
        assert_eq!(verdicts, [Some(0), Some(0), Some(0), None, None]);
        let next_second = start + Duration::from_millis(1_200);
        assert_eq!(
            log.admit(next_second),
            Some(2),
            "the two skipped are reported"
        );
        assert_eq!(log.admit(next_second), Some(0));
    }

    #[test]
    fn zero_writes_every_request() {
        let log = AccessLog::new(0);
        assert!((0..1000).all(|_| log.admit(log.started) == Some(0)));
    }
}
