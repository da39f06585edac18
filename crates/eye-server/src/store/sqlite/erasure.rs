//! Erasure jobs on SQLite: the job rows, their steps (each one short transaction that
//! deletes some of the sessions' rows and adds them to the job's counts), suppressions, and
//! the look-up `write_batch` makes so that no erased session comes back from the queue.

use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::session_repair::{add_removed, repair};
use crate::auth::keys::redact;
use crate::model::QueueMessage;
use crate::model::timestamp::Micros;
use crate::store::erasure_guard::{
    BatchSessions, Guard, decode_sessions, encode_sessions, error_session_forms, new_erasure_id,
    unfinished,
};
use crate::store::lifecycle::{Erasure, ErasureRequest, ErasureStatus, Suppression};
use crate::store::rollup::RollupDelta;
use crate::store::session_fold::Removed;

/// Events of the sessions in the JSON array `?1` (of application `?2` when not NULL), at
/// most `?3`, by `events_by_session`.
pub(crate) const ERASE_EVENTS: &str = "DELETE FROM events WHERE id IN
        (SELECT id FROM events WHERE session_id IN (SELECT value FROM json_each(?1))
            AND (?2 IS NULL OR app = ?2) LIMIT ?3)
     RETURNING session_id, app, category, name, ts";

/// Error records of those sessions, by `errors_by_session`.
pub(crate) const ERASE_ERRORS: &str = "DELETE FROM errors WHERE id IN
        (SELECT id FROM errors WHERE session_id IN (SELECT value FROM json_each(?1))
            AND (?2 IS NULL OR app = ?2) LIMIT ?3)";

/// Jobs not finished, and jobs finished at or after `?1`: by `erasures_by_status` and
/// `erasures_by_completion`.
pub(crate) const JOBS_THAT_COVER: &str =
    "SELECT session_ids, app, status, completed_at FROM erasures
        WHERE status IN ('pending', 'running')
     UNION ALL
     SELECT session_ids, app, status, completed_at FROM erasures WHERE completed_at >= ?1";

const COLUMNS: &str = "id, requested_at, requested_by, app, session_ids, suppress, status, \
                       completed_at, events_deleted, errors_deleted, failure";

fn conversion(
    index: usize,
    error: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(error))
}

fn sessions_from_row(row: &Row<'_>, index: usize) -> rusqlite::Result<Vec<String>> {
    decode_sessions(&row.get::<_, String>(index)?).map_err(|e| conversion(index, e))
}

fn status_from_row(row: &Row<'_>, index: usize) -> rusqlite::Result<ErasureStatus> {
    let text: String = row.get(index)?;
    ErasureStatus::parse(&text).ok_or_else(|| {
        conversion(
            index,
            std::io::Error::other(format!("erasure status {text:?}")),
        )
    })
}

fn erasure_from_row(row: &Row<'_>) -> rusqlite::Result<Erasure> {
    Ok(Erasure {
        id: row.get(0)?,
        requested_at: row.get(1)?,
        request: ErasureRequest {
            requested_by: row.get(2)?,
            app: row.get(3)?,
            session_ids: sessions_from_row(row, 4)?,
            suppress: row.get(5)?,
        },
        status: status_from_row(row, 6)?,
        completed_at: row.get(7)?,
        events_deleted: row.get::<_, i64>(8)?.max(0) as u64,
        errors_deleted: row.get::<_, i64>(9)?.max(0) as u64,
        failure: row.get(10)?,
    })
}

/// Records a pending job and, when it suppresses, its sessions' suppressions.
pub fn create(
    connection: &mut Connection,
    request: ErasureRequest,
    at: Micros,
) -> rusqlite::Result<Erasure> {
    let erasure = Erasure {
        id: new_erasure_id(),
        request,
        status: ErasureStatus::Pending,
        requested_at: at,
        completed_at: None,
        events_deleted: 0,
        errors_deleted: 0,
        failure: None,
    };
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !insert(&transaction, &erasure)? {
        // A fresh id that another job has (64 random bits): never silently dropped.
        return Err(rusqlite::Error::StatementChangedRows(0));
    }
    transaction.commit()?;
    Ok(erasure)
}

/// Stores a job exported from another store as it is, with its suppressions; false when a
/// job has its id already.
pub fn import(connection: &mut Connection, erasure: &Erasure) -> rusqlite::Result<bool> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let inserted = insert(&transaction, erasure)?;
    transaction.commit()?;
    Ok(inserted)
}

/// Inserts the job's row unless its id exists, and then, when it suppresses, a
/// suppression per session (one an earlier job made stays that job's).
fn insert(connection: &Connection, erasure: &Erasure) -> rusqlite::Result<bool> {
    let request = &erasure.request;
    let inserted = connection
        .prepare_cached(&format!(
            "INSERT INTO erasures ({COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (id) DO NOTHING"
        ))?
        .execute(params![
            erasure.id,
            erasure.requested_at,
            request.requested_by,
            request.app,
            encode_sessions(&request.session_ids),
            request.suppress,
            erasure.status.as_str(),
            erasure.completed_at,
            erasure.events_deleted as i64,
            erasure.errors_deleted as i64,
            erasure.failure,
        ])?;
    if inserted == 0 {
        return Ok(false);
    }
    if request.suppress {
        let mut suppress = connection.prepare_cached(
            "INSERT OR IGNORE INTO suppressed_sessions
                (session_id, app, redacted_session_id, erasure_id, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for session_id in &request.session_ids {
            suppress.execute(params![
                session_id,
                request.app,
                redact(session_id),
                erasure.id,
                erasure.requested_at
            ])?;
        }
    }
    Ok(true)
}

pub fn get(connection: &Connection, id: &str) -> rusqlite::Result<Option<Erasure>> {
    connection
        .prepare_cached(&format!("SELECT {COLUMNS} FROM erasures WHERE id = ?1"))?
        .query_row([id], erasure_from_row)
        .optional()
}

pub fn list(connection: &Connection, limit: usize) -> rusqlite::Result<Vec<Erasure>> {
    connection
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM erasures ORDER BY requested_at DESC, id DESC LIMIT ?1"
        ))?
        .query_map([limit as i64], erasure_from_row)?
        .collect()
}

/// Jobs in the order they were requested, after (`requested_at`, `id`) `after`.
pub fn export(
    connection: &Connection,
    after: Option<(Micros, &str)>,
    limit: usize,
) -> rusqlite::Result<Vec<Erasure>> {
    let limit = limit.min(i64::MAX as usize) as i64;
    let Some((at, id)) = after else {
        return connection
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM erasures ORDER BY requested_at, id LIMIT ?1"
            ))?
            .query_map([limit], erasure_from_row)?
            .collect();
    };
    connection
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM erasures WHERE (requested_at, id) > (?1, ?2)
             ORDER BY requested_at, id LIMIT ?3"
        ))?
        .query_map(params![at, id, limit], erasure_from_row)?
        .collect()
}

/// Claims the oldest job not finished, marking it running.
pub fn next(connection: &Connection) -> rusqlite::Result<Option<Erasure>> {
    connection
        .prepare_cached(&format!(
            "UPDATE erasures SET status = 'running' WHERE id =
                (SELECT id FROM erasures WHERE status IN ('pending', 'running')
                 ORDER BY requested_at, id LIMIT 1)
             RETURNING {COLUMNS}"
        ))?
        .query_row([], erasure_from_row)
        .optional()
}

/// One step of job `id`: up to `limit` rows of its sessions, events first (their sessions
/// corrected at once), then error records, then what is left of the summaries. `None` when
/// there is no such job; 0 when nothing is left (or the job is finished).
pub fn step(connection: &mut Connection, id: &str, limit: usize) -> rusqlite::Result<Option<u64>> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let Some(job) = get(&transaction, id)? else {
        return Ok(None);
    };
    if !unfinished(job.status) {
        return Ok(Some(0));
    }
    let sessions = encode_sessions(&job.request.session_ids);
    let app = job.request.app.as_deref();
    let mut budget = limit as i64;
    let events = delete_events(&transaction, &sessions, app, budget)?;
    budget -= events as i64;
    let errors = if budget > 0 {
        let forms = encode_sessions(&error_session_forms(&job.request.session_ids));
        transaction
            .prepare_cached(ERASE_ERRORS)?
            .execute(params![forms, app, budget])? as u64
    } else {
        0
    };
    budget -= errors as i64;
    let summaries = if budget > 0 {
        delete_leftover_summaries(&transaction, &sessions, app, budget)?
    } else {
        0
    };
    transaction
        .prepare_cached(
            "UPDATE erasures SET events_deleted = events_deleted + ?2,
                errors_deleted = errors_deleted + ?3 WHERE id = ?1",
        )?
        .execute(params![id, events as i64, errors as i64])?;
    transaction.commit()?;
    Ok(Some(events + errors + summaries))
}

fn delete_events(
    connection: &Connection,
    sessions: &str,
    app: Option<&str>,
    limit: i64,
) -> rusqlite::Result<u64> {
    let mut removed = Removed::default();
    {
        let mut delete = connection.prepare_cached(ERASE_EVENTS)?;
        let mut rows = delete.query(params![sessions, app, limit])?;
        while let Some(row) = rows.next()? {
            add_removed(&mut removed, row)?;
        }
    }
    repair(connection, &removed)?;
    Ok(removed.count)
}

/// Summaries (or, for one application, application links) of the job's sessions that no
/// event backs any more; repairs remove them as events go, so these are only strays.
fn delete_leftover_summaries(
    connection: &Connection,
    sessions: &str,
    app: Option<&str>,
    limit: i64,
) -> rusqlite::Result<u64> {
    let Some(app) = app else {
        let links = connection
            .prepare_cached(
                "DELETE FROM session_apps WHERE session_id IN (SELECT value FROM json_each(?1))
                    AND NOT EXISTS (SELECT 1 FROM events WHERE events.session_id = session_apps.session_id)",
            )?
            .execute([sessions])?;
        connection
            .prepare_cached(
                "DELETE FROM session_types WHERE session_id IN (SELECT value FROM json_each(?1))
                    AND NOT EXISTS (SELECT 1 FROM events WHERE events.session_id = session_types.session_id)",
            )?
            .execute([sessions])?;
        connection
            .prepare_cached(
                "DELETE FROM session_users WHERE session_id IN (SELECT value FROM json_each(?1))
                    AND NOT EXISTS (SELECT 1 FROM events WHERE events.session_id = session_users.session_id)",
            )?
            .execute([sessions])?;
        let mut starts = RollupDelta::default();
        let summaries = connection
            .prepare_cached(
                "DELETE FROM sessions WHERE session_id IN
                    (SELECT session_id FROM sessions WHERE session_id IN (SELECT value FROM json_each(?1))
                        AND NOT EXISTS (SELECT 1 FROM events WHERE events.session_id = sessions.session_id)
                     LIMIT ?2)
                 RETURNING first_ts",
            )?
            .query_map(params![sessions, limit], |row| row.get::<_, i64>(0))?
            .map(|first| first.map(|first| starts.session_start_moved(Some(first), None)))
            .collect::<rusqlite::Result<Vec<()>>>()?
            .len();
        super::rollups::apply(connection, &starts)?;
        return Ok((links + summaries) as u64);
    };
    let links = connection
        .prepare_cached(
            "DELETE FROM session_apps WHERE app = ?2 AND session_id IN (SELECT value FROM json_each(?1))
                AND NOT EXISTS (SELECT 1 FROM events INDEXED BY events_by_session
                                WHERE events.session_id = session_apps.session_id AND events.app = ?2)",
        )?
        .execute(params![sessions, app])?;
    Ok(links as u64)
}

/// Marks job `id` done (or failed with `failure`) at `at`; a finished job stays as it was.
pub fn finish(
    connection: &Connection,
    id: &str,
    at: Micros,
    failure: Option<String>,
) -> rusqlite::Result<Option<Erasure>> {
    let status = if failure.is_some() {
        ErasureStatus::Failed
    } else {
        ErasureStatus::Done
    };
    // Read under the writer's lock: every batch that still saw the job running (and so left
    // out what it covered) committed before now, with messages received before now. A time
    // taken before the lock could precede some of them, making their absence a loss.
    let at = at.max(crate::model::timestamp::now_micros());
    connection
        .prepare_cached(
            "UPDATE erasures SET status = ?2, completed_at = ?3, failure = ?4
             WHERE id = ?1 AND status IN ('pending', 'running')",
        )?
        .execute(params![id, status.as_str(), at, failure])?;
    get(connection, id)
}

pub fn suppressions(connection: &Connection) -> rusqlite::Result<Vec<Suppression>> {
    connection
        .prepare_cached("SELECT session_id, app FROM suppressed_sessions ORDER BY session_id, app")?
        .query_map([], |row| {
            Ok(Suppression {
                session_id: row.get(0)?,
                app: row.get(1)?,
            })
        })?
        .collect()
}

/// The erasures and suppressions that may cover messages of this batch: jobs not finished,
/// jobs finished since its oldest message was received (both from an index, and normally
/// none), and the suppressions of its sessions (one indexed look-up per distinct session,
/// skipped when no session is suppressed).
pub fn guard(connection: &Connection, messages: &[QueueMessage]) -> rusqlite::Result<Guard> {
    let batch = BatchSessions::of(messages);
    let mut guard = Guard::default();
    let Some(oldest) = batch.oldest else {
        return Ok(guard);
    };
    let mut jobs = connection.prepare_cached(JOBS_THAT_COVER)?;
    let mut rows = jobs.query([oldest])?;
    while let Some(row) = rows.next()? {
        let until = match status_from_row(row, 2)? {
            status if unfinished(status) => None,
            _ => row.get(3)?,
        };
        guard.add(sessions_from_row(row, 0)?, row.get(1)?, until);
    }
    let any_suppressed: bool = connection
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM suppressed_sessions)")?
        .query_row([], |row| row.get(0))?;
    if !any_suppressed {
        return Ok(guard);
    }
    let mut by_event = connection
        .prepare_cached("SELECT session_id, app FROM suppressed_sessions WHERE session_id = ?1")?;
    let mut by_error = connection.prepare_cached(
        "SELECT session_id, app FROM suppressed_sessions
         WHERE redacted_session_id = ?1 OR session_id = ?1",
    )?;
    for (statement, sessions) in [
        (&mut by_event, &batch.events),
        (&mut by_error, &batch.errors),
    ] {
        for session in sessions {
            let mut rows = statement.query([session])?;
            while let Some(row) = rows.next()? {
                guard.add(vec![row.get(0)?], row.get(1)?, None);
            }
        }
    }
    Ok(guard)
}
