//! Upgrading from the queue before the log: a SQLite table in `<data_dir>/queue.db`.
//!
//! Its messages are appended to the log in their order, synced, and only then is the old
//! database removed. A crash in between imports them again at the next start; they are then
//! delivered twice, which the store makes harmless (it ignores what it already holds).

use std::io;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::segment;
use super::writer::Writer;

const FILES: [&str; 3] = ["queue.db", "queue.db-wal", "queue.db-shm"];

/// Messages appended to the log per write while importing.
const CHUNK: usize = 1_000;

/// Moves the messages of `data_dir/queue.db`, if there is one, into the log; returns how many.
pub fn import(data_dir: &Path, writer: &mut Writer) -> io::Result<u64> {
    let path = data_dir.join(FILES[0]);
    if !path.exists() {
        return Ok(0);
    }
    let imported = append_messages(&path, writer)?;
    for file in FILES {
        match std::fs::remove_file(data_dir.join(file)) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
    }
    segment::sync_dir(data_dir)?;
    tracing::info!(
        imported,
        "moved the messages of queue.db into the queue log"
    );
    Ok(imported)
}

/// Streams the old table's messages into the log, a chunk per append.
fn append_messages(path: &Path, writer: &mut Writer) -> io::Result<u64> {
    let sqlite = io::Error::other;
    // Read-write, so that SQLite replays the database's write-ahead log if it has one.
    let connection =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(sqlite)?;
    let has_table: bool = connection
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'messages')",
            [],
            |row| row.get(0),
        )
        .map_err(sqlite)?;
    if !has_table {
        return Ok(0);
    }
    let mut statement = connection
        .prepare("SELECT body FROM messages ORDER BY seq")
        .map_err(sqlite)?;
    let mut rows = statement.query([]).map_err(sqlite)?;
    let (mut imported, mut chunk) = (0, Vec::with_capacity(CHUNK));
    while let Some(row) = rows.next().map_err(sqlite)? {
        chunk.push(row.get::<_, Vec<u8>>(0).map_err(sqlite)?);
        if chunk.len() == CHUNK {
            imported += writer.append(chunk.iter().map(Vec::as_slice))?;
            chunk.clear();
        }
    }
    imported += writer.append(chunk.iter().map(Vec::as_slice))?;
    Ok(imported)
}
