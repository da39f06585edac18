//! The erasure cycle's checks: both erasures done, with `events_deleted` and
//! `errors_deleted` against what the store held of their rows; nothing they covered left,
//! through the listings and `GET /v1/events?session_id=`; the rest as answered; every
//! summary right through the API and in the store.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use super::{Held, Jobs, row_of};
use crate::clients::http_client;
use crate::lifecycle::checks::{self, Expect, Stored};
use crate::lifecycle::traffic::parse_micros;
use crate::lifecycle::{Outcome, Setup};
use crate::snapshot::Probe;

/// Both erasures done with the right counts; nothing they covered left; the rest as
/// answered; summaries right through the API and in the store.
pub async fn check(
    setup: &Setup,
    outcome: &mut Outcome,
    jobs: &Jobs,
    ids: &[String; 2],
    held: &Held,
) -> anyhow::Result<()> {
    let (base, key) = (setup.query_url(), &setup.deployment.query_key);
    let done = [
        setup.erasure(&format!("/v1/erasures/{}", ids[0])).await?,
        setup.erasure(&format!("/v1/erasures/{}", ids[1])).await?,
    ];
    let completed = done
        .clone()
        .map(|job| job["completed_at"].as_str().unwrap_or_default().to_owned());
    for (index, job) in done.iter().enumerate() {
        if job["status"] != "done" {
            outcome
                .problems
                .push(format!("erasure {} ended {job}", index + 1));
        }
    }
    let late = late_events_of_second(setup, jobs, &completed[1]);
    check_counts(outcome, &done, held, late);
    let stored = checks::read(&base, key).await?;
    judge(outcome, setup, jobs, &completed, &stored);
    setup.lost(outcome);
    outcome.step(format_args!(
        "the erasures completed at {} and {}",
        completed[0], completed[1]
    ));
    let left = events_left(&base, key, &jobs.first).await?;
    if left > 0 {
        outcome.problems.push(format!(
            "GET /v1/events?session_id= still finds {left} events of the first erasure's sessions"
        ));
    }
    let (wrong, examples) = checks::summaries(&base, key, jobs.all(), &stored.events).await?;
    outcome.wrong_summaries = wrong;
    outcome.problems.extend(examples);
    let probe = Probe {
        before_micros: None,
        erasure: Some(ids[0].clone()),
    };
    outcome
        .snapshot(&setup.deployment, "at the end", &probe)
        .await?;
    Ok(())
}

/// How many events the clients sent (and were not told were rejected) of the second
/// erasure's rows before it completed: they may have been stored and then erased by it.
fn late_events_of_second(setup: &Setup, jobs: &Jobs, completed: &str) -> u64 {
    let completed = parse_micros(completed).unwrap_or(i64::MAX);
    setup.traffic.ledger.with(|sent| {
        sent.iter()
            .filter(|(id, record)| {
                let event = &record.event;
                let (session, app) = (
                    event["session_id"].as_str().unwrap_or_default(),
                    event["data"]["app"].as_str().unwrap_or_default(),
                );
                jobs.covering(session, app) == Some(2)
                    && record.answer != crate::ledger::Answer::Rejected
                    && setup
                        .traffic
                        .timing(id)
                        .is_some_and(|t| t.sent <= completed)
            })
            .count() as u64
    })
}

/// The counts of each erasure against what the store held of its sessions.
fn check_counts(outcome: &mut Outcome, done: &[Value; 2], held: &Held, late: u64) {
    let (events, errors) = (held.events, held.errors);
    let counted = |job: &Value, field: &str| job[field].as_u64().unwrap_or(u64::MAX);
    let (first, second) = (&done[0], &done[1]);
    if counted(first, "events_deleted") != events[0]
        || counted(first, "errors_deleted") != errors[0]
    {
        outcome.problems.push(format!(
            "the first erasure counts {} events and {} error records; its sessions had {} and {}",
            first["events_deleted"], first["errors_deleted"], events[0], errors[0]
        ));
    }
    // The second one's sessions also got events while it ran: at most those were added.
    let deleted = counted(second, "events_deleted");
    if deleted < events[1]
        || deleted > events[1] + late
        || counted(second, "errors_deleted") != errors[1]
    {
        outcome.problems.push(format!(
            "the second erasure counts {deleted} events and {} error records; its rows were {} \
             events (and up to {late} sent while it ran) and {} error records",
            second["errors_deleted"], events[1], errors[1]
        ));
    }
}

/// What is stored against the ledger: every row an erasure covered gone (an event received
/// up to the erasure's completion is covered), the rest as answered. An event of the second
/// erasure's rows whose request was under way when it completed may be either.
fn judge(outcome: &mut Outcome, setup: &Setup, jobs: &Jobs, completed: &[String], stored: &Stored) {
    let completed_micros: Vec<i64> = completed
        .iter()
        .map(|c| parse_micros(c).unwrap_or(i64::MAX))
        .collect();
    let covered = |row: &Value| {
        let (session, app) = row_of(row);
        jobs.covering(session, app).is_some_and(|job| {
            row["received_at"].as_str().unwrap_or_default() <= completed[job - 1].as_str()
        })
    };
    let sent = setup.traffic.ledger.with(Clone::clone);
    outcome.verdict = checks::judge(
        &sent,
        stored,
        |id, record| {
            let session = record.event["session_id"].as_str().unwrap_or_default();
            let app = record.event["data"]["app"].as_str().unwrap_or_default();
            let Some(job) = jobs.covering(session, app) else {
                return Expect::Answered;
            };
            let end = completed_micros[job - 1];
            match setup.traffic.timing(id) {
                Some(t) if t.answered < end => Expect::Gone,
                Some(t) if t.sent > end => Expect::Answered,
                _ => Expect::Either,
            }
        },
        covered,
        covered,
    );
}

/// Events `GET /v1/events?session_id=` still finds of `sessions`.
async fn events_left(base: &str, key: &str, sessions: &BTreeSet<String>) -> anyhow::Result<usize> {
    let client = http_client(Duration::from_secs(30));
    let mut left = 0;
    for session in sessions {
        let page: Value = client
            .get(format!("{base}/v1/events?session_id={session}&limit=10"))
            .bearer_auth(key)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        left += page["events"].as_array().map_or(0, Vec::len);
    }
    Ok(left)
}
