//! `GET /v1/sessions`: sessions whose activity overlaps a range, filtered by application,
//! size and event type, by last activity, keyset-paginated.

use axum::Json;
use axum::extract::{RawQuery, State};
use eye_types::schema::{EventType, Identifier, QueryTimestamp};
use eye_types::{SessionInfo, SessionList};

use super::AppState;
use super::api_error::ApiError;
use super::auth::{Authorized, QueryScope};
use super::cursor::{self, SessionCursor};
use super::params::{PageLimit, Params, SortOrder};
use crate::ingest::validation::{MAX_NAME_CHARS, check_identifier};
use crate::model::timestamp::format_micros;
use crate::store::{Order, SessionListQuery, SessionPosition};

pub(crate) const SESSION_LIST_PARAMS: &[&str] = &[
    "from",
    "to",
    "app",
    "min_events",
    "has_event",
    "user_id",
    "order",
    "limit",
    "cursor",
];

/// `min_events` as the OpenAPI document states it.
pub struct MinEvents;

impl utoipa::PartialSchema for MinEvents {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::Object::builder()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .minimum(Some(0))
            .maximum(Some(i64::MAX))
            .description(Some("A count of events, 0 or more"))
            .into()
    }
}

impl utoipa::ToSchema for MinEvents {}

#[utoipa::path(
    get, path = "/v1/sessions", tag = "query",
    security(("bearer" = [])),
    params(
        ("from" = Option<QueryTimestamp>, Query, description = "Sessions active at or after this: last event at or after it"),
        ("to" = Option<QueryTimestamp>, Query, description = "Sessions active before this: first event before it"),
        ("app" = Option<Identifier>, Query, description = "Only sessions with events of this application"),
        ("min_events" = Option<MinEvents>, Query, description = "Only sessions with at least this many stored events"),
        ("has_event" = Option<EventType>, Query, description = "`CATEGORY/NAME` (split at the first `/`, percent-encoded): only sessions with at least one event of this type"),
        ("user_id" = Option<eye_types::schema::UserId>, Query, description = "Only sessions with at least one event sent with this `user_id`: the user's sessions"),
        ("order" = Option<SortOrder>, Query, description = "By last activity: `desc` (the default, most recent first) or `asc`"),
        ("limit" = Option<PageLimit>, Query, description = "Page size, 1 to 1,000 (default 100)"),
        ("cursor" = Option<SessionCursor>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of sessions by last activity, then session id", body = eye_types::SessionList),
        (status = 400, description = "`invalid_parameter`: the message names the parameter", body = eye_types::ErrorBody),
        super::openapi::KeyedRouteErrors,
    )
)]
pub async fn list_sessions(
    State(state): State<AppState>,
    _: Authorized<QueryScope>,
    RawQuery(raw): RawQuery,
) -> Result<Json<SessionList>, ApiError> {
    let params = Params::parse(raw.as_deref(), SESSION_LIST_PARAMS)?;
    let (from, to) = params.range()?;
    let min_events = match params.text("min_events") {
        None => None,
        Some(text) => Some(
            text.parse::<u64>()
                .ok()
                .filter(|n| *n <= i64::MAX as u64)
                .ok_or_else(|| {
                    ApiError::invalid_parameter(
                        "min_events",
                        format!("{text:?} is not a count of events: a whole number, 0 or more"),
                    )
                })?,
        ),
    };
    let after = match params.text("cursor") {
        None | Some("") => None,
        Some(text) => Some(cursor::decode_session(text).ok_or_else(|| {
            ApiError::invalid_parameter(
                "cursor",
                "not a cursor this server issued; pass `next_cursor` unchanged",
            )
        })?),
    };
    let query = SessionListQuery {
        from,
        to,
        app: params.identifier("app")?,
        min_events,
        has_event: has_event(&params)?,
        user_id: params.identifier("user_id")?,
        order: params.order(Order::Desc)?,
        after,
        limit: params.limit()?,
    };
    let limit = query.limit;
    let mut sessions = state.store.list_sessions(query).await?;
    let more = sessions.len() > limit;
    sessions.truncate(limit);
    let next_cursor = more.then(|| sessions.last()).flatten().map(|last| {
        cursor::encode_session(&SessionPosition {
            last_ts: last.last_timestamp,
            session_id: last.session_id.clone(),
        })
    });
    Ok(Json(SessionList {
        sessions: sessions
            .into_iter()
            .map(|s| SessionInfo {
                session_id: s.session_id,
                first_timestamp: format_micros(s.first_timestamp),
                last_timestamp: format_micros(s.last_timestamp),
                event_count: s.event_count,
                apps: s.apps,
            })
            .collect(),
        next_cursor,
    }))
}

/// `has_event=CATEGORY/NAME`, split at the first `/`.
fn has_event(params: &Params) -> Result<Option<(String, String)>, ApiError> {
    let Some(text) = params.text("has_event") else {
        return Ok(None);
    };
    let malformed = |problem: String| {
        ApiError::invalid_parameter(
            "has_event",
            format!(
                "{problem}: give an event type as CATEGORY/NAME, percent-encoded \
                 (has_event=form%20interaction%2Fsubmit)"
            ),
        )
    };
    let Some((category, name)) = text.split_once('/') else {
        return Err(malformed(format!("{text:?} has no `/`")));
    };
    check_identifier(category, MAX_NAME_CHARS)
        .map_err(|problem| malformed(format!("the category {problem}")))?;
    check_identifier(name, MAX_NAME_CHARS)
        .map_err(|problem| malformed(format!("the name {problem}")))?;
    Ok(Some((category.to_owned(), name.to_owned())))
}
