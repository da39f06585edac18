//! `eye backup`: `VACUUM INTO` a file beside the destination, from a connection of its own.
//!
//! `VACUUM INTO` reads the whole database inside one read transaction, so the copy is the
//! store as of one moment, and in WAL mode a reader never blocks the writer: the worker goes
//! on storing batches meanwhile. While that transaction is open, checkpoints cannot copy the
//! log past the moment it started, so the write-ahead log grows for the length of the backup
//! and is caught up by the next checkpoint after it. SQLite's online backup API was the other
//! candidate, but it starts over whenever another connection writes, so under steady ingest
//! it may never finish.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use eye_server::config::{Config, Overrides};
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use super::files::{self, Partial};
use super::summary::{self, Contents};
use super::{BackupArgs, STORE_FILE};
use crate::{admin_store, logging};

#[derive(Serialize)]
struct Report<'a> {
    backup: &'a Path,
    bytes: u64,
    seconds: f64,
    store: &'a Path,
    #[serde(flatten)]
    contents: &'a Contents,
}

pub async fn run(args: BackupArgs) -> anyhow::Result<()> {
    let overrides = Overrides {
        data_dir: args.store.data_dir.clone(),
        store: args.store.store.clone(),
        ..Overrides::default()
    };
    let config = Config::load(args.store.config.as_deref(), overrides)?;
    logging::init(config.log_format);
    anyhow::ensure!(!config.uses_postgres(), postgres_advice(&config.store));
    let store = source(&config.data_dir)?;
    eprintln!("store: {}", store.display());
    let destination = files::absolute(&args.to);
    check_destination(&destination, &store, args.force)?;

    let started = Instant::now();
    let partial = Partial::beside(&destination)?;
    snapshot(&store, partial.path()).await?;
    let contents = seal(partial.path())?;
    let bytes = std::fs::metadata(partial.path())?.len();
    partial.commit(&destination)?;
    let seconds = started.elapsed().as_secs_f64();

    let headline = format!(
        "backed up {} to {} ({}) in {}",
        store.display(),
        destination.display(),
        crate::output::byte_size(bytes),
        duration(started.elapsed()),
    );
    let report = Report {
        backup: &destination,
        bytes,
        seconds,
        store: &store,
        contents: &contents,
    };
    summary::print(args.format.format, &report, &headline, &contents)
}

/// What `eye backup` says about a PostgreSQL store: its own tools do this better.
fn postgres_advice(url: &str) -> String {
    format!(
        "eye backup copies the embedded store; the store here is PostgreSQL ({}). Back it up \
         with PostgreSQL's own tools: `pg_dump --format=custom --file=eye.dump \"$EYE_STORE\"` \
         (restored into a new database with `pg_restore`), or continuous archiving with \
         `pg_basebackup` for point-in-time recovery. README, \"Backup and restore\", shows \
         the commands",
        admin_store::without_password(url)
    )
}

/// The store file of `data_dir`, refused when it is not there.
fn source(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let dir = files::absolute(data_dir);
    let file = dir.join(STORE_FILE);
    match std::fs::metadata(&dir) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "the data directory {} does not exist: give the one `eye serve` uses with \
             --data-dir or EYE_DATA_DIR",
            dir.display()
        ),
        Err(error) => Err(error).with_context(|| format!("reading {}", dir.display())),
        Ok(meta) if !meta.is_dir() => anyhow::bail!(
            "the data directory {} is a file, not a directory",
            dir.display()
        ),
        Ok(_) if !file.is_file() => anyhow::bail!(
            "found no store in {} (no {STORE_FILE}): give the data directory `eye serve` uses \
             with --data-dir or EYE_DATA_DIR",
            dir.display()
        ),
        Ok(_) => Ok(file),
    }
}

/// Refuses a destination that would lose something: an existing file without `--force`, a
/// directory, the store itself, or a directory that is not there.
fn check_destination(destination: &Path, store: &Path, force: bool) -> anyhow::Result<()> {
    let dir = files::parent(destination);
    anyhow::ensure!(
        dir.is_dir(),
        "cannot write the backup to {}: the directory {} does not exist",
        destination.display(),
        dir.display()
    );
    anyhow::ensure!(
        destination.to_str().is_some(),
        "cannot write the backup to {}: give a path in UTF-8",
        destination.display()
    );
    let store_dir = store.parent().and_then(|dir| dir.canonicalize().ok());
    let names_a_store_file = destination.file_name().is_some_and(|name| {
        let name = name.to_string_lossy();
        ["", "-wal", "-shm", "-journal"]
            .iter()
            .any(|suffix| name == format!("{STORE_FILE}{suffix}"))
    });
    anyhow::ensure!(
        !(names_a_store_file && store_dir.is_some() && store_dir == dir.canonicalize().ok()),
        "{} is a file of the store itself: write the backup somewhere else",
        destination.display()
    );
    let Ok(meta) = std::fs::metadata(destination) else {
        return Ok(());
    };
    anyhow::ensure!(
        !meta.is_dir(),
        "{} is a directory: give the path of the backup file to write, e.g. {}",
        destination.display(),
        destination.join("eye-backup.db").display()
    );
    anyhow::ensure!(
        force,
        "{} already exists: give another path, or --force to replace it",
        destination.display()
    );
    Ok(())
}

/// Copies the store at `store` into `to`, a file that does not exist yet. Ctrl-C stops the
/// copy and leaves nothing behind.
async fn snapshot(store: &Path, to: &Path) -> anyhow::Result<()> {
    // Read-only: a backup never changes the store (not even a checkpoint when it closes).
    let connection = Connection::open_with_flags(
        store,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {}", store.display()))?;
    connection.busy_timeout(Duration::from_secs(5))?;
    let version: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .with_context(|| format!("reading {}", store.display()))?;
    anyhow::ensure!(
        version >= 1,
        "{} is not a store of The Eye (it has none of its tables)",
        store.display()
    );
    let interrupt = connection.get_interrupt_handle();
    let target = to.to_str().context("a backup path in UTF-8")?.to_owned();
    let mut copy = tokio::task::spawn_blocking(move || {
        connection.execute("VACUUM INTO ?1", [target]).map(drop)
    });
    let copied = tokio::select! {
        copied = &mut copy => copied,
        _ = tokio::signal::ctrl_c() => {
            interrupt.interrupt();
            let _ = copy.await;
            anyhow::bail!("interrupted: no backup written");
        }
    };
    copied
        .context("the copy stopped")?
        .with_context(|| format!("copying {} to {}", store.display(), to.display()))
}

/// Makes the copy a self-contained file (no write-ahead log beside it) and reads what it holds.
fn seal(copy: &Path) -> anyhow::Result<Contents> {
    let connection = Connection::open_with_flags(copy, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .with_context(|| format!("opening the copy {}", copy.display()))?;
    let read = || -> rusqlite::Result<Contents> {
        connection.pragma_update(None, "journal_mode", "DELETE")?;
        Contents::read(&connection)
    };
    read().with_context(|| format!("reading the copy {}", copy.display()))
}

fn duration(elapsed: Duration) -> String {
    format!("{:.1} s", elapsed.as_secs_f64())
}
