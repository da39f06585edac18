//! Key administration over HTTP: `GET /v1/keys`, `POST /v1/keys`, `DELETE /v1/keys/{id}`.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use eye_types::{CreateKeyRequest, CreatedKey, KeyInfo, KeyList};

use super::AppState;
use super::api_error::ApiError;
use super::auth::{AdminScope, Authorized};
use super::bounded_body::AdminBody;
use super::json_body;
use crate::auth::keys;
use crate::ingest::validation::{MAX_NAME_CHARS, check_identifier};
use crate::model::timestamp::format_micros;
use crate::model::{KeyRecord, Scope};

#[utoipa::path(
    get, path = "/v1/keys", tag = "keys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every key, never its secret", body = eye_types::KeyList),
        super::openapi::KeyedRouteErrors,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    _: Authorized<AdminScope>,
) -> Result<Json<KeyList>, ApiError> {
    let keys = state.store.keys().await?;
    Ok(Json(KeyList {
        keys: keys.into_iter().map(key_info).collect(),
    }))
}

#[utoipa::path(
    post, path = "/v1/keys", tag = "keys",
    security(("bearer" = [])),
    request_body(content = eye_types::CreateKeyRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The key, shown this once", body = eye_types::CreatedKey),
        (status = 400, description = "`invalid_body`: not JSON, or `app` or `scopes` against its rule (the message says which)", body = eye_types::ErrorBody),
        (status = 413, description = "`payload_too_large`: the body is over 2 MiB", body = eye_types::ErrorBody),
        super::openapi::KeyedRouteErrors,
    )
)]
pub async fn create(
    State(state): State<AppState>,
    _: Authorized<AdminScope>,
    AdminBody(body): AdminBody,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let request: CreateKeyRequest = json_body::object(&body).map_err(|e| {
        ApiError::invalid_body(format!(
            "send {{\"app\": \"...\", \"scopes\": [\"ingest\"]}}: {e}"
        ))
    })?;
    check_identifier(&request.app, MAX_NAME_CHARS)
        .map_err(|p| ApiError::invalid_body(format!("`app` {p}")))?;
    let scopes = Scope::parse_all(&request.scopes).map_err(ApiError::invalid_body)?;
    let new_key = keys::generate();
    let record = state
        .store
        .create_key(&request.app, &scopes, new_key.hash)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key: new_key.secret,
            info: key_info(record),
        }),
    ))
}

#[utoipa::path(
    delete, path = "/v1/keys/{id}", tag = "keys",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The key id, as listed")),
    responses(
        (status = 200, description = "The key, now revoked", body = eye_types::KeyInfo),
        (status = 404, description = "`not_found`", body = eye_types::ErrorBody),
        super::openapi::KeyedRouteErrors,
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    _: Authorized<AdminScope>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<KeyInfo>, ApiError> {
    let Path(id) = path.map_err(|e| ApiError::invalid_parameter("id", e.body_text()))?;
    Ok(Json(key_info(state.store.revoke_key(&id).await?)))
}

/// Parses scope names; at least one, each of `ingest`, `query`, `admin`.
pub fn key_info(record: KeyRecord) -> KeyInfo {
    KeyInfo {
        id: record.id,
        app: record.app,
        scopes: record
            .scopes
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect(),
        created_at: format_micros(record.created_at),
        revoked_at: record.revoked_at.map(format_micros),
    }
}
