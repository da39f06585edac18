//! The scenarios of BENCHMARKS.md, each returning its rows.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eye_server::model::{ErrorEntry, EventRecord, QueueMessage};
use eye_server::store::{SqliteStore, Store};
use eye_server::{ids, timestamp};
use hdrhistogram::Histogram;

use crate::events::{EventSource, Rng};
use crate::load::{self, http_client};
use crate::processes::{self, Process};
use crate::report::Row;

pub struct Settings {
    pub duration: Duration,
    pub connections: usize,
    pub rates: Vec<u64>,
    pub preload: Vec<u64>,
    pub query_samples: usize,
}

/// The running Eye under test, with its keys.
pub struct Target {
    pub process: Process,
    pub ingest: String,
    pub query: String,
    pub data_dir: tempfile::TempDir,
}

pub fn start_eye(eye: &Path, data_dir: tempfile::TempDir) -> anyhow::Result<Target> {
    let ingest = processes::create_key(eye, data_dir.path(), "bench", "ingest")?;
    let query = processes::create_key(eye, data_dir.path(), "bench-team", "query")?;
    let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let dir = data_dir.path().to_str().unwrap_or_default().to_owned();
    let mut args = vec![
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.as_str(),
    ];
    let schemas_text = schemas.to_string_lossy().into_owned();
    if schemas.exists() {
        args.extend(["--schemas", schemas_text.as_str()]);
    }
    let process = processes::start(eye, &args)?;
    Ok(Target {
        process,
        ingest,
        query,
        data_dir,
    })
}

/// Baseline: the bare responder, single-event requests, closed loop.
pub async fn bare_responder(settings: &Settings) -> anyhow::Result<f64> {
    let me = std::env::current_exe()?;
    let responder = processes::start(&me, &["responder", "--listen", "127.0.0.1:0"])?;
    let outcome = load::closed_loop(
        &responder.url,
        "none",
        settings.connections,
        1,
        settings.duration,
        "/v1/events",
    )
    .await;
    Ok(outcome.requests_per_second())
}

/// Baseline: the same rows written straight into the embedded store (same indexes, same
/// durability settings, the worker's batch size), no HTTP and no queue.
pub async fn raw_inserts(settings: &Settings) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(dir.path())?;
    let mut source = EventSource::new(5, "raw");
    let deadline = Instant::now() + settings.duration;
    let started = Instant::now();
    let mut written = 0u64;
    while Instant::now() < deadline {
        let batch: Arc<[QueueMessage]> = (0..1000)
            .map(|_| QueueMessage::Event(record(&mut source, timestamp::now_micros())))
            .collect();
        store.write_batch(batch).await?;
        written += 1000;
    }
    Ok(written as f64 / started.elapsed().as_secs_f64())
}

fn record(source: &mut EventSource, at: i64) -> EventRecord {
    let value = source.next("2021-01-01 00:00:00");
    let text = |field: &str| value[field].as_str().unwrap_or_default().to_owned();
    let event_id = text("event_id");
    EventRecord {
        id: ids::event_id("bench", Some(&event_id), at),
        app: "bench".into(),
        session_id: text("session_id"),
        category: text("category"),
        name: text("name"),
        data: value["data"].to_string(),
        timestamp: at,
        received_at: at,
        event_id: Some(event_id),
        schema_version: Some(1),
    }
}

pub async fn ingest(target: &Target, settings: &Settings, responder: f64, raw: f64) -> Vec<Row> {
    let single = load::closed_loop(
        &target.process.url,
        &target.ingest,
        settings.connections,
        1,
        settings.duration,
        "/v1/events",
    )
    .await;
    let batches = load::closed_loop(
        &target.process.url,
        &target.ingest,
        16,
        100,
        settings.duration,
        "/v1/events",
    )
    .await;
    vec![
        Row::new(
            "1 single events, closed loop",
            "events/s",
            single.events_per_second(),
            "ev/s",
        )
        .against(responder)
        .target(">= 50% of bare responder"),
        Row::new(
            "1 single events, closed loop",
            "latency p50",
            single.quantile_ms(0.5),
            "ms",
        ),
        Row::new(
            "1 single events, closed loop",
            "latency p99",
            single.quantile_ms(0.99),
            "ms",
        ),
        Row::new(
            "2 batches of 100, closed loop",
            "events/s",
            batches.events_per_second(),
            "ev/s",
        )
        .against(raw)
        .target(">= 70% of raw inserts"),
        Row::new(
            "1+2 failed requests",
            "non-202 or errors",
            (single.failures + batches.failures) as f64,
            "requests",
        ),
    ]
}

pub async fn fixed_rates(target: &Target, settings: &Settings) -> Vec<Row> {
    let mut rows = Vec::new();
    for rate in &settings.rates {
        let outcome = load::open_loop(
            &target.process.url,
            &target.ingest,
            *rate,
            settings.duration,
            None,
        )
        .await;
        let name = format!("3 fixed rate {rate}/s");
        let target_p99 = (*rate == 1000).then_some("p99 < 10 ms");
        rows.push(Row::new(
            &name,
            "ack latency p50",
            outcome.quantile_ms(0.5),
            "ms",
        ));
        let mut p99 = Row::new(&name, "ack latency p99", outcome.quantile_ms(0.99), "ms");
        if let Some(target) = target_p99 {
            p99 = p99.target(target);
        }
        rows.push(p99);
        rows.push(Row::new(
            &name,
            "ack latency p99.9",
            outcome.quantile_ms(0.999),
            "ms",
        ));
        rows.push(Row::new(
            &name,
            "achieved",
            outcome.events_per_second(),
            "ev/s",
        ));
        rows.push(Row::new(
            &name,
            "failed requests",
            outcome.failures as f64,
            "requests",
        ));
    }
    rows
}

/// End-to-end lag: from the 202 to the event arriving on the live stream (stored).
pub async fn lag(target: &Target, settings: &Settings, rate: u64) -> anyhow::Result<Vec<Row>> {
    let acked: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let lags = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1,
        600_000_000,
        3,
    )?));
    let client = http_client(1);
    let mut response = client
        .get(format!("{}/v1/events/live", target.process.url))
        .bearer_auth(&target.query)
        .timeout(settings.duration * 10 + Duration::from_secs(30))
        .send()
        .await?;
    let (acked_by_reader, lags_by_reader) = (Arc::clone(&acked), Arc::clone(&lags));
    let reader = tokio::spawn(async move {
        let mut buffer = String::new();
        let deadline = Instant::now() + Duration::from_secs(600);
        while Instant::now() < deadline {
            let Ok(Ok(Some(chunk))) =
                tokio::time::timeout(Duration::from_secs(5), response.chunk()).await
            else {
                break;
            };
            let arrived = Instant::now();
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data:")) else {
                    continue;
                };
                let Ok(event) = serde_json::from_str::<serde_json::Value>(data.trim()) else {
                    continue;
                };
                let Some(id) = event["event_id"].as_str() else {
                    continue;
                };
                if let Some(sent) = acked_by_reader
                    .lock()
                    .map(|mut a| a.remove(id))
                    .ok()
                    .flatten()
                {
                    let _ = lags_by_reader
                        .lock()
                        .map(|mut h| h.record(arrived.duration_since(sent).as_micros() as u64));
                }
            }
        }
    });
    let record_ack = Arc::clone(&acked);
    let on_ack: Arc<dyn Fn(String, Instant) + Send + Sync> = Arc::new(move |id, at| {
        if let Ok(mut acked) = record_ack.lock() {
            acked.insert(id, at);
        }
    });
    load::open_loop(
        &target.process.url,
        &target.ingest,
        rate,
        settings.duration,
        Some(on_ack),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    reader.abort();
    let lags = lags
        .lock()
        .map(|h| h.clone())
        .map_err(|_| anyhow::anyhow!("lag histogram poisoned"))?;
    let name = format!("4 lag ack->stored at {rate}/s");
    Ok(vec![
        Row::new(
            &name,
            "lag p50",
            lags.value_at_quantile(0.5) as f64 / 1000.0,
            "ms",
        ),
        Row::new(
            &name,
            "lag p99",
            lags.value_at_quantile(0.99) as f64 / 1000.0,
            "ms",
        )
        .target("p99 < 250 ms"),
        Row::new(&name, "events measured", lags.len() as f64, "events"),
    ])
}

async fn stored_total(target: &Target) -> f64 {
    let Ok(response) = http_client(1)
        .get(format!("{}/metrics", target.process.url))
        .send()
        .await
    else {
        return 0.0;
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with("eye_events_stored_total"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Pipeline capacity: the worker's store rate while ingest keeps it saturated.
pub async fn capacity(target: &Target, settings: &Settings, raw: f64) -> Vec<Row> {
    let before = stored_total(target).await;
    let started = Instant::now();
    load::closed_loop(
        &target.process.url,
        &target.ingest,
        16,
        100,
        settings.duration,
        "/v1/events",
    )
    .await;
    let stored = stored_total(target).await - before;
    let rate = stored / started.elapsed().as_secs_f64();
    let mut rows = vec![
        Row::new("5 pipeline capacity", "stored/s, full ingest", rate, "ev/s")
            .against(raw)
            .target(">= 70% of raw inserts"),
    ];
    // The backlog left by the run above, drained with no load: the worker alone, as the
    // raw-insert baseline runs alone.
    let (backlog_start, drain_start) = (stored_total(target).await, Instant::now());
    drain(target).await;
    let drained = stored_total(target).await - backlog_start;
    if drained >= 1000.0 {
        let alone = drained / drain_start.elapsed().as_secs_f64();
        rows.push(
            Row::new(
                "5 pipeline capacity",
                "stored/s, worker alone",
                alone,
                "ev/s",
            )
            .against(raw),
        );
    }
    rows
}

pub fn resources(target: &Target, events_stored: f64, cpu_before: f64) -> Vec<Row> {
    let pid = target.process.child.id();
    let rss = processes::peak_rss_mib(pid).unwrap_or(0.0);
    let cpu = processes::cpu_seconds(pid).unwrap_or(0.0) - cpu_before;
    let disk = processes::disk_bytes(target.data_dir.path()) as f64;
    vec![
        Row::new("7 resources", "peak resident memory", rss, "MiB").target("< 200 MB"),
        Row::new(
            "7 resources",
            "CPU time per 1,000 events",
            cpu * 1000.0 / events_stored.max(1.0),
            "s",
        ),
        Row::new(
            "7 resources",
            "store size per million events",
            disk / events_stored.max(1.0),
            "MB",
        ),
    ]
}

/// Queries on a store preloaded with `count` events (30 days, sessions of ~20 events).
pub async fn queries(eye: &Path, count: u64, samples: usize) -> anyhow::Result<Vec<Row>> {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(dir.path())?;
    let day = 86_400_000_000i64;
    let end = timestamp::now_micros() - day;
    let start = end - 30 * day;
    let mut source = EventSource::new(11, "pre");
    let mut rng = Rng::new(3);
    let mut loaded = 0;
    while loaded < count {
        let size = (count - loaded).min(5000);
        let batch: Arc<[QueueMessage]> = (0..size)
            .map(|i| {
                let at = start + ((loaded + i) as i64 * (30 * day / count.max(1) as i64));
                if rng.below(100) == 0 {
                    QueueMessage::Error(error_entry(at))
                } else {
                    QueueMessage::Event(record(&mut source, at))
                }
            })
            .collect();
        store.write_batch(batch).await?;
        loaded += size;
    }
    drop(store);
    let target = start_eye(eye, dir)?;
    let client = http_client(1);
    let some = client
        .get(format!(
            "{}/v1/events?limit=1&order=desc",
            target.process.url
        ))
        .bearer_auth(&target.query)
        .send()
        .await?;
    let page: serde_json::Value = some.json().await?;
    let session = page["events"][0]["session_id"]
        .as_str()
        .unwrap_or("none")
        .to_owned();
    let hour_start = timestamp::format_micros(start + 15 * day);
    let hour_end = timestamp::format_micros(start + 15 * day + 3_600_000_000);
    let month_start = timestamp::format_micros(start);
    let cases = [
        ("session", format!("/v1/sessions/{session}")),
        (
            "type over one hour",
            format!(
                "/v1/events?category=page%20interaction&name=pageview&from={hour_start}&to={hour_end}&limit=100"
            ),
        ),
        (
            "time range page",
            format!("/v1/events?from={hour_start}&limit=100"),
        ),
        ("error page", "/v1/errors?limit=100".to_owned()),
        (
            "error summary, 30 days",
            format!("/v1/errors/summary?from={month_start}"),
        ),
    ];
    let mut rows = Vec::new();
    for (name, path) in cases {
        let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        for _ in 0..samples {
            let sent = Instant::now();
            let response = client
                .get(format!("{}{path}", target.process.url))
                .bearer_auth(&target.query)
                .send()
                .await?;
            anyhow::ensure!(
                response.status().is_success(),
                "{name}: {}",
                response.status()
            );
            let _ = response.bytes().await?;
            let _ = latency.record(sent.elapsed().as_micros() as u64);
        }
        let scenario = format!("6 queries, {count} events");
        rows.push(Row::new(
            &scenario,
            &format!("{name} p50"),
            latency.value_at_quantile(0.5) as f64 / 1000.0,
            "ms",
        ));
        rows.push(
            Row::new(
                &scenario,
                &format!("{name} p99"),
                latency.value_at_quantile(0.99) as f64 / 1000.0,
                "ms",
            )
            .target("p99 < 10 ms"),
        );
    }
    Ok(rows)
}

fn error_entry(at: i64) -> ErrorEntry {
    ErrorEntry {
        id: ids::error_id(),
        app: "bench".into(),
        code: "schema_violation".into(),
        message: "\"element\" is a required property".into(),
        path: Some("/data/element".into()),
        received_at: at,
        category: Some("page interaction".into()),
        name: Some("cta click".into()),
        session_id: Some("s".into()),
        schema_version: Some(1),
        raw: "{}".into(),
        replayed_at: None,
        replayed_event_id: None,
    }
}

/// Waits (at most two minutes) until the queue is empty, so that no phase inherits the
/// previous one's backlog.
pub async fn drain(target: &Target) {
    let client = http_client(1);
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if let Ok(response) = client
            .get(format!("{}/readyz", target.process.url))
            .send()
            .await
            && let Ok(ready) = response.json::<serde_json::Value>().await
            && ready["queue_depth"] == 0
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
