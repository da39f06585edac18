//! `eye-bench`: starts The Eye (and its baselines) on loopback, runs the scenarios of
//! BENCHMARKS.md, and prints a results table (or JSON with `--json`).

mod events;
mod load;
mod processes;
mod report;
mod scenarios;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use report::Row;
use scenarios::Settings;

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
    /// Seconds per load phase.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Connections of the closed-loop single-event scenario.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Fixed rates (events/s) of scenario 3; the first also drives scenario 4.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    rates: Vec<u64>,
    /// Store sizes preloaded for the query scenario (e.g. 1000000,10000000); none skips it.
    #[arg(long, value_delimiter = ',')]
    preload: Vec<u64>,
    /// Requests per query kind in scenario 6.
    #[arg(long, default_value_t = 200)]
    query_samples: usize,
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
    let eye = processes::eye_binary(cli.eye.clone())?;
    let settings = if cli.smoke {
        Settings {
            duration: Duration::from_secs(1),
            connections: 8,
            rates: vec![200],
            preload: vec![2000],
            query_samples: 10,
        }
    } else {
        Settings {
            duration: Duration::from_secs(cli.duration.max(1)),
            connections: cli.connections.max(1),
            rates: cli.rates.clone(),
            preload: cli.preload.clone(),
            query_samples: cli.query_samples.max(1),
        }
    };
    let rows = run(&eye, &settings).await?;
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        report::print_table(&rows);
    }
    Ok(())
}

async fn run(eye: &std::path::Path, settings: &Settings) -> anyhow::Result<Vec<Row>> {
    let responder = scenarios::bare_responder(settings).await?;
    let raw = scenarios::raw_inserts(settings).await?;
    let mut rows = vec![
        Row::new("baseline: bare responder", "requests/s", responder, "req/s"),
        Row::new("baseline: raw inserts", "rows/s", raw, "rows/s"),
    ];
    let target = scenarios::start_eye(eye, tempfile::tempdir()?)?;
    let cpu_before = processes::cpu_seconds(target.process.child.id()).unwrap_or(0.0);
    rows.extend(scenarios::ingest(&target, settings, responder, raw).await);
    scenarios::drain(&target).await;
    rows.extend(scenarios::fixed_rates(&target, settings).await);
    scenarios::drain(&target).await;
    if let Some(rate) = settings.rates.first() {
        rows.extend(scenarios::lag(&target, settings, *rate).await?);
    }
    scenarios::drain(&target).await;
    rows.extend(scenarios::capacity(&target, settings, raw).await);
    let stored = stored_events(&target).await;
    rows.extend(scenarios::resources(&target, stored, cpu_before));
    drop(target);
    for count in &settings.preload {
        rows.extend(scenarios::queries(eye, *count, settings.query_samples).await?);
    }
    Ok(rows)
}

async fn stored_events(target: &scenarios::Target) -> f64 {
    let text = match load::http_client(1)
        .get(format!("{}/metrics", target.process.url))
        .send()
        .await
    {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    text.lines()
        .find(|l| l.starts_with("eye_events_stored_total"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}
