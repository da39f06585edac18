//! Scenario 6: queries on a store preloaded directly (no HTTP, no queue) with a given
//! number of events over 30 days, sessions of about 20 events and 1% errors.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use eye_server::model::QueueMessage;
use eye_server::timestamp;
use hdrhistogram::Histogram;

use super::{Target, error_entry, record, start_eye};
use crate::deployment::{Backend, Deployment};
use crate::events::{EventSource, Rng};
use crate::load::http_client;
use crate::report::Row;

const DAY: i64 = 86_400_000_000;

/// The p99 of each query kind at one store size, for the growth rows.
pub type P99s = Vec<(String, f64)>;

pub async fn queries(
    eye: &Path,
    backend: &Backend,
    count: u64,
    samples: usize,
) -> anyhow::Result<(Vec<Row>, P99s)> {
    let deployment = Deployment::create(backend).await?;
    let end = timestamp::now_micros() - DAY;
    let start = end - 30 * DAY;
    preload(&deployment, count, start).await?;
    let target = start_eye(eye, deployment)?;
    let outcome = measure(&target, count, samples, start).await;
    target.finish().await;
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

async fn measure(
    target: &Target,
    count: u64,
    samples: usize,
    start: i64,
) -> anyhow::Result<(Vec<Row>, P99s)> {
    let client = http_client(1);
    let page: serde_json::Value = client
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
    let scenario = format!("6 queries, {count} events");
    let (mut rows, mut p99s) = (Vec::new(), Vec::new());
    for (name, path) in cases {
        let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        for _ in 0..samples {
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
            let _ = latency.record(sent.elapsed().as_micros() as u64);
        }
        let (p50, p99) = (
            latency.value_at_quantile(0.5) as f64 / 1000.0,
            latency.value_at_quantile(0.99) as f64 / 1000.0,
        );
        rows.push(Row::new(&scenario, &format!("{name} p50"), p50, "ms"));
        rows.push(Row::new(&scenario, &format!("{name} p99"), p99, "ms").target("p99 < 10 ms"));
        p99s.push((name.to_owned(), p99));
    }
    Ok((rows, p99s))
}

/// How each query's p99 grew from the smallest preloaded store to the largest.
pub fn growth(smallest: (u64, &P99s), largest: (u64, &P99s)) -> Vec<Row> {
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
