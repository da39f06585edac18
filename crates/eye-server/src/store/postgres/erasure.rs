//! Erasure jobs on PostgreSQL: the job rows, their steps (each one short transaction that
//! deletes some of the sessions' rows and adds them to the job's counts), suppressions, and
//! the look-up `write_batch` makes so that no erased session comes back from the queue.
//!
//! A batch holds [`ERASURE_LOCK`] shared for its whole transaction, and recording a job
//! takes it exclusively: a batch that looked before the job existed has committed before
//! the job does, so the job's steps see (and erase) its events.

use deadpool_postgres::Object;
use time::OffsetDateTime;
use tokio_postgres::{Error, Row, Transaction};

use super::retention::{self, DeletedKeys};
use super::session_repair::repair;
use super::sql::at;
use crate::auth::keys::redact;
use crate::model::QueueMessage;
use crate::model::timestamp::{Micros, to_micros};
use crate::store::erasure_guard::{
    BatchSessions, Guard, decode_sessions, encode_sessions, error_session_forms, new_erasure_id,
    unfinished,
};
use crate::store::lifecycle::{Erasure, ErasureRequest, ErasureStatus, Suppression};
use crate::store::rollup::RollupDelta;
use crate::store::session_fold::Removed;

/// Batches hold it shared, a new erasure exclusively (see the module's comment).
const ERASURE_LOCK: i64 = 0x00e7_e000_0002;

const COLUMNS: &str = "id, requested_at, requested_by, app, session_ids, suppress, status, \
                       completed_at, events_deleted, errors_deleted, failure";

/// A job row; a row this build cannot read (bad JSON, an unknown status) reads as a failed
/// job of no session rather than failing every listing.
fn erasure_from_row(row: &Row) -> Erasure {
    let sessions = decode_sessions(row.get(4));
    let status = ErasureStatus::parse(row.get(6));
    let readable = sessions.is_ok() && status.is_some();
    Erasure {
        id: row.get(0),
        requested_at: to_micros(row.get(1)),
        request: ErasureRequest {
            requested_by: row.get(2),
            app: row.get(3),
            session_ids: sessions.unwrap_or_default(),
            suppress: row.get(5),
        },
        status: status.unwrap_or(ErasureStatus::Failed),
        completed_at: row.get::<_, Option<OffsetDateTime>>(7).map(to_micros),
        events_deleted: row.get::<_, i64>(8).max(0) as u64,
        errors_deleted: row.get::<_, i64>(9).max(0) as u64,
        failure: if readable {
            row.get(10)
        } else {
            Some("this erasure's record cannot be read".to_owned())
        },
    }
}

/// Records a pending job and, when it suppresses, its sessions' suppressions.
pub async fn create(
    client: &mut Object,
    request: ErasureRequest,
    requested_at: Micros,
) -> Result<Erasure, Error> {
    let erasure = Erasure {
        id: new_erasure_id(),
        request,
        status: ErasureStatus::Pending,
        requested_at,
        completed_at: None,
        events_deleted: 0,
        errors_deleted: 0,
        failure: None,
    };
    let transaction = client.transaction().await?;
    insert(&transaction, &erasure, "").await?;
    transaction.commit().await?;
    Ok(erasure)
}

/// Stores a job exported from another store as it is, with its suppressions; false when a
/// job has its id already.
pub async fn import(client: &mut Object, erasure: &Erasure) -> Result<bool, Error> {
    let transaction = client.transaction().await?;
    let inserted = insert(&transaction, erasure, "ON CONFLICT (id) DO NOTHING").await?;
    transaction.commit().await?;
    Ok(inserted)
}

/// Takes [`ERASURE_LOCK`], inserts the job's row (`on_conflict` says what a taken id does),
/// and then, when it suppresses, a suppression per session (one an earlier job made stays
/// that job's).
async fn insert(
    transaction: &Transaction<'_>,
    erasure: &Erasure,
    on_conflict: &str,
) -> Result<bool, Error> {
    let request = &erasure.request;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&ERASURE_LOCK])
        .await?;
    let inserted = transaction
        .execute(
            &format!(
                "INSERT INTO erasures ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) {on_conflict}"
            ),
            &[
                &erasure.id,
                &at(erasure.requested_at),
                &request.requested_by,
                &request.app,
                &encode_sessions(&request.session_ids),
                &request.suppress,
                &erasure.status.as_str(),
                &erasure.completed_at.map(at),
                &(erasure.events_deleted.min(i64::MAX as u64) as i64),
                &(erasure.errors_deleted.min(i64::MAX as u64) as i64),
                &erasure.failure,
            ],
        )
        .await?;
    if inserted == 0 {
        return Ok(false);
    }
    if request.suppress {
        let redacted: Vec<String> = request
            .session_ids
            .iter()
            .map(|id| redact(id).into_owned())
            .collect();
        transaction
            .execute(
                "INSERT INTO suppressed_sessions (session_id, app, redacted_session_id, erasure_id, created_at)
                 SELECT s, $3, r, $4, $5 FROM unnest($1::text[], $2::text[]) AS u(s, r)
                 ON CONFLICT DO NOTHING",
                &[&request.session_ids, &redacted, &request.app, &erasure.id, &at(erasure.requested_at)],
            )
            .await?;
    }
    Ok(true)
}

pub async fn get(client: &Object, id: &str) -> Result<Option<Erasure>, Error> {
    let row = client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM erasures WHERE id = $1"),
            &[&id],
        )
        .await?;
    Ok(row.as_ref().map(erasure_from_row))
}

pub async fn list(client: &Object, limit: usize) -> Result<Vec<Erasure>, Error> {
    let rows = client
        .query(
            &format!("SELECT {COLUMNS} FROM erasures ORDER BY requested_at DESC, id DESC LIMIT $1"),
            &[&(limit as i64)],
        )
        .await?;
    Ok(rows.iter().map(erasure_from_row).collect())
}

/// Jobs in the order they were requested, after (`requested_at`, `id`) `after`.
pub async fn export(
    client: &Object,
    after: Option<(Micros, &str)>,
    limit: usize,
) -> Result<Vec<Erasure>, Error> {
    let limit = limit.min(i64::MAX as usize) as i64;
    let rows = match after {
        None => {
            client
                .query(
                    &format!("SELECT {COLUMNS} FROM erasures ORDER BY requested_at, id LIMIT $1"),
                    &[&limit],
                )
                .await?
        }
        Some((requested_at, id)) => {
            client
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM erasures WHERE (requested_at, id) > ($1, $2)
                         ORDER BY requested_at, id LIMIT $3"
                    ),
                    &[&at(requested_at), &id, &limit],
                )
                .await?
        }
    };
    Ok(rows.iter().map(erasure_from_row).collect())
}

/// Claims the oldest job not finished, marking it running.
pub async fn next(client: &Object) -> Result<Option<Erasure>, Error> {
    let row = client
        .query_opt(
            &format!(
                "UPDATE erasures SET status = 'running' WHERE id =
                    (SELECT id FROM erasures WHERE status IN ('pending', 'running')
                     ORDER BY requested_at, id LIMIT 1)
                 RETURNING {COLUMNS}"
            ),
            &[],
        )
        .await?;
    Ok(row.as_ref().map(erasure_from_row))
}

/// One step of job `id`: up to `limit` rows of its sessions, events first (with their keys,
/// their sessions corrected at once), then error records, then what is left of the
/// summaries. `None` when there is no such job; 0 when nothing is left (or it is finished).
/// The job's row is locked for the step, so two nodes running one job take turns.
pub async fn step(client: &mut Object, id: &str, limit: usize) -> Result<Option<u64>, Error> {
    let transaction = client.transaction().await?;
    let Some(row) = transaction
        .query_opt(
            &format!("SELECT {COLUMNS} FROM erasures WHERE id = $1 FOR UPDATE"),
            &[&id],
        )
        .await?
    else {
        return Ok(None);
    };
    let job = erasure_from_row(&row);
    if !unfinished(job.status) {
        return Ok(Some(0));
    }
    let sessions = &job.request.session_ids;
    let app = job.request.app.as_deref();
    let mut budget = limit as i64;
    let events = delete_events(&transaction, sessions, app, budget).await?;
    budget -= events as i64;
    let errors = if budget > 0 {
        transaction
            .execute(
                "DELETE FROM errors WHERE id IN
                    (SELECT id FROM errors WHERE session_id = ANY($1)
                        AND ($2::text IS NULL OR app = $2) LIMIT $3)",
                &[&error_session_forms(sessions), &app, &budget],
            )
            .await?
    } else {
        0
    };
    budget -= errors as i64;
    let summaries = if budget > 0 {
        delete_leftover_summaries(&transaction, sessions, app, budget).await?
    } else {
        0
    };
    transaction
        .execute(
            "UPDATE erasures SET events_deleted = events_deleted + $2,
                errors_deleted = errors_deleted + $3 WHERE id = $1",
            &[&id, &(events as i64), &(errors as i64)],
        )
        .await?;
    transaction.commit().await?;
    Ok(Some(events + errors + summaries))
}

async fn delete_events(
    transaction: &Transaction<'_>,
    sessions: &[String],
    app: Option<&str>,
    limit: i64,
) -> Result<u64, Error> {
    let chosen = transaction
        .query(
            "SELECT id, ts FROM events WHERE session_id = ANY($1)
                AND ($2::text IS NULL OR app = $2) LIMIT $3",
            &[&sessions, &app, &limit],
        )
        .await?;
    let mut removed = Removed::default();
    let mut keys = DeletedKeys::default();
    retention::delete_events(transaction, &chosen, &mut removed, &mut keys).await?;
    keys.delete(transaction).await?;
    repair(transaction, &removed).await?;
    Ok(removed.count)
}

/// Summaries (or, for one application, application links) of the job's sessions that no
/// event backs any more; repairs remove them as events go, so these are only strays.
async fn delete_leftover_summaries(
    transaction: &Transaction<'_>,
    sessions: &[String],
    app: Option<&str>,
    limit: i64,
) -> Result<u64, Error> {
    let Some(app) = app else {
        let links = transaction
            .execute(
                // Only where no event is left: a retention batch running beside this step
                // may have taken some of the rows it chose, leaving others for the next.
                "DELETE FROM session_apps a WHERE a.session_id = ANY($1)
                    AND NOT EXISTS (SELECT 1 FROM events e WHERE e.session_id = a.session_id)",
                &[&sessions],
            )
            .await?;
        for table in ["session_types", "session_users"] {
            let statement = format!(
                "DELETE FROM {table} t WHERE t.session_id = ANY($1)
                    AND NOT EXISTS (SELECT 1 FROM events e WHERE e.session_id = t.session_id)"
            );
            transaction.execute(&statement, &[&sessions]).await?;
        }
        let gone = transaction
            .query(
                "DELETE FROM sessions WHERE session_id IN
                    (SELECT s.session_id FROM sessions s WHERE s.session_id = ANY($1)
                        AND NOT EXISTS (SELECT 1 FROM events e WHERE e.session_id = s.session_id)
                     LIMIT $2)
                 RETURNING first_ts",
                &[&sessions, &limit],
            )
            .await?;
        let mut starts = RollupDelta::default();
        for row in &gone {
            starts.session_start_moved(Some(to_micros(row.get(0))), None);
        }
        super::rollups::apply(transaction, &starts).await?;
        return Ok(links + gone.len() as u64);
    };
    transaction
        .execute(
            "DELETE FROM session_apps a WHERE a.app = $2 AND a.session_id = ANY($1)
                AND NOT EXISTS (SELECT 1 FROM events e WHERE e.session_id = a.session_id AND e.app = $2)",
            &[&sessions, &app],
        )
        .await
}

/// Marks job `id` done (or failed with `failure`) at `at`; a finished job stays as it was.
pub async fn finish(
    client: &mut Object,
    id: &str,
    completed_at: Micros,
    failure: Option<String>,
) -> Result<Option<Erasure>, Error> {
    let status = if failure.is_some() {
        ErasureStatus::Failed
    } else {
        ErasureStatus::Done
    };
    let transaction = client.transaction().await?;
    // Exclusive: every batch that still saw the job running (and so left out what it
    // covered) has committed once this is granted, and its messages were received before
    // now. The time is read after it; one read before could precede some of them, making
    // their absence a loss.
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&ERASURE_LOCK])
        .await?;
    let completed_at = completed_at.max(crate::model::timestamp::now_micros());
    transaction
        .execute(
            "UPDATE erasures SET status = $2, completed_at = $3, failure = $4
             WHERE id = $1 AND status IN ('pending', 'running')",
            &[&id, &status.as_str(), &at(completed_at), &failure],
        )
        .await?;
    transaction.commit().await?;
    get(client, id).await
}

pub async fn suppressions(client: &Object) -> Result<Vec<Suppression>, Error> {
    let rows = client
        .query(
            "SELECT session_id, app FROM suppressed_sessions ORDER BY session_id, app",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| Suppression {
            session_id: row.get(0),
            app: row.get(1),
        })
        .collect())
}

/// Takes [`ERASURE_LOCK`] shared for the batch's transaction, then reads the erasures and
/// suppressions that may cover messages of the batch: jobs not finished, jobs finished since
/// its oldest message was received (both from an index, and normally none), and the
/// suppressions of its sessions. The two reads are pipelined.
pub async fn guard(
    transaction: &Transaction<'_>,
    messages: &[QueueMessage],
) -> Result<Guard, Error> {
    let batch = BatchSessions::of(messages);
    let mut guard = Guard::default();
    let Some(oldest) = batch.oldest else {
        return Ok(guard);
    };
    let events: Vec<&str> = batch.events.iter().copied().collect();
    let errors: Vec<&str> = batch.errors.iter().copied().collect();
    let oldest = at(oldest);
    transaction
        .execute("SELECT pg_advisory_xact_lock_shared($1)", &[&ERASURE_LOCK])
        .await?;
    let (jobs, suppressed) = futures_util::future::try_join(
        transaction.query(
            "SELECT session_ids, app, status, completed_at FROM erasures WHERE status IN ('pending', 'running')
             UNION ALL
             SELECT session_ids, app, status, completed_at FROM erasures WHERE completed_at >= $1",
            &[&oldest],
        ),
        transaction.query(
            "SELECT session_id, app FROM suppressed_sessions
             WHERE session_id = ANY($1) OR session_id = ANY($2) OR redacted_session_id = ANY($2)",
            &[&events, &errors],
        ),
    )
    .await?;
    for row in &jobs {
        let until = match ErasureStatus::parse(row.get(2)) {
            Some(status) if !unfinished(status) => {
                row.get::<_, Option<OffsetDateTime>>(3).map(to_micros)
            }
            _ => None,
        };
        // A job whose sessions cannot be read covers nothing it could name.
        let sessions = decode_sessions(row.get(0)).unwrap_or_default();
        guard.add(sessions, row.get(1), until);
    }
    for row in &suppressed {
        guard.add(vec![row.get(0)], row.get(1), None);
    }
    Ok(guard)
}
