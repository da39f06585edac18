//! Schema administration: `GET /v1/schemas`, and `PUT`/`GET`/`DELETE /v1/schemas/{category}/{name}`.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use eye_types::schema::{Identifier, JsonSchema};
use eye_types::{SchemaInfo, SchemaList};
use serde_json::Value;

use super::AppState;
use super::api_error::ApiError;
use super::auth::{AdminScope, Authorized};
use super::bounded_body::AdminBody;
use super::json_body;
use super::params::Params;
use crate::ingest::catalog::{self, CatalogError};
use crate::ingest::json;
use crate::ingest::validation::{
    CompiledSchema, MAX_NAME_CHARS, SchemaRegistry, check_identifier, compile_schema,
    validate_event,
};
use crate::model::SchemaRecord;
use crate::model::timestamp::{format_micros, now_micros};

type TypePath = Result<Path<(String, String)>, PathRejection>;

pub(crate) const SCHEMA_PARAMS: &[&str] = &["version"];

#[utoipa::path(
    get, path = "/v1/schemas", tag = "schemas",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The schema in force for every type that has one", body = eye_types::SchemaList),
        super::openapi::KeyedRouteErrors,
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
        ("category" = Identifier, Path, description = "Event category, percent-encoded"),
        ("name" = Identifier, Path, description = "Event name, percent-encoded"),
        ("version" = Option<i64>, Query, description = "A past version (default: the one in force); 404 when the type never had it"),
    ),
    responses(
        (status = 200, description = "The schema", body = eye_types::SchemaInfo),
        (status = 400, description = "`invalid_parameter`: the message names the parameter", body = eye_types::ErrorBody),
        (status = 404, description = "`not_found`", body = eye_types::ErrorBody),
        super::openapi::KeyedRouteErrors,
    )
)]
pub async fn get(
    State(state): State<AppState>,
    _: Authorized<AdminScope>,
    path: TypePath,
    RawQuery(raw): RawQuery,
) -> Result<Json<SchemaInfo>, ApiError> {
    let (category, name) = event_type(path)?;
    let version = Params::parse(raw.as_deref(), SCHEMA_PARAMS)?.integer("version")?;
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
        ("category" = Identifier, Path, description = "Event category, percent-encoded"),
        ("name" = Identifier, Path, description = "Event name, percent-encoded"),
    ),
    request_body(content = JsonSchema, content_type = "application/json", description = "A JSON Schema (draft 2020-12 unless `$schema` says otherwise); remote `$ref`s are refused"),
    responses(
        (status = 201, description = "The type had no schema in force: version created", body = eye_types::SchemaInfo),
        (status = 200, description = "A new version (or the same, when unchanged) is in force", body = eye_types::SchemaInfo),
        (status = 400, description = "`invalid_schema` (does not compile: the message gives the JSON pointer of the keyword at fault and what is allowed there; a remote `$ref` is refused as such), `malformed_json` or `invalid_parameter`", body = eye_types::ErrorBody),
        (status = 413, description = "`payload_too_large`: the body is over 2 MiB", body = eye_types::ErrorBody),
        super::openapi::KeyedRouteErrors,
    )
)]
pub async fn put(
    State(state): State<AppState>,
    _: Authorized<AdminScope>,
    path: TypePath,
    AdminBody(body): AdminBody,
) -> Result<Response, ApiError> {
    let (category, name) = event_type(path)?;
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
        ("category" = Identifier, Path, description = "Event category, percent-encoded"),
        ("name" = Identifier, Path, description = "Event name, percent-encoded"),
    ),
    responses(
        (status = 204, description = "Deleted (recorded as a new version)"),
        (status = 400, description = "`invalid_parameter`: the message names the parameter", body = eye_types::ErrorBody),
        (status = 404, description = "`not_found`: the type has no schema", body = eye_types::ErrorBody),
        super::openapi::KeyedRouteErrors,
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

/// `POST /v1/schemas/validate`: the "try it" of the console.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TryRequest {
    /// The JSON Schema to try; not saved.
    #[schema(value_type = JsonSchema)]
    schema: Value,
    /// A sample event, judged as ingest would judge an element of a batch now, with `schema`
    /// for its type: any JSON value, a non-object being `invalid_event`.
    #[schema(value_type = Value)]
    event: Value,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct TryResponse {
    valid: bool,
    error: Option<eye_types::EventError>,
}

#[utoipa::path(
    post, path = "/v1/schemas/validate", tag = "schemas",
    security(("bearer" = [])),
    request_body(content = TryRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The verdict on the sample event", body = TryResponse),
        (status = 400, description = "`invalid_schema` (the message gives the JSON pointer of the keyword at fault and what is allowed there), `malformed_json` or `invalid_body`", body = eye_types::ErrorBody),
        (status = 413, description = "`payload_too_large`: the body is over 2 MiB", body = eye_types::ErrorBody),
        super::openapi::KeyedRouteErrors,
    )
)]
pub async fn validate(
    State(state): State<AppState>,
    _: Authorized<AdminScope>,
    AdminBody(body): AdminBody,
) -> Result<Json<TryResponse>, ApiError> {
    let document = json::parse_strict(&body)
        .map_err(|e| ApiError::malformed_json(format!("the body is not JSON: {e}")))?;
    let request: TryRequest = json_body::from_object(document).map_err(|e| {
        ApiError::invalid_body(format!(
            "send {{\"schema\": {{...}}, \"event\": {{...}}}}: {e}"
        ))
    })?;
    let validator =
        compile_schema(&request.schema).map_err(|e| ApiError::invalid_schema(e.to_string()))?;
    let category = request
        .event
        .get("category")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = request
        .event
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let registry = SchemaRegistry::default();
    registry.insert(category, name, CompiledSchema::new(0, validator));
    let verdict = validate_event(&request.event, now_micros(), &state.rules, &registry);
    Ok(Json(match verdict {
        Ok(_) => TryResponse {
            valid: true,
            error: None,
        },
        Err(rejection) => TryResponse {
            valid: false,
            error: Some(eye_types::EventError {
                code: rejection.code.as_str().to_owned(),
                message: rejection.message,
                path: rejection.path,
            }),
        },
    }))
}
