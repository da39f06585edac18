//! Events and session summaries: the worker's idempotent batch write and the event queries.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params, params_from_iter};
use uuid::Uuid;

use super::erasure;
use super::error_records::insert_error;
use crate::model::{EventRecord, QueueMessage};
use crate::store::select::{self, Bound, Statement};
use crate::store::session_fold::SessionFold;
use crate::store::{BatchOutcome, EventQuery, SessionSummary};

/// Stores a batch in one transaction, leaving out the messages an erasure covers.
pub fn write_batch(
    connection: &mut Connection,
    messages: &[QueueMessage],
) -> rusqlite::Result<BatchOutcome> {
    // Immediate: the erasure look-up reads before the first write, and a deferred
    // transaction could not then take the write lock if another process had written.
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let guard = erasure::guard(&transaction, messages)?;
    let mut outcome = BatchOutcome::default();
    let mut sessions = SessionFold::default();
    for message in messages {
        if let Some(id) = guard.covered(message) {
            outcome.erased.push(id);
            continue;
        }
        match message {
            QueueMessage::Event(event) => {
                if insert_event(&transaction, event)? {
                    sessions.add(event);
                    outcome.stored += 1;
                } else {
                    outcome.duplicates += 1;
                }
            }
            QueueMessage::Error(entry) => {
                // A redelivered error is kept once and counted once, as on PostgreSQL.
                if insert_error(&transaction, entry)? {
                    outcome.errors += 1;
                }
            }
        }
    }
    write_sessions(&transaction, &mut sessions)?;
    super::rollups::apply(&transaction, &sessions.rollup)?;
    transaction.commit()?;
    Ok(outcome)
}

/// Inserts one event unless its id or (app, event_id) is already stored. Returns whether it
/// was inserted: only those count in their session, so redeliveries never inflate a summary.
fn insert_event(connection: &Connection, event: &EventRecord) -> rusqlite::Result<bool> {
    let inserted = connection
        .prepare_cached(
            "INSERT OR IGNORE INTO events
             (id, app, session_id, category, name, ts, received_at, event_id, schema_version, data,
              user_id, context, original_ts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )?
        .execute(params![
            event.id.as_bytes(),
            event.app,
            event.session_id,
            event.category,
            event.name,
            event.timestamp,
            event.received_at,
            event.event_id,
            event.schema_version,
            event.data,
            event.user_id,
            event.context,
            event.original_timestamp,
        ])?;
    Ok(inserted > 0)
}

/// Upserts each session summary, application link, event type and user the batch changed,
/// once each, and adds to the fold's counts where each session's first event moved.
fn write_sessions(connection: &Connection, fold: &mut SessionFold) -> rusqlite::Result<()> {
    let mut first =
        connection.prepare_cached("SELECT first_ts FROM sessions WHERE session_id = ?1")?;
    let mut upsert = connection.prepare_cached(
        "INSERT INTO sessions (session_id, first_ts, last_ts, event_count) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (session_id) DO UPDATE SET
            first_ts = min(first_ts, excluded.first_ts),
            last_ts = max(last_ts, excluded.last_ts),
            event_count = event_count + excluded.event_count
         RETURNING last_ts - first_ts",
    )?;
    let mut longest = 0i64;
    for (session_id, change) in &fold.sessions {
        let before: Option<i64> = first.query_row([session_id], |row| row.get(0)).optional()?;
        let after = before.map_or(change.first_ts, |before| before.min(change.first_ts));
        fold.rollup.session_start_moved(before, Some(after));
        let span: i64 = upsert.query_row(
            params![session_id, change.first_ts, change.last_ts, change.count],
            |row| row.get(0),
        )?;
        longest = longest.max(span);
    }
    connection
        .prepare_cached("UPDATE session_bounds SET max_span = ?1 WHERE max_span < ?1")?
        .execute([longest])?;
    let mut link = connection
        .prepare_cached("INSERT OR IGNORE INTO session_apps (session_id, app) VALUES (?1, ?2)")?;
    for (session_id, app) in &fold.apps {
        link.execute(params![session_id, app])?;
    }
    let mut kind = connection.prepare_cached(
        "INSERT OR IGNORE INTO session_types (session_id, category, name) VALUES (?1, ?2, ?3)",
    )?;
    for (session_id, category, name) in &fold.types {
        kind.execute(params![session_id, category, name])?;
    }
    let mut user = connection.prepare_cached(
        "INSERT OR IGNORE INTO session_users (session_id, user_id) VALUES (?1, ?2)",
    )?;
    for (session_id, user_id) in &fold.users {
        user.execute(params![session_id, user_id])?;
    }
    Ok(())
}

const EVENT_COLUMNS: &str = "id, app, session_id, category, name, ts, received_at, event_id, \
                             schema_version, data, user_id, context, original_ts";

pub fn query(connection: &Connection, query: &EventQuery) -> rusqlite::Result<Vec<EventRecord>> {
    let statement = query_statement(query);
    let mut prepared = connection.prepare_cached(&statement.text)?;
    let rows = prepared.query_map(params_from_iter(statement.values), event_from_row)?;
    rows.collect()
}

/// The `SELECT` of an event query, as [`query`] runs it (the query-plan test reads it).
pub(crate) fn query_statement(query: &EventQuery) -> SqliteStatement {
    let mut statement =
        SqliteStatement::new(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE 1 = 1"));
    select::event_filters(&mut statement, query);
    select::page(&mut statement, "ts", query.order, query.after, query.limit);
    statement
}

/// A statement with `?` placeholders and the values they stand for.
pub(crate) struct SqliteStatement {
    pub text: String,
    pub values: Vec<SqlValue>,
}

impl SqliteStatement {
    pub fn new(text: &str) -> SqliteStatement {
        SqliteStatement {
            text: text.to_owned(),
            values: Vec::new(),
        }
    }
}

impl Statement for SqliteStatement {
    fn push(&mut self, text: &str) {
        self.text.push_str(text);
    }

    fn bind(&mut self, value: Bound) -> String {
        self.values.push(match value {
            Bound::Text(text) => SqlValue::Text(text),
            Bound::Time(micros) => SqlValue::Integer(micros),
            Bound::Id(id) => SqlValue::Blob(id.as_bytes().to_vec()),
            Bound::Count(count) => SqlValue::Integer(count),
        });
        "?".to_owned()
    }
}

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<EventRecord> {
    Ok(EventRecord {
        id: uuid_from_row(row, 0)?,
        app: row.get(1)?,
        session_id: row.get(2)?,
        category: row.get(3)?,
        name: row.get(4)?,
        timestamp: row.get(5)?,
        received_at: row.get(6)?,
        event_id: row.get(7)?,
        schema_version: row.get(8)?,
        data: row.get(9)?,
        user_id: row.get(10)?,
        context: row.get(11)?,
        original_timestamp: row.get(12)?,
    })
}

pub fn uuid_from_row(row: &Row<'_>, index: usize) -> rusqlite::Result<Uuid> {
    let bytes: Vec<u8> = row.get(index)?;
    Uuid::from_slice(&bytes).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Blob, Box::new(e))
    })
}

pub fn session(
    connection: &Connection,
    session_id: &str,
) -> rusqlite::Result<Option<SessionSummary>> {
    let summary = connection
        .prepare_cached(
            "SELECT first_ts, last_ts, event_count FROM sessions WHERE session_id = ?1",
        )?
        .query_row([session_id], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get::<_, i64>(2)?))
        })
        .optional()?;
    let Some((first_timestamp, last_timestamp, event_count)) = summary else {
        return Ok(None);
    };
    let apps = connection
        .prepare_cached("SELECT app FROM session_apps WHERE session_id = ?1 ORDER BY app")?
        .query_map([session_id], |row| row.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(Some(SessionSummary {
        session_id: session_id.to_owned(),
        first_timestamp,
        last_timestamp,
        event_count: event_count as u64,
        apps,
    }))
}
