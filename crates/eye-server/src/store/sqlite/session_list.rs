//! The list of sessions on SQLite (the statement is `store::session_list`'s), with each
//! page's application links read in one more query.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params_from_iter};

use super::events::SqliteStatement;
use crate::store::SessionSummary;
use crate::store::session_list::{self, SessionListQuery};

pub fn list(
    connection: &Connection,
    query: &SessionListQuery,
) -> rusqlite::Result<Vec<SessionSummary>> {
    let max_span: Option<i64> = connection
        .prepare_cached("SELECT max_span FROM session_bounds")?
        .query_row([], |row| row.get(0))
        .optional()?;
    let mut statement = SqliteStatement::new("");
    session_list::statement(&mut statement, query, max_span);
    let mut sessions = connection
        .prepare_cached(&statement.text)?
        .query_map(params_from_iter(statement.values), |row| {
            Ok(SessionSummary {
                session_id: row.get(0)?,
                first_timestamp: row.get(1)?,
                last_timestamp: row.get(2)?,
                event_count: row.get::<_, i64>(3)?.max(0) as u64,
                apps: Vec::new(),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if sessions.is_empty() {
        return Ok(sessions);
    }
    let ids = serde_json::to_string(
        &sessions
            .iter()
            .map(|s| s.session_id.as_str())
            .collect::<Vec<_>>(),
    )
    .expect("a list of strings serializes");
    let mut apps: HashMap<String, Vec<String>> = HashMap::new();
    let mut links = connection.prepare_cached(
        "SELECT session_id, app FROM session_apps
         WHERE session_id IN (SELECT value FROM json_each(?1)) ORDER BY session_id, app",
    )?;
    let mut rows = links.query([ids])?;
    while let Some(row) = rows.next()? {
        apps.entry(row.get(0)?).or_default().push(row.get(1)?);
    }
    for session in &mut sessions {
        session.apps = apps.remove(&session.session_id).unwrap_or_default();
    }
    Ok(sessions)
}
