//! Scenario 5, the sustained pipeline capacity, and scenario 7, what the server cost.

use std::time::{Duration, Instant};

use super::{Settings, Target, batches_of_100, drain, queue_depth, stored_total};
use crate::load;
use crate::processes;
use crate::report::Row;

const SCENARIO: &str = "5 pipeline capacity";
/// Each unstable phase lowers the offered rate by this fraction: fine enough that the
/// figure found is within a few percent of the true capacity.
const STEP_DOWN: f64 = 0.08;
/// Phases tried before giving up (from 95% of the worker's rate down to about 55% of it).
const MAX_PHASES: usize = 8;

/// What scenario 5 found: its rows, and the sustained rate (for scenario 4's second run).
pub struct Capacity {
    pub rows: Vec<Row>,
    pub sustained: Option<u64>,
}

/// Scenario 5: the highest ingest rate at which the queue depth stays stable for
/// `settings.capacity_duration` while the worker stores everything into the indexed store.
///
/// First the worker alone: a backlog built by a closed-loop flood, drained with no load.
/// Then open-loop ingest (batches of 100) from just under that rate, stepping down by 8%
/// until a phase ends stable: the worker stored at least 97% of what was acknowledged and
/// less than one second's worth of events is left queued.
pub async fn capacity(target: &Target, settings: &Settings, raw: f64) -> Capacity {
    drain(target).await;
    batches_of_100(target, settings.duration).await;
    let (backlog_start, drain_start) = (stored_total(target).await, Instant::now());
    drain(target).await;
    let drained = stored_total(target).await - backlog_start;
    let alone = drained / drain_start.elapsed().as_secs_f64().max(1e-3);
    let mut rows = vec![Row::new(SCENARIO, "stored/s, worker alone", alone, "ev/s").against(raw)];
    let mut rate = (alone * 0.95).max(100.0) as u64;
    for _ in 0..MAX_PHASES {
        let phase = offer(target, settings, rate).await;
        let seconds = settings.capacity_duration.as_secs();
        let stable =
            phase.stored >= 0.97 * phase.acknowledged && (phase.final_depth as f64) <= rate as f64;
        if stable {
            rows.push(
                Row::new(
                    SCENARIO,
                    &format!("sustained stored/s, stable {seconds} s"),
                    phase.stored_per_second,
                    "ev/s",
                )
                .against(raw)
                .target(">= 70% of raw inserts"),
            );
            rows.push(Row::new(
                SCENARIO,
                "queue depth at the end",
                phase.final_depth as f64,
                "events",
            ));
            return Capacity {
                rows,
                sustained: Some(rate),
            };
        }
        drain(target).await;
        rate = (rate as f64 * (1.0 - STEP_DOWN)) as u64;
    }
    rows.push(Row::new(
        SCENARIO,
        "sustained stored/s: none stable",
        0.0,
        "ev/s",
    ));
    Capacity {
        rows,
        sustained: None,
    }
}

struct Phase {
    acknowledged: f64,
    stored: f64,
    stored_per_second: f64,
    final_depth: u64,
}

/// Ingest at `rate` (open loop, batches of 100) for the capacity duration.
async fn offer(target: &Target, settings: &Settings, rate: u64) -> Phase {
    let before = stored_total(target).await;
    let started = Instant::now();
    let outcome = load::open_loop(
        &target.url,
        &target.ingest,
        rate,
        100,
        settings.capacity_duration,
        None,
    )
    .await;
    let elapsed = started.elapsed().max(Duration::from_millis(1));
    let stored = stored_total(target).await - before;
    Phase {
        acknowledged: outcome.events as f64,
        stored,
        stored_per_second: stored / elapsed.as_secs_f64(),
        final_depth: queue_depth(target).await.unwrap_or(u64::MAX),
    }
}

/// Scenario 7: peak memory and CPU of the server process, and the stored data's size.
pub async fn resources(target: &Target, events_stored: f64, cpu_before: f64) -> Vec<Row> {
    let (Some(process), Some(deployment)) = (&target.process, &target.deployment) else {
        return Vec::new();
    };
    let pid = process.child.id();
    let rss = processes::peak_rss_mib(pid).unwrap_or(0.0);
    let cpu = processes::cpu_seconds(pid).unwrap_or(0.0) - cpu_before;
    let bytes = deployment.store_bytes().await.unwrap_or(0) as f64;
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
            bytes / events_stored.max(1.0),
            "MB",
        ),
    ]
}
