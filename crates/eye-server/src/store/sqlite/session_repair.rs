//! Session summaries corrected after events were deleted (by retention or an erasure), in
//! the transaction that deleted them, so a summary never disagrees with its events: the
//! count goes down by what went, the first and last timestamps are read again from what is
//! left (two index look-ups on `events_by_session`), and a session left with no event, or an
//! application link, event type or user left with no event of it, goes. The counts over
//! time lose the deleted events, and a session whose first event moved or went moves or
//! leaves its start bucket.

use rusqlite::{Connection, OptionalExtension, params};

use super::rollups;
use crate::store::rollup::RollupDelta;
use crate::store::session_fold::Removed;

// What is left of a session's events is read by `events_by_session`, named: without
// statistics SQLite prefers the index of the other column compared (`events_by_app`,
// `events_by_type`, `events_by_user`), whose walk covers every event of that application,
// type or user, where a session holds a few.

/// An application link of session `?1` and application `?2` left with no event.
pub(crate) const FORGET_GONE_LINK: &str =
    "DELETE FROM session_apps WHERE session_id = ?1 AND app = ?2
        AND NOT EXISTS (SELECT 1 FROM events e INDEXED BY events_by_session
                        WHERE e.session_id = ?1 AND e.app = ?2)";

/// The event types of session `?1` left with no event.
pub(crate) const FORGET_GONE_TYPES: &str = "DELETE FROM session_types WHERE session_id = ?1
        AND NOT EXISTS (SELECT 1 FROM events e INDEXED BY events_by_session WHERE e.session_id = ?1
                        AND e.category = session_types.category AND e.name = session_types.name)";

/// The users of session `?1` left with no event.
pub(crate) const FORGET_GONE_USERS: &str = "DELETE FROM session_users WHERE session_id = ?1
        AND NOT EXISTS (SELECT 1 FROM events e INDEXED BY events_by_session WHERE e.session_id = ?1
                        AND e.user_id = session_users.user_id)";

/// Adds a row of `DELETE … RETURNING session_id, app, category, name, ts` to `removed`.
pub fn add_removed(removed: &mut Removed, row: &rusqlite::Row<'_>) -> rusqlite::Result<()> {
    removed.add(
        row.get(0)?,
        row.get(1)?,
        &row.get::<_, String>(2)?,
        &row.get::<_, String>(3)?,
        row.get(4)?,
    );
    Ok(())
}

pub fn repair(connection: &Connection, removed: &Removed) -> rusqlite::Result<()> {
    let mut first =
        connection.prepare_cached("SELECT first_ts FROM sessions WHERE session_id = ?1")?;
    let mut update = connection.prepare_cached(
        "UPDATE sessions SET event_count = event_count - ?2,
            first_ts = coalesce((SELECT min(ts) FROM events WHERE session_id = ?1), first_ts),
            last_ts = coalesce((SELECT max(ts) FROM events WHERE session_id = ?1), last_ts)
         WHERE session_id = ?1
         RETURNING first_ts",
    )?;
    let mut any_left =
        connection.prepare_cached("SELECT EXISTS (SELECT 1 FROM events WHERE session_id = ?1)")?;
    let mut forget_session =
        connection.prepare_cached("DELETE FROM sessions WHERE session_id = ?1")?;
    let mut forget_links =
        connection.prepare_cached("DELETE FROM session_apps WHERE session_id = ?1")?;
    let mut forget_types =
        connection.prepare_cached("DELETE FROM session_types WHERE session_id = ?1")?;
    let mut forget_users =
        connection.prepare_cached("DELETE FROM session_users WHERE session_id = ?1")?;
    let mut forget_link = connection.prepare_cached(FORGET_GONE_LINK)?;
    let mut forget_gone_types = connection.prepare_cached(FORGET_GONE_TYPES)?;
    let mut forget_gone_users = connection.prepare_cached(FORGET_GONE_USERS)?;
    let mut starts = RollupDelta::default();
    for (session_id, (count, apps)) in &removed.sessions {
        let before: Option<i64> = first.query_row([session_id], |row| row.get(0)).optional()?;
        if !any_left.query_row([session_id], |row| row.get::<_, bool>(0))? {
            forget_session.execute([session_id])?;
            forget_links.execute([session_id])?;
            forget_types.execute([session_id])?;
            forget_users.execute([session_id])?;
            starts.session_start_moved(before, None);
            continue;
        }
        let after: Option<i64> = update
            .query_row(params![session_id, count], |row| row.get(0))
            .optional()?;
        starts.session_start_moved(before, after);
        for app in apps {
            forget_link.execute(params![session_id, app])?;
        }
        forget_gone_types.execute([session_id])?;
        forget_gone_users.execute([session_id])?;
    }
    rollups::apply(connection, &removed.rollup)?;
    rollups::apply(connection, &starts)
}
