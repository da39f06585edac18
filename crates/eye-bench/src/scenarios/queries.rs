//! Scenario 6: queries on the preloaded stores (`preloaded`), one request at a time from
//! one client, each query kind's p50 and p99 at every size, and how each p99 grew from the
//! smallest size to the largest.

use std::time::Instant;

use eye_server::model::timestamp;
use hdrhistogram::Histogram;

use super::Target;
use super::preloaded::{DAY, Preloaded};
use crate::load::http_client;
use crate::mix::{COMMON_TYPE, RARE_TYPE};
use crate::report::Row;

/// Scenario 6 on every preloaded store. Each round of samples asks every store in turn, so
/// that the growth ratio compares the same moments of a noisy host.
pub async fn queries(preloaded: &Preloaded, samples: usize) -> anyhow::Result<Vec<Row>> {
    measure(&preloaded.stores, samples, preloaded.start).await
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
    let month_end = timestamp::format_micros(start + 30 * DAY);
    let day_start = timestamp::format_micros(start + 15 * DAY);
    let day_end = timestamp::format_micros(start + 16 * DAY);
    let stats = format!("/v1/stats/events?from={month_start}&to={month_end}&interval=hour");
    let has_event = |(category, name): (&str, &str)| {
        format!(
            "/v1/sessions?limit=100&has_event={}",
            encode(&format!("{category}/{name}"))
        )
    };
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
        (
            "stats 30 d hourly, by type",
            format!("{stats}&group_by=category,name"),
        ),
        ("stats 30 d hourly", stats.clone()),
        (
            "stats 30 d hourly, sessions",
            format!("{stats}&metric=sessions"),
        ),
        ("session list", "/v1/sessions?limit=100".to_owned()),
        ("session list, common type", has_event(COMMON_TYPE)),
        ("session list, rare type", has_event(RARE_TYPE)),
        (
            "session list, 20+ events",
            "/v1/sessions?limit=100&min_events=20".to_owned(),
        ),
        (
            "session list, one day",
            format!("/v1/sessions?limit=100&from={day_start}&to={day_end}"),
        ),
    ])
}

/// Percent-encodes what a query value of these paths may hold (spaces and `/`).
fn encode(text: &str) -> String {
    text.replace(' ', "%20").replace('/', "%2F")
}

/// What an answer of the listing and counting routes held, to show that a query had
/// something to find: the sessions on the page, or the events (or sessions) counted.
fn answered(body: &[u8]) -> Option<(&'static str, f64)> {
    let answer: serde_json::Value = serde_json::from_slice(body).ok()?;
    if let Some(sessions) = answer["sessions"].as_array() {
        return Some(("sessions", sessions.len() as f64));
    }
    let total = answer.get("series").and(answer["total"].as_f64())?;
    Some(("counted", total))
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
    // histograms[target][kind], and what the last answer held
    let mut histograms = vec![Vec::new(); targets.len()];
    let mut answers = vec![vec![None; kinds]; targets.len()];
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
                let body = response.bytes().await?;
                if sample >= warm_up(samples) {
                    let _ = histograms[index][kind].record(sent.elapsed().as_micros() as u64);
                }
                if sample + 1 == samples + warm_up(samples) {
                    answers[index][kind] = answered(&body);
                }
            }
        }
    }
    Ok(report(targets, &paths, &histograms, &answers))
}

/// The p50 and p99 rows of every store size, then the growth rows.
fn report(
    targets: &[(u64, Target)],
    paths: &[Vec<(&str, String)>],
    histograms: &[Vec<Histogram<u64>>],
    answers: &[Vec<Option<(&str, f64)>>],
) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut p99s: Vec<Vec<(&str, f64)>> = Vec::new();
    for (index, (count, _)) in targets.iter().enumerate() {
        let scenario = format!("6 queries, {count} events");
        let mut mine = Vec::new();
        let kinds = paths[index].iter().zip(&histograms[index]);
        for (((name, _), latency), answer) in kinds.zip(&answers[index]) {
            let (p50, p99) = (
                latency.value_at_quantile(0.5) as f64 / 1000.0,
                latency.value_at_quantile(0.99) as f64 / 1000.0,
            );
            rows.push(Row::new(&scenario, &format!("{name} p50"), p50, "ms"));
            rows.push(Row::new(&scenario, &format!("{name} p99"), p99, "ms").target("p99 < 10 ms"));
            if let Some((what, value)) = answer {
                rows.push(Row::new(&scenario, &format!("{name}: {what}"), *value, "-"));
            }
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
