//! Scenario 8, first part: ingest while the retention sweep deletes expired events, against
//! the same ingest on the same store with no retention. A store is preloaded once (directly,
//! as scenario 6 does) with `--sweep-events` events 40 to 50 days old and a tenth as many
//! recent ones; every phase serves a fresh copy of it, so each sweep starts from the same
//! bytes. Each repetition measures the bare responder (the load generator's ceiling), then
//! both servers back to back, alternating which goes first.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eye_server::model::QueueMessage;
use eye_server::model::timestamp;
use eye_server::store::Store;

use super::{
    Settings, Target, batches_of_100, metric, metrics, queue_depth, record, start_eye_with,
    sync_disks,
};
use crate::deployment::{Backend, Deployment};
use crate::events::EventSource;
use crate::load;
use crate::processes;
use crate::report::{Row, Sampled};

const DAY: i64 = 86_400_000_000;
const SCENARIO: &str = "8 ingest during a retention sweep";
const BASELINE: &str = "8 ingest, no retention (same store)";
/// The retention of the swept store: every preloaded event older than this is expired.
const RETENTION_DAYS: u32 = 30;
/// What `pipeline::retention` logs when a sweep ends, and when one fails.
const SWEEP_DONE: &str = "retention sweep deleted expired records";
const SWEEP_FAILED: &str = "retention sweep failed";
const DELETED: &str = "eye_retention_deleted_total{kind=\"events\"}";

/// One server's phase: ingest for `--duration` on a fresh copy of the preloaded store.
struct Phase {
    events_per_second: f64,
    /// What the worker stored while the load ran (the sweep shares its writer), and what
    /// was left queued when it stopped.
    stored_per_second: f64,
    backlog: f64,
    failures: u64,
    /// Events the sweep had deleted when the load began (it starts with the server).
    deleted_before: f64,
    /// Events the sweep deleted while the load ran.
    deleted_during: f64,
    /// Seconds of the load that the sweep ran alongside: all of them unless it ended.
    swept_seconds: f64,
    /// When the sweep ended, in seconds from the start of the load (negative: before it).
    finished_at: Option<f64>,
    failed: bool,
}

/// Every repetition's figures of one server.
#[derive(Default)]
struct Tally {
    ingested: Sampled,
    stored: Sampled,
    backlog: Sampled,
    deleted_before: Sampled,
    deleted_during: Sampled,
    deletion_rate: Sampled,
    /// When each sweep that ended during the load ended.
    finished: Sampled,
    failed: u64,
    failures: u64,
}

impl Tally {
    fn add(&mut self, phase: &Phase) {
        self.ingested.push(phase.events_per_second);
        self.stored.push(phase.stored_per_second);
        self.backlog.push(phase.backlog);
        self.deleted_before.push(phase.deleted_before);
        self.deleted_during.push(phase.deleted_during);
        self.deletion_rate
            .push(phase.deleted_during / phase.swept_seconds.max(1e-3));
        self.finished.0.extend(phase.finished_at);
        self.failed += u64::from(phase.failed);
        self.failures += phase.failures;
    }
}

/// Scenario 8 (a): the paired ratio of ingest during a sweep to ingest without one.
pub async fn sweep_impact(eye: &Path, settings: &Settings) -> anyhow::Result<Vec<Row>> {
    let template = Deployment::create(&Backend::Embedded).await?;
    let recent = preload(&template, settings.sweep_events).await?;
    let me = std::env::current_exe()?;
    let responder = processes::start(&me, &["responder", "--listen", "127.0.0.1:0"], &[])?;
    let mut bare = Sampled::default();
    let (mut without, mut with) = (Tally::default(), Tally::default());
    for round in 0..settings.repeat {
        let generator = load::closed_loop(&responder.url, "none", 16, 100, settings.duration);
        bare.push(generator.await.events_per_second());
        let retention_first = round % 2 == 1;
        for retention in [retention_first, !retention_first] {
            let phase = phase(eye, &template, retention, settings.duration).await?;
            if retention { &mut with } else { &mut without }.add(&phase);
        }
    }
    drop(responder);
    template.remove().await;
    let mut rows = vec![
        Row::new(
            SCENARIO,
            "expired events preloaded",
            settings.sweep_events as f64,
            "events",
        ),
        Row::new(SCENARIO, "recent events preloaded", recent as f64, "events"),
        bare.row(
            "baseline: bare responder, batches of 100",
            "events/s",
            "ev/s",
        ),
        without
            .ingested
            .row(BASELINE, "events/s", "ev/s")
            .paired_with(&bare),
        without
            .stored
            .row(BASELINE, "stored/s during the load", "ev/s"),
        without
            .backlog
            .row(BASELINE, "queue depth when the load stops", "events"),
        Row::new(
            BASELINE,
            "failed requests",
            without.failures as f64,
            "requests",
        ),
        with.ingested
            .row(SCENARIO, "events/s", "ev/s")
            .paired_with(&without.ingested)
            .target(">= 80% of no retention"),
        with.stored
            .row(SCENARIO, "stored/s during the load", "ev/s")
            .paired_with(&without.stored),
        paired_ratios(&with.ingested, &without.ingested).row(
            SCENARIO,
            "events/s, each pair's ratio",
            "%",
        ),
        paired_ratios(&with.stored, &without.stored).row(
            SCENARIO,
            "stored/s, each pair's ratio",
            "%",
        ),
        with.backlog
            .row(SCENARIO, "queue depth when the load stops", "events"),
        Row::new(
            SCENARIO,
            "failed requests",
            with.failures as f64,
            "requests",
        ),
        with.deleted_before
            .row(SCENARIO, "deleted before the load began", "events"),
        with.deleted_during
            .row(SCENARIO, "deleted during the load", "events"),
        with.deletion_rate
            .row(SCENARIO, "deletion rate during the load", "ev/s"),
        Row::new(
            SCENARIO,
            "sweeps ended during the load",
            with.finished.0.len() as f64,
            "sweeps",
        ),
        Row::new(SCENARIO, "sweeps failed", with.failed as f64, "sweeps"),
    ];
    if !with.finished.0.is_empty() {
        rows.push(
            with.finished
                .row(SCENARIO, "sweep ended, from the load's start", "s"),
        );
    }
    Ok(rows)
}

/// Serves a fresh copy of the preloaded store, with the retention or without, and
/// measures scenario 2's load on it. With the retention, the load starts once the sweep
/// has deleted its first batch, so that it runs from the first moment of the load.
async fn phase(
    eye: &Path,
    template: &Deployment,
    retention: bool,
    duration: Duration,
) -> anyhow::Result<Phase> {
    let deployment = template.copy()?;
    // The copy leaves hundreds of megabytes for the kernel to write back: not this phase's.
    sync_disks().await;
    let environment = if retention {
        vec![("EYE_RETENTION_DAYS", RETENTION_DAYS.to_string())]
    } else {
        Vec::new()
    };
    let target = start_eye_with(eye, deployment, &environment)?;
    if retention {
        sweep_started(&target).await;
    }
    let counts = |text: Option<String>| {
        text.map_or((0.0, 0.0), |text| {
            (
                metric(&text, DELETED),
                metric(&text, "eye_events_stored_total"),
            )
        })
    };
    let (deleted_before, stored_before) = counts(metrics(&target).await);
    let started = Instant::now();
    let outcome = batches_of_100(&target, duration).await;
    let elapsed = started.elapsed().as_secs_f64();
    let (deleted_after, stored_after) = counts(metrics(&target).await);
    let backlog = queue_depth(&target).await.unwrap_or(0) as f64;
    let logged = |text: &str| target.process.as_ref().and_then(|p| p.logged(text));
    // A sweep that ended after the load is still running as far as the load could tell.
    let finished_at = logged(SWEEP_DONE)
        .map(|(at, _)| seconds_between(started, at))
        .filter(|at| *at <= elapsed);
    let failed = logged(SWEEP_FAILED).is_some();
    target.finish().await;
    Ok(Phase {
        events_per_second: outcome.events_per_second(),
        stored_per_second: (stored_after - stored_before) / elapsed.max(1e-3),
        backlog,
        failures: outcome.failures,
        deleted_before,
        deleted_during: deleted_after - deleted_before,
        swept_seconds: finished_at.map_or(elapsed, |at| at.clamp(0.0, elapsed)),
        finished_at,
        failed,
    })
}

/// Waits (at most 30 s) until the sweep has deleted something, or has failed.
async fn sweep_started(target: &Target) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let deleted = metrics(target)
            .await
            .map_or(0.0, |text| metric(&text, DELETED));
        let failed = target
            .process
            .as_ref()
            .is_some_and(|p| p.logged(SWEEP_FAILED).is_some());
        if deleted > 0.0 || failed {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Each repetition's `value` over its `baseline`, in percent (the RANGE column shows the
/// spread of the ratio itself).
fn paired_ratios(value: &Sampled, baseline: &Sampled) -> Sampled {
    value
        .0
        .iter()
        .zip(&baseline.0)
        .filter(|(_, base)| **base > 0.0)
        .map(|(value, base)| value / base * 100.0)
        .collect()
}

/// Seconds from `from` to `to`, negative when `to` came first.
fn seconds_between(from: Instant, to: Instant) -> f64 {
    match to.checked_duration_since(from) {
        Some(after) => after.as_secs_f64(),
        None => -from.duration_since(to).as_secs_f64(),
    }
}

/// Writes `expired` events with timestamps spread over 50 to 40 days ago, then a tenth as
/// many (at least a thousand) over the last 20 days, straight into the store; gives the
/// number of recent ones. Returns once the store is closed and its log folded in, so its
/// files can be copied.
async fn preload(deployment: &Deployment, expired: u64) -> anyhow::Result<u64> {
    let store = deployment.open_store().await?;
    let now = timestamp::now_micros();
    let recent = (expired / 10).max(1000);
    let mut source = EventSource::new(17, "kept");
    spread(
        store.as_ref(),
        &mut source,
        expired,
        now - 50 * DAY,
        10 * DAY,
    )
    .await?;
    spread(
        store.as_ref(),
        &mut source,
        recent,
        now - 20 * DAY,
        20 * DAY,
    )
    .await?;
    drop(store);
    // The last connection to close (the checkpoint thread's, within moments) folds the
    // log into the database and removes it.
    let log = deployment.data_dir.path().join("eye.db-wal");
    let deadline = Instant::now() + Duration::from_secs(30);
    while log.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(recent)
}

/// `count` events with timestamps evenly spread over `span` from `start`.
async fn spread(
    store: &dyn Store,
    source: &mut EventSource,
    count: u64,
    start: i64,
    span: i64,
) -> anyhow::Result<()> {
    let step = span / count.max(1) as i64;
    let mut written = 0;
    while written < count {
        let size = (count - written).min(5000);
        let batch: Arc<[QueueMessage]> = (0..size)
            .map(|i| QueueMessage::Event(record(source, start + (written + i) as i64 * step)))
            .collect();
        store.write_batch(batch).await?;
        written += size;
    }
    Ok(())
}
