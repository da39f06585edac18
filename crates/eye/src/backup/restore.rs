//! `eye restore`: a backup file checked and copied into a new data directory, then opened as
//! a store so that a backup from an older version is migrated to this one's schema.
//!
//! The checks run on the copy (never on the backup file itself, which stays untouched), and
//! the copy becomes `eye.db` only once they passed. A restore that fails leaves the directory
//! as it found it: removed when it made it, empty when it was given an empty one.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use eye_server::store::SqliteStore;
use rusqlite::{Connection, ErrorCode, OpenFlags};
use serde::Serialize;

use super::files::{self, Partial};
use super::summary::{self, Contents};
use super::{RestoreArgs, STORE_FILE};

/// Problems of a failed integrity check shown in the message.
const PROBLEMS_SHOWN: usize = 5;
/// Entries of a directory that is not empty named in the message.
const NAMES_SHOWN: usize = 3;

#[derive(Serialize)]
struct Report<'a> {
    data_dir: &'a Path,
    store: &'a Path,
    from: &'a Path,
    bytes: u64,
    seconds: f64,
    integrity: &'static str,
    #[serde(flatten)]
    contents: &'a Contents,
}

pub async fn run(args: RestoreArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let from = files::absolute(&args.from);
    check_backup(&from)?;
    let dir = files::absolute(&args.data_dir);
    let made = prepare(&dir)?;
    let restored = restore(&from, &dir).await;
    let contents = match restored {
        Ok(contents) => contents,
        Err(error) => {
            undo(&dir, made.as_deref());
            return Err(error);
        }
    };
    let store = dir.join(STORE_FILE);
    let bytes = std::fs::metadata(&store)?.len();
    let headline = format!(
        "restored {} into {} ({}, integrity check ok); serve it with: eye serve --data-dir {}",
        from.display(),
        store.display(),
        crate::output::byte_size(bytes),
        dir.display()
    );
    let report = Report {
        data_dir: &dir,
        store: &store,
        from: &from,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
        integrity: "ok",
        contents: &contents,
    };
    summary::print(args.format.format, &report, &headline, &contents)
}

/// Refuses a `--from` that is not a file, or not a SQLite database.
fn check_backup(from: &Path) -> anyhow::Result<()> {
    let meta = std::fs::metadata(from).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => anyhow::anyhow!("{} does not exist", from.display()),
        _ => anyhow::Error::new(error).context(format!("reading {}", from.display())),
    })?;
    anyhow::ensure!(
        !meta.is_dir(),
        "{} is a directory: give the backup file `eye backup --to` wrote",
        from.display()
    );
    anyhow::ensure!(
        files::is_sqlite(from)?,
        "{} is not a backup of The Eye (not a SQLite database)",
        from.display()
    );
    Ok(())
}

/// Makes sure `dir` is a directory with nothing in it, making it when it is not there. The
/// outermost directory made here, if any.
fn prepare(dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            let mut names: Vec<String> = entries
                .map_while(Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect();
            if names.is_empty() {
                return Ok(None);
            }
            names.sort();
            let more = names.len().saturating_sub(NAMES_SHOWN);
            names.truncate(NAMES_SHOWN);
            let held = match more {
                0 => names.join(", "),
                _ => format!("{} and {more} more", names.join(", ")),
            };
            anyhow::bail!(
                "{} is not empty (it holds {held}): restore into a new or empty directory; a \
                 restore never replaces what is there",
                dir.display()
            )
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let outermost = dir
                .ancestors()
                .take_while(|ancestor| !ancestor.exists())
                .last()
                .unwrap_or(dir)
                .to_owned();
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the data directory {}", dir.display()))?;
            files::sync_dir(&files::parent(&outermost))?;
            Ok(Some(outermost))
        }
        Err(_) if dir.exists() && !dir.is_dir() => anyhow::bail!(
            "{} is a file: give a new or empty directory to restore into",
            dir.display()
        ),
        Err(error) => Err(error).with_context(|| format!("reading {}", dir.display())),
    }
}

/// Copies, checks and opens the backup as `dir`'s store; what it holds.
async fn restore(from: &Path, dir: &Path) -> anyhow::Result<Contents> {
    let store = dir.join(STORE_FILE);
    let partial = Partial::beside(&store)?;
    std::fs::copy(from, partial.path())
        .with_context(|| format!("copying {} into {}", from.display(), dir.display()))?;
    let (checked, from_owned) = (partial.path().to_owned(), from.to_owned());
    tokio::task::spawn_blocking(move || check_copy(&checked, &from_owned))
        .await
        .context("the check stopped")??;
    partial.commit(&store)?;
    // Opening it as a store applies the migrations this version has and the backup lacks.
    let opened = dir.to_owned();
    tokio::task::spawn_blocking(move || SqliteStore::open(&opened).map(drop))
        .await
        .context("opening the restored store stopped")?
        .with_context(|| format!("opening the restored store {}", store.display()))?;
    let connection = Connection::open_with_flags(&store, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    Ok(Contents::read(&connection)?)
}

/// Refuses a copy that is not an Eye store, or that SQLite finds damaged.
fn check_copy(copy: &Path, from: &Path) -> anyhow::Result<()> {
    let refused = |error: rusqlite::Error| match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt) => damaged(from, &error.to_string()),
        _ => anyhow::anyhow!(
            "{} is not a backup of The Eye (a SQLite database without The Eye's tables): {error}",
            from.display()
        ),
    };
    let connection =
        Connection::open_with_flags(copy, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(refused)?;
    let found = || -> rusqlite::Result<(i64, bool)> {
        let version = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        Ok((version, summary::has_table(&connection, "events")?))
    };
    let (version, events) = found().map_err(refused)?;
    anyhow::ensure!(
        version >= 1 && events,
        "{} is not a backup of The Eye (a SQLite database without The Eye's tables)",
        from.display()
    );
    let problems = integrity_problems(&connection).map_err(refused)?;
    if !problems.is_empty() {
        let shown: Vec<&str> = problems
            .iter()
            .take(PROBLEMS_SHOWN)
            .map(String::as_str)
            .collect();
        return Err(damaged(from, &shown.join("; ")));
    }
    // A backup written as a copy of a live `eye.db` may say WAL; the restored store is one
    // file until `eye serve` opens it.
    connection.pragma_update(None, "journal_mode", "DELETE")?;
    Ok(())
}

fn damaged(from: &Path, problem: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{} is damaged (SQLite's integrity check: {problem}): restore another backup",
        from.display()
    )
}

/// What `PRAGMA integrity_check` reports, nothing when it says `ok`.
fn integrity_problems(connection: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut statement = connection.prepare("PRAGMA integrity_check")?;
    let lines = statement
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(lines.into_iter().filter(|line| line != "ok").collect())
}

/// Leaves `dir` as the restore found it: `made` (the outermost directory the restore made)
/// removed, or else `dir` emptied again.
fn undo(dir: &Path, made: Option<&Path>) {
    if let Some(made) = made {
        let _ = std::fs::remove_dir_all(made);
        return;
    }
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.map_while(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    for entry in entries {
        let _ = std::fs::remove_file(&entry);
    }
}
