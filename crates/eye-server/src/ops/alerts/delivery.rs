//! Delivery of one rule's notifications to its webhook, by a task of the rule's own: in
//! order, each attempt bounded by a timeout, a failed one retried with exponential backoff
//! until it is delivered or superseded. Outcomes are counted in
//! `eye_alert_deliveries_total{result}`; a failure is logged with its cause, never with the
//! webhook's URL (it may hold a token) or the body.

use std::collections::VecDeque;
use std::error::Error as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::ops::metrics::{self, AlertDelivery};

/// Retries wait twice as long each time, up to this.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Notifications one rule keeps waiting at most; past it the oldest is dropped.
const MAX_WAITING: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Firing,
    Resolved,
}

impl Status {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        }
    }
}

/// Where one rule's notifications go, and how patiently.
pub(super) struct Target {
    pub alert: String,
    pub webhook: String,
    /// One attempt waits this long for an answer at most.
    pub timeout: Duration,
    /// The wait before the first retry; it doubles with each failure, up to `MAX_BACKOFF`.
    pub first_retry: Duration,
}

#[derive(Debug)]
pub(super) struct Notification {
    status: Status,
    body: Value,
}

/// One rule's notifications not delivered yet, oldest first. The one being sent is out of
/// it, and goes back to its front if the attempt fails.
#[derive(Default)]
pub(super) struct Outbox {
    waiting: Mutex<VecDeque<Notification>>,
    arrived: Notify,
}

impl Outbox {
    /// Queues a notification after the others. The last one waiting, if of the same status,
    /// is superseded: the newer one says the same, more recently. A `resolved` after an
    /// undelivered `firing` waits behind it, so the receiver gets both, in order.
    pub(super) fn push(&self, status: Status, body: Value) {
        let mut superseded = 0;
        {
            let mut waiting = self.waiting();
            if waiting.back().is_some_and(|last| last.status == status) {
                waiting.pop_back();
                superseded += 1;
            }
            waiting.push_back(Notification { status, body });
            while waiting.len() > MAX_WAITING {
                waiting.pop_front();
                superseded += 1;
            }
        }
        for _ in 0..superseded {
            metrics::alert_delivery(AlertDelivery::Superseded);
        }
        self.arrived.notify_one();
    }

    /// Takes the oldest notification, waiting for one.
    async fn next(&self) -> Notification {
        loop {
            if let Some(next) = self.waiting().pop_front() {
                return next;
            }
            self.arrived.notified().await;
        }
    }

    /// Puts back a notification whose delivery failed, first in line, unless the next one
    /// waiting has the same status and so supersedes it.
    fn retry(&self, notification: Notification) {
        let mut waiting = self.waiting();
        if waiting
            .front()
            .is_some_and(|next| next.status == notification.status)
        {
            drop(waiting);
            metrics::alert_delivery(AlertDelivery::Superseded);
            return;
        }
        waiting.push_front(notification);
    }

    fn waiting(&self) -> MutexGuard<'_, VecDeque<Notification>> {
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Delivers `outbox`'s notifications to `target` until `stop`.
pub(super) async fn run(
    outbox: Arc<Outbox>,
    http: reqwest::Client,
    target: Target,
    stop: CancellationToken,
) {
    let mut backoff = target.first_retry;
    loop {
        let notification = tokio::select! {
            () = stop.cancelled() => return,
            next = outbox.next() => next,
        };
        let status = notification.status.as_str();
        let attempt = tokio::select! {
            () = stop.cancelled() => return,
            sent = send(&http, &target, &notification.body) => sent,
        };
        let Err(cause) = attempt else {
            metrics::alert_delivery(AlertDelivery::Delivered);
            tracing::info!(alert = target.alert, status, "alert delivered");
            backoff = target.first_retry;
            continue;
        };
        metrics::alert_delivery(AlertDelivery::Failed);
        tracing::warn!(
            alert = target.alert,
            status,
            cause,
            retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
            "alert delivery failed"
        );
        outbox.retry(notification);
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
    }
}

/// One attempt; the cause of a failure in a few words.
async fn send(http: &reqwest::Client, target: &Target, body: &Value) -> Result<(), String> {
    let response = http
        .post(&target.webhook)
        .timeout(target.timeout)
        .json(body)
        .send()
        .await
        .map_err(|error| cause(&error))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("answered {}", status.as_u16()))
    }
}

/// Why a request failed, from a fixed vocabulary ("timed out", "connection refused", ...):
/// the error's own text names the URL, which may hold a token.
fn cause(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "timed out".into();
    }
    let mut source = error.source();
    while let Some(inner) = source {
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            return io.kind().to_string();
        }
        source = inner.source();
    }
    if error.is_connect() {
        "could not connect".into()
    } else {
        "the request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tokio::net::TcpListener;

    use super::*;

    fn bodies(outbox: &Outbox) -> Vec<Value> {
        outbox.waiting().iter().map(|n| n.body.clone()).collect()
    }

    #[tokio::test]
    async fn notifications_keep_their_order_and_a_newer_one_supersedes_its_like() {
        let outbox = Outbox::default();
        outbox.push(Status::Firing, json!(1));
        outbox.push(Status::Firing, json!(2));
        outbox.push(Status::Resolved, json!(3));
        assert_eq!(bodies(&outbox), [json!(2), json!(3)]);

        let sending = outbox.next().await;
        assert_eq!(sending.body, json!(2));
        outbox.push(Status::Firing, json!(4));
        outbox.retry(sending);
        assert_eq!(
            bodies(&outbox),
            [json!(2), json!(3), json!(4)],
            "a failed firing goes back before the resolved that followed it"
        );

        for _ in 0..3 {
            let _ = outbox.next().await;
        }
        assert!(bodies(&outbox).is_empty());
        outbox.push(Status::Firing, json!(5));
        let sending = outbox.next().await;
        outbox.push(Status::Firing, json!(6));
        outbox.retry(sending);
        assert_eq!(
            bodies(&outbox),
            [json!(6)],
            "superseded while it was being sent"
        );

        for n in 0..40 {
            let status = if n % 2 == 0 {
                Status::Resolved
            } else {
                Status::Firing
            };
            outbox.push(status, json!(n));
        }
        assert_eq!(bodies(&outbox).len(), MAX_WAITING);
        assert_eq!(bodies(&outbox).last(), Some(&json!(39)));
    }

    #[tokio::test]
    async fn a_failed_attempt_is_named_by_its_cause_alone() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let refused = format!(
            "http://{}/hook?token=secret",
            closed.local_addr().expect("addr")
        );
        drop(closed);
        let error = http
            .post(&refused)
            .send()
            .await
            .expect_err("nobody listens");
        assert_eq!(cause(&error), "connection refused");

        // Connections queue in the backlog of a listener that never accepts: no answer comes.
        let silent = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let hangs = format!(
            "http://{}/hook?token=secret",
            silent.local_addr().expect("addr")
        );
        let error = http
            .post(&hangs)
            .timeout(Duration::from_millis(200))
            .send()
            .await
            .expect_err("nobody answers");
        assert_eq!(cause(&error), "timed out");
    }
}
