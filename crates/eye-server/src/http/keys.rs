//! Key administration over HTTP: `GET /v1/keys`, `POST /v1/keys`, `DELETE /v1/keys/{id}`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use eye_types::{CreateKeyRequest, CreatedKey, KeyInfo, KeyList};

use super::AppState;
use super::auth::{AdminScope, Authorized};
use super::error::ApiError;
use crate::keys;
use crate::model::{KeyRecord, Scope};
use crate::timestamp::format_micros;
use crate::validation::{MAX_NAME_CHARS, check_identifier};

#[utoipa::path(
    get, path = "/v1/keys", tag = "keys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every key, never its secret", body = eye_types::KeyList),
        (status = 401, description = "`unauthorized`: no key, a malformed header, or an unknown or revoked key", body = eye_types::ErrorBody),
        (status = 403, description = "`forbidden`: the key lacks the scope", body = eye_types::ErrorBody),
        (status = 503, description = "`unavailable`: the store or queue cannot be used right now; see `Retry-After`", body = eye_types::ErrorBody),
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
        (status = 400, description = "`invalid_body`", body = eye_types::ErrorBody),
        (status = 401, description = "`unauthorized`: no key, a malformed header, or an unknown or revoked key", body = eye_types::ErrorBody),
        (status = 403, description = "`forbidden`: the key lacks the scope", body = eye_types::ErrorBody),
        (status = 503, description = "`unavailable`: the store or queue cannot be used right now; see `Retry-After`", body = eye_types::ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    _: Authorized<AdminScope>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let body = body.map_err(|e| ApiError::payload_too_large(e.body_text()))?;
    let request: CreateKeyRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::invalid_body(format!(
            "send {{\"app\": \"...\", \"scopes\": [\"ingest\"]}}: {e}"
        ))
    })?;
    check_identifier(&request.app, MAX_NAME_CHARS)
        .map_err(|p| ApiError::invalid_body(format!("`app` {p}")))?;
    let scopes = parse_scopes(&request.scopes).map_err(ApiError::invalid_body)?;
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
        (status = 401, description = "`unauthorized`: no key, a malformed header, or an unknown or revoked key", body = eye_types::ErrorBody),
        (status = 403, description = "`forbidden`: the key lacks the scope", body = eye_types::ErrorBody),
        (status = 404, description = "`not_found`", body = eye_types::ErrorBody),
        (status = 503, description = "`unavailable`: the store or queue cannot be used right now; see `Retry-After`", body = eye_types::ErrorBody),
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
pub fn parse_scopes(names: &[String]) -> Result<Vec<Scope>, String> {
    if names.is_empty() {
        return Err("give at least one scope: ingest, query or admin".into());
    }
    names
        .iter()
        .map(|name| {
            Scope::parse(name)
                .ok_or_else(|| format!("unknown scope {name:?}: use ingest, query or admin"))
        })
        .collect()
}

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
