//! Session summaries corrected after events were deleted (by retention or an erasure), in
//! the transaction that deleted them, set-based: from a relation `g(session_id, app, n)` of
//! the events that went (`n` of each session and application). The summaries are locked
//! first, in key order as the workers lock them; each statement after that reads the events
//! anew (READ COMMITTED), so it sees every event of a batch that changed a summary before,
//! and a batch that changes one after adds its own events to what is written here. Event
//! types and users left with no event go too, and each session's start bucket follows its
//! first event (read before and after, under the lock).

use std::collections::{BTreeMap, HashMap};

use time::OffsetDateTime;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Error, Transaction};

use super::rollups;
use crate::model::timestamp::to_micros;
use crate::store::rollup::RollupDelta;
use crate::store::session_fold::Removed;

/// Corrects the summaries and counts of the events in `removed`.
pub async fn repair(transaction: &Transaction<'_>, removed: &Removed) -> Result<(), Error> {
    if removed.sessions.is_empty() {
        return Ok(());
    }
    let mut rows: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for (session_id, (count, apps)) in &removed.sessions {
        // The count is the session's: carried by its first application's row.
        for (index, app) in apps.iter().enumerate() {
            let n = if index == 0 { *count } else { 0 };
            rows.insert((session_id.as_str(), app.as_str()), n);
        }
    }
    let sessions: Vec<&str> = rows.keys().map(|(session, _)| *session).collect();
    let apps: Vec<&str> = rows.keys().map(|(_, app)| *app).collect();
    let counts: Vec<i64> = rows.values().copied().collect();
    let starts = repair_from(
        transaction,
        "unnest($1::text[], $2::text[], $3::bigint[]) AS g(session_id, app, n)",
        &[&sessions, &apps, &counts],
    )
    .await?;
    // After the summaries are locked, as a worker takes its locks: summaries, then counts.
    rollups::apply(transaction, &removed.rollup).await?;
    rollups::apply(transaction, &starts).await
}

/// Corrects the summaries of the events listed in `source`, a relation aliased `g` with
/// columns `session_id`, `app` and `n`, bound by `params`. Returns how their sessions' start
/// buckets moved, for the caller to apply with the rest of its counts once the summaries
/// are locked.
pub async fn repair_from(
    transaction: &Transaction<'_>,
    source: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<RollupDelta, Error> {
    let before: Vec<(String, OffsetDateTime)> = transaction
        .query(
            &format!(
                "SELECT session_id, first_ts FROM sessions
                 WHERE session_id IN (SELECT g.session_id FROM {source})
                 ORDER BY session_id FOR UPDATE"
            ),
            params,
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let statements = [
        format!(
            "UPDATE sessions s SET event_count = s.event_count - gone.n,
                first_ts = coalesce((SELECT min(e.ts) FROM events e WHERE e.session_id = s.session_id), s.first_ts),
                last_ts = coalesce((SELECT max(e.ts) FROM events e WHERE e.session_id = s.session_id), s.last_ts)
             FROM (SELECT g.session_id, sum(g.n)::bigint AS n FROM {source} GROUP BY g.session_id) gone
             WHERE s.session_id = gone.session_id"
        ),
        format!(
            "WITH gone AS (
                DELETE FROM sessions s WHERE s.session_id IN (SELECT g.session_id FROM {source})
                    AND NOT EXISTS (SELECT 1 FROM events e WHERE e.session_id = s.session_id)
                RETURNING s.session_id)
             DELETE FROM session_apps a USING gone WHERE a.session_id = gone.session_id"
        ),
        format!(
            "DELETE FROM session_apps a USING {source}
             WHERE a.session_id = g.session_id AND a.app = g.app
                AND NOT EXISTS (SELECT 1 FROM events e WHERE e.session_id = g.session_id AND e.app = g.app)"
        ),
        format!(
            "DELETE FROM session_types t WHERE t.session_id IN (SELECT g.session_id FROM {source})
                AND NOT EXISTS (SELECT 1 FROM events e WHERE e.session_id = t.session_id
                                AND e.category = t.category AND e.name = t.name)"
        ),
        format!(
            "DELETE FROM session_users u WHERE u.session_id IN (SELECT g.session_id FROM {source})
                AND NOT EXISTS (SELECT 1 FROM events e WHERE e.session_id = u.session_id
                                AND e.user_id = u.user_id)"
        ),
    ];
    for statement in &statements {
        transaction.execute(statement, params).await?;
    }
    let ids: Vec<&str> = before.iter().map(|(id, _)| id.as_str()).collect();
    let after: HashMap<String, OffsetDateTime> = transaction
        .query(
            "SELECT session_id, first_ts FROM sessions WHERE session_id = ANY($1)",
            &[&ids],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let mut starts = RollupDelta::default();
    for (session_id, first) in &before {
        starts.session_start_moved(
            Some(to_micros(*first)),
            after.get(session_id).map(|first| to_micros(*first)),
        );
    }
    Ok(starts)
}
