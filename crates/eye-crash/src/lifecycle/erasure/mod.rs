//! The erasure kill: the store is preloaded with sessions of both applications (some of
//! thousands of events, so that an erasure takes several steps, and rejected events with
//! session ids, so that error records go too); two erasures are asked for, the first of
//! every application's data of some sessions, the second of one application's data of
//! others; the writers are killed while the first runs. Clients keep sending events of the
//! second erasure's sessions and of untouched ones through the kill, so some of them wait in
//! the queue while an erasure that covers them finishes.
//!
//! The first erasure's sessions get no event after the request, so its `events_deleted` and
//! `errors_deleted` must be exactly what the store held of them: counted once across the kill.

mod check;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::checks::{self, Stored};
use super::traffic::{APPS, batches, event};
use super::{LATE_PACE, Outcome, Setup, wait_for, watch};
use crate::snapshot::Probe;
use check::check;

/// Sessions of 1,500 events: four in the first erasure, one in the second, two untouched.
const BIG_SESSIONS: usize = 7;
const BIG_EVENTS: usize = 1500;
/// Sessions of 1 to 40 events: 60 in the first erasure, 40 in the second, the rest untouched.
const SMALL_SESSIONS: usize = 400;

/// The sessions of each erasure; the second erases only `APPS[1]`'s data.
struct Jobs {
    first: BTreeSet<String>,
    second: BTreeSet<String>,
    untouched: Vec<String>,
}

impl Jobs {
    fn new() -> Jobs {
        let big = |i: usize| format!("big-{i}");
        let small = |i: usize| format!("small-{i}");
        Jobs {
            first: (0..4).map(big).chain((0..60).map(small)).collect(),
            second: [big(4)].into_iter().chain((60..100).map(small)).collect(),
            untouched: (5..BIG_SESSIONS)
                .map(big)
                .chain((100..SMALL_SESSIONS).map(small))
                .collect(),
        }
    }

    /// Which erasure covers a row of `session` from `app`: 1, 2 or none.
    fn covering(&self, session: &str, app: &str) -> Option<usize> {
        if self.first.contains(session) {
            Some(1)
        } else if self.second.contains(session) && app == APPS[1] {
            Some(2)
        } else {
            None
        }
    }

    fn all(&self) -> BTreeSet<String> {
        let mut all = self.first.clone();
        all.extend(self.second.iter().cloned());
        all.extend(self.untouched.iter().cloned());
        all
    }
}

fn row_of(row: &Value) -> (&str, &str) {
    (
        row["session_id"].as_str().unwrap_or_default(),
        row["app"].as_str().unwrap_or_default(),
    )
}

/// What the store held of each erasure's rows before they were asked for.
struct Held {
    events: [u64; 2],
    errors: [u64; 2],
}

impl Held {
    fn of(jobs: &Jobs, stored: &Stored) -> Held {
        let held = |job: usize, rows: &[Value]| {
            rows.iter()
                .filter(|row| {
                    let (session, app) = row_of(row);
                    jobs.covering(session, app) == Some(job)
                })
                .count() as u64
        };
        Held {
            events: [held(1, &stored.events), held(2, &stored.events)],
            errors: [held(1, &stored.errors), held(2, &stored.errors)],
        }
    }
}

pub async fn cycle(setup: &mut Setup, seed: u64) -> anyhow::Result<Outcome> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut outcome = Outcome::new("SIGKILL mid-erasure");
    let jobs = Arc::new(Jobs::new());
    setup
        .preload(batches(plan(&jobs, &mut rng), 500, &mut rng))
        .await?;
    let before = checks::read(&setup.query_url(), &setup.deployment.query_key).await?;
    let held = Held::of(&jobs, &before);
    outcome.stored = before.events.len();
    outcome.to_go = (held.events[0] + held.events[1]) as usize;
    outcome.step(format_args!(
        "preloaded {} events; the first erasure's sessions hold {} events and {} error \
         records, the second's {} and {}",
        outcome.stored, held.events[0], held.errors[0], held.events[1], held.errors[1]
    ));
    anyhow::ensure!(
        held.errors[0] > 0,
        "no error record of the first erasure's sessions"
    );
    let mut probe = Probe::default();
    outcome
        .snapshot(&setup.deployment, "before the erasures", &probe)
        .await?;

    let ids = [
        ask(setup, &jobs.first, None).await?,
        ask(setup, &jobs.second, Some(APPS[1])).await?,
    ];
    probe.erasure = Some(ids[0].clone());
    let targets = Arc::clone(&jobs);
    let sending = setup.traffic.spawn(2, LATE_PACE, rng.random(), move |rng| {
        late_batch(&targets, rng)
    });
    kill_mid_erasure(
        setup,
        &mut outcome,
        &probe,
        &ids[0],
        held.events[0],
        &mut rng,
    )
    .await?;
    resume(setup, &mut outcome, &probe, &ids, &mut rng).await?;
    // Events sent after the second erasure finished must be stored again.
    tokio::time::sleep(Duration::from_millis(rng.random_range(300..800))).await;
    sending.stop().await;
    setup.deployment.settle(Duration::from_secs(120)).await?;
    check(setup, &mut outcome, &jobs, &ids, &held).await?;
    Ok(outcome)
}

/// Kills the writers once the first erasure is running and has deleted a random share of
/// its `events` (or has finished, which is said).
async fn kill_mid_erasure(
    setup: &mut Setup,
    outcome: &mut Outcome,
    probe: &Probe,
    first: &str,
    events: u64,
    rng: &mut StdRng,
) -> anyhow::Result<()> {
    let threshold = rng.random_range(0..=events * 7 / 10);
    let polling = &*setup;
    let path = format!("/v1/erasures/{first}");
    wait_for(
        "the first erasure's progress",
        Duration::from_secs(60),
        || {
            let path = path.clone();
            async move {
                polling.erasure(&path).await.is_ok_and(|job| {
                    job["status"] != "pending"
                        && (job["status"] != "running"
                            || job["events_deleted"].as_u64() >= Some(threshold))
                })
            }
        },
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(rng.random_range(0..20))).await;
    setup.deployment.kill_writers();
    let at_kill = outcome
        .snapshot(&setup.deployment, "as the kill left it", probe)
        .await?;
    let (status, deleted) = at_kill.erasure.clone().unwrap_or_default();
    outcome.left_at_kill = Some(events.saturating_sub(deleted));
    outcome.step(format_args!(
        "SIGKILL with the first erasure {status}, {deleted} of its {events} events deleted"
    ));
    if status != "running" {
        println!(
            "note: the first erasure was {status} when the kill struck (threshold {threshold})"
        );
    }
    Ok(())
}

/// Restarts the writers and reads the store until both erasures are finished.
async fn resume(
    setup: &mut Setup,
    outcome: &mut Outcome,
    probe: &Probe,
    ids: &[String; 2],
    rng: &mut StdRng,
) -> anyhow::Result<()> {
    tokio::time::sleep(Duration::from_millis(rng.random_range(0..200))).await;
    let restarted = Instant::now();
    setup.deployment.start_writers().await?;
    outcome
        .snapshot(&setup.deployment, "right after the restart", probe)
        .await?;
    let finished = |job: &Value| job["status"] == "done" || job["status"] == "failed";
    let polling = &*setup;
    watch(
        outcome,
        polling,
        "while the erasures resume",
        probe,
        Duration::from_secs(120),
        || async move {
            for id in ids {
                let job = polling.erasure(&format!("/v1/erasures/{id}")).await;
                if !job.is_ok_and(|job| finished(&job)) {
                    return false;
                }
            }
            true
        },
    )
    .await?;
    outcome.recovery = restarted.elapsed();
    outcome.step("both erasures done after the restart");
    Ok(())
}

impl Setup {
    async fn erasure(&self, path: &str) -> anyhow::Result<Value> {
        self.admin(reqwest::Method::GET, path, None).await
    }
}

/// `POST /v1/erasures`; the new erasure's id.
async fn ask(
    setup: &Setup,
    sessions: &BTreeSet<String>,
    app: Option<&str>,
) -> anyhow::Result<String> {
    let body = json!({"session_ids": sessions, "app": app});
    let job = setup
        .admin(reqwest::Method::POST, "/v1/erasures", Some(body))
        .await?;
    anyhow::ensure!(
        job["status"] == "pending",
        "a new erasure is {}",
        job["status"]
    );
    Ok(job["id"].as_str().unwrap_or_default().to_owned())
}

/// The preloaded events: recent, of one or both applications, one in fifty rejected.
fn plan(jobs: &Jobs, rng: &mut StdRng) -> Vec<(String, Value)> {
    let now = OffsetDateTime::now_utc();
    let mut events = Vec::new();
    for session in jobs.all() {
        let count = if session.starts_with("big-") {
            BIG_EVENTS
        } else {
            rng.random_range(1..=40)
        };
        let both_apps = session.starts_with("big-") || rng.random_bool(0.5);
        for _ in 0..count {
            let app = if both_apps {
                APPS[rng.random_range(0..2)]
            } else {
                APPS[0]
            };
            let at = now - time::Duration::seconds(rng.random_range(60..12 * 3600));
            let rejected = rng.random_range(0..50) == 0;
            events.push((app.to_owned(), event(&session, app, at, rejected, rng)));
        }
    }
    events
}

/// 1 to 20 events of one application, each to one of the second erasure's sessions or to
/// an untouched one (never to the first's, whose counts must stay exact).
fn late_batch(jobs: &Jobs, rng: &mut StdRng) -> (String, Vec<Value>) {
    let app = APPS[rng.random_range(0..2)];
    let second: Vec<&String> = jobs.second.iter().collect();
    let now = OffsetDateTime::now_utc();
    let events = (0..rng.random_range(1..=20))
        .map(|_| {
            let session = if rng.random_bool(0.5) {
                second[rng.random_range(0..second.len())]
            } else {
                &jobs.untouched[rng.random_range(0..jobs.untouched.len())]
            };
            let at = now - time::Duration::seconds(rng.random_range(1..3600));
            event(session, app, at, false, rng)
        })
        .collect();
    (app.to_owned(), events)
}
