//! Scenario 8, second part: disk use at a steady rate when events expire shortly after they
//! arrive (retention of one day, timestamps a day old less `--plateau-expiry`, a sweep
//! every second), against the same load on a server with no retention; both servers run at
//! once, so their samples are taken at the same moments. Sizes are the files' real lengths:
//! `eye.db`, `eye.db-wal`, and the queue's directory.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{Settings, Target, metric, metrics, start_eye, start_eye_with};
use crate::deployment::{Backend, Deployment};
use crate::load;
use crate::processes;
use crate::report::{Row, Series};

const WITH: &str = "8 plateau, retention 1 day";
const WITHOUT: &str = "8 plateau, no retention";
const MB: f64 = 1e6;
const DELETED: &str = "eye_retention_deleted_total{kind=\"events\"}";
const TOO_OLD: &str = "eye_events_rejected_total{code=\"timestamp_too_old\"}";

/// One look at a server's data directory and its event count.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Seconds since the load began.
    at: f64,
    db: u64,
    wal: u64,
    queue: u64,
    events: f64,
}

impl Sample {
    fn store(&self) -> f64 {
        (self.db + self.wal) as f64
    }

    fn data(&self) -> f64 {
        self.store() + self.queue as f64
    }
}

/// Scenario 8 (b): the rows of both servers, and their samples side by side.
pub async fn plateau(eye: &Path, settings: &Settings) -> anyhow::Result<(Vec<Row>, Series)> {
    let retention = [
        ("EYE_RETENTION_DAYS", "1".to_owned()),
        ("EYE_RETENTION_INTERVAL_SECS", "1".to_owned()),
    ];
    let with = start_eye_with(
        eye,
        Deployment::create(&Backend::Embedded).await?,
        &retention,
    )?;
    let without = start_eye(eye, Deployment::create(&Backend::Embedded).await?)?;
    // Expired `plateau_expiry` after it is sent: the day of retention less that.
    let age = Duration::from_secs(86_400).saturating_sub(settings.plateau_expiry);
    let schedule = (settings.plateau_rate, 100, settings.plateau_duration);
    let (loaded_with, loaded_without, samples) = tokio::join!(
        load::open_loop_aged(&with.url, &with.ingest, schedule, age, None),
        load::open_loop_aged(&without.url, &without.ingest, schedule, age, None),
        sample(&with, &without, settings)
    );
    let (samples_with, samples_without) = samples;
    let mut rows = Vec::new();
    for (name, target, outcome, samples) in [
        (WITH, &with, loaded_with, &samples_with),
        (WITHOUT, &without, loaded_without, &samples_without),
    ] {
        let text = metrics(target).await.unwrap_or_default();
        rows.extend([
            Row::new(name, "achieved", outcome.events_per_second(), "ev/s"),
            Row::new(name, "failed requests", outcome.failures as f64, "requests"),
            Row::new(
                name,
                "rejected as too old",
                metric(&text, TOO_OLD),
                "events",
            ),
            Row::new(
                name,
                "deleted by the sweep",
                metric(&text, DELETED),
                "events",
            ),
        ]);
        rows.extend(growth(name, samples, name == WITH));
    }
    let series = side_by_side(&samples_with, &samples_without);
    with.finish().await;
    without.finish().await;
    Ok((rows, series))
}

/// Samples both servers at the start of the load and then every `plateau_sample`, until
/// the load ends.
async fn sample(
    with: &Target,
    without: &Target,
    settings: &Settings,
) -> (Vec<Sample>, Vec<Sample>) {
    let started = Instant::now();
    let (mut samples_with, mut samples_without) = (Vec::new(), Vec::new());
    for tick in 0.. {
        let due = settings.plateau_sample * tick;
        if due > settings.plateau_duration {
            break;
        }
        tokio::time::sleep_until((started + due).into()).await;
        samples_with.push(look(with, started).await);
        samples_without.push(look(without, started).await);
    }
    (samples_with, samples_without)
}

async fn look(target: &Target, started: Instant) -> Sample {
    let at = started.elapsed().as_secs_f64();
    let events = metrics(target)
        .await
        .map_or(0.0, |text| metric(&text, "eye_store_events"));
    let Some(deployment) = &target.deployment else {
        return Sample {
            at,
            db: 0,
            wal: 0,
            queue: 0,
            events,
        };
    };
    let dir = deployment.data_dir.path();
    let length = |name: &str| std::fs::metadata(dir.join(name)).map_or(0, |m| m.len());
    Sample {
        at,
        db: length("eye.db"),
        wal: length("eye.db-wal"),
        queue: processes::disk_bytes(&dir.join("queue")),
        events,
    }
}

/// The sizes at the end, how fast they grew (over the whole run and over its last third),
/// and how close the last third stayed to its highest size.
fn growth(name: &str, samples: &[Sample], plateau_expected: bool) -> Vec<Row> {
    let Some(last) = samples.last() else {
        return Vec::new();
    };
    let end = last.at;
    let last_third: Vec<Sample> = samples
        .iter()
        .copied()
        .filter(|s| s.at >= end * 2.0 / 3.0)
        .collect();
    let mut rows = vec![
        Row::new(name, "events held at the end", last.events, "events"),
        Row::new(name, "eye.db at the end", last.db as f64 / MB, "MB"),
        Row::new(name, "eye.db-wal at the end", last.wal as f64 / MB, "MB"),
        Row::new(name, "queue at the end", last.queue as f64 / MB, "MB"),
    ];
    for (what, size) in [
        ("store", Sample::store as fn(&Sample) -> f64),
        ("store+queue", Sample::data),
    ] {
        let held = lowest_over_highest(&last_third, size) * 100.0;
        let mut stays = Row::new(name, &format!("{what}, last 3rd min/max"), held, "%");
        if plateau_expected {
            stays = stays.target(">= 95% (a plateau)");
        }
        rows.extend([
            Row::new(
                name,
                &format!("{what} growth, whole run"),
                slope_per_minute(samples, size) / MB,
                "MB/min",
            ),
            Row::new(
                name,
                &format!("{what} growth, last third"),
                slope_per_minute(&last_third, size) / MB,
                "MB/min",
            ),
            stays,
        ]);
    }
    rows
}

/// The least-squares slope of `size` over the samples, per minute.
fn slope_per_minute(samples: &[Sample], size: impl Fn(&Sample) -> f64) -> f64 {
    let n = samples.len() as f64;
    if samples.len() < 2 {
        return 0.0;
    }
    let mean_t = samples.iter().map(|s| s.at / 60.0).sum::<f64>() / n;
    let mean_y = samples.iter().map(&size).sum::<f64>() / n;
    let (mut covariance, mut variance) = (0.0, 0.0);
    for sample in samples {
        let dt = sample.at / 60.0 - mean_t;
        covariance += dt * (size(sample) - mean_y);
        variance += dt * dt;
    }
    if variance > 0.0 {
        covariance / variance
    } else {
        0.0
    }
}

/// The smallest of the sizes over the largest (1 when all are equal or none is positive).
fn lowest_over_highest(samples: &[Sample], size: impl Fn(&Sample) -> f64) -> f64 {
    let highest = samples.iter().map(&size).fold(0.0, f64::max);
    let lowest = samples.iter().map(&size).fold(f64::INFINITY, f64::min);
    if highest > 0.0 { lowest / highest } else { 1.0 }
}

/// Both servers' samples in one table, a line per moment.
fn side_by_side(with: &[Sample], without: &[Sample]) -> Series {
    let columns = ["eye.db", "wal", "queue", "events"];
    let mut names = Vec::new();
    for server in ["retention", "none"] {
        for column in columns {
            let unit = if column == "events" { "events" } else { "MB" };
            names.push((format!("{server}: {column}"), unit.to_owned()));
        }
    }
    let values = |s: &Sample| {
        [
            s.db as f64 / MB,
            s.wal as f64 / MB,
            s.queue as f64 / MB,
            s.events,
        ]
    };
    Series {
        title: "8 plateau: samples (retention 1 day, and none)".to_owned(),
        columns: names,
        points: with
            .iter()
            .zip(without)
            .map(|(a, b)| (a.at, values(a).into_iter().chain(values(b)).collect()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(at: f64, db: u64) -> Sample {
        Sample {
            at,
            db,
            wal: 0,
            queue: 0,
            events: 0.0,
        }
    }

    #[test]
    fn slope_is_bytes_per_minute() {
        let growing: Vec<Sample> = (0..7).map(|i| at(i as f64 * 10.0, i * 1000)).collect();
        // 1,000 bytes every 10 s.
        let slope = slope_per_minute(&growing, Sample::store);
        assert!((slope - 6000.0).abs() < 1e-6, "{slope}");
        let flat = [at(0.0, 5), at(10.0, 5)];
        assert_eq!(slope_per_minute(&flat, Sample::store), 0.0);
    }

    #[test]
    fn plateau_is_the_lowest_over_the_highest() {
        let samples = [at(0.0, 90), at(10.0, 100), at(20.0, 95)];
        assert_eq!(lowest_over_highest(&samples, Sample::store), 0.9);
        assert_eq!(lowest_over_highest(&[], Sample::store), 1.0);
    }
}
