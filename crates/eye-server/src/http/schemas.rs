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

pub async fn list(
    State(state): State<AppState>,
    _: Authorized<AdminScope>,
) -> Result<Json<SchemaList>, ApiError> {
    let records = state.store.schemas().await?;
    Ok(Json(SchemaList {
        schemas: records.into_iter().map(schema_info).collect(),
    }))
}

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
