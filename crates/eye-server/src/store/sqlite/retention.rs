//! Retention on SQLite: expired events and error records deleted in short batches (one
//! short write transaction each), so the worker's commits and the queries never wait long
//! behind a sweep; and what the store holds.
//!
//! Every delete walks an index: the applications are listed by a skip scan of
//! `events_by_app` (`errors_by_app`), and each application's expired rows are the start of
//! its range there. An event's deduplication key is its own row (`events_dedup`), so it goes
//! with it. Deleted pages join SQLite's freelist and later inserts reuse them, so at a
//! steady rate with retention the file stops growing. `auto_vacuum` stays off: it would move
//! pages at every commit to give space back that the next inserts want again.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior, params};

use super::session_repair::{add_removed, repair};
use crate::store::lifecycle::{Cutoffs, StoreUsage};
use crate::store::session_fold::Removed;

/// One application's oldest expired events (`?1` the application, `?2` its cut-off, `?3`
/// how many at most), by `events_by_app`.
pub(crate) const DELETE_EXPIRED_EVENTS: &str = "DELETE FROM events WHERE id IN
        (SELECT id FROM events WHERE app = ?1 AND ts < ?2 ORDER BY ts LIMIT ?3)
     RETURNING session_id, app, category, name, ts";

/// One application's oldest expired error records, by `errors_by_app`.
pub(crate) const DELETE_EXPIRED_ERRORS: &str = "DELETE FROM errors WHERE id IN
        (SELECT id FROM errors WHERE app = ?1 AND received_at < ?2 ORDER BY received_at LIMIT ?3)";

/// Deletes up to `limit` events older than their application's cut-off, with their
/// sessions corrected in the same transaction. Returns how many went.
pub fn delete_expired_events(
    connection: &mut Connection,
    cutoffs: &Cutoffs,
    limit: usize,
) -> rusqlite::Result<u64> {
    if !cutoffs.any() || limit == 0 {
        return Ok(0);
    }
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut removed = Removed::default();
    for app in apps(&transaction, "events")? {
        let Some(cutoff) = cutoffs.cutoff_for(&app) else {
            continue;
        };
        let budget = limit as u64 - removed.count;
        if budget == 0 {
            break;
        }
        let mut delete = transaction.prepare_cached(DELETE_EXPIRED_EVENTS)?;
        let mut rows = delete.query(params![app, cutoff, budget as i64])?;
        while let Some(row) = rows.next()? {
            add_removed(&mut removed, row)?;
        }
    }
    repair(&transaction, &removed)?;
    transaction.commit()?;
    Ok(removed.count)
}

/// Deletes up to `limit` error records received before their application's cut-off. The
/// hourly counts stay.
pub fn delete_expired_errors(
    connection: &mut Connection,
    cutoffs: &Cutoffs,
    limit: usize,
) -> rusqlite::Result<u64> {
    if !cutoffs.any() || limit == 0 {
        return Ok(0);
    }
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut deleted = 0u64;
    for app in apps(&transaction, "errors")? {
        let Some(cutoff) = cutoffs.cutoff_for(&app) else {
            continue;
        };
        let budget = limit as u64 - deleted;
        if budget == 0 {
            break;
        }
        deleted += transaction
            .prepare_cached(DELETE_EXPIRED_ERRORS)?
            .execute(params![app, cutoff, budget as i64])? as u64;
    }
    transaction.commit()?;
    Ok(deleted)
}

/// The applications with rows in `table` (`events` or `errors`), by a skip scan of its
/// `(app, …)` index: one look-up per application, however many rows each has.
pub(crate) fn apps(connection: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    connection
        .prepare_cached(&apps_sql(table))?
        .query_map([], |row| row.get(0))?
        .collect()
}

pub(crate) fn apps_sql(table: &str) -> String {
    format!(
        "WITH RECURSIVE listed(app) AS (
            SELECT (SELECT min(app) FROM {table})
            UNION ALL
            SELECT (SELECT min(app) FROM {table} WHERE app > listed.app) FROM listed
            WHERE listed.app IS NOT NULL)
         SELECT app FROM listed WHERE app IS NOT NULL"
    )
}

/// The database file and its log on disk, exact counts, and the event time range (both
/// ends read from `events_by_time`).
pub fn usage(connection: &Connection, path: &Path) -> rusqlite::Result<StoreUsage> {
    let mut log = path.as_os_str().to_owned();
    log.push("-wal");
    let size = |file: &Path| file.metadata().map_or(0, |m| m.len());
    let (events, errors, oldest_event, newest_event) = connection
        .prepare_cached(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM errors),
                    (SELECT min(ts) FROM events), (SELECT max(ts) FROM events)",
        )?
        .query_row([], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get(2)?,
                row.get(3)?,
            ))
        })?;
    Ok(StoreUsage {
        bytes: size(path) + size(Path::new(&log)),
        events: events.max(0) as u64,
        errors: errors.max(0) as u64,
        oldest_event,
        newest_event,
    })
}
