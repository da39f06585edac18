//! Where the Segment-style SDKs put the key: the username of HTTP Basic authentication (with
//! an empty password), a Bearer token, or `writeKey` in the JSON body (the Python SDK sends
//! no header at all). Only a key with the ingest scope may send; another is 403, as on every
//! route.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::super::AppState;
use super::super::api_error::ApiError;
use super::super::auth::{Principal, principal_of};
use crate::model::Scope;

/// The key of an `Authorization` header, if there is one.
pub fn from_headers(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(header) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let unreadable = || {
        ApiError::unauthorized(
            "the Authorization header must read `Basic <base64 of KEY:>` or `Bearer <KEY>`",
        )
    };
    let (scheme, value) = header
        .to_str()
        .ok()
        .and_then(|value| value.trim().split_once(' '))
        .ok_or_else(unreadable)?;
    let value = value.trim();
    if scheme.eq_ignore_ascii_case("bearer") && !value.is_empty() {
        return Ok(Some(value.to_owned()));
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(unreadable());
    }
    let decoded = STANDARD
        .decode(value)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(unreadable)?;
    // The key is the username; an SDK that puts it in the password instead is read too.
    let (username, password) = decoded.split_once(':').unwrap_or((&decoded, ""));
    let secret = if username.is_empty() {
        password
    } else {
        username
    };
    if secret.is_empty() {
        return Err(unreadable());
    }
    Ok(Some(secret.to_owned()))
}

/// The `writeKey` of a body that came without an `Authorization` header.
pub fn from_body(document: &Value) -> Result<String, ApiError> {
    match document.get("writeKey") {
        Some(Value::String(secret)) if !secret.is_empty() => Ok(secret.clone()),
        None | Some(Value::Null) | Some(Value::String(_)) => Err(missing()),
        Some(_) => Err(ApiError::invalid_body(
            "`writeKey` must be a string: the ingest key",
        )),
    }
}

/// The answer to a request with no key anywhere.
pub fn missing() -> ApiError {
    ApiError::unauthorized(
        "send the ingest key as the username of Basic authentication, as a Bearer token, or as `writeKey` in the body",
    )
}

/// The principal of a live key with the ingest scope.
pub async fn ingest_principal(secret: &str, state: &AppState) -> Result<Principal, ApiError> {
    let principal = principal_of(secret, state).await?;
    if !principal.scopes.contains(&Scope::Ingest) {
        return Err(ApiError::forbidden(
            "this key lacks the `ingest` scope this route needs: send events with an ingest key",
        ));
    }
    Ok(principal)
}
