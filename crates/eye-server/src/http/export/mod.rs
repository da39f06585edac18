//! `GET /v1/events/export` and `GET /v1/errors/export`: every record matching the filters
//! of the listing routes, in time order, streamed as NDJSON, CSV or Parquet with no row
//! limit (see `producer` for how memory stays bounded and a client going away stops it).

mod csv;
mod ndjson;
mod parquet;
mod producer;
mod table;

use std::io::{self, Write};
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use eye_types::schema::{Identifier, QueryTimestamp};

use super::AppState;
use super::api_error::ApiError;
use super::auth::{Authorized, QueryScope};
use super::params::Params;
use crate::model::{ErrorEntry, EventRecord};
use crate::store::{ErrorQuery, EventQuery, Order};
use table::Row;

pub(crate) const EVENT_EXPORT_PARAMS: &[&str] = &[
    "session_id",
    "user_id",
    "category",
    "name",
    "app",
    "from",
    "to",
    "format",
];
pub(crate) const ERROR_EXPORT_PARAMS: &[&str] =
    &["code", "app", "category", "name", "from", "to", "format"];

/// Exports one node streams at once: each holds a blocking thread, a page and an encoder's
/// buffer for as long as its client reads, so a few slow readers must not exhaust either.
pub const MAX_CONCURRENT_EXPORTS: usize = 4;

/// The file format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum ExportFormat {
    /// One JSON object per line, as the listing route gives each record (the default).
    Ndjson,
    /// RFC 4180, a header row, one column per field; `data` and `context` as JSON strings.
    Csv,
    /// Typed columns (timestamps as TIMESTAMP(MICROS, UTC)); `data` and `context` as JSON
    /// strings.
    Parquet,
}

impl ExportFormat {
    const ALL: [ExportFormat; 3] = [
        ExportFormat::Ndjson,
        ExportFormat::Csv,
        ExportFormat::Parquet,
    ];

    fn from_params(params: &Params) -> Result<ExportFormat, ApiError> {
        let refused = || {
            ApiError::invalid_parameter(
                "format",
                "not an export format: use ndjson (the default), csv or parquet",
            )
        };
        let Some(value) = params.identifier("format").map_err(|_| refused())? else {
            return Ok(ExportFormat::Ndjson);
        };
        Self::ALL
            .into_iter()
            .find(|format| format.name() == value)
            .ok_or_else(refused)
    }

    /// The name in `format=` and the label of `eye_export_rows_total`.
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Ndjson => "ndjson",
            ExportFormat::Csv => "csv",
            ExportFormat::Parquet => "parquet",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Ndjson => "application/x-ndjson",
            ExportFormat::Csv => "text/csv; charset=utf-8; header=present",
            ExportFormat::Parquet => "application/vnd.apache.parquet",
        }
    }

    fn encoder<R: Row, W: Write + Send + 'static>(
        self,
        out: W,
    ) -> io::Result<Box<dyn Encoder<R> + Send>> {
        Ok(match self {
            ExportFormat::Ndjson => Box::new(ndjson::NdjsonEncoder::new(out)),
            ExportFormat::Csv => Box::new(csv::CsvEncoder::new::<R>(out)?),
            ExportFormat::Parquet => Box::new(parquet::ParquetEncoder::new::<R>(out)?),
        })
    }
}

/// Writes rows in one format.
trait Encoder<R> {
    fn write(&mut self, row: R) -> io::Result<()>;
    /// Hands what was encoded so far to the client (after each page).
    fn flush(&mut self) -> io::Result<()>;
    /// Ends the file (Parquet: the last row group and the footer).
    fn finish(self: Box<Self>) -> io::Result<()>;
}

#[utoipa::path(
    get, path = "/v1/events/export", tag = "query",
    security(("bearer" = [])),
    params(
        ("session_id" = Option<Identifier>, Query, description = "Only this session"),
        ("user_id" = Option<eye_types::schema::UserId>, Query, description = "Only events sent with this `user_id`"),
        ("category" = Option<Identifier>, Query, description = "Only this category"),
        ("name" = Option<Identifier>, Query, description = "Only this event name"),
        ("app" = Option<Identifier>, Query, description = "Only events of this application"),
        ("from" = Option<QueryTimestamp>, Query, description = "Event timestamp from (inclusive): RFC 3339 or `2021-01-01 09:15:27`"),
        ("to" = Option<QueryTimestamp>, Query, description = "Event timestamp to (exclusive)"),
        ("format" = Option<ExportFormat>, Query, description = "`ndjson` (the default), `csv` or `parquet`"),
    ),
    responses(
        (status = 200, description = "Every matching event, ordered by timestamp then id, streamed; `Content-Disposition` names the file (`events.csv`). Columns, in this order: id, app, session_id, category, name, timestamp, received_at, event_id, schema_version, data (a JSON string), user_id, context (a JSON string), original_timestamp (the timestamp as the client sent it; it differs from `timestamp` when The Eye corrected the client's clock). NDJSON lines are the records of `GET /v1/events`. A transfer cut before its end is an error, never a complete file", content(
            (String = "application/x-ndjson"),
            (String = "text/csv"),
            (Vec<u8> = "application/vnd.apache.parquet"),
        )),
        (status = 400, description = "`invalid_parameter`: the message names the parameter", body = eye_types::ErrorBody),
        (status = 429, description = "`too_many_exports`: the node already streams its limit of exports at once (4); retry after `Retry-After` seconds", body = eye_types::ErrorBody),
        super::openapi::KeyedRouteErrors,
    )
)]
pub async fn events(
    State(state): State<AppState>,
    _: Authorized<QueryScope>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref(), EVENT_EXPORT_PARAMS)?;
    let format = ExportFormat::from_params(&params)?;
    let (from, to) = params.range()?;
    let query = EventQuery {
        session_id: params.identifier("session_id")?,
        user_id: params.identifier("user_id")?,
        category: params.identifier("category")?,
        name: params.identifier("name")?,
        app: params.identifier("app")?,
        from,
        to,
        order: Order::Asc,
        after: None,
        limit: producer::PAGE_ROWS,
    };
    respond::<EventRecord>(&state, query, format).await
}

#[utoipa::path(
    get, path = "/v1/errors/export", tag = "errors",
    security(("bearer" = [])),
    params(
        ("code" = Option<Identifier>, Query, description = "Only this error code"),
        ("app" = Option<Identifier>, Query, description = "Only this application"),
        ("category" = Option<Identifier>, Query, description = "Only this category"),
        ("name" = Option<Identifier>, Query, description = "Only this event name"),
        ("from" = Option<QueryTimestamp>, Query, description = "Receive time from (inclusive)"),
        ("to" = Option<QueryTimestamp>, Query, description = "Receive time to (exclusive)"),
        ("format" = Option<ExportFormat>, Query, description = "`ndjson` (the default), `csv` or `parquet`"),
    ),
    responses(
        (status = 200, description = "Every matching error record, oldest first (receive time, then id), streamed; `Content-Disposition` names the file (`errors.parquet`). Columns: id, code, message, path, app, received_at, category, name, session_id, schema_version, raw, replayed_at, replayed_event_id. A transfer cut before its end is an error, never a complete file", content(
            (String = "application/x-ndjson"),
            (String = "text/csv"),
            (Vec<u8> = "application/vnd.apache.parquet"),
        )),
        (status = 400, description = "`invalid_parameter`: the message names the parameter", body = eye_types::ErrorBody),
        (status = 429, description = "`too_many_exports`: the node already streams its limit of exports at once (4); retry after `Retry-After` seconds", body = eye_types::ErrorBody),
        super::openapi::KeyedRouteErrors,
    )
)]
pub async fn errors(
    State(state): State<AppState>,
    _: Authorized<QueryScope>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref(), ERROR_EXPORT_PARAMS)?;
    let format = ExportFormat::from_params(&params)?;
    let (from, to) = params.range()?;
    let query = ErrorQuery {
        code: params.identifier("code")?,
        app: params.identifier("app")?,
        category: params.identifier("category")?,
        name: params.identifier("name")?,
        from,
        to,
        order: Order::Asc,
        after: None,
        limit: producer::PAGE_ROWS,
        unreplayed_only: false,
    };
    respond::<ErrorEntry>(&state, query, format).await
}

/// Starts the export (its first page read, so that a failing store is an ordinary error
/// answer) and answers with the streamed file.
async fn respond<R: Row>(
    state: &AppState,
    query: R::Query,
    format: ExportFormat,
) -> Result<Response, ApiError> {
    let permit = Arc::clone(&state.export_slots)
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_exports",
            format!(
                "this node already streams {MAX_CONCURRENT_EXPORTS} exports (each holds a thread \
                 and a buffer until its client has read it all); retry when one has finished"
            ),
        )
        .retry_after(5)
        })?;
    let body = producer::start::<R>(state.store.clone(), query, format, permit).await?;
    let disposition = format!("attachment; filename=\"{}.{}\"", R::KIND, format.name());
    let headers = [
        (CONTENT_TYPE, format.content_type().to_owned()),
        (CONTENT_DISPOSITION, disposition),
        (CACHE_CONTROL, "no-store".to_owned()),
    ];
    Ok((headers, body).into_response())
}
