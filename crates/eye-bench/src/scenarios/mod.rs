//! The scenarios of BENCHMARKS.md, each returning its rows, and the server they drive.

mod capacity;
mod export;
mod latency;
mod plateau;
mod preloaded;
mod queries;
mod sweep;
mod throughput;

pub use capacity::{capacity, resources};
pub use export::export;
pub use latency::{fixed_rates, lag};
pub use plateau::plateau;
pub use preloaded::Preloaded;
pub use queries::queries;
pub use sweep::sweep_impact;
pub use throughput::{batches_against_raw_inserts, single_events_against_responder};

use std::path::Path;
use std::time::{Duration, Instant};

use eye_server::model::ids;
use eye_server::model::{ErrorEntry, EventRecord};

use crate::deployment::Deployment;
use crate::events::EventSource;
use crate::load::{self, http_client};
use crate::processes::{self, Process};

pub struct Settings {
    pub duration: Duration,
    /// How long the queue depth must stay stable for scenario 5.
    pub capacity_duration: Duration,
    pub connections: usize,
    pub rates: Vec<u64>,
    pub preload: Vec<u64>,
    pub query_samples: usize,
    /// Each closed-loop phase and its baseline run this many times, interleaved; the
    /// figures are medians.
    pub repeat: usize,
    /// The scenarios to run; empty runs them all.
    pub only: Vec<u8>,
    /// Scenario 8: expired events preloaded for the sweep to delete.
    pub sweep_events: u64,
    /// Scenario 8: the steady rate (events/s) of the plateau phase.
    pub plateau_rate: u64,
    /// Scenario 8: how long the plateau phase runs, and how often it samples the disk.
    pub plateau_duration: Duration,
    pub plateau_sample: Duration,
    /// Scenario 8: how long after it is sent an event of the plateau phase expires.
    pub plateau_expiry: Duration,
}

impl Settings {
    pub fn runs(&self, scenario: u8) -> bool {
        self.only.is_empty() || self.only.contains(&scenario)
    }
}

/// The Eye under test, with its keys: a process this tool started on a deployment of its
/// own, or a server somebody else runs (`--url`).
pub struct Target {
    pub url: String,
    pub ingest: String,
    pub query: String,
    pub process: Option<Process>,
    pub deployment: Option<Deployment>,
}

impl Target {
    /// A server already running at `url`.
    pub fn remote(url: &str, ingest: &str, query: &str) -> Target {
        Target {
            url: url.trim_end_matches('/').to_owned(),
            ingest: ingest.to_owned(),
            query: query.to_owned(),
            process: None,
            deployment: None,
        }
    }

    /// Stops the process, then removes the deployment's schema and stream.
    pub async fn finish(mut self) {
        drop(self.process.take());
        if let Some(deployment) = self.deployment.take() {
            deployment.remove().await;
        }
    }
}

/// Starts `eye serve` on `deployment` with the repository's example schemas.
pub fn start_eye(eye: &Path, deployment: Deployment) -> anyhow::Result<Target> {
    start_eye_with(eye, deployment, &[])
}

/// `start_eye` with more `EYE_*` settings in the environment (e.g. the retention).
pub fn start_eye_with(
    eye: &Path,
    deployment: Deployment,
    settings: &[(&str, String)],
) -> anyhow::Result<Target> {
    let store_args = deployment.store_args();
    let ingest = processes::create_key(eye, &store_args, "bench", "ingest")?;
    let query = processes::create_key(eye, &store_args, "bench-team", "query")?;
    let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let mut args: Vec<String> = ["serve", "--listen", "127.0.0.1:0"]
        .map(str::to_owned)
        .into();
    args.extend(store_args);
    if schemas.exists() {
        args.extend([
            "--schemas".to_owned(),
            schemas.to_string_lossy().into_owned(),
        ]);
    }
    let mut environment = deployment.environment();
    environment.extend(settings.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    let process = processes::start(eye, &args, &environment)?;
    Ok(Target {
        url: process.url.clone(),
        ingest,
        query,
        process: Some(process),
        deployment: Some(deployment),
    })
}

/// Scenario 2's load: 16 connections posting batches of 100 back to back.
pub async fn batches_of_100(target: &Target, duration: Duration) -> load::Outcome {
    load::closed_loop(&target.url, &target.ingest, 16, 100, duration).await
}

/// Waits (at most two minutes) until the queue is empty, so that no phase inherits the
/// previous one's backlog.
pub async fn drain(target: &Target) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if queue_depth(target).await == Some(0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Drains the queue, then has the kernel write back every dirty page, so that a latency
/// phase does not pay for the writes of the phase before it.
pub async fn settle(target: &Target) {
    drain(target).await;
    sync_disks().await;
}

/// Has the kernel write back every dirty page (`sync`).
pub async fn sync_disks() {
    let _ = tokio::task::spawn_blocking(|| std::process::Command::new("sync").status()).await;
}

/// The queue depth `/readyz` reports.
pub async fn queue_depth(target: &Target) -> Option<u64> {
    let response = http_client(1)
        .get(format!("{}/readyz", target.url))
        .send()
        .await
        .ok()?;
    let ready: serde_json::Value = response.json().await.ok()?;
    ready["queue_depth"].as_u64()
}

/// `eye_events_stored_total` from `/metrics`.
pub async fn stored_total(target: &Target) -> f64 {
    metrics(target)
        .await
        .map_or(0.0, |text| metric(&text, "eye_events_stored_total"))
}

/// The text of `/metrics` (none when the server did not answer), read once for several
/// figures: each scrape also has the store count its rows.
pub async fn metrics(target: &Target) -> Option<String> {
    let response = http_client(1)
        .get(format!("{}/metrics", target.url))
        .send()
        .await
        .ok()?;
    response.text().await.ok()
}

/// One sample of a Prometheus text exposition: `name` with its labels as exposed (e.g.
/// `eye_retention_deleted_total{kind="events"}`); 0 when absent (a counter not yet
/// incremented).
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            let value = line.strip_prefix(name)?.strip_prefix(' ')?;
            value.trim().parse().ok()
        })
        .unwrap_or(0.0)
}

/// The stored form of the next generated event, received at `at`.
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
        user_id: None,
        context: None,
        original_timestamp: None,
    }
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
