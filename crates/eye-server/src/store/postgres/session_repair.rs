//! Session summaries corrected after events were deleted (by retention or an erasure), in
//! the transaction that deleted them, set-based: from a relation `g(session_id, app, n)` of
//! the events that went (`n` of each session and application). The summaries are locked
//! first, in key order as the workers lock them; each statement after that reads the events
//! anew (READ COMMITTED), so it sees every event of a batch that changed a summary before,
//! and a batch that changes one after adds its own events to what is written here.

use std::collections::BTreeMap;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Error, Transaction};

use crate::store::session_fold::Removed;

/// Corrects the summaries of the events in `removed`.
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
    repair_from(
        transaction,
        "unnest($1::text[], $2::text[], $3::bigint[]) AS g(session_id, app, n)",
        &[&sessions, &apps, &counts],
    )
    .await
}

/// Corrects the summaries of the events listed in `source`, a relation aliased `g` with
/// columns `session_id`, `app` and `n`, bound by `params`.
pub async fn repair_from(
    transaction: &Transaction<'_>,
    source: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<(), Error> {
    let statements = [
        format!(
            "SELECT 1 FROM sessions WHERE session_id IN (SELECT g.session_id FROM {source})
             ORDER BY session_id FOR UPDATE"
        ),
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
    ];
    for statement in &statements {
        transaction.execute(statement, params).await?;
    }
    Ok(())
}
