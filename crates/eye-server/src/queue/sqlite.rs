//! The embedded queue: a SQLite table in `queue.db` (WAL, full sync), written by one thread
//! that commits every publish waiting at that moment in one transaction (group commit), so
//! many concurrent requests share one fsync.

use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, params};
use tokio::sync::{Notify, oneshot};

use super::{Delivery, Queue, QueueError};
use crate::model::QueueMessage;
use crate::wal_checkpoint::{self, Checkpointer};

/// Publishes merged into one transaction at most; bounds a commit's size and latency.
const MAX_COMMANDS_PER_COMMIT: usize = 512;

type Reply = oneshot::Sender<Result<(), String>>;

enum Command {
    Publish(Vec<Vec<u8>>, Reply),
    Ack(Vec<i64>, Reply),
}

pub struct SqliteQueue {
    commands: Mutex<mpsc::Sender<Command>>,
    reader: Arc<Mutex<Connection>>,
    depth: Arc<AtomicU64>,
    max_depth: u64,
    delivered_up_to: AtomicI64,
    arrivals: Arc<Notify>,
    _checkpointer: Checkpointer,
}

impl SqliteQueue {
    /// Opens (creating if needed) the queue in `dir/queue.db`. Messages left unacknowledged
    /// by an earlier process are delivered again.
    pub fn open(dir: &Path, max_depth: u64) -> Result<SqliteQueue, QueueError> {
        std::fs::create_dir_all(dir).map_err(|e| unavailable(&e))?;
        let path = dir.join("queue.db");
        let writer = open_connection(&path).map_err(|e| unavailable(&e))?;
        wal_checkpoint::bound_log(&writer, wal_checkpoint::QUEUE_LOG_PAGES)
            .map_err(|e| unavailable(&e))?;
        writer
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS messages (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    body BLOB NOT NULL
                );",
            )
            .map_err(|e| unavailable(&e))?;
        let waiting: i64 = writer
            .query_row("SELECT COUNT(*) FROM messages", [], |row| row.get(0))
            .map_err(|e| unavailable(&e))?;
        let reader = open_connection(&path).map_err(|e| unavailable(&e))?;
        let depth = Arc::new(AtomicU64::new(waiting as u64));
        let arrivals = Arc::new(Notify::new());
        let (sender, receiver) = mpsc::channel();
        let writer_depth = Arc::clone(&depth);
        let writer_arrivals = Arc::clone(&arrivals);
        std::thread::Builder::new()
            .name("eye-queue-writer".into())
            .spawn(move || write_loop(writer, receiver, &writer_depth, &writer_arrivals))
            .map_err(|e| unavailable(&e))?;
        let checkpointer =
            Checkpointer::start(&path, "eye-queue-checkpoint").map_err(|e| unavailable(&e))?;
        Ok(SqliteQueue {
            _checkpointer: checkpointer,
            commands: Mutex::new(sender),
            reader: Arc::new(Mutex::new(reader)),
            depth,
            max_depth,
            delivered_up_to: AtomicI64::new(0),
            arrivals,
        })
    }

    async fn send(&self, command: impl FnOnce(Reply) -> Command) -> Result<(), QueueError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .send(command(reply))
            .map_err(|_| QueueError::Unavailable("the queue writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| QueueError::Unavailable("the queue writer has stopped".into()))?
            .map_err(QueueError::Unavailable)
    }
}

fn read_after(
    reader: &Mutex<Connection>,
    after: i64,
    max: usize,
) -> rusqlite::Result<Vec<(i64, Vec<u8>)>> {
    let reader = reader
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut statement = reader
        .prepare_cached("SELECT seq, body FROM messages WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
    let rows = statement.query_map(params![after, max as i64], |row| {
        Ok((row.get(0)?, row.get(1)?))
    })?;
    rows.collect()
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn publish(&self, messages: Vec<QueueMessage>) -> Result<(), QueueError> {
        let depth = self.depth.load(Ordering::Relaxed);
        if depth + messages.len() as u64 > self.max_depth {
            return Err(QueueError::Full {
                depth,
                max: self.max_depth,
            });
        }
        let bodies = messages
            .iter()
            .map(serde_json::to_vec)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| QueueError::Unavailable(e.to_string()))?;
        self.send(|reply| Command::Publish(bodies, reply)).await
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let after = self.delivered_up_to.load(Ordering::Acquire);
            let reader = Arc::clone(&self.reader);
            let rows = tokio::task::spawn_blocking(move || read_after(&reader, after, max))
                .await
                .map_err(|e| unavailable(&e))?
                .map_err(|e| unavailable(&e))?;
            if let Some((last, _)) = rows.last() {
                self.delivered_up_to.store(*last, Ordering::Release);
                return Ok(decode(rows));
            }
            if tokio::time::timeout_at(deadline, self.arrivals.notified())
                .await
                .is_err()
            {
                return Ok(Vec::new());
            }
        }
    }

    async fn ack(&self, tokens: Vec<u64>) -> Result<(), QueueError> {
        if tokens.is_empty() {
            return Ok(());
        }
        let seqs = tokens.into_iter().map(|token| token as i64).collect();
        self.send(|reply| Command::Ack(seqs, reply)).await
    }

    async fn depth(&self) -> Result<u64, QueueError> {
        Ok(self.depth.load(Ordering::Relaxed))
    }
}

/// Messages that cannot be decoded were written by an incompatible build; they are logged
/// and skipped rather than blocking the queue forever.
fn decode(rows: Vec<(i64, Vec<u8>)>) -> Vec<Delivery> {
    rows.into_iter()
        .filter_map(|(seq, body)| match serde_json::from_slice(&body) {
            Ok(message) => Some(Delivery {
                token: seq as u64,
                message,
                attempts: 1,
            }),
            Err(error) => {
                tracing::error!(seq, %error, "skipping an undecodable queue message");
                None
            }
        })
        .collect()
}

fn write_loop(
    mut connection: Connection,
    commands: mpsc::Receiver<Command>,
    depth: &AtomicU64,
    arrivals: &Notify,
) {
    // The connection opens with `synchronous=FULL`; `commit` switches it only on a change.
    let mut fsynced = true;
    while let Ok(first) = commands.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_COMMANDS_PER_COMMIT {
            match commands.try_recv() {
                Ok(command) => batch.push(command),
                Err(_) => break,
            }
        }
        let outcome = commit(&mut connection, &batch, &mut fsynced);
        match &outcome {
            Ok((published, acked)) => {
                let _ = depth.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
                    Some((now + published).saturating_sub(*acked))
                });
                if *published > 0 {
                    arrivals.notify_one();
                }
            }
            Err(error) => tracing::error!(%error, "queue commit failed"),
        }
        let reply = outcome.map(|_| ()).map_err(|e| e.to_string());
        for command in batch {
            let (Command::Publish(_, sender) | Command::Ack(_, sender)) = command;
            let _ = sender.send(reply.clone());
        }
    }
}

/// Writes every command of `batch` in one transaction; returns (published, acknowledged).
///
/// Only publishes need their commit fsynced. A commit of acknowledgements alone is not
/// (`synchronous=NORMAL` for that transaction): a power cut may undo it, and then the
/// messages are delivered again and the store, which ignores what it already holds, changes
/// nothing. The next fsynced commit makes it durable along with everything before it in the
/// log.
/// `fsynced` is the connection's current mode, kept so the pragma runs only on a change.
fn commit(
    connection: &mut Connection,
    batch: &[Command],
    fsynced: &mut bool,
) -> rusqlite::Result<(u64, u64)> {
    let durable = batch
        .iter()
        .any(|command| matches!(command, Command::Publish(..)));
    if durable != *fsynced {
        connection.pragma_update(None, "synchronous", if durable { "FULL" } else { "NORMAL" })?;
        *fsynced = durable;
    }
    let transaction = connection.transaction()?;
    let (mut published, mut acked) = (0, 0);
    {
        let mut insert = transaction.prepare_cached("INSERT INTO messages (body) VALUES (?1)")?;
        let mut delete =
            transaction.prepare_cached("DELETE FROM messages WHERE seq BETWEEN ?1 AND ?2")?;
        for command in batch {
            match command {
                Command::Publish(bodies, _) => {
                    for body in bodies {
                        insert.execute([body])?;
                        published += 1;
                    }
                }
                Command::Ack(seqs, _) => {
                    for (first, last) in runs(seqs) {
                        acked += delete.execute([first, last])? as u64;
                    }
                }
            }
        }
    }
    transaction.commit()?;
    Ok((published, acked))
}

/// Sorted sequence numbers as inclusive runs of consecutive values: a batch is usually one
/// run, deleted with one statement.
fn runs(seqs: &[i64]) -> Vec<(i64, i64)> {
    let mut sorted = seqs.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut runs: Vec<(i64, i64)> = Vec::new();
    for seq in sorted {
        match runs.last_mut() {
            Some((_, last)) if *last + 1 == seq => *last = seq,
            _ => runs.push((seq, seq)),
        }
    }
    runs
}

fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(Duration::from_secs(5))?;
    // WAL with FULL sync: every commit is fsynced before the publish is answered.
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    // Checkpoints are the checkpoint thread's job, off the publish path (the writer finishes
    // one only when the log grows long: see `wal_checkpoint`).
    connection.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(connection)
}

fn unavailable(error: &dyn std::fmt::Display) -> QueueError {
    QueueError::Unavailable(error.to_string())
}

#[cfg(test)]
mod run_tests {
    use super::runs;

    #[test]
    fn consecutive_sequences_collapse_into_runs() {
        assert_eq!(
            runs(&[5, 3, 4, 9, 10, 12, 4]),
            vec![(3, 5), (9, 10), (12, 12)]
        );
        assert!(runs(&[]).is_empty());
    }
}
