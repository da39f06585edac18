//! Scenarios 3 and 4: acknowledgement latency at fixed rates, and the lag from the 202 to
//! the event being stored (its arrival on the live stream, which the worker feeds after
//! the commit).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::{Settings, Target, settle};
use crate::durable_appends;
use crate::load::{self, OnAck, http_client};
use crate::report::{Row, Sampled};

/// Scenario 3: single-event requests on a fixed schedule, at each of `settings.rates`,
/// against durable appends on the same disk at the same rate (the ceiling of any answer
/// that waits for its data to be durable). Each repetition runs the baseline and then The
/// Eye, on a settled system; the figures are medians.
pub async fn fixed_rates(target: &Target, settings: &Settings) -> Vec<Row> {
    let probe_dir = target
        .deployment
        .as_ref()
        .map_or_else(std::env::temp_dir, |d| d.data_dir.path().to_owned());
    let mut rows = Vec::new();
    for &rate in &settings.rates {
        let (mut disk_p50, mut disk_p99, mut disk_p999) = <(Sampled, Sampled, Sampled)>::default();
        let (mut p50, mut p99, mut p999) = <(Sampled, Sampled, Sampled)>::default();
        let mut achieved = Sampled::default();
        let mut failures = 0;
        for _ in 0..settings.repeat {
            settle(target).await;
            let (dir, duration) = (probe_dir.clone(), settings.duration);
            let disk =
                tokio::task::spawn_blocking(move || durable_appends::measure(&dir, rate, duration))
                    .await;
            // A failed probe records zeros, which pairing skips, so that the repetitions
            // of the baseline and of The Eye stay aligned.
            let disk = disk
                .map_err(|e| e.to_string())
                .and_then(|probe| probe.map_err(|e| e.to_string()))
                .inspect_err(|error| eprintln!("durable appends failed: {error}"))
                .ok();
            record_quantiles([&mut disk_p50, &mut disk_p99, &mut disk_p999], |q| {
                disk.as_ref()
                    .map_or(0.0, |h| h.value_at_quantile(q) as f64 / 1000.0)
            });
            settle(target).await;
            let outcome = load::open_loop(
                &target.url,
                &target.ingest,
                rate,
                1,
                settings.duration,
                None,
            )
            .await;
            record_quantiles([&mut p50, &mut p99, &mut p999], |q| outcome.quantile_ms(q));
            achieved.push(outcome.events_per_second());
            failures += outcome.failures;
        }
        let name = format!("3 fixed rate {rate}/s");
        let baseline = format!("baseline: durable appends {rate}/s");
        let mut ack_p99 = p99
            .row(&name, "ack latency p99", "ms")
            .paired_with(&disk_p99);
        if rate == 1000 {
            ack_p99 = ack_p99.target("p99 < 10 ms");
        }
        rows.extend([
            disk_p50.row(&baseline, "fdatasync latency p50", "ms"),
            disk_p99.row(&baseline, "fdatasync latency p99", "ms"),
            disk_p999.row(&baseline, "fdatasync latency p99.9", "ms"),
            p50.row(&name, "ack latency p50", "ms")
                .paired_with(&disk_p50),
            ack_p99,
            p999.row(&name, "ack latency p99.9", "ms")
                .paired_with(&disk_p999),
            achieved.row(&name, "achieved", "ev/s"),
            Row::new(&name, "failed requests", failures as f64, "requests"),
        ]);
    }
    rows
}

/// Pushes the p50, p99 and p99.9 that `quantile` gives onto three sample lists.
fn record_quantiles(samples: [&mut Sampled; 3], quantile: impl Fn(f64) -> f64) {
    for (list, q) in samples.into_iter().zip([0.5, 0.99, 0.999]) {
        list.push(quantile(q));
    }
}

/// Scenario 4: lag from acknowledgement to stored, for events sent at `rate` in requests
/// of `batch` events. `label` names the rate in the table.
pub async fn lag(
    target: &Target,
    settings: &Settings,
    rate: u64,
    batch: usize,
    label: &str,
) -> anyhow::Result<Vec<Row>> {
    let acked: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let lags = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1,
        600_000_000,
        3,
    )?));
    let mut response = http_client(1)
        .get(format!("{}/v1/events/live", target.url))
        .bearer_auth(&target.query)
        .timeout(settings.duration * 10 + Duration::from_secs(30))
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "the live stream answered {}",
        response.status()
    );
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
                let Some(id) = event_id_of_frame(&frame) else {
                    continue;
                };
                let sent = acked_by_reader.lock().ok().and_then(|mut a| a.remove(&id));
                if let Some(sent) = sent
                    && let Ok(mut histogram) = lags_by_reader.lock()
                {
                    let _ = histogram.record(arrived.duration_since(sent).as_micros() as u64);
                }
            }
        }
    });
    let record_ack = Arc::clone(&acked);
    let on_ack: OnAck = Arc::new(move |id, at| {
        if let Ok(mut acked) = record_ack.lock() {
            acked.insert(id, at);
        }
    });
    let outcome = load::open_loop(
        &target.url,
        &target.ingest,
        rate,
        batch,
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
    let name = format!("4 lag ack->stored, {label}");
    let mut p99 = Row::new(
        &name,
        "lag p99",
        lags.value_at_quantile(0.99) as f64 / 1000.0,
        "ms",
    );
    if rate == 1000 {
        p99 = p99.target("p99 < 250 ms");
    }
    Ok(vec![
        Row::new(
            &name,
            "lag p50",
            lags.value_at_quantile(0.5) as f64 / 1000.0,
            "ms",
        ),
        p99,
        Row::new(&name, "events measured", lags.len() as f64, "events"),
        Row::new(&name, "achieved", outcome.events_per_second(), "ev/s"),
    ])
}

fn event_id_of_frame(frame: &str) -> Option<String> {
    let data = frame.lines().find_map(|l| l.strip_prefix("data:"))?;
    let event: serde_json::Value = serde_json::from_str(data.trim()).ok()?;
    Some(event["event_id"].as_str()?.to_owned())
}
