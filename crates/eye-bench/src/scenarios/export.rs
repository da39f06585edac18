//! Scenario 9: `GET /v1/events/export` of the largest preloaded store whole, in each format,
//! read by one client as fast as it can (bytes counted, then dropped). Each format is
//! exported by a freshly started server, so that its peak resident memory (`VmHWM`) before
//! and after the export shows what the export itself costs.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::preloaded::Preloaded;
use super::{Target, metrics, start_eye};
use crate::deployment::Deployment;
use crate::processes;
use crate::report::Row;

const FORMATS: [&str; 3] = ["ndjson", "csv", "parquet"];

/// One export as the client saw it, and what the server spent on it.
struct Export {
    bytes: u64,
    seconds: f64,
    first_byte: Duration,
    rows: f64,
    rss_before: f64,
    rss_after: f64,
    cpu_seconds: f64,
}

/// Scenario 9 on the largest of `preloaded` (the others are stopped first); removes every
/// store.
pub async fn export(eye: &Path, mut preloaded: Preloaded) -> anyhow::Result<Vec<Row>> {
    let Some((count, largest)) = preloaded.stores.pop() else {
        return Ok(Vec::new());
    };
    preloaded.finish().await;
    let Target {
        process,
        deployment,
        ..
    } = largest;
    drop(process);
    let mut deployment = deployment.context("the preloaded store has no deployment")?;
    warm_page_cache(&deployment).await;
    let mut rows = Vec::new();
    for format in FORMATS {
        let target = start_eye(eye, deployment)?;
        let outcome = export_once(&target, format).await;
        let Target {
            process,
            deployment: served,
            ..
        } = target;
        drop(process);
        deployment = served.context("the served store has no deployment")?;
        rows.extend(report(count, format, &outcome?));
    }
    deployment.remove().await;
    Ok(rows)
}

/// Reads the embedded store's files once, so that every format reads from the same warm
/// page cache rather than the first paying for the disk.
async fn warm_page_cache(deployment: &Deployment) {
    let dir = deployment.data_dir.path().to_owned();
    let _ = tokio::task::spawn_blocking(move || {
        let mut buffer = vec![0; 1 << 20];
        for name in ["eye.db", "eye.db-wal"] {
            if let Ok(mut file) = std::fs::File::open(dir.join(name)) {
                while matches!(file.read(&mut buffer), Ok(n) if n > 0) {}
            }
        }
    })
    .await;
}

/// Exports every event in `format` through `target`, a server that has served nothing else.
async fn export_once(target: &Target, format: &str) -> anyhow::Result<Export> {
    let pid = target
        .process
        .as_ref()
        .context("scenario 9 needs a server it started")?
        .child
        .id();
    let rss_before = processes::peak_rss_mib(pid).unwrap_or(0.0);
    let cpu_before = processes::cpu_seconds(pid).unwrap_or(0.0);
    // No overall timeout: an export of ten million events takes minutes.
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()?;
    let sent = Instant::now();
    let mut response = client
        .get(format!("{}/v1/events/export?format={format}", target.url))
        .bearer_auth(&target.query)
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "export as {format}: {}",
        response.status()
    );
    let mut first_byte = None;
    let mut bytes = 0;
    // A transfer the server cuts short is an error here, never a short count.
    while let Some(chunk) = response.chunk().await? {
        first_byte.get_or_insert_with(|| sent.elapsed());
        bytes += chunk.len() as u64;
    }
    let seconds = sent.elapsed().as_secs_f64();
    let rss_after = processes::peak_rss_mib(pid).unwrap_or(0.0);
    let cpu_seconds = processes::cpu_seconds(pid).unwrap_or(0.0) - cpu_before;
    let rows = metrics(target)
        .await
        .map_or(0.0, |text| exported_rows(&text, format));
    Ok(Export {
        bytes,
        seconds,
        first_byte: first_byte.unwrap_or_default(),
        rows,
        rss_before,
        rss_after,
        cpu_seconds,
    })
}

/// `eye_export_rows_total` of the events exported in `format`, whatever the order of its
/// labels.
fn exported_rows(text: &str, format: &str) -> f64 {
    let format_label = format!("format=\"{format}\"");
    text.lines()
        .filter(|line| line.starts_with("eye_export_rows_total{"))
        .filter(|line| line.contains("kind=\"events\"") && line.contains(&format_label))
        .filter_map(|line| line.rsplit_once(' ')?.1.trim().parse::<f64>().ok())
        .sum()
}

fn report(count: u64, format: &str, export: &Export) -> Vec<Row> {
    let scenario = format!("9 export {format}, {count} events");
    let seconds = export.seconds.max(1e-6);
    let rows = export.rows.max(1.0);
    vec![
        Row::new(&scenario, "events exported", export.rows, "events"),
        Row::new(&scenario, "events/s", export.rows / seconds, "ev/s"),
        Row::new(&scenario, "duration", export.seconds, "s"),
        Row::new(
            &scenario,
            "time to first byte",
            export.first_byte.as_secs_f64() * 1000.0,
            "ms",
        ),
        Row::new(&scenario, "size", export.bytes as f64 / 1e6, "MB"),
        Row::new(
            &scenario,
            "bytes per event",
            export.bytes as f64 / rows,
            "B",
        ),
        Row::new(
            &scenario,
            "throughput",
            export.bytes as f64 / 1e6 / seconds,
            "MB/s",
        ),
        Row::new(
            &scenario,
            "server CPU per million events",
            export.cpu_seconds * 1e6 / rows,
            "s",
        ),
        Row::new(&scenario, "peak RSS before", export.rss_before, "MiB"),
        Row::new(&scenario, "peak RSS after", export.rss_after, "MiB"),
        Row::new(
            &scenario,
            "peak RSS growth",
            export.rss_after - export.rss_before,
            "MiB",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exported_rows_reads_the_format_asked() {
        let text = "# TYPE eye_export_rows_total counter\n\
            eye_export_rows_total{kind=\"events\",format=\"csv\"} 990\n\
            eye_export_rows_total{format=\"ndjson\",kind=\"events\"} 12\n\
            eye_export_rows_total{kind=\"errors\",format=\"csv\"} 7\n";
        assert_eq!(exported_rows(text, "csv"), 990.0);
        assert_eq!(exported_rows(text, "ndjson"), 12.0);
        assert_eq!(exported_rows(text, "parquet"), 0.0);
    }
}
