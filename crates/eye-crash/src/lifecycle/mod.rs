//! The lifecycle cycles: a SIGKILL while the retention sweep deletes (`sweep`) and while an
//! erasure runs (`erasure`), each on a deployment of its own. Both check that the work
//! resumes after the restart and completes, that what had to go is gone and everything else
//! is stored exactly once, that every session summary agrees with its events through the
//! API, and that the store itself, read directly as the kill left it, right after the restart
//! and at the end, holds no summary that disagrees with its events.

mod checks;
mod erasure;
mod report;
mod sweep;
mod traffic;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::Value;

use crate::clients::http_client;
use crate::deployment::{Deployment, ScaleOut};
use crate::ledger::{Answer, Ledger};
use crate::snapshot::{self, Probe, Snapshot};
use checks::Verdict;
use traffic::{APPS, Traffic};

/// The pause of each of the two clients that keep sending through a kill: light traffic,
/// since the sweep yields the store's writer to the worker and would otherwise crawl.
const LATE_PACE: Duration = Duration::from_millis(50);

/// What one lifecycle cycle found.
pub struct Outcome {
    pub kind: &'static str,
    /// Events stored before the sweep or the erasure, and how many of them had to go.
    pub stored: usize,
    pub to_go: usize,
    /// Of those, how many were still stored when the kill struck.
    pub left_at_kill: Option<u64>,
    /// From the restart to the sweep or the erasures done.
    pub recovery: Duration,
    pub verdict: Verdict,
    /// Sessions whose API summary disagrees with their events.
    pub wrong_summaries: usize,
    /// The direct readings of the store, by moment.
    pub snapshots: Vec<(&'static str, Snapshot)>,
    /// Anything else that disagreed, said in full.
    pub problems: Vec<String>,
    started: Instant,
}

impl Outcome {
    fn new(kind: &'static str) -> Outcome {
        Outcome {
            kind,
            stored: 0,
            to_go: 0,
            left_at_kill: None,
            recovery: Duration::ZERO,
            verdict: Verdict::default(),
            wrong_summaries: 0,
            snapshots: Vec::new(),
            problems: Vec::new(),
            started: Instant::now(),
        }
    }

    /// Prints what the cycle has just done, with the time since it began.
    fn step(&self, what: impl std::fmt::Display) {
        println!(
            "  {} +{:.1}s: {what}",
            self.kind,
            self.started.elapsed().as_secs_f64()
        );
    }

    fn wrong_in_snapshots(&self) -> u64 {
        self.snapshots.iter().map(|(_, s)| s.disagreements()).sum()
    }

    pub fn broken(&self) -> bool {
        self.verdict.broken()
            || self.wrong_summaries > 0
            || self.wrong_in_snapshots() > 0
            || !self.problems.is_empty()
    }

    /// Reads the store directly and keeps the reading under `moment`.
    async fn snapshot(
        &mut self,
        deployment: &Deployment,
        moment: &'static str,
        probe: &Probe,
    ) -> anyhow::Result<&Snapshot> {
        let reading = snapshot::read(&deployment.store_file(), probe).await?;
        if reading.disagreements() > 0 {
            self.problems
                .push(format!("store {moment}: {}", reading.describe()));
        }
        self.snapshots.push((moment, reading));
        Ok(&self.snapshots[self.snapshots.len() - 1].1)
    }
}

/// A fresh deployment with what a lifecycle cycle needs: an admin key and an ingest key of
/// each application.
struct Setup {
    deployment: Deployment,
    admin_key: String,
    traffic: Traffic,
}

impl Setup {
    async fn start(eye: &Path, scale_out: Option<ScaleOut>) -> anyhow::Result<Setup> {
        let deployment = Deployment::start(eye, scale_out).await?;
        let admin_key = deployment.create_key(APPS[0], "admin")?;
        let mut keys = HashMap::from([(APPS[0].to_owned(), deployment.ingest_key.clone())]);
        keys.insert(
            APPS[1].to_owned(),
            deployment.create_key(APPS[1], "ingest")?,
        );
        let traffic = Traffic {
            urls: deployment.ingest_urls(),
            keys,
            ledger: Arc::new(Ledger::default()),
            timings: Arc::new(Mutex::new(HashMap::new())),
        };
        Ok(Setup {
            deployment,
            admin_key,
            traffic,
        })
    }

    /// Sends every batch (each until answered), then waits until the queue is empty and the
    /// store holds every acknowledged event, so that what it holds can be counted.
    async fn preload(&self, batches: Vec<(String, Vec<Value>)>) -> anyhow::Result<()> {
        self.traffic.preload(batches, 4).await?;
        self.deployment.settle(Duration::from_secs(120)).await?;
        let (accepted, failed) = self.traffic.ledger.with(|sent| {
            let count = |answer| sent.values().filter(|s| s.answer == answer).count() as u64;
            (count(Answer::Accepted), count(Answer::Failed))
        });
        wait_for(
            "storing the preloaded events",
            Duration::from_secs(60),
            || async move {
                let usage = self.admin(reqwest::Method::GET, "/v1/usage", None).await;
                usage.is_ok_and(|u| {
                    (accepted..=accepted + failed).contains(&u["events"].as_u64().unwrap_or(0))
                })
            },
        )
        .await
    }

    fn admin_url(&self) -> String {
        self.deployment.query_url()
    }

    /// An acknowledged event that is not stored, said with when its request left and was
    /// answered.
    fn lost(&self, outcome: &mut Outcome) {
        for id in &outcome.verdict.lost {
            let sent = self
                .traffic
                .ledger
                .with(|sent| sent.get(id).map(|s| s.event.clone()));
            let timing = self.traffic.timing(id).map_or("?".to_owned(), |t| {
                format!(
                    "sent {}, answered {}",
                    traffic::at(t.sent),
                    traffic::at(t.answered)
                )
            });
            let event = sent.unwrap_or_default();
            outcome.problems.push(format!(
                "lost: event {id} of session {} (app {}), {timing}",
                event["session_id"], event["data"]["app"]
            ));
        }
    }

    fn query_url(&self) -> String {
        self.deployment.query_url()
    }

    /// Whether the store implements retention and erasure (a store still without them
    /// answers 503 "not implemented yet").
    async fn supported(&self) -> anyhow::Result<bool> {
        let response = http_client(Duration::from_secs(10))
            .get(format!("{}/v1/usage", self.admin_url()))
            .bearer_auth(&self.admin_key)
            .send()
            .await?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if status == 503 && body.contains("not implemented") {
            return Ok(false);
        }
        anyhow::ensure!(status.is_success(), "GET /v1/usage: {status} {body}");
        Ok(true)
    }

    /// The sum over the writer nodes of the Prometheus sample `name` (with its labels).
    async fn metric(&self, name: &str) -> anyhow::Result<f64> {
        let client = http_client(Duration::from_secs(5));
        let mut total = 0.0;
        for url in self.deployment.writer_urls() {
            let text = client
                .get(format!("{url}/metrics"))
                .send()
                .await?
                .text()
                .await?;
            total += sample(&text, name).unwrap_or(0.0);
        }
        Ok(total)
    }

    /// Whether every writer node reports `name` at least `at_least`.
    async fn every_writer(&self, name: &str, at_least: f64) -> bool {
        let client = http_client(Duration::from_secs(5));
        for url in self.deployment.writer_urls() {
            let Ok(response) = client.get(format!("{url}/metrics")).send().await else {
                return false;
            };
            let text = response.text().await.unwrap_or_default();
            if sample(&text, name).unwrap_or(0.0) < at_least {
                return false;
            }
        }
        true
    }

    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = http_client(Duration::from_secs(30))
            .request(method, format!("{}{path}", self.admin_url()))
            .bearer_auth(&self.admin_key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{path}: {status} {body}");
        }
        Ok(body)
    }
}

/// The value of a sample line `name value` of a Prometheus text page.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        line.strip_prefix(name)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Polls `condition` every 20 ms until it holds or `limit` passes.
async fn wait_for<F, Fut>(what: &str, limit: Duration, mut condition: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if condition().await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("{what} did not happen within {limit:?}")
}

/// Reads the store every half second until `done` holds (or `limit` passes): the resumed
/// work is watched from beside the server, each reading one consistent snapshot.
async fn watch<F, Fut>(
    outcome: &mut Outcome,
    setup: &Setup,
    moment: &'static str,
    probe: &Probe,
    limit: Duration,
    mut done: F,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        outcome.snapshot(&setup.deployment, moment, probe).await?;
        if done().await {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{moment}: not done within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Runs `cycles` sweep kills and as many erasure kills, each on a fresh deployment; prints
/// their table. Err when a promise was broken or a cycle could not run.
pub async fn run(
    eye: &Path,
    scale_out: Option<ScaleOut>,
    cycles: usize,
    seed: u64,
) -> anyhow::Result<()> {
    let mut outcomes = Vec::new();
    let mut failed = false;
    for cycle in 0..cycles {
        for kind in [Kind::Sweep, Kind::Erasure] {
            let seed = seed ^ ((cycle as u64 + 1) << 40) ^ kind as u64;
            match one(eye, scale_out.clone(), kind, seed).await {
                Ok(Some(outcome)) => outcomes.push(outcome),
                Ok(None) => println!(
                    "SKIPPED: {} cycle (the store answers \"not implemented yet\" for retention and erasure)",
                    kind.label()
                ),
                Err(error) => {
                    println!("{} cycle failed to run: {error:#}", kind.label());
                    failed = true;
                }
            }
        }
    }
    report::table(&outcomes);
    anyhow::ensure!(!failed, "a lifecycle cycle could not run (see above)");
    anyhow::ensure!(
        !outcomes.iter().any(Outcome::broken),
        "a lifecycle promise was broken (see above)"
    );
    Ok(())
}

#[derive(Clone, Copy)]
enum Kind {
    Sweep = 1,
    Erasure = 2,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Sweep => "sweep-kill",
            Kind::Erasure => "erasure-kill",
        }
    }
}

async fn one(
    eye: &Path,
    scale_out: Option<ScaleOut>,
    kind: Kind,
    seed: u64,
) -> anyhow::Result<Option<Outcome>> {
    let mut setup = Setup::start(eye, scale_out).await?;
    let result = match setup.supported().await {
        Ok(true) => match kind {
            Kind::Sweep => sweep::cycle(&mut setup, seed).await.map(Some),
            Kind::Erasure => erasure::cycle(&mut setup, seed).await.map(Some),
        },
        Ok(false) => Ok(None),
        Err(error) => Err(error),
    };
    let broken = match &result {
        Ok(outcome) => outcome.as_ref().is_some_and(Outcome::broken),
        Err(_) => true,
    };
    if broken {
        match report::keep_logs(setup.deployment.logs(), kind.label()) {
            Ok(kept) => println!(
                "node logs of the {} cycle kept in {}",
                kind.label(),
                kept.display()
            ),
            Err(error) => println!("could not keep the node logs: {error}"),
        }
    }
    setup.deployment.finish().await;
    result
}
