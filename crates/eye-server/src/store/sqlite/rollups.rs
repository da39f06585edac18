//! The counts of `store::rollup` on SQLite: applied inside the transaction that changed the
//! events, and read back by bucket range from their primary keys.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::events::SqliteStatement;
use crate::model::timestamp::Micros;
use crate::store::rollup::{
    CountQuery, CountRow, GroupBy, Interval, RollupDelta, reads_type_counts,
};

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
    let mut add_type = connection.prepare_cached(
        "INSERT INTO type_counts (span, bucket, category, name, count) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (span, bucket, category, name) DO UPDATE SET count = count + excluded.count",
    )?;
    let mut forget_type = connection.prepare_cached(
        "DELETE FROM type_counts
         WHERE span = ?1 AND bucket = ?2 AND category = ?3 AND name = ?4 AND count <= 0",
    )?;
    for ((span, bucket, category, name), change) in delta.type_changes() {
        add_type.execute(params![span, bucket, category, name, change])?;
        if change < 0 {
            forget_type.execute(params![span, bucket, category, name])?;
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
///
/// SQLite groups by sorting, so a `GROUP BY` that is not a prefix of the primary key
/// (`category, name` skips `app`) would sort every counter of the range. Grouped questions
/// therefore read the counters grouped by the whole key, which is the primary key's order
/// (a streaming pass, no sort), and add them up here.
pub fn counts(connection: &Connection, query: &CountQuery) -> rusqlite::Result<Vec<CountRow>> {
    if query.group_by == GroupBy::default() || reads_type_counts(query) {
        return select_counts(connection, query);
    }
    let every_field = CountQuery {
        group_by: GroupBy {
            app: true,
            category: true,
            name: true,
        },
        ..query.clone()
    };
    let group = query.group_by;
    // Names are interned as the rows go by (a look-up, no allocation, per row and field), and
    // only those of fields grouped by: a range holds tens of thousands of counters.
    let mut names: HashMap<String, u32> = HashMap::new();
    let mut intern = |name: &str| -> u32 {
        if let Some(id) = names.get(name) {
            return *id;
        }
        let id = names.len() as u32;
        names.insert(name.to_owned(), id);
        id
    };
    let mut sums: HashMap<(i64, u32, u32, u32), u64> = HashMap::new();
    let mut statement = SqliteStatement::new("");
    crate::store::rollup::count_statement(&mut statement, &every_field);
    let mut prepared = connection.prepare_cached(&statement.text)?;
    let mut rows = prepared.query(params_from_iter(statement.values))?;
    while let Some(row) = rows.next()? {
        let mut field = |index: usize, grouped: bool| -> rusqlite::Result<u32> {
            Ok(if grouped {
                intern(row.get_ref(index)?.as_str()?)
            } else {
                u32::MAX
            })
        };
        let key = (
            row.get(0)?,
            field(1, group.app)?,
            field(2, group.category)?,
            field(3, group.name)?,
        );
        *sums.entry(key).or_default() += row.get::<_, i64>(4)?.max(0) as u64;
    }
    let mut by_id = vec![String::new(); names.len()];
    for (name, id) in names {
        by_id[id as usize] = name;
    }
    let name = |id: u32| by_id.get(id as usize).cloned();
    Ok(sums
        .into_iter()
        .map(|((bucket, app, category, name_id), count)| CountRow {
            bucket,
            app: name(app),
            category: name(category),
            name: name(name_id),
            count,
        })
        .collect())
}

fn select_counts(connection: &Connection, query: &CountQuery) -> rusqlite::Result<Vec<CountRow>> {
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
