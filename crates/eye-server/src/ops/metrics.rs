//! Prometheus metrics (`GET /metrics`), all named `eye_*`, with bounded labels only: route
//! templates, methods, status codes and the fixed set of error codes — never event types,
//! applications or session ids, which clients control.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::store::BatchOutcome;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const SIZE_BUCKETS: &[f64] = &[1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0];

/// Installs the process's recorder once (every Application of the process shares it) and
/// returns its handle; `None` if another recorder was installed first.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("eye_worker_batch_size".into()),
                        SIZE_BUCKETS,
                    )
                })
                .ok()?
                .install_recorder()
                .ok()?;
            describe();
            Some(recorder)
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "eye_http_requests_total",
        "HTTP requests by route, method and status"
    );
    describe_histogram!(
        "eye_http_request_duration_seconds",
        "HTTP request latency by route and method"
    );
    describe_counter!(
        "eye_events_accepted_total",
        "Events accepted by ingest (queued)"
    );
    describe_counter!(
        "eye_events_rejected_total",
        "Events rejected by validation, by code"
    );
    describe_counter!(
        "eye_requests_refused_total",
        "Request bodies refused whole, by code"
    );
    describe_counter!(
        "eye_events_stored_total",
        "Events written to the store by the worker"
    );
    describe_counter!(
        "eye_events_duplicates_total",
        "Redelivered or repeated events the store skipped"
    );
    describe_counter!(
        "eye_errors_stored_total",
        "Error records written to the store"
    );
    describe_counter!(
        "eye_messages_quarantined_total",
        "Queue messages the store refused repeatedly"
    );
    describe_counter!(
        "eye_store_errors_total",
        "Failed store writes, by kind (unavailable, rejected)"
    );
    describe_gauge!("eye_queue_depth", "Messages waiting in the queue");
    describe_gauge!(
        "eye_processing_lag_seconds",
        "Age of the oldest message of the latest batch when the worker took it"
    );
    describe_histogram!("eye_worker_batch_size", "Messages per worker batch");
    describe_counter!(
        "eye_alert_deliveries_total",
        "Alert notifications by result: delivered, failed (an attempt, retried), superseded"
    );
    describe_histogram!(
        "eye_worker_batch_duration_seconds",
        "Time to store and acknowledge one batch"
    );
    describe_gauge!(
        "eye_store_bytes",
        "Bytes on disk of the store (read when /metrics is scraped)"
    );
    describe_gauge!("eye_store_events", "Events stored");
    describe_gauge!("eye_store_errors", "Error records stored");
    describe_gauge!(
        "eye_store_oldest_event_timestamp_seconds",
        "Timestamp (Unix seconds) of the oldest event stored; 0 when none"
    );
    describe_gauge!("eye_queue_bytes", "Bytes on disk of the queue");
    describe_counter!(
        "eye_retention_deleted_total",
        "Records deleted by the retention sweep, by kind (events, errors)"
    );
    describe_counter!(
        "eye_retention_sweeps_total",
        "Retention sweeps, by result (done, failed)"
    );
    describe_counter!(
        "eye_events_suppressed_total",
        "Events answered accepted and dropped because an erasure suppresses their session"
    );
    describe_counter!(
        "eye_erased_in_queue_total",
        "Queued events and error records dropped by the worker because an erasure covers their session"
    );
    describe_counter!(
        "eye_erasures_total",
        "Erasures finished, by result (done, failed)"
    );
}

pub fn http_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    let labels = [("method", method.to_owned()), ("route", route.to_owned())];
    counter!("eye_http_requests_total", "method" => method.to_owned(), "route" => route.to_owned(), "status" => status.to_string()).increment(1);
    histogram!("eye_http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
}

pub fn events_judged(accepted: usize, rejected_codes: impl Iterator<Item = &'static str>) {
    counter!("eye_events_accepted_total").increment(accepted as u64);
    for code in rejected_codes {
        counter!("eye_events_rejected_total", "code" => code).increment(1);
    }
}

pub fn request_refused(code: &'static str) {
    counter!("eye_requests_refused_total", "code" => code).increment(1);
}

pub fn batch_stored(outcome: &BatchOutcome, size: usize, elapsed: Duration, lag: Duration) {
    counter!("eye_events_stored_total").increment(outcome.stored);
    counter!("eye_events_duplicates_total").increment(outcome.duplicates);
    counter!("eye_errors_stored_total").increment(outcome.errors);
    if !outcome.erased.is_empty() {
        erased_in_queue(outcome.erased.len() as u64);
    }
    histogram!("eye_worker_batch_size").record(size as f64);
    histogram!("eye_worker_batch_duration_seconds").record(elapsed.as_secs_f64());
    gauge!("eye_processing_lag_seconds").set(lag.as_secs_f64());
}

pub fn store_error(kind: &'static str) {
    counter!("eye_store_errors_total", "kind" => kind).increment(1);
}

pub fn quarantined() {
    counter!("eye_messages_quarantined_total").increment(1);
}

/// What became of an alert notification (or one attempt to deliver it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertDelivery {
    Delivered,
    /// One attempt failed; the notification is retried.
    Failed,
    /// Replaced by a newer notification of the same status before it was delivered.
    Superseded,
}

pub fn alert_delivery(result: AlertDelivery) {
    let result = match result {
        AlertDelivery::Delivered => "delivered",
        AlertDelivery::Failed => "failed",
        AlertDelivery::Superseded => "superseded",
    };
    counter!("eye_alert_deliveries_total", "result" => result).increment(1);
}

/// The store's size and contents, as `GET /v1/usage` reports them.
pub fn store_usage(usage: &crate::store::StoreUsage, queue_bytes: Option<u64>) {
    gauge!("eye_store_bytes").set(usage.bytes as f64);
    gauge!("eye_store_events").set(usage.events as f64);
    gauge!("eye_store_errors").set(usage.errors as f64);
    let oldest = usage.oldest_event.map_or(0.0, |at| at as f64 / 1e6);
    gauge!("eye_store_oldest_event_timestamp_seconds").set(oldest);
    if let Some(bytes) = queue_bytes {
        gauge!("eye_queue_bytes").set(bytes as f64);
    }
}

pub fn retention_deleted(kind: &'static str, count: u64) {
    counter!("eye_retention_deleted_total", "kind" => kind).increment(count);
}

pub fn retention_sweep(result: &'static str) {
    counter!("eye_retention_sweeps_total", "result" => result).increment(1);
}

pub fn events_suppressed(count: u64) {
    counter!("eye_events_suppressed_total").increment(count);
}

pub fn erased_in_queue(count: u64) {
    counter!("eye_erased_in_queue_total").increment(count);
}

pub fn erasure_finished(result: &'static str) {
    counter!("eye_erasures_total", "result" => result).increment(1);
}

pub fn queue_depth(depth: u64) {
    gauge!("eye_queue_depth").set(depth as f64);
}
