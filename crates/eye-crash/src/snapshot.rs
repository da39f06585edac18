//! The store read directly, in one consistent snapshot, beside the server rather than
//! through it: whether every session summary agrees with its events (the claim that a sweep
//! or an erasure killed at any moment leaves no half state), how many events are older than
//! a cut-off, and an erasure's row. SQLite is opened read-only, so reading the file a
//! SIGKILL left changes nothing the restarted server will find; PostgreSQL is read in a
//! repeatable-read, read-only transaction.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use rusqlite::{OpenFlags, OptionalExtension};

/// Where the store is.
#[derive(Clone)]
pub enum StoreFile {
    Sqlite(PathBuf),
    Postgres { url: String, schema: String },
}

/// What to read besides the summaries.
#[derive(Clone, Default)]
pub struct Probe {
    /// Count the events with a timestamp before this (µs since the epoch).
    pub before_micros: Option<i64>,
    /// Read this erasure's status and `events_deleted`.
    pub erasure: Option<String>,
}

/// One reading of the store.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub events: u64,
    pub sessions: u64,
    /// Summaries whose first or last timestamp or count disagrees with their events, or
    /// that no event backs.
    pub wrong_summaries: u64,
    /// Sessions with events but no summary.
    pub unsummarised: u64,
    /// Session-application links with no event of that application, or missing.
    pub wrong_links: u64,
    /// A few session ids of the above, for the message.
    pub examples: Vec<String>,
    pub events_before: Option<u64>,
    pub erasure: Option<(String, u64)>,
    /// How long the reading took.
    pub took: std::time::Duration,
}

impl Snapshot {
    pub fn disagreements(&self) -> u64 {
        self.wrong_summaries + self.unsummarised + self.wrong_links
    }

    pub fn describe(&self) -> String {
        format!(
            "{} events, {} sessions: {} summaries disagree with their events, {} sessions \
             have no summary, {} application links are wrong (e.g. {:?})",
            self.events,
            self.sessions,
            self.wrong_summaries,
            self.unsummarised,
            self.wrong_links,
            self.examples
        )
    }
}

/// The per-session aggregate each summary is compared with; the same text on both stores.
const AGGREGATE: &str = "(SELECT session_id, min(ts) AS first_ts, max(ts) AS last_ts,
                                 count(*) AS n FROM events GROUP BY session_id)";

fn wrong_summaries(select: &str) -> String {
    format!(
        "SELECT {select} FROM sessions s LEFT JOIN {AGGREGATE} e ON e.session_id = s.session_id
          WHERE e.n IS NULL OR e.first_ts <> s.first_ts OR e.last_ts <> s.last_ts
                OR e.n <> s.event_count"
    )
}

const UNSUMMARISED: &str = "SELECT count(DISTINCT session_id) FROM events e
     WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = e.session_id)";

/// Links no event of their application backs, and pairs of events without a link; each side
/// joined to the other's distinct pairs (an index look-up each, on both stores).
const WRONG_LINKS: &str = "SELECT
     (SELECT count(*) FROM session_apps l
        LEFT JOIN (SELECT DISTINCT session_id, app FROM events) p
          ON p.session_id = l.session_id AND p.app = l.app
       WHERE p.session_id IS NULL)
   + (SELECT count(*) FROM (SELECT DISTINCT session_id, app FROM events) p
        LEFT JOIN session_apps l ON l.session_id = p.session_id AND l.app = p.app
       WHERE l.session_id IS NULL)";

const TOTALS: &str = "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM sessions)";

const ERASURE: &str = "SELECT status, events_deleted FROM erasures WHERE id = $1";

/// Reads the store once.
pub async fn read(store: &StoreFile, probe: &Probe) -> anyhow::Result<Snapshot> {
    let started = std::time::Instant::now();
    let mut snapshot = match store {
        StoreFile::Sqlite(path) => {
            let (path, probe) = (path.clone(), probe.clone());
            tokio::task::spawn_blocking(move || read_sqlite(&path, &probe)).await?
        }
        StoreFile::Postgres { url, schema } => read_postgres(url, schema, probe).await,
    }?;
    snapshot.took = started.elapsed();
    Ok(snapshot)
}

fn read_sqlite(path: &PathBuf, probe: &Probe) -> anyhow::Result<Snapshot> {
    let mut connection = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {} read-only", path.display()))?;
    connection.busy_timeout(Duration::from_secs(10))?;
    // One read transaction: every figure comes from the same snapshot.
    let transaction = connection.transaction()?;
    let count = |sql: &str| -> rusqlite::Result<u64> {
        transaction
            .query_row(sql, [], |row| row.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
    };
    let (events, sessions) = transaction.query_row(TOTALS, [], |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
    })?;
    let examples = transaction
        .prepare(&format!("{} LIMIT 5", wrong_summaries("s.session_id")))?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    let events_before = match probe.before_micros {
        Some(micros) => Some(
            transaction
                .query_row(
                    "SELECT count(*) FROM events WHERE ts < $1",
                    [micros],
                    |row| row.get::<_, i64>(0),
                )?
                .max(0) as u64,
        ),
        None => None,
    };
    let erasure = match &probe.erasure {
        Some(id) => transaction
            .query_row(ERASURE, [id], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?.max(0) as u64,
                ))
            })
            .optional()?,
        None => None,
    };
    Ok(Snapshot {
        events: events.max(0) as u64,
        sessions: sessions.max(0) as u64,
        wrong_summaries: count(&wrong_summaries("count(*)"))?,
        unsummarised: count(UNSUMMARISED)?,
        wrong_links: count(WRONG_LINKS)?,
        examples,
        events_before,
        erasure,
        took: Duration::ZERO,
    })
}

async fn read_postgres(url: &str, schema: &str, probe: &Probe) -> anyhow::Result<Snapshot> {
    let (mut client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connecting to PostgreSQL at {url}"))?;
    tokio::spawn(connection);
    client
        .batch_execute(&format!("SET search_path TO {schema}"))
        .await?;
    let transaction = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let count = async |sql: &str| -> anyhow::Result<u64> {
        let n: i64 = transaction.query_one(sql, &[]).await?.get(0);
        Ok(n.max(0) as u64)
    };
    let totals = transaction.query_one(TOTALS, &[]).await?;
    let (events, sessions): (i64, i64) = (totals.get(0), totals.get(1));
    let examples = transaction
        .query(&format!("{} LIMIT 5", wrong_summaries("s.session_id")), &[])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let events_before = match probe.before_micros {
        Some(micros) => {
            let n: i64 = transaction
                .query_one(
                    "SELECT count(*) FROM events WHERE ts < to_timestamp($1::bigint / 1000000.0)",
                    &[&micros],
                )
                .await?
                .get(0);
            Some(n.max(0) as u64)
        }
        None => None,
    };
    let erasure = match &probe.erasure {
        Some(id) => transaction
            .query_opt(ERASURE, &[id])
            .await?
            .map(|row| (row.get(0), row.get::<_, i64>(1).max(0) as u64)),
        None => None,
    };
    let snapshot = Snapshot {
        events: events.max(0) as u64,
        sessions: sessions.max(0) as u64,
        wrong_summaries: count(&wrong_summaries("count(*)")).await?,
        unsummarised: count(UNSUMMARISED).await?,
        wrong_links: count(WRONG_LINKS).await?,
        examples,
        events_before,
        erasure,
        took: Duration::ZERO,
    };
    transaction.commit().await?;
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tables the check reads, as the server's first migration makes them.
    const TABLES: &str = "
        CREATE TABLE events (id INTEGER PRIMARY KEY, app TEXT NOT NULL,
                             session_id TEXT NOT NULL, ts INTEGER NOT NULL);
        CREATE TABLE sessions (session_id TEXT PRIMARY KEY, first_ts INTEGER NOT NULL,
                               last_ts INTEGER NOT NULL, event_count INTEGER NOT NULL);
        CREATE TABLE session_apps (session_id TEXT NOT NULL, app TEXT NOT NULL,
                                   PRIMARY KEY (session_id, app));
        CREATE TABLE erasures (id TEXT PRIMARY KEY, status TEXT NOT NULL,
                               events_deleted INTEGER NOT NULL);
        INSERT INTO events (app, session_id, ts) VALUES ('a', 's', 10), ('b', 's', 20), ('a', 't', 5);
        INSERT INTO sessions VALUES ('s', 10, 20, 2), ('t', 5, 5, 1);
        INSERT INTO session_apps VALUES ('s', 'a'), ('s', 'b'), ('t', 'a');
        INSERT INTO erasures VALUES ('era_1', 'running', 1000);
    ";

    fn reading(change: &str) -> Snapshot {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("eye.db");
        let connection = rusqlite::Connection::open(&path).expect("a database");
        connection.execute_batch(TABLES).expect("the tables");
        connection.execute_batch(change).expect("the change");
        drop(connection);
        let probe = Probe {
            before_micros: Some(15),
            erasure: Some("era_1".to_owned()),
        };
        read_sqlite(&path, &probe).expect("a reading")
    }

    #[test]
    fn a_store_whose_summaries_agree_reads_clean() {
        let clean = reading("");
        assert_eq!(
            (clean.events, clean.sessions, clean.disagreements()),
            (3, 2, 0)
        );
        assert_eq!(clean.events_before, Some(2));
        assert_eq!(clean.erasure, Some(("running".to_owned(), 1000)));
    }

    #[test]
    fn every_kind_of_half_state_is_found() {
        // An event deleted without its summary corrected.
        let stale = reading("DELETE FROM events WHERE ts = 20");
        assert_eq!((stale.wrong_summaries, stale.wrong_links), (1, 1));
        assert_eq!(stale.examples, ["s"]);
        // A summary left with no event.
        assert_eq!(
            reading("DELETE FROM events WHERE session_id = 't'").wrong_summaries,
            1
        );
        // A summary deleted while its events stay.
        let orphans = reading("DELETE FROM sessions WHERE session_id = 't'");
        assert_eq!(orphans.unsummarised, 1);
        // An application link missing.
        assert_eq!(
            reading("DELETE FROM session_apps WHERE app = 'b'").wrong_links,
            1
        );
    }
}
