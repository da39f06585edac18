//! `eye sessions` without a session id: the sessions of `GET /v1/sessions`, by last activity,
//! as a table on a terminal or one JSON object per session when piped.

use clap::Args;
use eye_client::{SessionInfo, SessionListQuery};

use crate::cli::SessionArgs;
use crate::output::{self, Columns};
use crate::remote::{Listing, explain, query_client};

/// The filters of the listing; none of them goes with a session id.
#[derive(Args, Clone, Default)]
pub struct SessionFilters {
    /// Only sessions active at some time from this one (inclusive): RFC 3339,
    /// `2021-01-01 09:15:27`, or a date alone (its midnight UTC).
    #[arg(long, value_parser = crate::time_bound::parse, conflicts_with = "session_id")]
    pub from: Option<String>,
    /// Only sessions active at some time before this one (exclusive), in the same forms as
    /// `--from`.
    #[arg(long, value_parser = crate::time_bound::parse, conflicts_with = "session_id")]
    pub to: Option<String>,
    /// Only sessions with events of this application.
    #[arg(long, conflicts_with = "session_id")]
    pub app: Option<String>,
    /// Only the sessions of this user: those with an event sent with this `user_id` (the
    /// user the application knows).
    #[arg(
        long = "user",
        visible_alias = "user-id",
        value_name = "USER_ID",
        conflicts_with = "session_id"
    )]
    pub user: Option<String>,
    /// Only sessions with at least this many events.
    #[arg(long, value_name = "N", conflicts_with = "session_id")]
    pub min_events: Option<u64>,
    /// Only sessions holding an event of this type: `CATEGORY/NAME`, split at the first `/`
    /// (e.g. 'form interaction/submit').
    #[arg(long, value_name = "CATEGORY/NAME", value_parser = event_type, conflicts_with = "session_id")]
    pub has_event: Option<String>,
    /// `desc`: the most recently active first (the default), or `asc`.
    #[arg(long, value_enum, conflicts_with = "session_id")]
    pub order: Option<Order>,
    /// Continue after an earlier listing: the cursor it printed.
    #[arg(long, conflicts_with = "session_id")]
    pub cursor: Option<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Order {
    /// Oldest last activity first.
    Asc,
    /// Newest last activity first.
    Desc,
}

/// `CATEGORY/NAME` with both parts present; passed on as written.
fn event_type(value: &str) -> Result<String, String> {
    match value.split_once('/') {
        Some((category, name)) if !category.is_empty() && !name.is_empty() => Ok(value.to_owned()),
        _ => Err(format!(
            "{value:?} is not an event type: write CATEGORY/NAME, e.g. 'form interaction/submit'"
        )),
    }
}

pub const SESSION_COLUMNS: Columns = Columns(&[
    ("SESSION", 12),
    ("EVENTS", 6),
    ("FIRST", 27),
    ("LAST", 27),
    ("APPS", 0),
]);

pub fn session_cells(session: &SessionInfo) -> Vec<String> {
    vec![
        session.session_id.clone(),
        session.event_count.to_string(),
        session.first_timestamp.clone(),
        session.last_timestamp.clone(),
        session.apps.join(", "),
    ]
}

/// Lists sessions up to `--limit` (100 by default), following pages.
pub async fn list(args: SessionArgs) -> anyhow::Result<()> {
    let client = query_client(&args.remote)?;
    let filters = args.filters;
    let mut query = SessionListQuery {
        from: filters.from,
        to: filters.to,
        app: filters.app,
        user_id: filters.user,
        min_events: filters.min_events,
        has_event: filters.has_event,
        order: filters.order.map(|order| {
            match order {
                Order::Asc => "asc",
                Order::Desc => "desc",
            }
            .to_owned()
        }),
        ..SessionListQuery::default()
    };
    let listing = Listing {
        what: "sessions",
        format: output::resolve(args.format.format),
        columns: &SESSION_COLUMNS,
        cells: session_cells,
    };
    listing
        .print(
            args.limit.unwrap_or(100),
            filters.cursor,
            async |limit, cursor| {
                query.limit = Some(limit);
                query.cursor = cursor;
                let page = client.sessions(&query).await.map_err(explain)?;
                Ok((page.sessions, page.next_cursor))
            },
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_type_needs_a_category_and_a_name() {
        assert_eq!(
            event_type("form interaction/submit").as_deref(),
            Ok("form interaction/submit")
        );
        assert_eq!(event_type("a/b/c").as_deref(), Ok("a/b/c"));
        for wrong in ["submit", "/submit", "form interaction/"] {
            assert!(event_type(wrong).is_err(), "{wrong}");
        }
    }
}
