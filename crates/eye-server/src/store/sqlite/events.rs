//! Events and session summaries: the worker's idempotent batch write and the event queries.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use uuid::Uuid;

use super::error_records::insert_error;
use crate::model::{EventRecord, QueueMessage};
use crate::store::session_fold::SessionFold;
use crate::store::{BatchOutcome, EventQuery, Order, SessionSummary};

pub fn write_batch(
    connection: &mut Connection,
    messages: &[QueueMessage],
) -> rusqlite::Result<BatchOutcome> {
    let transaction = connection.transaction()?;
    let mut outcome = BatchOutcome::default();
    let mut sessions = SessionFold::default();
    for message in messages {
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
    write_sessions(&transaction, &sessions)?;
    transaction.commit()?;
    Ok(outcome)
}

/// Inserts one event unless its id or (app, event_id) is already stored. Returns whether it
/// was inserted: only those count in their session, so redeliveries never inflate a summary.
fn insert_event(connection: &Connection, event: &EventRecord) -> rusqlite::Result<bool> {
    let inserted = connection
        .prepare_cached(
            "INSERT OR IGNORE INTO events
             (id, app, session_id, category, name, ts, received_at, event_id, schema_version, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
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
        ])?;
    Ok(inserted > 0)
}

/// Upserts each session summary and application link the batch changed, once each.
fn write_sessions(connection: &Connection, fold: &SessionFold) -> rusqlite::Result<()> {
    let mut upsert = connection.prepare_cached(
        "INSERT INTO sessions (session_id, first_ts, last_ts, event_count) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (session_id) DO UPDATE SET
            first_ts = min(first_ts, excluded.first_ts),
            last_ts = max(last_ts, excluded.last_ts),
            event_count = event_count + excluded.event_count",
    )?;
    for (session_id, change) in &fold.sessions {
        upsert.execute(params![
            session_id,
            change.first_ts,
            change.last_ts,
            change.count
        ])?;
    }
    let mut link = connection
        .prepare_cached("INSERT OR IGNORE INTO session_apps (session_id, app) VALUES (?1, ?2)")?;
    for (session_id, app) in &fold.apps {
        link.execute(params![session_id, app])?;
    }
    Ok(())
}

const EVENT_COLUMNS: &str =
    "id, app, session_id, category, name, ts, received_at, event_id, schema_version, data";

pub fn query(connection: &Connection, query: &EventQuery) -> rusqlite::Result<Vec<EventRecord>> {
    let mut sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE 1 = 1");
    let mut values: Vec<SqlValue> = Vec::new();
    push_equalities(
        &mut sql,
        &mut values,
        &[
            ("session_id", &query.session_id),
            ("category", &query.category),
            ("name", &query.name),
            ("app", &query.app),
        ],
    );
    push_range_and_page(
        &mut sql,
        &mut values,
        "ts",
        query.from,
        query.to,
        query.order,
        query.after,
        query.limit,
    );
    let mut statement = connection.prepare_cached(&sql)?;
    let rows = statement.query_map(params_from_iter(values), event_from_row)?;
    rows.collect()
}

/// Appends `AND column = ?` for every filter that is set.
pub fn push_equalities(
    sql: &mut String,
    values: &mut Vec<SqlValue>,
    filters: &[(&str, &Option<String>)],
) {
    for (column, filter) in filters {
        if let Some(value) = filter {
            sql.push_str(&format!(" AND {column} = ?"));
            values.push(SqlValue::Text(value.clone()));
        }
    }
}

/// Appends the time range, the keyset position, the order and the limit (plus one, so the
/// caller knows whether another page follows).
#[allow(clippy::too_many_arguments)]
pub fn push_range_and_page(
    sql: &mut String,
    values: &mut Vec<SqlValue>,
    time_column: &str,
    from: Option<i64>,
    to: Option<i64>,
    order: Order,
    after: Option<crate::store::Position>,
    limit: usize,
) {
    if let Some(from) = from {
        sql.push_str(&format!(" AND {time_column} >= ?"));
        values.push(SqlValue::Integer(from));
    }
    if let Some(to) = to {
        sql.push_str(&format!(" AND {time_column} < ?"));
        values.push(SqlValue::Integer(to));
    }
    let (comparison, direction) = match order {
        Order::Asc => (">", "ASC"),
        Order::Desc => ("<", "DESC"),
    };
    if let Some(after) = after {
        sql.push_str(&format!(" AND ({time_column}, id) {comparison} (?, ?)"));
        values.push(SqlValue::Integer(after.at));
        values.push(SqlValue::Blob(after.id.as_bytes().to_vec()));
    }
    sql.push_str(&format!(
        " ORDER BY {time_column} {direction}, id {direction} LIMIT ?"
    ));
    values.push(SqlValue::Integer(limit as i64 + 1));
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
