//! `eye erase` (forget sessions), `eye erasures` (list the jobs) and `eye usage` (what the
//! store holds, and the retention in force), through a running server with an admin key.

use std::time::{Duration, Instant};

use clap::Args;
use eye_client::{Client, ErasureInfo, ErasureRequest, Usage};

use crate::cli::{Format, FormatArg, Remote};
use crate::output::{self, Columns, json_line};
use crate::remote::{explain, query_client};

#[derive(Args)]
pub struct EraseArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// A session to forget (repeat for several, up to 10,000).
    #[arg(long = "session-id", value_name = "ID", required = true)]
    pub session_ids: Vec<String>,
    /// Only this application's data of those sessions (default: every application's).
    #[arg(long)]
    pub app: Option<String>,
    /// Also drop every later event of those sessions (answered `accepted`, never stored).
    #[arg(long)]
    pub suppress: bool,
    /// Wait until the erasure is done (or failed), then print it; exit 1 unless done.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds (exit 1; the erasure goes on).
    #[arg(long, default_value_t = 600, value_name = "SECS")]
    pub timeout: u64,
    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Args)]
pub struct ErasuresArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// Show this one erasure (its id, as `eye erase` printed it).
    pub id: Option<String>,
    /// How many of the most recent erasures to list (1 to 1000).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Args)]
pub struct UsageArgs {
    #[command(flatten)]
    pub remote: Remote,
    #[command(flatten)]
    pub format: FormatArg,
}

/// How often `--wait` asks how the erasure is going.
const POLL: Duration = Duration::from_millis(200);

pub async fn erase(args: EraseArgs) -> anyhow::Result<()> {
    let client = query_client(&args.remote)?;
    let request = ErasureRequest {
        session_ids: args.session_ids,
        app: args.app,
        suppress: args.suppress,
    };
    let mut erasure = client.request_erasure(&request).await.map_err(explain)?;
    let format = output::resolve(args.format.format);
    if args.wait {
        eprintln!("erasure {} recorded; waiting for it to finish", erasure.id);
        erasure = wait_for(&client, erasure, Duration::from_secs(args.timeout)).await?;
    }
    print_erasures(format, std::slice::from_ref(&erasure))?;
    match erasure.status.as_str() {
        "failed" => anyhow::bail!(
            "erasure {} failed: {}",
            erasure.id,
            erasure.failure.as_deref().unwrap_or("no reason given")
        ),
        "done" | "pending" | "running" => Ok(()),
        other => anyhow::bail!("erasure {} has an unknown status {other:?}", erasure.id),
    }
}

/// Asks until the erasure is done or failed, or `timeout` passes.
async fn wait_for(
    client: &Client,
    mut erasure: ErasureInfo,
    timeout: Duration,
) -> anyhow::Result<ErasureInfo> {
    let deadline = Instant::now() + timeout;
    while matches!(erasure.status.as_str(), "pending" | "running") {
        if Instant::now() >= deadline {
            anyhow::bail!(
                "erasure {} is still {} after {} s; it goes on: `eye erasures {}` shows it",
                erasure.id,
                erasure.status,
                timeout.as_secs(),
                erasure.id
            );
        }
        tokio::time::sleep(POLL).await;
        erasure = client.erasure(&erasure.id).await.map_err(explain)?;
    }
    Ok(erasure)
}

pub async fn erasures(args: ErasuresArgs) -> anyhow::Result<()> {
    let client = query_client(&args.remote)?;
    let format = output::resolve(args.format.format);
    let erasures = match &args.id {
        Some(id) => vec![client.erasure(id).await.map_err(explain)?],
        None => {
            client
                .erasures(Some(args.limit))
                .await
                .map_err(explain)?
                .erasures
        }
    };
    print_erasures(format, &erasures)
}

const ERASURE_COLUMNS: Columns = Columns(&[
    ("ID", 30),
    ("STATUS", 8),
    ("SESSIONS", 8),
    ("APP", 8),
    ("EVENTS", 6),
    ("ERRORS", 6),
    ("REQUESTED", 27),
    ("COMPLETED", 0),
]);

fn print_erasures(format: Format, erasures: &[ErasureInfo]) -> anyhow::Result<()> {
    if format == Format::Json {
        for erasure in erasures {
            json_line(erasure)?;
        }
        return Ok(());
    }
    let rows: Vec<Vec<String>> = erasures
        .iter()
        .map(|erasure| {
            vec![
                erasure.id.clone(),
                erasure.status.clone(),
                erasure.session_ids.len().to_string(),
                erasure.app.clone().unwrap_or_else(|| "(all)".into()),
                erasure.events_deleted.to_string(),
                erasure.errors_deleted.to_string(),
                erasure.requested_at.clone(),
                erasure.completed_at.clone().unwrap_or_default(),
            ]
        })
        .collect();
    for line in ERASURE_COLUMNS.render(&rows) {
        println!("{line}");
    }
    Ok(())
}

pub async fn usage(args: UsageArgs) -> anyhow::Result<()> {
    let client = query_client(&args.remote)?;
    let usage = client.usage().await.map_err(explain)?;
    if output::resolve(args.format.format) == Format::Json {
        return json_line(&usage);
    }
    for line in usage_lines(&usage) {
        println!("{line}");
    }
    Ok(())
}

fn usage_lines(usage: &Usage) -> Vec<String> {
    let days = |days: Option<u32>| days.map_or("forever".to_owned(), |d| format!("{d} days"));
    let mut lines = vec![
        format!("store      {}", bytes(usage.store_bytes)),
        format!(
            "queue      {}",
            usage
                .queue_bytes
                .map_or("(not used by this node)".into(), bytes)
        ),
        format!("events     {}", usage.events),
        format!("errors     {}", usage.errors),
        format!(
            "oldest     {}",
            usage.oldest_event_timestamp.as_deref().unwrap_or("(none)")
        ),
        format!(
            "newest     {}",
            usage.newest_event_timestamp.as_deref().unwrap_or("(none)")
        ),
        format!(
            "retention  events {}, errors {} (applications without their own)",
            days(usage.retention.retention_days),
            days(usage.retention.error_retention_days)
        ),
    ];
    for (app, retention) in &usage.apps {
        lines.push(format!(
            "  {app}: events {}, errors {}",
            days(retention.retention_days),
            days(retention.error_retention_days)
        ));
    }
    lines
}

/// A byte count as people read it, and exact.
fn bytes(count: u64) -> String {
    format!("{} ({count} bytes)", output::byte_size(count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_read_as_people_write_them() {
        assert_eq!(bytes(512), "512 B (512 bytes)");
        assert_eq!(bytes(12_300_000), "12 MB (12300000 bytes)");
    }
}
