//! The filtered, keyset-paginated `SELECT`s of both SQL stores, written once: the filters of
//! an event or error query, the time range, the position after which a page starts, the
//! order, and a limit of one row more than asked (so the caller knows whether another page
//! follows). Each store binds values its own way (`?` and rusqlite values, `$n` and
//! tokio-postgres parameters) through [`Statement`].

use uuid::Uuid;

use crate::model::timestamp::Micros;
use crate::store::{ErrorQuery, EventQuery, Order, Position};

/// A value to bind.
pub enum Bound {
    Text(String),
    Time(Micros),
    Id(Uuid),
    Count(i64),
}

/// A statement being written: text to append, values to bind.
pub trait Statement {
    fn push(&mut self, text: &str);
    /// Keeps `value` and gives the placeholder that stands for it.
    fn bind(&mut self, value: Bound) -> String;
}

/// `AND column = value` for every filter that is set.
fn equalities<const N: usize>(
    statement: &mut impl Statement,
    filters: [(&str, &Option<String>); N],
) {
    for (column, filter) in filters {
        if let Some(value) = filter {
            let placeholder = statement.bind(Bound::Text(value.clone()));
            statement.push(&format!(" AND {column} = {placeholder}"));
        }
    }
}

/// `from` inclusive, `to` exclusive, on `column`.
fn time_range(
    statement: &mut impl Statement,
    column: &str,
    from: Option<Micros>,
    to: Option<Micros>,
) {
    if let Some(from) = from {
        let placeholder = statement.bind(Bound::Time(from));
        statement.push(&format!(" AND {column} >= {placeholder}"));
    }
    if let Some(to) = to {
        let placeholder = statement.bind(Bound::Time(to));
        statement.push(&format!(" AND {column} < {placeholder}"));
    }
}

/// The filters and time range of an event query (on `ts`). `user_id = ?` implies
/// `user_id IS NOT NULL`, so both stores may read the partial index `events_by_user`.
pub fn event_filters(statement: &mut impl Statement, query: &EventQuery) {
    equalities(
        statement,
        [
            ("session_id", &query.session_id),
            ("user_id", &query.user_id),
            ("category", &query.category),
            ("name", &query.name),
            ("app", &query.app),
        ],
    );
    time_range(statement, "ts", query.from, query.to);
}

/// The filters and time range of an error query (on `received_at`).
pub fn error_filters(statement: &mut impl Statement, query: &ErrorQuery) {
    equalities(
        statement,
        [
            ("code", &query.code),
            ("app", &query.app),
            ("category", &query.category),
            ("name", &query.name),
        ],
    );
    if query.unreplayed_only {
        statement.push(" AND replayed_at IS NULL");
    }
    time_range(statement, "received_at", query.from, query.to);
}

/// The keyset position, the order by (`column`, id) and the limit plus one.
pub fn page(
    statement: &mut impl Statement,
    column: &str,
    order: Order,
    after: Option<Position>,
    limit: usize,
) {
    let (comparison, direction) = match order {
        Order::Asc => (">", "ASC"),
        Order::Desc => ("<", "DESC"),
    };
    if let Some(after) = after {
        let time = statement.bind(Bound::Time(after.at));
        let id = statement.bind(Bound::Id(after.id));
        statement.push(&format!(" AND ({column}, id) {comparison} ({time}, {id})"));
    }
    let limit = statement.bind(Bound::Count(limit as i64 + 1));
    statement.push(&format!(
        " ORDER BY {column} {direction}, id {direction} LIMIT {limit}"
    ));
}
