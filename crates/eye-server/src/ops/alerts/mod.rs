//! Alert rules: every `alert_interval_ms`, each rule's metric is measured (an exact count of
//! errors in its window, or the age of the queue's oldest unacknowledged message); crossing
//! the threshold notifies the rule's webhook (with a sample error), again at most once per
//! window while it lasts, and once more when it recovers. Notifications go out through
//! [`delivery`]: one task per rule, so a slow or unreachable receiver holds back only its own.

mod delivery;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::config::{AlertMetric, AlertRule};
use crate::model::ErrorEntry;
use crate::model::timestamp::{format_micros, now_micros};
use crate::queue::{Queue, QueueError};
use crate::store::{ErrorQuery, Order, Store, StoreError};
use delivery::{Outbox, Status, Target};

/// A delivery waits this long for an answer at most, and at least `MIN_TIMEOUT`; between
/// the two, one evaluation interval.
const MAX_TIMEOUT: Duration = Duration::from_secs(10);
const MIN_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
enum MeasureError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

struct RuleState {
    rule: AlertRule,
    firing: bool,
    notified: Option<Instant>,
    outbox: Arc<Outbox>,
}

pub struct Alerts {
    rules: Vec<RuleState>,
    store: Arc<dyn Store>,
    queue: Arc<dyn Queue>,
    http: reqwest::Client,
    interval: Duration,
}

impl Alerts {
    /// Rules measured every `interval`: error counts from `store`, lag from `queue`.
    pub fn new(
        rules: Vec<AlertRule>,
        store: Arc<dyn Store>,
        queue: Arc<dyn Queue>,
        interval: Duration,
    ) -> anyhow::Result<Alerts> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        // A redirect would turn the POST into a GET and lose the notification: it counts as
        // a failed delivery instead.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let rules = rules
            .into_iter()
            .map(|rule| RuleState {
                rule,
                firing: false,
                notified: None,
                outbox: Arc::default(),
            })
            .collect();
        Ok(Alerts {
            rules,
            store,
            queue,
            http,
            interval,
        })
    }

    /// Evaluates the rules until `stop`; each rule's notifications are delivered by a task
    /// of its own meanwhile. Notifications not delivered by then are dropped.
    pub async fn run(mut self, stop: CancellationToken) {
        let deliveries: Vec<_> = self
            .rules
            .iter()
            .map(|state| {
                let target = Target {
                    alert: state.rule.name.clone(),
                    webhook: state.rule.webhook.clone(),
                    timeout: self.interval.clamp(MIN_TIMEOUT, MAX_TIMEOUT),
                    first_retry: self.interval.min(delivery::MAX_BACKOFF),
                };
                let outbox = Arc::clone(&state.outbox);
                tokio::spawn(delivery::run(
                    outbox,
                    self.http.clone(),
                    target,
                    stop.clone(),
                ))
            })
            .collect();
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(self.interval) => {}
            }
            for index in 0..self.rules.len() {
                self.evaluate(index).await;
            }
        }
        for delivery in deliveries {
            let _ = delivery.await;
        }
    }

    async fn evaluate(&mut self, index: usize) {
        let measured = self.measure(&self.rules[index].rule).await;
        let state = &mut self.rules[index];
        let (value, sample) = match measured {
            Ok(measured) => measured,
            Err(error) => {
                tracing::warn!(alert = state.rule.name, %error, "alert rule could not be measured");
                return;
            }
        };
        let above = value > state.rule.threshold;
        let window = Duration::from_secs(state.rule.window_secs);
        let status = match (above, state.firing) {
            (true, false) => Status::Firing,
            (true, true) if state.notified.is_none_or(|at| at.elapsed() >= window) => {
                Status::Firing
            }
            (false, true) => Status::Resolved,
            _ => return,
        };
        state.firing = above;
        state.notified = Some(Instant::now());
        tracing::info!(
            alert = state.rule.name,
            status = status.as_str(),
            value,
            "alert notification queued"
        );
        let body = notification(&state.rule, status, value, sample.as_ref());
        state.outbox.push(status, body);
    }

    /// The rule's metric now, with the newest matching error as a sample when the count is
    /// over the threshold.
    async fn measure(&self, rule: &AlertRule) -> Result<(f64, Option<ErrorEntry>), MeasureError> {
        match rule.metric {
            AlertMetric::Lag => {
                let now = now_micros();
                let oldest = self.queue.oldest_unacknowledged().await?;
                let lag = oldest.map_or(0, |at| now.saturating_sub(at).max(0));
                Ok((lag as f64 / 1e6, None))
            }
            AlertMetric::Rejected => {
                let window =
                    i64::try_from(rule.window_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
                let query = ErrorQuery {
                    code: rule.code.clone(),
                    category: rule.category.clone(),
                    name: rule.event_name.clone(),
                    from: Some(now_micros().saturating_sub(window)),
                    ..ErrorQuery::default()
                };
                let count = self.store.count_errors(query.clone()).await? as f64;
                if count <= rule.threshold {
                    return Ok((count, None));
                }
                let newest = ErrorQuery {
                    order: Order::Desc,
                    limit: 1,
                    ..query
                };
                let sample = self.store.errors(newest).await?.into_iter().next();
                Ok((count, sample))
            }
        }
    }
}

/// The webhook's body. `id` is the same on every attempt to deliver it, so a receiver can
/// drop a repeat (an attempt that timed out may still have arrived).
fn notification(
    rule: &AlertRule,
    status: Status,
    value: f64,
    sample: Option<&ErrorEntry>,
) -> Value {
    let sample = sample.map(|error| {
        json!({
            "id": error.id.to_string(),
            "code": error.code,
            "message": error.message,
            "path": error.path,
            "app": error.app,
            "received_at": format_micros(error.received_at),
            "category": error.category,
            "name": error.name,
            "session_id": error.session_id,
            "raw": error.raw,
        })
    });
    json!({
        "id": uuid::Uuid::now_v7().to_string(),
        "alert": rule.name,
        "status": status.as_str(),
        "metric": rule.metric,
        "value": value,
        "threshold": rule.threshold,
        "window_secs": rule.window_secs,
        "filters": {
            "code": rule.code,
            "category": rule.category,
            "event_name": rule.event_name,
        },
        "sample": sample,
        "at": format_micros(now_micros()),
    })
}
