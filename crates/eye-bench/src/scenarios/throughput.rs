//! Scenarios 1 and 2 against their ceilings. Each repetition runs the baseline and then The
//! Eye back to back (the queue drained in between), so both see the same moment of a noisy
//! shared host; the figures are medians, and the ratio is the median of the paired ratios.

use std::sync::Arc;
use std::time::Instant;

use eye_server::model::QueueMessage;
use eye_server::model::timestamp;
use eye_server::store::Store;

use super::{Settings, Target, batches_of_100, drain, queue_depth, record};
use crate::deployment::{Backend, Deployment};
use crate::events::EventSource;
use crate::load::{self, Outcome};
use crate::processes;
use crate::report::{Row, Sampled};

/// Scenario 1: single-event requests, closed loop, against the bare responder.
pub async fn single_events_against_responder(
    target: &Target,
    settings: &Settings,
) -> anyhow::Result<Vec<Row>> {
    let me = std::env::current_exe()?;
    let responder = processes::start(&me, &["responder", "--listen", "127.0.0.1:0"], &[])?;
    let mut baseline = Sampled::default();
    let mut eye = Sampled::default();
    let mut backlog = Sampled::default();
    let mut catch_up = Sampled::default();
    let mut outcomes = Vec::new();
    for _ in 0..settings.repeat {
        let bare = load::closed_loop(
            &responder.url,
            "none",
            settings.connections,
            1,
            settings.duration,
        )
        .await;
        baseline.push(bare.requests_per_second());
        let single = load::closed_loop(
            &target.url,
            &target.ingest,
            settings.connections,
            1,
            settings.duration,
        )
        .await;
        eye.push(single.events_per_second());
        outcomes.push(single);
        // What the worker had not stored yet when the load stopped, and how long it took to
        // catch up: the acknowledged rate is not the stored rate (scenario 5 gives that).
        backlog.push(queue_depth(target).await.unwrap_or(0) as f64);
        let catching_up = Instant::now();
        drain(target).await;
        catch_up.push(catching_up.elapsed().as_secs_f64() * 1000.0);
    }
    let name = "1 single events, closed loop";
    let median = median_outcome(&outcomes);
    Ok(vec![
        baseline.row("baseline: bare responder", "requests/s", "req/s"),
        eye.row(name, "events/s", "ev/s")
            .paired_with(&baseline)
            .target(">= 50% of bare responder"),
        Row::new(
            name,
            "latency p50 (median run)",
            median.map_or(0.0, |o| o.quantile_ms(0.5)),
            "ms",
        ),
        Row::new(
            name,
            "latency p99 (median run)",
            median.map_or(0.0, |o| o.quantile_ms(0.99)),
            "ms",
        ),
        Row::new(
            name,
            "failed requests",
            outcomes.iter().map(|o| o.failures).sum::<u64>() as f64,
            "requests",
        ),
        backlog.row(name, "queue depth when the load stops", "events"),
        catch_up.row(name, "time to store that backlog", "ms"),
    ])
}

/// Scenario 2: batches of 100, closed loop, against raw inserts into the same kind of store.
/// Also gives the raw-insert median, the ceiling of scenario 5.
pub async fn batches_against_raw_inserts(
    target: &Target,
    settings: &Settings,
    backend: &Backend,
) -> anyhow::Result<(Vec<Row>, f64)> {
    let baseline_deployment = Deployment::create(backend).await?;
    let store = baseline_deployment.open_store().await?;
    let mut raw = Sampled::default();
    let mut eye = Sampled::default();
    let mut failures = 0;
    for round in 0..settings.repeat {
        raw.push(raw_inserts(store.as_ref(), settings, round as u64).await?);
        let batches = batches_of_100(target, settings.duration).await;
        eye.push(batches.events_per_second());
        failures += batches.failures;
        drain(target).await;
    }
    drop(store);
    baseline_deployment.remove().await;
    let name = "2 batches of 100, closed loop";
    let raw_median = raw.median();
    Ok((
        vec![
            raw.row("baseline: raw inserts", "rows/s", "rows/s"),
            eye.row(name, "events/s", "ev/s")
                .paired_with(&raw)
                .target(">= 70% of raw inserts"),
            Row::new(name, "failed requests", failures as f64, "requests"),
        ],
        raw_median,
    ))
}

/// The same rows written straight into the store through its own batch write (same
/// indexes, same durability settings, the worker's batch size of 1,000), no HTTP and no
/// queue, for one phase.
async fn raw_inserts(store: &dyn Store, settings: &Settings, round: u64) -> anyhow::Result<f64> {
    let mut source = EventSource::new(5 + round, &format!("raw{round}"));
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

/// The run whose throughput is the median, for its latencies.
fn median_outcome(outcomes: &[Outcome]) -> Option<&Outcome> {
    let mut sorted: Vec<&Outcome> = outcomes.iter().collect();
    sorted.sort_by(|a, b| a.events_per_second().total_cmp(&b.events_per_second()));
    sorted.get(sorted.len() / 2).copied()
}
