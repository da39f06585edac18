//! Per-application rate limit on ingest: a token bucket per application, refilled at
//! `rate_limit_events_per_second` up to `rate_limit_burst_events`. A request costs one
//! token per event; when the bucket cannot pay, ingest answers 429 `rate_limited` with
//! `Retry-After` (the seconds until it can). A request of more events than the bucket holds
//! can never be paid: it is answered 413 `too_many_events` without `Retry-After`, so a client
//! that obeys `Retry-After` does not retry it forever. Both are counted in
//! `eye_requests_refused_total{code}`. Each node keeps its own buckets: behind a load
//! balancer with N ingest nodes an application gets up to N times the rate.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use super::api_error::ApiError;
use crate::ops::metrics;

pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    /// `None` when `per_second` is 0 (no limit).
    pub fn new(per_second: u64, burst: u64) -> Option<RateLimiter> {
        (per_second > 0).then(|| RateLimiter {
            per_second: per_second as f64,
            burst: burst.max(1) as f64,
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Takes `events` tokens from `app`'s bucket, or says how long until they are there.
    pub fn take(&self, app: &str, events: usize, now: Instant) -> Result<(), Duration> {
        let cost = events as f64;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        // Look up before inserting: `entry` would allocate the key on every request.
        if !buckets.contains_key(app) {
            buckets.insert(
                app.to_owned(),
                Bucket {
                    tokens: self.burst,
                    updated: now,
                },
            );
        }
        let Some(bucket) = buckets.get_mut(app) else {
            return Ok(());
        };
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= cost {
            bucket.tokens -= cost;
            return Ok(());
        }
        let missing = cost.min(self.burst) - bucket.tokens;
        Err(Duration::from_secs_f64(missing / self.per_second))
    }

    /// [`take`](Self::take) as an HTTP answer, counted in the refusal metric when refused.
    pub fn check(&self, app: &str, events: usize) -> Result<(), ApiError> {
        self.answer(app, events)
            .inspect_err(|refused| metrics::request_refused(refused.code))
    }

    fn answer(&self, app: &str, events: usize) -> Result<(), ApiError> {
        if events as f64 > self.burst {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many_events",
                format!(
                    "the request holds {events} events, more than this application may ever send at once \
                     (rate_limit_burst_events = {}): send batches of at most {} events",
                    self.burst, self.burst
                ),
            ));
        }
        self.take(app, events, Instant::now()).map_err(|wait| {
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u32;
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "application {app:?} is over its limit of {} events per second: retry after {seconds} s",
                    self.per_second
                ),
            )
            .retry_after(seconds)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_pays_its_burst_then_refills_at_the_rate() {
        let limiter = RateLimiter::new(10, 20).expect("limited");
        let start = Instant::now();
        assert!(limiter.take("shop", 20, start).is_ok());
        let wait = limiter.take("shop", 5, start).expect_err("empty bucket");
        assert_eq!(wait, Duration::from_millis(500));
        // Another application has a bucket of its own.
        assert!(limiter.take("blog", 20, start).is_ok());
        // Half a second refills five tokens.
        assert!(
            limiter
                .take("shop", 5, start + Duration::from_millis(500))
                .is_ok()
        );
        assert!(
            limiter
                .take("shop", 1, start + Duration::from_millis(500))
                .is_err()
        );
        // Never more than the burst, however long the pause.
        assert!(
            limiter
                .take("shop", 21, start + Duration::from_secs(3600))
                .is_err()
        );
    }

    #[test]
    fn no_limit_when_the_rate_is_zero() {
        assert!(RateLimiter::new(0, 100).is_none());
    }

    #[test]
    fn an_over_limit_answer_is_429_with_retry_after() {
        let limiter = RateLimiter::new(1, 1).expect("limited");
        assert!(limiter.check("shop", 1).is_ok());
        let refused = limiter.check("shop", 1).expect_err("limited");
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.code, "rate_limited");
        let too_big = limiter.check("shop", 2).expect_err("over the burst");
        assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(too_big.code, "too_many_events");
        assert!(
            too_big.message.contains("rate_limit_burst_events = 1"),
            "{}",
            too_big.message
        );
    }
}
