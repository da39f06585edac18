//! The error store as the data team reads it: `GET /v1/errors` and `GET /v1/errors/summary`.

use axum::Json;
use axum::extract::{RawQuery, State};
use eye_types::{ErrorPage, ErrorRecord, ErrorSummary, EventTypeCount};

use super::AppState;
use super::auth::{Authorized, QueryScope};
use super::cursor;
use super::error::ApiError;
use super::params::Params;
use crate::model::ErrorEntry;
use crate::store::{ErrorQuery, Order, Position};
use crate::timestamp::format_micros;

const ERROR_PARAMS: &[&str] = &[
    "code", "app", "category", "name", "from", "to", "order", "limit", "cursor",
];

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
    };
    let limit = query.limit;
    let mut entries = state.store.errors(query).await?;
    let more = entries.len() > limit;
    entries.truncate(limit);
    let next_cursor = more
        .then(|| {
            entries.last().map(|last| {
                cursor::encode(Position {
                    at: last.received_at,
                    id: last.id,
                })
            })
        })
        .flatten();
    Ok(Json(ErrorPage {
        errors: entries.into_iter().map(error_record).collect(),
        next_cursor,
    }))
}

pub async fn summary(
    State(state): State<AppState>,
    _: Authorized<QueryScope>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ErrorSummary>, ApiError> {
    let params = Params::parse(raw.as_deref(), &["from", "to"])?;
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

fn error_record(entry: ErrorEntry) -> ErrorRecord {
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
    }
}
