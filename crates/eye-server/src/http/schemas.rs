//! Schema administration: `GET /v1/schemas`, and `PUT`/`GET`/`DELETE /v1/schemas/{category}/{name}`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use eye_types::{SchemaInfo, SchemaList};
use serde_json::Value;

use super::AppState;
use super::auth::{AdminScope, Authorized};
use super::error::ApiError;
use super::params::Params;
use crate::catalog::{self, CatalogError};
use crate::json;
use crate::model::SchemaRecord;
use crate::timestamp::format_micros;
use crate::validation::{MAX_NAME_CHARS, check_identifier};

type TypePath = Result<Path<(String, String)>, PathRejection>;

#[utoipa::path(
    get, path = "/v1/schemas", tag = "schemas",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The schema in force for every type that has one", body = eye_types::SchemaList),
        (status = 401, description = "`unauthorized`: no key, a malformed header, or an unknown or revoked key", body = eye_types::ErrorBody),
        (status = 403, description = "`forbidden`: the key lacks the scope", body = eye_types::ErrorBody),
        (status = 503, description = "`unavailable`: the store or queue cannot be used right now; see `Retry-After`", body = eye_types::ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    _: Authorized<AdminScope>,
) -> Result<Json<SchemaList>, ApiError> {
    let records = state.store.schemas().await?;
    Ok(Json(SchemaList {
        schemas: records.into_iter().map(schema_info).collect(),
    }))
}

#[utoipa::path(
    get, path = "/v1/schemas/{category}/{name}", tag = "schemas",
    security(("bearer" = [])),
    params(
        ("category" = String, Path, description = "Event category, percent-encoded"),
        ("name" = String, Path, description = "Event name, percent-encoded"),
        ("version" = Option<i64>, Query, description = "A past version (default: the one in force)"),
    ),
    responses(
        (status = 200, description = "The schema", body = eye_types::SchemaInfo),
        (status = 400, description = "`invalid_parameter`: the message names the parameter", body = eye_types::ErrorBody),
        (status = 401, description = "`unauthorized`: no key, a malformed header, or an unknown or revoked key", body = eye_types::ErrorBody),
        (status = 403, description = "`forbidden`: the key lacks the scope", body = eye_types::ErrorBody),
        (status = 404, description = "`not_found`", body = eye_types::ErrorBody),
        (status = 503, description = "`unavailable`: the store or queue cannot be used right now; see `Retry-After`", body = eye_types::ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    _: Authorized<AdminScope>,
    path: TypePath,
    RawQuery(raw): RawQuery,
) -> Result<Json<SchemaInfo>, ApiError> {
    let (category, name) = event_type(path)?;
    let version = Params::parse(raw.as_deref(), &["version"])?.integer("version")?;
    let record = state.store.schema(&category, &name, version).await?;
    let record = record
        .ok_or_else(|| ApiError::not_found(format!("no schema for ({category:?}, {name:?})")))?;
    Ok(Json(schema_info(record)))
}

/// 201 when the type had no schema in force, 200 when it replaced (or equalled) one.
#[utoipa::path(
    put, path = "/v1/schemas/{category}/{name}", tag = "schemas",
    security(("bearer" = [])),
    params(
        ("category" = String, Path, description = "Event category, percent-encoded"),
        ("name" = String, Path, description = "Event name, percent-encoded"),
    ),
    request_body(content = Object, content_type = "application/json", description = "A JSON Schema (draft 2020-12 unless `$schema` says otherwise); remote `$ref`s are refused"),
    responses(
        (status = 201, description = "The type had no schema in force: version created", body = eye_types::SchemaInfo),
        (status = 200, description = "A new version (or the same, when unchanged) is in force", body = eye_types::SchemaInfo),
        (status = 400, description = "`invalid_schema` (does not compile), `malformed_json` or `invalid_parameter`", body = eye_types::ErrorBody),
        (status = 401, description = "`unauthorized`: no key, a malformed header, or an unknown or revoked key", body = eye_types::ErrorBody),
        (status = 403, description = "`forbidden`: the key lacks the scope", body = eye_types::ErrorBody),
        (status = 503, description = "`unavailable`: the store or queue cannot be used right now; see `Retry-After`", body = eye_types::ErrorBody),
    )
)]
pub async fn put(
    State(state): State<AppState>,
    _: Authorized<AdminScope>,
    path: TypePath,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (category, name) = event_type(path)?;
    let body = body.map_err(|e| ApiError::payload_too_large(e.body_text()))?;
    let schema: Value = json::parse_strict(&body).map_err(|e| {
        ApiError::malformed_json(format!("the body must be a JSON Schema document: {e}"))
    })?;
    let had_one = state.schemas.get(&category, &name).is_some();
    let (record, _) = catalog::put(
        state.store.as_ref(),
        &state.schemas,
        &category,
        &name,
        &schema,
    )
    .await
    .map_err(|error| match error {
        CatalogError::Invalid(problem) => ApiError::invalid_schema(problem.to_string()),
        CatalogError::Store(error) => error.into(),
    })?;
    let status = if had_one {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(schema_info(record))).into_response())
}

#[utoipa::path(
    delete, path = "/v1/schemas/{category}/{name}", tag = "schemas",
    security(("bearer" = [])),
    params(
        ("category" = String, Path, description = "Event category, percent-encoded"),
        ("name" = String, Path, description = "Event name, percent-encoded"),
    ),
    responses(
        (status = 204, description = "Deleted (recorded as a new version)"),
        (status = 400, description = "`invalid_parameter`: the message names the parameter", body = eye_types::ErrorBody),
        (status = 401, description = "`unauthorized`: no key, a malformed header, or an unknown or revoked key", body = eye_types::ErrorBody),
        (status = 403, description = "`forbidden`: the key lacks the scope", body = eye_types::ErrorBody),
        (status = 404, description = "`not_found`: the type has no schema", body = eye_types::ErrorBody),
        (status = 503, description = "`unavailable`: the store or queue cannot be used right now; see `Retry-After`", body = eye_types::ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    _: Authorized<AdminScope>,
    path: TypePath,
) -> Result<StatusCode, ApiError> {
    let (category, name) = event_type(path)?;
    if catalog::delete(state.store.as_ref(), &state.schemas, &category, &name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "no schema for ({category:?}, {name:?})"
        )))
    }
}

fn event_type(path: TypePath) -> Result<(String, String), ApiError> {
    let Path((category, name)) =
        path.map_err(|e| ApiError::invalid_parameter("path", e.body_text()))?;
    check_identifier(&category, MAX_NAME_CHARS)
        .map_err(|p| ApiError::invalid_parameter("category", p))?;
    check_identifier(&name, MAX_NAME_CHARS).map_err(|p| ApiError::invalid_parameter("name", p))?;
    Ok((category, name))
}

fn schema_info(record: SchemaRecord) -> SchemaInfo {
    SchemaInfo {
        category: record.category,
        name: record.name,
        version: record.version,
        schema: serde_json::from_str(&record.schema).unwrap_or(Value::String(record.schema)),
        created_at: format_micros(record.created_at),
    }
}
