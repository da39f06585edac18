//! Background checkpoints for the SQLite store.
//!
//! With SQLite's automatic checkpoints, the commit that crosses the write-ahead log's size
//! limit also copies the log into the database and fsyncs it, and the worker batch waiting
//! on that commit pays for it. Here a thread of its own runs a passive checkpoint every few
//! hundred milliseconds, which never blocks the writer and keeps each checkpoint small.
//!
//! A passive checkpoint racing a steady stream of commits never quite catches up, though, and
//! SQLite restarts the log from its beginning only after a checkpoint that copied all of it.
//! Alone, the thread let the logs grow without bound (85 MB in six seconds of single-event
//! ingest, when the queue was a SQLite database too), and every commit appended to freshly
//! allocated blocks, which made each fsync slower. So the one connection that writes the
//! store also checkpoints ([`bound_log`]) once its log passes a bound (64 MiB): the thread
//! has already copied nearly all of it, so this is short, and since nothing else writes it
//! completes; the next commit then restarts the log over blocks already allocated. Other
//! connections never checkpoint (`wal_autocheckpoint = 0`).

use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use rusqlite::Connection;

/// How often the log is copied into the database.
const INTERVAL: Duration = Duration::from_millis(200);

/// The store's log restarts past this many pages (64 MiB): a worker batch of 1,000 events
/// writes a few MiB of log, so a lower bound would make the worker finish checkpoints
/// itself every few batches, which is the thread's job.
pub const STORE_LOG_PAGES: u32 = 16_384;

/// Makes `connection`, the only one that writes its database, complete a checkpoint after
/// any commit that leaves the log longer than `pages`.
pub fn bound_log(connection: &Connection, pages: u32) -> rusqlite::Result<()> {
    connection.pragma_update(None, "wal_autocheckpoint", pages)
}

/// Keeps the checkpoint thread of one database running; the thread ends soon after this is
/// dropped.
pub struct Checkpointer {
    _alive: Arc<()>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path` (already in WAL mode) on a thread named
    /// `name`.
    pub fn start(path: &Path, name: &str) -> std::io::Result<Checkpointer> {
        let connection = Connection::open(path).map_err(std::io::Error::other)?;
        connection
            .busy_timeout(Duration::from_secs(5))
            .map_err(std::io::Error::other)?;
        let alive = Arc::new(());
        let watched = Arc::downgrade(&alive);
        let label = name.to_owned();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || run(&connection, &watched, &label))?;
        Ok(Checkpointer { _alive: alive })
    }
}

fn run(connection: &Connection, alive: &Weak<()>, name: &str) {
    loop {
        std::thread::sleep(INTERVAL);
        // Not once more after the store closed: its directory may be gone by now.
        if alive.strong_count() == 0 {
            return;
        }
        if let Err(error) = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(%error, thread = name, "checkpoint failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_is_copied_into_the_database_without_automatic_checkpoints() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("t.db");
        let writer = Connection::open(&path).expect("open");
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
                 CREATE TABLE t (v BLOB);",
            )
            .expect("setup");
        let _checkpointer = Checkpointer::start(&path, "test-checkpoint").expect("start");
        for _ in 0..200 {
            writer
                .execute("INSERT INTO t VALUES (zeroblob(8192))", [])
                .expect("insert");
        }
        let database = path.metadata().expect("db").len();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        // The main database file grows only through checkpoints.
        while path.metadata().expect("db").len() < 200 * 8192 {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint: the database stayed at {database} bytes"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
