//! The list of sessions (`GET /v1/sessions`), written once for both SQL stores: sessions
//! whose activity overlaps a time range, by last activity, keyset-paginated on
//! (`last_ts`, `session_id`) along `sessions_by_activity`. The application and event-type
//! filters are primary-key probes of `session_apps` and `session_types`, one per candidate.
//! The user filter goes the other way: a user has few sessions among all of them, so they
//! are read from `session_users_by_user` and only those are ordered.

use crate::model::timestamp::Micros;
use crate::store::Order;
use crate::store::select::{Bound, Statement};

/// 10000-01-01T00:00:00Z: timestamps are before it.
const LAST_INSTANT: Micros = 253_402_300_800_000_000;

/// A keyset position in the list: the last session of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPosition {
    pub last_ts: Micros,
    pub session_id: String,
}

/// Filters of `GET /v1/sessions`.
#[derive(Debug, Clone, Default)]
pub struct SessionListQuery {
    /// Sessions whose last event is at or after this.
    pub from: Option<Micros>,
    /// Sessions whose first event is before this.
    pub to: Option<Micros>,
    pub app: Option<String>,
    pub min_events: Option<u64>,
    /// (category, name): sessions with at least one event of this type.
    pub has_event: Option<(String, String)>,
    /// Sessions with at least one event sent with this `user_id`.
    pub user_id: Option<String>,
    pub order: Order,
    pub after: Option<SessionPosition>,
    pub limit: usize,
}

/// `SELECT session_id, first_ts, last_ts, event_count` of the page (one row more than
/// asked, so the caller knows whether another page follows). `max_span` is the longest any
/// session has lasted (`session_bounds`): a session whose first event is before `to` has its
/// last before `to + max_span`, which bounds the walk along `sessions_by_activity` from
/// above, where `first_ts < to` alone would be checked on every newer session.
pub fn statement(
    statement: &mut impl Statement,
    query: &SessionListQuery,
    max_span: Option<Micros>,
) {
    statement.push(
        "SELECT s.session_id, s.first_ts, s.last_ts, s.event_count FROM sessions s WHERE 1 = 1",
    );
    if let Some(from) = query.from {
        let from = statement.bind(Bound::Time(from));
        statement.push(&format!(" AND s.last_ts >= {from}"));
    }
    if let Some(to) = query.to {
        let bound = statement.bind(Bound::Time(to));
        statement.push(&format!(" AND s.first_ts < {bound}"));
        // Only where the bound is an instant both stores can hold (years up to 9999).
        let last_before = max_span.and_then(|span| to.checked_add(span)?.checked_add(1));
        if let Some(last_before) = last_before.filter(|at| *at < LAST_INSTANT) {
            let bound = statement.bind(Bound::Time(last_before));
            statement.push(&format!(" AND s.last_ts < {bound}"));
        }
    }
    if let Some(min) = query.min_events {
        let min = statement.bind(Bound::Count(min.min(i64::MAX as u64) as i64));
        statement.push(&format!(" AND s.event_count >= {min}"));
    }
    if let Some(app) = &query.app {
        let app = statement.bind(Bound::Text(app.clone()));
        statement.push(&format!(
            " AND EXISTS (SELECT 1 FROM session_apps a WHERE a.session_id = s.session_id AND a.app = {app})"
        ));
    }
    if let Some((category, name)) = &query.has_event {
        let category = statement.bind(Bound::Text(category.clone()));
        let name = statement.bind(Bound::Text(name.clone()));
        statement.push(&format!(
            " AND EXISTS (SELECT 1 FROM session_types t WHERE t.session_id = s.session_id
                AND t.category = {category} AND t.name = {name})"
        ));
    }
    if let Some(user_id) = &query.user_id {
        let user_id = statement.bind(Bound::Text(user_id.clone()));
        statement.push(&format!(
            " AND s.session_id IN (SELECT u.session_id FROM session_users u WHERE u.user_id = {user_id})"
        ));
    }
    let (comparison, direction) = match query.order {
        Order::Asc => (">", "ASC"),
        Order::Desc => ("<", "DESC"),
    };
    if let Some(after) = &query.after {
        let at = statement.bind(Bound::Time(after.last_ts));
        let id = statement.bind(Bound::Text(after.session_id.clone()));
        statement.push(&format!(
            " AND (s.last_ts, s.session_id) {comparison} ({at}, {id})"
        ));
    }
    let limit = statement.bind(Bound::Count(query.limit as i64 + 1));
    statement.push(&format!(
        " ORDER BY s.last_ts {direction}, s.session_id {direction} LIMIT {limit}"
    ));
}
