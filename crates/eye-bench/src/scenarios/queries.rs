//! Scenario 6: queries on stores preloaded directly (no HTTP, no queue), each with a given
//! number of events over 30 days, sessions of 5 to 50 events and 1% errors.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use eye_server::model::QueueMessage;
use eye_server::model::timestamp;
use hdrhistogram::Histogram;

use super::{Target, error_entry, record, settle, start_eye};
use crate::deployment::{Backend, Deployment};
use crate::events::{EventSource, Rng};
use crate::load::http_client;
use crate::report::Row;

const DAY: i64 = 86_400_000_000;

/// Scenario 6 at every size in `counts`, and how each query's p99 grew from the first size
/// to the last. All stores are preloaded and served at once, and each round of samples asks
/// every store in turn, so that the growth ratio compares the same moments of a noisy host.
pub async fn queries(
    eye: &Path,
    backend: &Backend,
    counts: &[u64],
    samples: usize,
) -> anyhow::Result<Vec<Row>> {
    let end = timestamp::now_micros() - DAY;
    let start = end - 30 * DAY;
    let mut targets = Vec::new();
    for &count in counts {
        let deployment = Deployment::create(backend).await?;
        preload(&deployment, count, start).await?;
        targets.push((count, start_eye(eye, deployment)?));
    }
    for (_, target) in &targets {
        // The preload leaves gigabytes for the kernel to write back; measured on top of
        // that, the p99s would be the disk's, not the queries'.
        settle(target).await;
    }
    let outcome = measure(&targets, samples, start).await;
    for (_, target) in targets {
        target.finish().await;
    }
    outcome
}

async fn preload(deployment: &Deployment, count: u64, start: i64) -> anyhow::Result<()> {
    let store = deployment.open_store().await?;
    let mut source = EventSource::new(11, "pre");
    let mut rng = Rng::new(3);
    let step = 30 * DAY / count.max(1) as i64;
    let mut loaded = 0;
    while loaded < count {
        let size = (count - loaded).min(5000);
        let batch: Arc<[QueueMessage]> = (0..size)
            .map(|i| {
                let at = start + (loaded + i) as i64 * step;
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
    Ok(())
}

/// The query kinds, each as a path on a store preloaded from `start`.
async fn cases(target: &Target, start: i64) -> anyhow::Result<Vec<(&'static str, String)>> {
    let page: serde_json::Value = http_client(1)
        .get(format!("{}/v1/events?limit=1&order=desc", target.url))
        .bearer_auth(&target.query)
        .send()
        .await?
        .json()
        .await?;
    let session = page["events"][0]["session_id"]
        .as_str()
        .unwrap_or("none")
        .to_owned();
    let hour_start = timestamp::format_micros(start + 15 * DAY);
    let hour_end = timestamp::format_micros(start + 15 * DAY + 3_600_000_000);
    let month_start = timestamp::format_micros(start);
    Ok(vec![
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
    ])
}

/// Samples every query kind on every store, the stores taking turns within each round.
async fn measure(
    targets: &[(u64, Target)],
    samples: usize,
    start: i64,
) -> anyhow::Result<Vec<Row>> {
    let client = http_client(1);
    let mut paths = Vec::new();
    for (_, target) in targets {
        paths.push(cases(target, start).await?);
    }
    let kinds = paths.first().map_or(0, Vec::len);
    // histograms[target][kind]
    let mut histograms = vec![Vec::new(); targets.len()];
    for kind in 0..kinds {
        for per_target in &mut histograms {
            per_target.push(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?);
        }
        // Unrecorded warm-up requests first: a real query service runs warm, and the first
        // requests of a fresh process would otherwise be most of the p99.
        for sample in 0..samples + warm_up(samples) {
            for (index, (_, target)) in targets.iter().enumerate() {
                let (name, path) = &paths[index][kind];
                let sent = Instant::now();
                let response = client
                    .get(format!("{}{path}", target.url))
                    .bearer_auth(&target.query)
                    .send()
                    .await?;
                anyhow::ensure!(
                    response.status().is_success(),
                    "{name}: {}",
                    response.status()
                );
                let _ = response.bytes().await?;
                if sample >= warm_up(samples) {
                    let _ = histograms[index][kind].record(sent.elapsed().as_micros() as u64);
                }
            }
        }
    }
    Ok(report(targets, &paths, &histograms))
}

/// The p50 and p99 rows of every store size, then the growth rows.
fn report(
    targets: &[(u64, Target)],
    paths: &[Vec<(&str, String)>],
    histograms: &[Vec<Histogram<u64>>],
) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut p99s: Vec<Vec<(&str, f64)>> = Vec::new();
    for (index, (count, _)) in targets.iter().enumerate() {
        let scenario = format!("6 queries, {count} events");
        let mut mine = Vec::new();
        for ((name, _), latency) in paths[index].iter().zip(&histograms[index]) {
            let (p50, p99) = (
                latency.value_at_quantile(0.5) as f64 / 1000.0,
                latency.value_at_quantile(0.99) as f64 / 1000.0,
            );
            rows.push(Row::new(&scenario, &format!("{name} p50"), p50, "ms"));
            rows.push(Row::new(&scenario, &format!("{name} p99"), p99, "ms").target("p99 < 10 ms"));
            mine.push((*name, p99));
        }
        p99s.push(mine);
    }
    if let (Some(smallest), Some(largest)) = (targets.first(), targets.last())
        && targets.len() > 1
    {
        rows.extend(growth(
            (smallest.0, &p99s[0]),
            (largest.0, &p99s[targets.len() - 1]),
        ));
    }
    rows
}

/// Requests sent before the recorded ones: a tenth of them, at least ten.
fn warm_up(samples: usize) -> usize {
    (samples / 10).max(10)
}

/// How each query's p99 grew from the smallest preloaded store to the largest.
fn growth(smallest: (u64, &[(&str, f64)]), largest: (u64, &[(&str, f64)])) -> Vec<Row> {
    let scenario = format!("6 growth {} -> {} events", smallest.0, largest.0);
    smallest
        .1
        .iter()
        .zip(largest.1)
        .map(|((name, small), (_, large))| {
            Row::new(
                &scenario,
                &format!("{name} p99 ratio"),
                large / small.max(1e-6),
                "x",
            )
            .target("< 1.5x")
        })
        .collect()
}
