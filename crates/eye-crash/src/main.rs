//! `eye-crash`: the crash-consistency harness (in the spirit of Jepsen). For N cycles,
//! concurrent clients send events and record every answer while a fault strikes at a random
//! moment (SIGKILL of the server; in scale-out mode, in turn, SIGKILL of an ingest node or a
//! worker, and restarts of PostgreSQL and NATS); the system recovers and drains. Then every
//! stored event and error is read back and checked against what the clients were told.
//! Prints a table; exits 1 if anything acknowledged was lost, duplicated or altered, if
//! anything was stored that was never accepted, or if a rejection is missing.
//!
//! Then the lifecycle cycles (`lifecycle`), each on a deployment of its own: a SIGKILL
//! while the retention sweep deletes, and one while an erasure runs; after the restart the
//! work must complete, and no session summary may ever disagree with its events.

mod clients;
mod deployment;
mod ledger;
mod lifecycle;
mod snapshot;
mod verify;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use rand::{Rng, SeedableRng};

use clients::Load;
use deployment::{Deployment, Fault, ScaleOut};
use ledger::Ledger;
use verify::Tally;

#[derive(Parser)]
#[command(
    name = "eye-crash",
    about = "Kills The Eye under load and checks what it promised"
)]
struct Cli {
    /// Crash cycles.
    #[arg(long, default_value_t = 20)]
    cycles: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 6)]
    clients: usize,
    /// PostgreSQL store and NATS JetStream queue, two ingest nodes, two workers and a query
    /// node, instead of one embedded server.
    #[arg(long)]
    scale_out: bool,
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres: String,
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// The eye binary (default: the one beside this tool).
    #[arg(long)]
    eye: Option<PathBuf>,
    /// Lifecycle cycles: this many sweep kills and as many erasure kills, after the crash
    /// cycles (default: one per five crash cycles, at least one; 0 runs none).
    #[arg(long)]
    lifecycle_cycles: Option<usize>,
    /// Seed of the clients' and the faults' randomness (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let eye = match &cli.eye {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("eye"),
    };
    anyhow::ensure!(
        eye.exists(),
        "no eye binary at {} (pass --eye)",
        eye.display()
    );
    let seed = cli.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let scale_out = cli.scale_out.then(|| ScaleOut {
        postgres: cli.postgres.clone(),
        nats: cli.nats.clone(),
    });
    let mode = if cli.scale_out {
        "scale-out"
    } else {
        "embedded"
    };
    println!(
        "eye-crash: {mode}, {} cycles, {} clients, seed {seed}",
        cli.cycles, cli.clients
    );
    let crashed = if cli.cycles > 0 {
        crash_cycles(&eye, scale_out.clone(), &cli, seed).await
    } else {
        Ok(())
    };
    let lifecycle_cycles = cli
        .lifecycle_cycles
        .unwrap_or_else(|| cli.cycles.div_ceil(5).max(1));
    let lifecycle = if lifecycle_cycles > 0 {
        println!("eye-crash: {lifecycle_cycles} sweep kills and {lifecycle_cycles} erasure kills");
        let outcome = lifecycle::run(&eye, scale_out, lifecycle_cycles, seed).await;
        if let Err(error) = &outcome {
            println!("eye-crash: {error:#}");
        }
        outcome
    } else {
        Ok(())
    };
    if crashed.is_err() || lifecycle.is_err() {
        std::process::exit(1);
    }
    Ok(())
}

/// The crash cycles and their check.
async fn crash_cycles(
    eye: &std::path::Path,
    scale_out: Option<ScaleOut>,
    cli: &Cli,
    seed: u64,
) -> anyhow::Result<()> {
    let mut deployment = Deployment::start(eye, scale_out).await?;
    let outcome = run(&mut deployment, cli, seed).await;
    let logs = deployment.logs().display().to_string();
    match outcome {
        Ok(faults) => {
            let tallies = verify::check(
                &deployment.query_url(),
                &deployment.query_key,
                &ledger_of(&faults),
                cli.cycles,
            )
            .await;
            deployment.finish().await;
            report(&faults, tallies?)
        }
        Err(error) => {
            eprintln!("eye-crash: the run failed; node logs in {logs}");
            deployment.finish().await;
            Err(error)
        }
    }
}

struct Run {
    ledger: Arc<Ledger>,
    faults: Vec<(Fault, Duration)>,
}

fn ledger_of(run: &Run) -> Arc<Ledger> {
    Arc::clone(&run.ledger)
}

async fn run(deployment: &mut Deployment, cli: &Cli, seed: u64) -> anyhow::Result<Run> {
    let ledger = Arc::new(Ledger::default());
    let faults = deployment.faults();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut done = Vec::new();
    for cycle in 1..=cli.cycles {
        let stop = Arc::new(AtomicBool::new(false));
        let load = Load {
            ingest_urls: deployment.ingest_urls(),
            key: deployment.ingest_key.clone(),
            ledger: Arc::clone(&ledger),
            stop: Arc::clone(&stop),
        };
        let (clients, load_seed) = (cli.clients, rng.random());
        let sending = tokio::spawn(async move { load.run(cycle, clients, load_seed).await });
        tokio::time::sleep(Duration::from_millis(rng.random_range(300..1500))).await;
        let fault = faults[(cycle - 1) % faults.len()];
        let struck = Instant::now();
        deployment.inject(fault, rng.random_range(0..16)).await?;
        let recovery = struck.elapsed();
        // Keep sending a little after recovery, then stop and let everything drain.
        tokio::time::sleep(Duration::from_millis(rng.random_range(200..800))).await;
        stop.store(true, Ordering::Relaxed);
        let _ = sending.await;
        deployment.settle(Duration::from_secs(120)).await?;
        done.push((fault, recovery));
    }
    Ok(Run {
        ledger,
        faults: done,
    })
}

fn report(run: &Run, tallies: Vec<Tally>) -> anyhow::Result<()> {
    println!(
        "{:>5}  {:<20} {:>8} {:>6} {:>5} {:>10} {:>9} {:>7} {:>13} {:>16} {:>8} {:>8}",
        "CYCLE",
        "FAULT",
        "RECOVERY",
        "SENT",
        "ACKED",
        "LOST",
        "DUPLICATED",
        "ALTERED",
        "PHANTOM",
        "FAILED: STORED",
        "NOT STORED",
        "REJECTED"
    );
    let mut total = tallies[0].clone();
    for (cycle, tally) in tallies.iter().enumerate().skip(1) {
        let (fault, recovery) = run
            .faults
            .get(cycle - 1)
            .copied()
            .unwrap_or((Fault::KillServer, Duration::ZERO));
        println!(
            "{cycle:>5}  {:<20} {:>7.1}s {:>6} {:>5} {:>10} {:>9} {:>7} {:>13} {:>16} {:>8} {:>8}",
            fault.label(),
            recovery.as_secs_f64(),
            tally.sent,
            tally.acknowledged,
            tally.lost,
            tally.duplicated,
            tally.corrupted,
            tally.phantom,
            tally.failed_stored,
            tally.failed_not_stored,
            tally.rejected,
        );
        total.add(tally);
    }
    println!(
        "TOTAL  {:<20} {:>8} {:>6} {:>5} {:>10} {:>9} {:>7} {:>13} {:>16} {:>8} {:>8}",
        format!("{} cycles", tallies.len() - 1),
        "",
        total.sent,
        total.acknowledged,
        total.lost,
        total.duplicated,
        total.corrupted,
        total.phantom,
        total.failed_stored,
        total.failed_not_stored,
        total.rejected,
    );
    if total.rejected_missing > 0 {
        println!(
            "rejected events missing from the error store: {}",
            total.rejected_missing
        );
    }
    anyhow::ensure!(
        total.acknowledged > 0,
        "nothing was acknowledged: the run proves nothing"
    );
    anyhow::ensure!(!total.broken(), "a promise was broken (see the table)");
    println!("OK: every acknowledged event stored exactly once and intact; nothing phantom");
    Ok(())
}
