//! The error store as the data team reads it: `GET /v1/errors` and `GET /v1/errors/summary`.

use axum::Json;
use axum::extract::{RawQuery, State};
use eye_types::schema::{Identifier, QueryTimestamp};
use eye_types::{
    ErrorPage, ErrorRecord, ErrorSummary, EventTypeCount, ReplayRequest, ReplayResponse,
    ReplayTypeCount,
};

use super::AppState;
use super::api_error::ApiError;
use super::auth::{AdminScope, Authorized, QueryScope};
use super::bounded_body::AdminBody;
use super::cursor::{self, Cursor};
use super::json_body;
use super::params::{PageLimit, Params, SortOrder};
use crate::ingest::validation::{MAX_NAME_CHARS, check_identifier, parse_timestamp};
use crate::model::ErrorEntry;
use crate::model::timestamp::format_micros;
use crate::pipeline::replay::{self, ReplayFilter};
use crate::store::{ErrorQuery, Order, Position};

pub(crate) const SUMMARY_PARAMS: &[&str] = &["from", "to"];
pub(crate) const ERROR_PARAMS: &[&str] = &[
    "code", "app", "category", "name", "from", "to", "order", "limit", "cursor",
];

#[utoipa::path(
    get, path = "/v1/errors", tag = "errors",
    security(("bearer" = [])),
    params(
        ("code" = Option<Identifier>, Query, description = "Only this error code"),
        ("app" = Option<Identifier>, Query, description = "Only this application"),
        ("category" = Option<Identifier>, Query, description = "Only this category"),
        ("name" = Option<Identifier>, Query, description = "Only this event name"),
        ("from" = Option<QueryTimestamp>, Query, description = "Receive time from (inclusive)"),
        ("to" = Option<QueryTimestamp>, Query, description = "Receive time to (exclusive)"),
        ("order" = Option<SortOrder>, Query, description = "`desc` (the default, newest first) or `asc`"),
        ("limit" = Option<PageLimit>, Query, description = "Page size, 1 to 1,000 (default 100)"),
        ("cursor" = Option<Cursor>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of the error store", body = eye_types::ErrorPage),
        (status = 400, description = "`invalid_parameter`: the message names the parameter", body = eye_types::ErrorBody),
        super::openapi::KeyedRouteErrors,
    )
)]
pub async fn list_errors(
    State(state): State<AppState>,
    _: Authorized<QueryScope>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ErrorPage>, ApiError> {
    let params = Params::parse(raw.as_deref(), ERROR_PARAMS)?;
    let query = ErrorQuery {
        code: params.identifier("code")?,
        app: params.identifier("app")?,
        category: params.identifier("category")?,
        name: params.identifier("name")?,
        from: params.time("from")?,
        to: params.time("to")?,
        order: params.order(Order::Desc)?,
        after: params.cursor()?,
        limit: params.limit()?,
        unreplayed_only: false,
    };
    let limit = query.limit;
    let entries = state.store.errors(query).await?;
    let (entries, next_cursor) = cursor::page(entries, limit, |last| Position {
        at: last.received_at,
        id: last.id,
    });
    Ok(Json(ErrorPage {
        errors: entries.into_iter().map(error_record).collect(),
        next_cursor,
    }))
}

#[utoipa::path(
    get, path = "/v1/errors/summary", tag = "errors",
    security(("bearer" = [])),
    params(
        ("from" = Option<QueryTimestamp>, Query, description = "Receive time from (inclusive)"),
        ("to" = Option<QueryTimestamp>, Query, description = "Receive time to (exclusive)"),
    ),
    responses(
        (status = 200, description = "Counts by code and by event type", body = eye_types::ErrorSummary),
        (status = 400, description = "`invalid_parameter`: the message names the parameter", body = eye_types::ErrorBody),
        super::openapi::KeyedRouteErrors,
    )
)]
pub async fn summary(
    State(state): State<AppState>,
    _: Authorized<QueryScope>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ErrorSummary>, ApiError> {
    let params = Params::parse(raw.as_deref(), SUMMARY_PARAMS)?;
    let counts = state
        .store
        .error_counts(params.time("from")?, params.time("to")?)
        .await?;
    Ok(Json(ErrorSummary {
        by_code: counts.by_code.into_iter().collect(),
        by_event_type: counts
            .by_event_type
            .into_iter()
            .map(|(category, name, count)| EventTypeCount {
                category,
                name,
                count,
            })
            .collect(),
    }))
}

pub(super) fn error_record(entry: ErrorEntry) -> ErrorRecord {
    ErrorRecord {
        id: entry.id.to_string(),
        code: entry.code,
        message: entry.message,
        path: entry.path,
        app: entry.app,
        received_at: format_micros(entry.received_at),
        category: entry.category,
        name: entry.name,
        session_id: entry.session_id,
        schema_version: entry.schema_version,
        raw: entry.raw,
        replayed_at: entry.replayed_at.map(format_micros),
        replayed_event_id: entry.replayed_event_id.map(|id| id.to_string()),
    }
}

/// `POST /v1/errors/replay` (admin): re-validates matching errors against the schemas in
/// force and stores those that pass.
#[utoipa::path(
    post, path = "/v1/errors/replay", tag = "errors",
    security(("bearer" = [])),
    request_body(content = eye_types::ReplayRequest, content_type = "application/json", description = "The filters of GET /v1/errors, and `dry_run`. Optional: no body (or only whitespace) replays every error not yet replayed"),
    responses(
        (status = 200, description = "What the replay did (or would do)", body = eye_types::ReplayResponse),
        (status = 400, description = "`invalid_body`: not JSON, an unknown field, or a filter against its rule (the message names it)", body = eye_types::ErrorBody),
        (status = 413, description = "`payload_too_large`: the body is over 2 MiB", body = eye_types::ErrorBody),
        super::openapi::KeyedRouteErrors,
    )
)]
pub async fn replay(
    State(state): State<AppState>,
    _: Authorized<AdminScope>,
    AdminBody(body): AdminBody,
) -> Result<Json<ReplayResponse>, ApiError> {
    let request: ReplayRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ReplayRequest::default()
    } else {
        json_body::object(&body).map_err(|e| {
            ApiError::invalid_body(format!(
                "send the filters of GET /v1/errors and `dry_run` as a JSON object: {e}"
            ))
        })?
    };
    let time = |name: &str, value: &Option<String>| -> Result<Option<i64>, ApiError> {
        value
            .as_deref()
            .map(|text| {
                parse_timestamp(text).ok_or_else(|| {
                    ApiError::invalid_body(format!("`{name}` is not a timestamp: {text:?}"))
                })
            })
            .transpose()
    };
    // The filters of GET /v1/errors, under its rules.
    let identifier = |name: &str, value: Option<String>| -> Result<Option<String>, ApiError> {
        if let Some(text) = &value {
            check_identifier(text, MAX_NAME_CHARS)
                .map_err(|problem| ApiError::invalid_body(format!("`{name}` {problem}")))?;
        }
        Ok(value)
    };
    let filter = ReplayFilter {
        from: time("from", &request.from)?,
        to: time("to", &request.to)?,
        code: identifier("code", request.code)?,
        app: identifier("app", request.app)?,
        category: identifier("category", request.category)?,
        name: identifier("name", request.name)?,
    };
    let outcome = replay::replay(
        &state.store,
        &state.schemas,
        &state.rules,
        &filter,
        request.dry_run,
    )
    .await?;
    let by_event_type = outcome
        .by_event_type
        .into_iter()
        .map(|((category, name), counts)| ReplayTypeCount {
            category,
            name,
            matched: counts.matched,
            passed: counts.passed,
            still_failing: counts.still_failing,
        })
        .collect();
    Ok(Json(ReplayResponse {
        matched: outcome.totals.matched,
        passed: outcome.totals.passed,
        still_failing: outcome.totals.still_failing,
        dry_run: request.dry_run,
        by_event_type,
    }))
}
