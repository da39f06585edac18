//! The sweep kill: the store is preloaded with no retention (sessions of only expired events,
//! of both, and of only recent ones, some from both applications); then every node is
//! restarted with `retention_days = 1`, and the writers are killed while the sweep deletes.
//! The store is read as the kill left it; clients keep sending (recent events, and some too
//! old, which must be rejected) through the restart; the sweep must resume and complete.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use time::OffsetDateTime;

use super::checks::{self, Expect};
use super::traffic::{APPS, batches, event, micros, timestamp};
use super::{LATE_PACE, Outcome, Setup, wait_for, watch};
use crate::ledger::Answer;
use crate::snapshot::Probe;

/// Preloaded sessions and their events (20 to 79 each): about 30,000 events, two thirds of
/// them expired, so that a debug build's sweep takes a few seconds.
const SESSIONS: usize = 600;
const EVENTS_PER_SESSION: std::ops::Range<usize> = 20..80;

const DELETED: &str = "eye_retention_deleted_total{kind=\"events\"}";
const SWEPT: &str = "eye_retention_sweeps_total{result=\"done\"}";
const SWEEP_FAILED: &str = "eye_retention_sweeps_total{result=\"failed\"}";

/// The one-day retention's cut-off as the cycle sees it (no event is sent within a day of
/// it, so the server's own cut-off, a little later, splits the events the same way).
struct Cutoff {
    text: String,
    probe: Probe,
}

impl Cutoff {
    fn expired(&self, timestamp: &Value) -> bool {
        timestamp.as_str().is_some_and(|t| t < self.text.as_str())
    }
}

pub async fn cycle(setup: &mut Setup, seed: u64) -> anyhow::Result<Outcome> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut outcome = Outcome::new("SIGKILL mid-sweep");
    let now = OffsetDateTime::now_utc();
    let cutoff = Cutoff {
        text: timestamp(now - time::Duration::days(1)),
        probe: Probe {
            before_micros: Some(micros(now - time::Duration::days(1))),
            erasure: None,
        },
    };
    let (events, sessions) = plan(now, &mut rng);
    setup.preload(batches(events, 500, &mut rng)).await?;
    let before = checks::read(&setup.query_url(), &setup.deployment.query_key).await?;
    outcome.stored = before.events.len();
    outcome.to_go = before
        .events
        .iter()
        .filter(|e| cutoff.expired(&e["timestamp"]))
        .count();
    outcome.step(format_args!(
        "preloaded {} events of {} sessions, {} of them expired under a one-day retention",
        outcome.stored,
        sessions.len(),
        outcome.to_go
    ));
    anyhow::ensure!(
        outcome.to_go > 0,
        "no expired event was stored: nothing to sweep"
    );
    outcome
        .snapshot(&setup.deployment, "before the sweep", &cutoff.probe)
        .await?;
    let retention_on = kill_mid_sweep(setup, &mut outcome, &cutoff, &mut rng).await?;
    resume(setup, &mut outcome, &cutoff, &sessions, &mut rng).await?;
    check(setup, &mut outcome, &cutoff, sessions, retention_on).await?;
    Ok(outcome)
}

/// Restarts every node with the retention (the writers start sweeping at once) and kills
/// the writers once the sweep has deleted a random share of the expired events. Returns
/// when the retention was in force everywhere (µs).
async fn kill_mid_sweep(
    setup: &mut Setup,
    outcome: &mut Outcome,
    cutoff: &Cutoff,
    rng: &mut StdRng,
) -> anyhow::Result<i64> {
    setup.deployment.set_env("EYE_RETENTION_DAYS", Some("1"));
    setup.deployment.restart_all().await?;
    let retention_on = micros(OffsetDateTime::now_utc());
    let threshold = rng.random_range(0..=outcome.to_go * 6 / 10) as f64;
    let polling = &*setup;
    wait_for(
        "the sweep's progress",
        Duration::from_secs(60),
        || async move { polling.metric(DELETED).await.is_ok_and(|n| n >= threshold) },
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(rng.random_range(0..30))).await;
    setup.deployment.kill_writers();
    let at_kill = outcome
        .snapshot(&setup.deployment, "as the kill left it", &cutoff.probe)
        .await?;
    outcome.left_at_kill = at_kill.events_before;
    outcome.step(format_args!(
        "SIGKILL during the sweep, {} expired events left",
        outcome.left_at_kill.unwrap_or_default()
    ));
    if outcome.left_at_kill == Some(0) {
        println!("note: the sweep had finished before the kill (threshold {threshold})");
    }
    Ok(retention_on)
}

/// Restarts the writers while clients send, and reads the store until the sweep completes.
async fn resume(
    setup: &mut Setup,
    outcome: &mut Outcome,
    cutoff: &Cutoff,
    sessions: &BTreeSet<String>,
    rng: &mut StdRng,
) -> anyhow::Result<()> {
    let targets: Vec<String> = sessions.iter().cloned().collect();
    let sending = setup.traffic.spawn(2, LATE_PACE, rng.random(), move |rng| {
        late_batch(&targets, rng)
    });
    tokio::time::sleep(Duration::from_millis(rng.random_range(0..200))).await;
    let restarted = Instant::now();
    setup.deployment.start_writers().await?;
    outcome
        .snapshot(&setup.deployment, "right after the restart", &cutoff.probe)
        .await?;
    let polling = &*setup;
    watch(
        outcome,
        polling,
        "while the sweep resumes",
        &cutoff.probe,
        Duration::from_secs(120),
        || polling.every_writer(SWEPT, 1.0),
    )
    .await?;
    outcome.recovery = restarted.elapsed();
    outcome.step("the resumed sweep completed");
    if setup.metric(SWEEP_FAILED).await? > 0.0 {
        outcome
            .problems
            .push("a sweep failed after the restart (see the node logs)".into());
    }
    tokio::time::sleep(Duration::from_millis(rng.random_range(200..600))).await;
    sending.stop().await;
    setup.deployment.settle(Duration::from_secs(120)).await
}

/// Expired events gone, the rest as answered; summaries right through the API and in the
/// store; no event older than the retention accepted once it was in force.
async fn check(
    setup: &Setup,
    outcome: &mut Outcome,
    cutoff: &Cutoff,
    sessions: BTreeSet<String>,
    retention_on: i64,
) -> anyhow::Result<()> {
    let (base, key) = (setup.query_url(), &setup.deployment.query_key);
    let stored = checks::read(&base, key).await?;
    let sent = setup.traffic.ledger.with(Clone::clone);
    // Said apart: a promise of ingest rather than of the sweep, though the sweep (at start,
    // then hourly) would leave such an event behind.
    let accepted_too_old = sent
        .iter()
        .filter(|(_, r)| r.answer == Answer::Accepted && cutoff.expired(&r.event["timestamp"]))
        .filter(|(id, _)| {
            setup
                .traffic
                .timing(id)
                .is_some_and(|t| t.sent > retention_on)
        })
        .count();
    if accepted_too_old > 0 {
        outcome.problems.push(format!(
            "{accepted_too_old} events older than the retention were accepted once it was in \
             force (expected: rejected `timestamp_too_old`)"
        ));
    }
    outcome.verdict = checks::judge(
        &sent,
        &stored,
        |_, record| match record.answer {
            Answer::Rejected => Expect::Answered,
            _ if cutoff.expired(&record.event["timestamp"]) => Expect::Gone,
            _ => Expect::Answered,
        },
        |stored| cutoff.expired(&stored["timestamp"]),
        |_| false,
    );
    setup.lost(outcome);
    let (wrong, examples) = checks::summaries(&base, key, sessions, &stored.events).await?;
    outcome.wrong_summaries = wrong;
    outcome.problems.extend(examples);
    let end = outcome
        .snapshot(&setup.deployment, "at the end", &cutoff.probe)
        .await?;
    if let Some(left) = end.events_before.filter(|n| *n > 0) {
        outcome
            .problems
            .push(format!("{left} expired events are still in the store"));
    }
    Ok(())
}

/// The preloaded events (application, event) and their sessions.
fn plan(now: OffsetDateTime, rng: &mut StdRng) -> (Vec<(String, Value)>, BTreeSet<String>) {
    let mut events = Vec::new();
    let mut sessions = BTreeSet::new();
    for index in 0..SESSIONS {
        let session = format!("sweep-{index}");
        // 0-3: only expired events; 4-7: both; 8-9: only recent ones.
        let shape = rng.random_range(0..10);
        let both_apps = rng.random_bool(0.3);
        for _ in 0..rng.random_range(EVENTS_PER_SESSION) {
            let old = match shape {
                0..4 => true,
                4..8 => rng.random_bool(0.6),
                _ => false,
            };
            let at = if old {
                expired_time(now, rng)
            } else {
                recent_time(now, rng)
            };
            let app = if both_apps {
                APPS[rng.random_range(0..2)]
            } else {
                APPS[0]
            };
            let rejected = rng.random_range(0..50) == 0;
            events.push((app.to_owned(), event(&session, app, at, rejected, rng)));
        }
        sessions.insert(session);
    }
    (events, sessions)
}

/// Two to five days old: expired under a one-day retention.
fn expired_time(now: OffsetDateTime, rng: &mut StdRng) -> OffsetDateTime {
    now - time::Duration::days(2) - time::Duration::seconds(rng.random_range(0..3 * 86_400))
}

/// Within the last six hours.
fn recent_time(now: OffsetDateTime, rng: &mut StdRng) -> OffsetDateTime {
    now - time::Duration::seconds(rng.random_range(60..6 * 3600))
}

/// 1 to 20 events of one application to preloaded sessions (a session the sweep emptied
/// gets a summary again); one in twenty too old, to be rejected `timestamp_too_old`.
fn late_batch(sessions: &[String], rng: &mut StdRng) -> (String, Vec<Value>) {
    let app = APPS[rng.random_range(0..2)];
    let now = OffsetDateTime::now_utc();
    let events = (0..rng.random_range(1..=20))
        .map(|_| {
            let session = &sessions[rng.random_range(0..sessions.len())];
            let at = if rng.random_range(0..20) == 0 {
                expired_time(now, rng)
            } else {
                recent_time(now, rng)
            };
            event(session, app, at, false, rng)
        })
        .collect();
    (app.to_owned(), events)
}
