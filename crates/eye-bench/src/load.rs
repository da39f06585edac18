//! Load: closed loop (each connection sends as soon as the previous answer came) and open
//! loop (requests leave on a fixed schedule; latency counts from the scheduled time, so a
//! slow server cannot hide queueing: no coordinated omission). Every loop is bounded in time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::events::EventSource;

pub struct Outcome {
    pub events: u64,
    pub requests: u64,
    pub failures: u64,
    pub elapsed: Duration,
    /// Microseconds.
    pub latency: Histogram<u64>,
}

impl Outcome {
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }
}

pub fn http_client(connections: usize) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default()
}

pub fn now_timestamp() -> String {
    timestamp_ago(Duration::ZERO)
}

/// The time `age` before now, as an RFC 3339 timestamp.
pub fn timestamp_ago(age: Duration) -> String {
    let format = time::format_description::well_known::Rfc3339;
    (time::OffsetDateTime::now_utc() - age)
        .format(&format)
        .unwrap_or_default()
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()))
}

/// `connections` senders, each posting batches of `batch` events back to back, for `duration`.
pub async fn closed_loop(
    url: &str,
    key: &str,
    connections: usize,
    batch: usize,
    duration: Duration,
) -> Outcome {
    let client = http_client(connections);
    let deadline = Instant::now() + duration;
    let merged = Arc::new(Mutex::new(histogram()));
    let (events, requests, failures) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|connection| {
            let (client, url, key) = (client.clone(), url.to_owned(), key.to_owned());
            let (merged, events, requests, failures) = (
                Arc::clone(&merged),
                Arc::clone(&events),
                Arc::clone(&requests),
                Arc::clone(&failures),
            );
            tokio::spawn(async move {
                let mut source = EventSource::new(
                    connection as u64 + 1,
                    &format!("c{connection}-{}", uuid::Uuid::now_v7().simple()),
                );
                let mut local = histogram();
                while Instant::now() < deadline {
                    let timestamp = now_timestamp();
                    let body: Vec<Value> = (0..batch).map(|_| source.next(&timestamp)).collect();
                    let sent = Instant::now();
                    let ok = client
                        .post(format!("{url}/v1/events"))
                        .bearer_auth(&key)
                        .json(&body)
                        .send()
                        .await
                        .is_ok_and(|r| r.status().as_u16() == 202);
                    let _ = local.record(sent.elapsed().as_micros() as u64);
                    requests.fetch_add(1, Ordering::Relaxed);
                    if ok {
                        events.fetch_add(batch as u64, Ordering::Relaxed);
                    } else {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
                let _ = merged.lock().await.add(&local);
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    let latency = merged.lock().await.clone();
    Outcome {
        events: events.load(Ordering::Relaxed),
        requests: requests.load(Ordering::Relaxed),
        failures: failures.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        latency,
    }
}

/// Told the event id and acknowledgement time of every accepted event.
pub type OnAck = Arc<dyn Fn(String, Instant) + Send + Sync>;

/// Requests of `batch` events (a bare event when 1) leaving on a schedule that carries
/// `rate` events per second, for `duration`; `on_ack` hears of every accepted event.
pub async fn open_loop(
    url: &str,
    key: &str,
    rate: u64,
    batch: usize,
    duration: Duration,
    on_ack: Option<OnAck>,
) -> Outcome {
    open_loop_aged(url, key, (rate, batch, duration), Duration::ZERO, on_ack).await
}

/// `open_loop` with events whose timestamps are `age` before the time they are sent.
/// `schedule` is the rate (events/s), the events per request and the duration.
pub async fn open_loop_aged(
    url: &str,
    key: &str,
    schedule: (u64, usize, Duration),
    age: Duration,
    on_ack: Option<OnAck>,
) -> Outcome {
    let (rate, batch, duration) = schedule;
    let client = http_client(256);
    let batch = batch.max(1);
    let request_rate = (rate as f64 / batch as f64).max(1e-3);
    let interval = Duration::from_secs_f64(1.0 / request_rate);
    let total = (duration.as_secs_f64() * request_rate) as u64;
    let merged = Arc::new(Mutex::new(histogram()));
    let (events, failures) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let in_flight = Arc::new(tokio::sync::Semaphore::new(2048));
    let mut source = EventSource::new(99, &format!("open-{}", uuid::Uuid::now_v7().simple()));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let scheduled = started + interval.mul_f64(i as f64);
        if let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
            break;
        };
        let timestamp = timestamp_ago(age);
        let mut events_of_request: Vec<Value> =
            (0..batch).map(|_| source.next(&timestamp)).collect();
        let event_ids: Vec<String> = events_of_request
            .iter()
            .map(|e| e["event_id"].as_str().unwrap_or_default().to_owned())
            .collect();
        let body = if batch == 1 {
            events_of_request.pop().unwrap_or_default()
        } else {
            Value::Array(events_of_request)
        };
        let (client, url, key) = (client.clone(), url.to_owned(), key.to_owned());
        let (merged, events, failures, on_ack) = (
            Arc::clone(&merged),
            Arc::clone(&events),
            Arc::clone(&failures),
            on_ack.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let ok = client
                .post(format!("{url}/v1/events"))
                .bearer_auth(&key)
                .json(&body)
                .send()
                .await
                .is_ok_and(|r| r.status().as_u16() == 202);
            let done = Instant::now();
            let _ = merged
                .lock()
                .await
                .record(done.duration_since(scheduled).as_micros() as u64);
            if ok {
                events.fetch_add(event_ids.len() as u64, Ordering::Relaxed);
                if let Some(on_ack) = on_ack {
                    for event_id in event_ids {
                        on_ack(event_id, done);
                    }
                }
            } else {
                failures.fetch_add(1, Ordering::Relaxed);
            }
            drop(permit);
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let latency = merged.lock().await.clone();
    Outcome {
        events: events.load(Ordering::Relaxed),
        requests: total,
        failures: failures.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        latency,
    }
}
