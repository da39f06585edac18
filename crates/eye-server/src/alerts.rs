//! Alert rules: every `alert_interval_ms`, each rule's metric is measured over its window;
//! crossing the threshold POSTs a JSON notification (with a sample error) to the rule's
//! webhook, at most once per window while it lasts, and once more when it recovers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::config::{AlertMetric, AlertRule};
use crate::model::ErrorEntry;
use crate::store::{ErrorQuery, Order, Store};
use crate::timestamp::{format_micros, now_micros};

/// Most rows read to count a window; counts above it are reported as this.
const MAX_COUNTED: usize = 10_000;

/// The processing lag the worker saw last (zero when the queue was empty), shared with the
/// alert rules.
#[derive(Default)]
pub struct Lag(AtomicU64);

impl Lag {
    pub fn set(&self, lag: Duration) {
        self.0.store(lag.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn seconds(&self) -> f64 {
        self.0.load(Ordering::Relaxed) as f64 / 1e6
    }
}

struct RuleState {
    rule: AlertRule,
    firing: bool,
    notified: Option<Instant>,
}

pub struct Alerts {
    rules: Vec<RuleState>,
    store: Arc<dyn Store>,
    lag: Arc<Lag>,
    http: reqwest::Client,
    interval: Duration,
}

impl Alerts {
    pub fn new(
        rules: Vec<AlertRule>,
        store: Arc<dyn Store>,
        lag: Arc<Lag>,
        interval: Duration,
    ) -> anyhow::Result<Alerts> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let rules = rules
            .into_iter()
            .map(|rule| RuleState {
                rule,
                firing: false,
                notified: None,
            })
            .collect();
        Ok(Alerts {
            rules,
            store,
            lag,
            http,
            interval,
        })
    }

    pub async fn run(mut self, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(self.interval) => {}
            }
            for index in 0..self.rules.len() {
                self.evaluate(index).await;
            }
        }
    }

    async fn evaluate(&mut self, index: usize) {
        let (value, sample) = match self.measure(&self.rules[index].rule).await {
            Ok(measured) => measured,
            Err(error) => {
                tracing::warn!(alert = self.rules[index].rule.name, %error, "alert rule could not be measured");
                return;
            }
        };
        let state = &mut self.rules[index];
        let window = Duration::from_secs(state.rule.window_secs);
        let above = value > state.rule.threshold;
        let status = match (above, state.firing) {
            (true, false) => "firing",
            (true, true) if state.notified.is_none_or(|at| at.elapsed() >= window) => "firing",
            (false, true) => "resolved",
            _ => return,
        };
        state.firing = above;
        state.notified = Some(Instant::now());
        let payload = notification(&state.rule, status, value, sample.as_ref());
        match self
            .http
            .post(&state.rule.webhook)
            .json(&payload)
            .send()
            .await
        {
            Ok(response) if response.status().is_success() => {
                tracing::info!(alert = state.rule.name, status, value, "alert notified");
            }
            Ok(response) => {
                tracing::warn!(alert = state.rule.name, status = %response.status(), "alert webhook refused")
            }
            Err(error) => {
                tracing::warn!(alert = state.rule.name, %error, "alert webhook unreachable")
            }
        }
    }

    async fn measure(
        &self,
        rule: &AlertRule,
    ) -> Result<(f64, Option<ErrorEntry>), crate::store::StoreError> {
        match rule.metric {
            AlertMetric::Lag => Ok((self.lag.seconds(), None)),
            AlertMetric::Rejected => {
                let window =
                    i64::try_from(rule.window_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
                let limit = ((rule.threshold.max(0.0) as usize).saturating_add(1)).min(MAX_COUNTED);
                let query = ErrorQuery {
                    code: rule.code.clone(),
                    category: rule.category.clone(),
                    name: rule.event_name.clone(),
                    from: Some(now_micros().saturating_sub(window)),
                    order: Order::Desc,
                    limit,
                    ..ErrorQuery::default()
                };
                let errors = self.store.errors(query).await?;
                let count = errors.len().min(limit + 1) as f64;
                Ok((count, errors.into_iter().next()))
            }
        }
    }
}

fn notification(rule: &AlertRule, status: &str, value: f64, sample: Option<&ErrorEntry>) -> Value {
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
        "alert": rule.name,
        "status": status,
        "metric": rule.metric,
        "value": value,
        "threshold": rule.threshold,
        "window_secs": rule.window_secs,
        "filters": {"code": rule.code, "category": rule.category, "name": rule.event_name},
        "sample": sample,
        "at": format_micros(now_micros()),
    })
}
