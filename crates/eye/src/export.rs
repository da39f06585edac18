//! `eye export`: every matching event (or error record, `--errors`) as one NDJSON, CSV or
//! Parquet file, streamed from the server to a file or standard output, with a progress
//! line on standard error when it is a terminal.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use eye_client::{ErrorFilter, EventFilter, ExportFormat, ExportStream};

use crate::cli::{EventFilters, Remote};
use crate::remote::{explain, query_client};

#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// File format: `ndjson` (one JSON object per line), `csv` (a header row, `data` and
    /// `context` as JSON strings) or `parquet` (typed columns, for pandas, Polars, DuckDB,
    /// Spark).
    #[arg(long, value_enum, default_value = "ndjson")]
    pub format: FileFormat,
    /// The file to write; standard output when absent or `-`. It is written as `FILE.partial`
    /// and renamed once complete, so FILE only ever holds a whole export (a failed export
    /// removes the `.partial`; one killed or interrupted may leave it behind).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Export the error store (rejected events and refused requests) instead of events,
    /// oldest first; filters `--code`, `--app`, `--category`, `--name`, `--from`, `--to`
    /// (receive time).
    #[arg(long)]
    pub errors: bool,
    /// With `--errors`: only errors with this code (e.g. `schema_violation`).
    #[arg(long, requires = "errors")]
    pub code: Option<String>,
    #[command(flatten)]
    pub filters: EventFilters,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FileFormat {
    /// One JSON object per line.
    Ndjson,
    /// RFC 4180, with a header row.
    Csv,
    /// Apache Parquet.
    Parquet,
}

impl FileFormat {
    fn client(self) -> ExportFormat {
        match self {
            FileFormat::Ndjson => ExportFormat::Ndjson,
            FileFormat::Csv => ExportFormat::Csv,
            FileFormat::Parquet => ExportFormat::Parquet,
        }
    }
}

pub async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let client = query_client(&args.remote)?;
    let filters = args.filters.clone();
    let format = args.format.client();
    let stream = if args.errors {
        if filters.session_id.is_some() || filters.user.is_some() {
            anyhow::bail!("--session-id and --user do not apply to --errors (filter by --app, --category, --name, --code, --from, --to)");
        }
        let filter = ErrorFilter {
            code: args.code.clone(),
            app: filters.app,
            category: filters.category,
            name: filters.name,
            from: filters.from,
            to: filters.to,
            ..ErrorFilter::default()
        };
        client.export_errors(&filter, format).await
    } else {
        let filter = EventFilter {
            session_id: filters.session_id,
            user_id: filters.user,
            category: filters.category,
            name: filters.name,
            app: filters.app,
            from: filters.from,
            to: filters.to,
            ..EventFilter::default()
        };
        client.export_events(&filter, format).await
    }
    .map_err(explain)?;
    let progress = Progress::new(args.format, std::io::stderr().is_terminal());
    match args.out.as_deref() {
        None => copy(stream, std::io::stdout().lock(), progress).await,
        Some(path) if path == Path::new("-") => {
            copy(stream, std::io::stdout().lock(), progress).await
        }
        Some(path) => to_file(stream, path, progress).await,
    }
}

/// Writes beside `path`, then renames: the file appears only once the export is whole.
async fn to_file(stream: ExportStream, path: &Path, progress: Progress) -> anyhow::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let file =
        File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let copied = copy(stream, BufWriter::new(file), progress).await;
    let renamed = copied.and_then(|()| {
        std::fs::rename(&partial, path)
            .with_context(|| format!("cannot rename {} to {}", partial.display(), path.display()))
    });
    if renamed.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    renamed
}

async fn copy(
    mut stream: ExportStream,
    mut out: impl Write,
    mut progress: Progress,
) -> anyhow::Result<()> {
    while let Some(chunk) = stream.chunk().await.map_err(explain)? {
        out.write_all(&chunk).context("writing the export")?;
        progress.add(&chunk);
    }
    out.flush().context("writing the export")?;
    progress.finish();
    Ok(())
}

/// Bytes, rows when the format tells them (NDJSON and CSV lines), and the rate, redrawn on
/// standard error at most every 200 ms; nothing when standard error is not a terminal.
struct Progress {
    shown: bool,
    started: Instant,
    drawn: Option<Instant>,
    bytes: u64,
    rows: Option<Rows>,
}

/// Counts records in a stream of NDJSON or CSV bytes: line ends outside quotes (CSV fields
/// may hold line breaks), less the CSV header row.
struct Rows {
    csv: bool,
    in_quotes: bool,
    lines: u64,
}

impl Rows {
    fn add(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            match byte {
                b'"' if self.csv => self.in_quotes = !self.in_quotes,
                b'\n' if !self.in_quotes => self.lines += 1,
                _ => {}
            }
        }
    }

    fn count(&self) -> u64 {
        if self.csv {
            self.lines.saturating_sub(1)
        } else {
            self.lines
        }
    }
}

impl Progress {
    fn new(format: FileFormat, shown: bool) -> Progress {
        let rows = match format {
            FileFormat::Ndjson | FileFormat::Csv => Some(Rows {
                csv: format == FileFormat::Csv,
                in_quotes: false,
                lines: 0,
            }),
            FileFormat::Parquet => None,
        };
        Progress {
            shown,
            started: Instant::now(),
            drawn: None,
            bytes: 0,
            rows,
        }
    }

    fn add(&mut self, chunk: &[u8]) {
        self.bytes += chunk.len() as u64;
        if let Some(rows) = &mut self.rows {
            rows.add(chunk);
        }
        let due = self
            .drawn
            .is_none_or(|at| at.elapsed() >= Duration::from_millis(200));
        if self.shown && due {
            eprint!("\r{}\x1b[K", self.line());
            self.drawn = Some(Instant::now());
        }
    }

    fn finish(&self) {
        if self.shown {
            eprintln!("\r{}\x1b[K", self.line());
        }
    }

    fn line(&self) -> String {
        let seconds = self.started.elapsed().as_secs_f64().max(0.001);
        let rows = self
            .rows
            .as_ref()
            .map(|rows| format!(", {} rows", rows.count()))
            .unwrap_or_default();
        format!(
            "exported {}{rows} in {seconds:.1} s ({}/s)",
            human_bytes(self.bytes as f64),
            human_bytes(self.bytes as f64 / seconds)
        )
    }
}

fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_records_not_lines() {
        let mut csv = Progress::new(FileFormat::Csv, false);
        csv.add(b"id,data\r\n1,\"{\"\"a\"\":\r\n");
        csv.add(b"\"\"two lines\"\"}\"\r\n2,{}\r\n");
        assert_eq!(csv.rows.as_ref().map(Rows::count), Some(2));
        let mut ndjson = Progress::new(FileFormat::Ndjson, false);
        ndjson.add(b"{}\n{}\n{");
        assert_eq!(ndjson.rows.as_ref().map(Rows::count), Some(2));
        assert!(Progress::new(FileFormat::Parquet, false).rows.is_none());
    }

    #[test]
    fn the_progress_line_gives_bytes_rows_and_rate() {
        let mut progress = Progress::new(FileFormat::Ndjson, false);
        progress.add(&b"{}\n".repeat(1000));
        let line = progress.line();
        assert!(line.starts_with("exported 3.0 KB, 1000 rows in "), "{line}");
        assert!(line.ends_with("/s)"), "{line}");
        assert_eq!(human_bytes(999.0), "999 B");
        assert_eq!(human_bytes(1_500_000.0), "1.5 MB");
    }
}
