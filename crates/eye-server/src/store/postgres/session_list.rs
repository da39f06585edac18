//! The list of sessions on PostgreSQL (the statement is `store::session_list`'s), with each
//! page's application links read in one more query.

use std::collections::HashMap;

use deadpool_postgres::Object;
use tokio_postgres::Error;

use super::sql::Sql;
use crate::model::timestamp::to_micros;
use crate::store::SessionSummary;
use crate::store::session_list::{self, SessionListQuery};

pub async fn list(client: &Object, query: &SessionListQuery) -> Result<Vec<SessionSummary>, Error> {
    let max_span: Option<i64> = client
        .query_opt("SELECT max_span FROM session_bounds", &[])
        .await?
        .map(|row| row.get(0));
    let mut sql = Sql::new("");
    session_list::statement(&mut sql, query, max_span);
    let mut sessions: Vec<SessionSummary> = client
        .query(&sql.text, &sql.params())
        .await?
        .iter()
        .map(|row| SessionSummary {
            session_id: row.get(0),
            first_timestamp: to_micros(row.get(1)),
            last_timestamp: to_micros(row.get(2)),
            event_count: row.get::<_, i64>(3).max(0) as u64,
            apps: Vec::new(),
        })
        .collect();
    if sessions.is_empty() {
        return Ok(sessions);
    }
    let ids: Vec<&str> = sessions.iter().map(|s| s.session_id.as_str()).collect();
    let mut apps: HashMap<String, Vec<String>> = HashMap::new();
    for row in client
        .query(
            "SELECT session_id, app FROM session_apps WHERE session_id = ANY($1)
             ORDER BY session_id, app",
            &[&ids],
        )
        .await?
    {
        apps.entry(row.get(0)).or_default().push(row.get(1));
    }
    for session in &mut sessions {
        session.apps = apps.remove(&session.session_id).unwrap_or_default();
    }
    Ok(sessions)
}
