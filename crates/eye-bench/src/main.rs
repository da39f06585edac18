//! `eye-bench`: starts The Eye (and its baselines) on loopback, runs the scenarios of
//! BENCHMARKS.md, and prints a results table (or JSON with `--json`).

mod deployment;
mod durable_appends;
mod events;
mod load;
mod mix;
mod processes;
mod report;
mod scenarios;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use deployment::{Backend, Deployment};
use report::{Row, Series};
use scenarios::{Settings, Target};

#[derive(Parser)]
#[command(
    name = "eye-bench",
    about = "Benchmarks The Eye against baselines measured in the same run"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The eye binary to start (default: the one beside this tool; use a release build).
    #[arg(long)]
    eye: Option<PathBuf>,
    /// Run The Eye on PostgreSQL and NATS JetStream instead of the embedded store and queue
    /// (each run in a schema and a stream of its own, removed afterwards).
    #[arg(long)]
    scale_out: bool,
    /// PostgreSQL for --scale-out.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres: String,
    /// NATS with JetStream for --scale-out.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// Drive a server that is already running instead of starting one (scenarios 1 to 5;
    /// the baselines still run here). Needs --ingest-key and --query-key.
    #[arg(long, requires_all = ["ingest_key", "query_key"])]
    url: Option<String>,
    /// An ingest key of the server at --url.
    #[arg(long)]
    ingest_key: Option<String>,
    /// A query key of the server at --url (for the live stream of scenario 4).
    #[arg(long)]
    query_key: Option<String>,
    /// Run only these scenarios (e.g. `3,4`); all by default.
    #[arg(long, value_delimiter = ',')]
    only: Vec<u8>,
    /// Seconds per load phase.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds the queue depth must stay stable in scenario 5.
    #[arg(long, default_value_t = 60)]
    capacity_duration: u64,
    /// Repetitions of each closed-loop phase and its baseline (figures are medians).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Connections of the closed-loop single-event scenario.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Fixed rates (events/s) of scenario 3; the first also drives scenario 4.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    rates: Vec<u64>,
    /// Store sizes preloaded for the query scenario (e.g. 1000000,10000000), the export
    /// scenario (9) using the largest; none skips both.
    #[arg(long, value_delimiter = ',')]
    preload: Vec<u64>,
    /// Requests per query kind in scenario 6.
    #[arg(long, default_value_t = 200)]
    query_samples: usize,
    /// Scenario 8: expired events preloaded for the retention sweep to delete while ingest
    /// runs.
    #[arg(long, default_value_t = 1_000_000)]
    sweep_events: u64,
    /// Scenario 8: the steady rate (events/s) at which disk use should reach a plateau.
    #[arg(long, default_value_t = 2000)]
    plateau_rate: u64,
    /// Scenario 8: seconds of that steady rate (sampled every 10 s, or a sixth of this when
    /// shorter than a minute).
    #[arg(long, default_value_t = 300)]
    plateau_duration: u64,
    /// Scenario 8: seconds after it is sent that an event of the steady rate expires.
    #[arg(long, default_value_t = 20)]
    plateau_expiry: u64,
    /// A seconds-long run of every scenario, to keep the tool working (no figures to quote).
    #[arg(long)]
    smoke: bool,
    /// Print JSON instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// The bare HTTP responder baseline (started by the tool itself).
    #[command(hide = true)]
    Responder {
        #[arg(long)]
        listen: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Responder { listen }) = &cli.command {
        return processes::responder(listen).await;
    }
    let backend = if cli.scale_out {
        Backend::ScaleOut {
            postgres: cli.postgres.clone(),
            nats: cli.nats.clone(),
        }
    } else {
        Backend::Embedded
    };
    let settings = if cli.smoke {
        Settings {
            duration: Duration::from_secs(1),
            capacity_duration: Duration::from_secs(1),
            connections: 8,
            rates: vec![200],
            preload: vec![2000],
            query_samples: 10,
            repeat: 1,
            only: cli.only.clone(),
            sweep_events: 20_000,
            plateau_rate: 500,
            plateau_duration: Duration::from_secs(6),
            plateau_sample: Duration::from_secs(1),
            plateau_expiry: Duration::from_secs(2),
        }
    } else {
        let plateau_duration = Duration::from_secs(cli.plateau_duration.max(1));
        Settings {
            duration: Duration::from_secs(cli.duration.max(1)),
            capacity_duration: Duration::from_secs(cli.capacity_duration.max(1)),
            connections: cli.connections.max(1),
            rates: cli.rates.clone(),
            preload: cli.preload.clone(),
            query_samples: cli.query_samples.max(1),
            repeat: cli.repeat.max(1),
            only: cli.only.clone(),
            sweep_events: cli.sweep_events.max(1),
            plateau_rate: cli.plateau_rate.max(1),
            plateau_duration,
            plateau_sample: Duration::from_secs(10)
                .min(plateau_duration / 6)
                .max(Duration::from_secs(1)),
            plateau_expiry: Duration::from_secs(cli.plateau_expiry),
        }
    };
    let target = match (&cli.url, &cli.ingest_key, &cli.query_key) {
        (Some(url), Some(ingest), Some(query)) => Target::remote(url, ingest, query),
        _ => {
            let eye = processes::eye_binary(cli.eye.clone())?;
            scenarios::start_eye(&eye, Deployment::create(&backend).await?)?
        }
    };
    let mut rows = vec![Row::new(
        &format!(
            "mode: {}",
            if cli.url.is_some() {
                "remote server"
            } else {
                backend.label()
            }
        ),
        "phases repeated",
        settings.repeat as f64,
        "times",
    )];
    rows.extend(run(target, &backend, &settings).await?);
    if cli.url.is_none() && !settings.preload.is_empty() && (settings.runs(6) || settings.runs(9)) {
        let eye = processes::eye_binary(cli.eye.clone())?;
        rows.extend(query_scenarios(&eye, &backend, &settings).await?);
    }
    let mut series = Vec::new();
    if settings.runs(8) {
        match (&cli.url, &backend) {
            (None, Backend::Embedded) => {
                let eye = processes::eye_binary(cli.eye.clone())?;
                rows.extend(scenarios::sweep_impact(&eye, &settings).await?);
                let (plateau_rows, samples) = scenarios::plateau(&eye, &settings).await?;
                rows.extend(plateau_rows);
                series.push(samples);
            }
            _ => rows.push(Row::new(
                "8 retention",
                "not run: embedded store only",
                0.0,
                "-",
            )),
        }
    }
    if cli.json {
        rows.extend(series.iter().flat_map(Series::rows));
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        report::print_table(&rows);
        series.iter().for_each(report::print_series);
    }
    if cli.smoke {
        smoke_check(&rows)?;
    }
    Ok(())
}

/// A smoke run fails when a request failed or a scenario measured nothing, so that the
/// test command notices a broken tool or server (its timings are not judged).
fn smoke_check(rows: &[Row]) -> anyhow::Result<()> {
    let broken: Vec<String> = rows
        .iter()
        .filter(|row| {
            (row.metric.starts_with("failed") && row.value > 0.0)
                || (row.metric.starts_with("events measured") && row.value == 0.0)
                || ((row.metric == "events/s" || row.metric == "achieved") && row.value == 0.0)
        })
        .map(|row| format!("{} / {} = {}", row.scenario, row.metric, row.value))
        .collect();
    anyhow::ensure!(broken.is_empty(), "smoke run failed: {}", broken.join("; "));
    Ok(())
}

/// Scenarios 1 to 5 and 7 on one running server.
async fn run(target: Target, backend: &Backend, settings: &Settings) -> anyhow::Result<Vec<Row>> {
    let cpu_before = target
        .process
        .as_ref()
        .and_then(|p| processes::cpu_seconds(p.child.id()))
        .unwrap_or(0.0);
    scenarios::drain(&target).await;
    let mut rows = Vec::new();
    if settings.runs(1) {
        rows.extend(scenarios::single_events_against_responder(&target, settings).await?);
    }
    let mut raw = 0.0;
    if settings.runs(2) || settings.runs(5) {
        let (batch_rows, raw_median) =
            scenarios::batches_against_raw_inserts(&target, settings, backend).await?;
        rows.extend(batch_rows);
        raw = raw_median;
    }
    if settings.runs(3) {
        rows.extend(scenarios::fixed_rates(&target, settings).await);
        scenarios::drain(&target).await;
    }
    if settings.runs(4)
        && let Some(rate) = settings.rates.first()
    {
        let label = format!("{rate}/s");
        rows.extend(scenarios::lag(&target, settings, *rate, 1, &label).await?);
        scenarios::drain(&target).await;
    }
    if settings.runs(5) {
        let capacity = scenarios::capacity(&target, settings, raw).await;
        rows.extend(capacity.rows);
        if let Some(sustained) = capacity.sustained
            && settings.runs(4)
        {
            scenarios::drain(&target).await;
            let label = format!("sustained max {sustained}/s");
            rows.extend(scenarios::lag(&target, settings, sustained, 100, &label).await?);
        }
    }
    scenarios::drain(&target).await;
    let stored = scenarios::stored_total(&target).await;
    if settings.runs(7) {
        rows.extend(scenarios::resources(&target, stored, cpu_before).await);
    }
    target.finish().await;
    Ok(rows)
}

/// Scenario 6 at every preloaded size, and how each query grew from the smallest to the
/// largest; then scenario 9 on the largest.
async fn query_scenarios(
    eye: &std::path::Path,
    backend: &Backend,
    settings: &Settings,
) -> anyhow::Result<Vec<Row>> {
    let mut counts = settings.preload.clone();
    counts.sort_unstable();
    counts.dedup();
    let preloaded = scenarios::Preloaded::serve(eye, backend, &counts).await?;
    let mut rows = Vec::new();
    if settings.runs(6) {
        rows.extend(scenarios::queries(&preloaded, settings.query_samples).await?);
    }
    if settings.runs(9) {
        rows.extend(scenarios::export(eye, preloaded).await?);
    } else {
        preloaded.finish().await;
    }
    Ok(rows)
}
