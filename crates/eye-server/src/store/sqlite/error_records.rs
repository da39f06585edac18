//! The error store: idempotent inserts, filtered pages and counts.

use rusqlite::{Connection, Row, params, params_from_iter};

use super::events::{SqliteStatement, uuid_from_row};
use crate::model::ErrorEntry;
use crate::model::timestamp::Micros;
use crate::store::select;
use crate::store::{ErrorCounts, ErrorQuery, split_hours};

pub fn insert_error(connection: &Connection, entry: &ErrorEntry) -> rusqlite::Result<bool> {
    let inserted = connection
        .prepare_cached(
            "INSERT OR IGNORE INTO errors
             (id, received_at, app, code, message, path, category, name, session_id, schema_version, raw)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?
        .execute(params![
            entry.id.as_bytes(),
            entry.received_at,
            entry.app,
            entry.code,
            entry.message,
            entry.path,
            entry.category,
            entry.name,
            entry.session_id,
            entry.schema_version,
            entry.raw,
        ])?;
    if inserted == 1 {
        connection
            .prepare_cached(
                "INSERT INTO error_hourly (hour, code, category, name, count) VALUES (?1, ?2, ?3, ?4, 1)
                 ON CONFLICT (hour, code, category, name) DO UPDATE SET count = count + 1",
            )?
            .execute(params![
                entry.received_at.div_euclid(3_600_000_000) * 3_600_000_000,
                entry.code,
                entry.category.as_deref().unwrap_or(""),
                entry.name.as_deref().unwrap_or(""),
            ])?;
    }
    Ok(inserted == 1)
}

pub fn query(connection: &Connection, query: &ErrorQuery) -> rusqlite::Result<Vec<ErrorEntry>> {
    let mut statement = SqliteStatement::new(
        "SELECT id, received_at, app, code, message, path, category, name, session_id, schema_version, raw,
                replayed_at, replayed_event_id
         FROM errors WHERE 1 = 1",
    );
    select::error_filters(&mut statement, query);
    select::page(
        &mut statement,
        "received_at",
        query.order,
        query.after,
        query.limit,
    );
    let mut prepared = connection.prepare_cached(&statement.text)?;
    let rows = prepared.query_map(params_from_iter(statement.values), error_from_row)?;
    rows.collect()
}

/// How many errors match the filters and time range of `query`.
pub fn count(connection: &Connection, query: &ErrorQuery) -> rusqlite::Result<u64> {
    let mut statement = SqliteStatement::new("SELECT COUNT(*) FROM errors WHERE 1 = 1");
    select::error_filters(&mut statement, query);
    let count: i64 = connection
        .prepare_cached(&statement.text)?
        .query_row(params_from_iter(statement.values), |row| row.get(0))?;
    Ok(count.max(0) as u64)
}

fn error_from_row(row: &Row<'_>) -> rusqlite::Result<ErrorEntry> {
    Ok(ErrorEntry {
        id: uuid_from_row(row, 0)?,
        received_at: row.get(1)?,
        app: row.get(2)?,
        code: row.get(3)?,
        message: row.get(4)?,
        path: row.get(5)?,
        category: row.get(6)?,
        name: row.get(7)?,
        session_id: row.get(8)?,
        schema_version: row.get(9)?,
        raw: row.get(10)?,
        replayed_at: row.get(11)?,
        replayed_event_id: match row.get::<_, Option<Vec<u8>>>(12)? {
            Some(bytes) => uuid::Uuid::from_slice(&bytes).ok(),
            None => None,
        },
    })
}

/// Counts over `[from, to)`: whole hours from `error_hourly`, the edges from `errors`.
pub fn counts(
    connection: &Connection,
    from: Option<Micros>,
    to: Option<Micros>,
) -> rusqlite::Result<ErrorCounts> {
    let Some(split) = split_hours(from, to) else {
        return exact_counts(connection, from, to);
    };
    let mut counts = hourly_counts(connection, split.hours)?;
    for (start, end) in split.edges {
        if start < end {
            counts.merge(exact_counts(connection, Some(start), Some(end))?);
        }
    }
    Ok(counts.sorted())
}

fn hourly_counts(
    connection: &Connection,
    (start, end): (i64, i64),
) -> rusqlite::Result<ErrorCounts> {
    let by_code = connection
        .prepare_cached("SELECT code, SUM(count) FROM error_hourly WHERE hour >= ?1 AND hour < ?2 GROUP BY code")?
        .query_map(params![start, end], |row| Ok((row.get(0)?, row.get::<_, i64>(1)? as u64)))?
        .collect::<rusqlite::Result<_>>()?;
    let by_event_type = connection
        .prepare_cached(
            "SELECT category, name, SUM(count) FROM error_hourly WHERE hour >= ?1 AND hour < ?2 AND category != ''
             GROUP BY category, name",
        )?
        .query_map(params![start, end], |row| Ok((row.get(0)?, row.get(1)?, row.get::<_, i64>(2)? as u64)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(ErrorCounts {
        by_code,
        by_event_type,
    })
}

fn exact_counts(
    connection: &Connection,
    from: Option<Micros>,
    to: Option<Micros>,
) -> rusqlite::Result<ErrorCounts> {
    let range = params![from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX)];
    let by_code = connection
        .prepare_cached(
            "SELECT code, COUNT(*) FROM errors WHERE received_at >= ?1 AND received_at < ?2
             GROUP BY code ORDER BY code",
        )?
        .query_map(range, |row| Ok((row.get(0)?, row.get::<_, i64>(1)? as u64)))?
        .collect::<rusqlite::Result<_>>()?;
    let by_event_type = connection
        .prepare_cached(
            "SELECT category, name, COUNT(*) FROM errors
             WHERE received_at >= ?1 AND received_at < ?2 AND category IS NOT NULL AND name IS NOT NULL
             GROUP BY category, name ORDER BY COUNT(*) DESC, category, name",
        )?
        .query_map(range, |row| Ok((row.get(0)?, row.get(1)?, row.get::<_, i64>(2)? as u64)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(ErrorCounts {
        by_code,
        by_event_type,
    })
}

pub fn mark_replayed(
    connection: &mut Connection,
    replayed: &[(uuid::Uuid, uuid::Uuid)],
    at: Micros,
) -> rusqlite::Result<()> {
    let transaction = connection.transaction()?;
    {
        let mut update = transaction.prepare_cached(
            "UPDATE errors SET replayed_at = ?2, replayed_event_id = ?3 WHERE id = ?1 AND replayed_at IS NULL",
        )?;
        for (error_id, event_id) in replayed {
            update.execute(params![error_id.as_bytes(), at, event_id.as_bytes()])?;
        }
    }
    transaction.commit()
}
