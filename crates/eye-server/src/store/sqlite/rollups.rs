//! The counts of `store::rollup` on SQLite: applied inside the transaction that changed the
//! events, and read back by bucket range from their primary keys.

use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::events::SqliteStatement;
use crate::model::timestamp::Micros;
use crate::store::rollup::{CountQuery, CountRow, Interval, RollupDelta};

/// Adds `delta` to the counters; a counter brought to zero goes.
pub fn apply(connection: &Connection, delta: &RollupDelta) -> rusqlite::Result<()> {
    let mut add_event = connection.prepare_cached(
        "INSERT INTO event_counts (span, bucket, app, category, name, count)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (span, bucket, app, category, name) DO UPDATE SET count = count + excluded.count",
    )?;
    let mut take_event = connection.prepare_cached(
        "UPDATE event_counts SET count = count + ?6
         WHERE span = ?1 AND bucket = ?2 AND app = ?3 AND category = ?4 AND name = ?5
         RETURNING count",
    )?;
    let mut forget_event = connection.prepare_cached(
        "DELETE FROM event_counts
         WHERE span = ?1 AND bucket = ?2 AND app = ?3 AND category = ?4 AND name = ?5",
    )?;
    for ((span, bucket, app, category, name), change) in delta.event_changes() {
        let key = params![span, bucket, app, category, name, change];
        if change > 0 {
            add_event.execute(key)?;
        } else {
            let left: Option<i64> = take_event.query_row(key, |row| row.get(0)).optional()?;
            if left.is_some_and(|left| left <= 0) {
                forget_event.execute(params![span, bucket, app, category, name])?;
            }
        }
    }
    let mut add_start = connection.prepare_cached(
        "INSERT INTO session_starts (span, bucket, count) VALUES (?1, ?2, ?3)
         ON CONFLICT (span, bucket) DO UPDATE SET count = count + excluded.count",
    )?;
    let mut forget_start = connection.prepare_cached(
        "DELETE FROM session_starts WHERE span = ?1 AND bucket = ?2 AND count <= 0",
    )?;
    for ((span, bucket), change) in delta.session_start_changes() {
        add_start.execute(params![span, bucket, change])?;
        if change < 0 {
            forget_start.execute(params![span, bucket])?;
        }
    }
    Ok(())
}

/// The counts of `query`, one row per bucket and group that has any.
pub fn counts(connection: &Connection, query: &CountQuery) -> rusqlite::Result<Vec<CountRow>> {
    let mut statement = SqliteStatement::new("");
    crate::store::rollup::count_statement(&mut statement, query);
    let mut prepared = connection.prepare_cached(&statement.text)?;
    let rows = prepared.query_map(params_from_iter(statement.values), |row| {
        Ok(CountRow {
            bucket: row.get(0)?,
            app: row.get(1)?,
            category: row.get(2)?,
            name: row.get(3)?,
            count: row.get::<_, i64>(4)?.max(0) as u64,
        })
    })?;
    rows.collect()
}

/// Sessions per bucket of their first event, in `[from, to)`.
pub fn session_starts(
    connection: &Connection,
    interval: Interval,
    from: Micros,
    to: Micros,
) -> rusqlite::Result<Vec<(Micros, u64)>> {
    connection
        .prepare_cached(
            "SELECT bucket, count FROM session_starts
             WHERE span = ?1 AND bucket >= ?2 AND bucket < ?3 AND count > 0 ORDER BY bucket",
        )?
        .query_map(params![interval.seconds(), from, to], |row| {
            Ok((row.get(0)?, row.get::<_, i64>(1)?.max(0) as u64))
        })?
        .collect()
}
