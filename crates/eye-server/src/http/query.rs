//! The data team's read API: `GET /v1/events` and `GET /v1/sessions/{session_id}`.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use eye_types::schema::{Identifier, QueryTimestamp};
use eye_types::{EventPage, SessionPage, StoredEvent};
use serde_json::Value;

use super::AppState;
use super::api_error::ApiError;
use super::auth::{Authorized, QueryScope};
use super::cursor::{self, Cursor};
use super::params::{PageLimit, Params, SortOrder};
use crate::ingest::validation::{MAX_NAME_CHARS, check_identifier};
use crate::model::EventRecord;
use crate::model::timestamp::format_micros;
use crate::store::{EventQuery, Order, Position};

pub(crate) const EVENT_PARAMS: &[&str] = &[
    "session_id",
    "user_id",
    "category",
    "name",
    "app",
    "from",
    "to",
    "order",
    "limit",
    "cursor",
];
pub(crate) const SESSION_PARAMS: &[&str] = &["order", "limit", "cursor"];

#[utoipa::path(
    get, path = "/v1/events", tag = "query",
    security(("bearer" = [])),
    params(
        ("session_id" = Option<Identifier>, Query, description = "Only this session"),
        ("user_id" = Option<eye_types::schema::UserId>, Query, description = "Only events sent with this `user_id`"),
        ("category" = Option<Identifier>, Query, description = "Only this category"),
        ("name" = Option<Identifier>, Query, description = "Only this event name"),
        ("app" = Option<Identifier>, Query, description = "Only events of this application"),
        ("from" = Option<QueryTimestamp>, Query, description = "Event timestamp from (inclusive): RFC 3339 or `2021-01-01 09:15:27`"),
        ("to" = Option<QueryTimestamp>, Query, description = "Event timestamp to (exclusive)"),
        ("order" = Option<SortOrder>, Query, description = "`asc` (the default) or `desc`"),
        ("limit" = Option<PageLimit>, Query, description = "Page size, 1 to 1,000 (default 100)"),
        ("cursor" = Option<Cursor>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of events ordered by timestamp then id", body = eye_types::EventPage),
        (status = 400, description = "`invalid_parameter`: the message names the parameter", body = eye_types::ErrorBody),
        super::openapi::KeyedRouteErrors,
    )
)]
pub async fn list_events(
    State(state): State<AppState>,
    _: Authorized<QueryScope>,
    RawQuery(raw): RawQuery,
) -> Result<Json<EventPage>, ApiError> {
    let params = Params::parse(raw.as_deref(), EVENT_PARAMS)?;
    let query = EventQuery {
        session_id: params.identifier("session_id")?,
        user_id: params.identifier("user_id")?,
        category: params.identifier("category")?,
        name: params.identifier("name")?,
        app: params.identifier("app")?,
        from: params.time("from")?,
        to: params.time("to")?,
        order: params.order(Order::Asc)?,
        after: params.cursor()?,
        limit: params.limit()?,
    };
    let limit = query.limit;
    let records = state.store.events(query).await?;
    let (events, next_cursor) = page(records, limit);
    Ok(Json(EventPage {
        events,
        next_cursor,
    }))
}

#[utoipa::path(
    get, path = "/v1/sessions/{session_id}", tag = "query",
    security(("bearer" = [])),
    params(
        ("session_id" = Identifier, Path, description = "The session id, percent-encoded"),
        ("order" = Option<SortOrder>, Query, description = "`asc` (the default) or `desc`"),
        ("limit" = Option<PageLimit>, Query, description = "Page size, 1 to 1,000 (default 100)"),
        ("cursor" = Option<Cursor>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "The session's summary and a page of its events in time order", body = eye_types::SessionPage),
        (status = 400, description = "`invalid_parameter`: the message names the parameter", body = eye_types::ErrorBody),
        (status = 404, description = "`not_found`: no event was stored for this session", body = eye_types::ErrorBody),
        super::openapi::KeyedRouteErrors,
    )
)]
pub async fn session(
    State(state): State<AppState>,
    _: Authorized<QueryScope>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> Result<Json<SessionPage>, ApiError> {
    let Path(session_id) =
        path.map_err(|e| ApiError::invalid_parameter("session_id", e.body_text()))?;
    check_identifier(&session_id, MAX_NAME_CHARS)
        .map_err(|p| ApiError::invalid_parameter("session_id", p))?;
    let params = Params::parse(raw.as_deref(), SESSION_PARAMS)?;
    let query = EventQuery {
        session_id: Some(session_id.clone()),
        order: params.order(Order::Asc)?,
        after: params.cursor()?,
        limit: params.limit()?,
        ..EventQuery::default()
    };
    let Some(summary) = state.store.session(&session_id).await? else {
        return Err(ApiError::not_found(format!(
            "no event has been stored for session {session_id:?}"
        )));
    };
    let limit = query.limit;
    let (events, next_cursor) = page(state.store.events(query).await?, limit);
    Ok(Json(SessionPage {
        session_id,
        first_timestamp: format_micros(summary.first_timestamp),
        last_timestamp: format_micros(summary.last_timestamp),
        event_count: summary.event_count,
        apps: summary.apps,
        events,
        next_cursor,
    }))
}

fn page(records: Vec<EventRecord>, limit: usize) -> (Vec<StoredEvent>, Option<String>) {
    let (records, next_cursor) = cursor::page(records, limit, |last| Position {
        at: last.timestamp,
        id: last.id,
    });
    (records.into_iter().map(stored_event).collect(), next_cursor)
}

pub(super) fn stored_event(record: EventRecord) -> StoredEvent {
    StoredEvent {
        id: record.id.to_string(),
        app: record.app,
        session_id: record.session_id,
        category: record.category,
        name: record.name,
        data: serde_json::from_str(&record.data).unwrap_or(Value::String(record.data)),
        timestamp: format_micros(record.timestamp),
        received_at: format_micros(record.received_at),
        event_id: record.event_id,
        schema_version: record.schema_version,
        user_id: record.user_id,
        context: record
            .context
            .map(|context| serde_json::from_str(&context).unwrap_or(Value::String(context))),
        // The client's own timestamp: the stored one unless a correction moved it.
        original_timestamp: Some(format_micros(
            record.original_timestamp.unwrap_or(record.timestamp),
        )),
    }
}
