//! Session summaries corrected after events were deleted (by retention or an erasure), in
//! the transaction that deleted them, so a summary never disagrees with its events: the
//! count goes down by what went, the first and last timestamps are read again from what is
//! left (two index look-ups on `events_by_session`), and a session left with no event, or an
//! application link left with no event of its application, goes.

use rusqlite::{Connection, params};

use crate::store::session_fold::Removed;

pub fn repair(connection: &Connection, removed: &Removed) -> rusqlite::Result<()> {
    let mut update = connection.prepare_cached(
        "UPDATE sessions SET event_count = event_count - ?2,
            first_ts = coalesce((SELECT min(ts) FROM events WHERE session_id = ?1), first_ts),
            last_ts = coalesce((SELECT max(ts) FROM events WHERE session_id = ?1), last_ts)
         WHERE session_id = ?1",
    )?;
    let mut any_left =
        connection.prepare_cached("SELECT EXISTS (SELECT 1 FROM events WHERE session_id = ?1)")?;
    let mut forget_session =
        connection.prepare_cached("DELETE FROM sessions WHERE session_id = ?1")?;
    let mut forget_links =
        connection.prepare_cached("DELETE FROM session_apps WHERE session_id = ?1")?;
    let mut forget_link = connection.prepare_cached(
        "DELETE FROM session_apps WHERE session_id = ?1 AND app = ?2
            AND NOT EXISTS (SELECT 1 FROM events WHERE session_id = ?1 AND app = ?2)",
    )?;
    for (session_id, (count, apps)) in &removed.sessions {
        if !any_left.query_row([session_id], |row| row.get::<_, bool>(0))? {
            forget_session.execute([session_id])?;
            forget_links.execute([session_id])?;
            continue;
        }
        update.execute(params![session_id, count])?;
        for app in apps {
            forget_link.execute(params![session_id, app])?;
        }
    }
    Ok(())
}
