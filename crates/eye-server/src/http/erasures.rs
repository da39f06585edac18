//! Erasure of sessions, for a visitor who asks to be forgotten: `POST /v1/erasures` records a
//! job that a worker runs (`pipeline::erasure`); `GET /v1/erasures[/{id}]` shows its progress
//! and, once done, what it removed.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use eye_types::{ErasureInfo, ErasureList};
use serde_json::{Map, Value};

use super::AppState;
use super::api_error::ApiError;
use super::auth::{AdminScope, Authorized};
use super::bounded_body::AdminBody;
use super::params::Params;
use crate::ingest::validation::{MAX_NAME_CHARS, check_identifier};
use crate::model::timestamp::{format_micros, now_micros};
use crate::store::{Erasure, ErasureRequest};

/// Most sessions one erasure may name.
pub const MAX_SESSIONS: usize = 10_000;

pub(crate) const ERASURE_LIST_PARAMS: &[&str] = &["limit"];

#[utoipa::path(
    post, path = "/v1/erasures", tag = "erasures",
    security(("bearer" = [])),
    request_body(content = eye_types::ErasureRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "The erasure is recorded as `pending`; follow it with `GET /v1/erasures/{id}`", body = eye_types::ErasureInfo),
        (status = 400, description = "`invalid_body`: not a JSON object, or a field against its rule (the message names the field: `session_ids` empty, over 10,000, or an element not a session id)", body = eye_types::ErrorBody),
        (status = 413, description = "`payload_too_large`: the body is over 2 MiB", body = eye_types::ErrorBody),
        super::openapi::KeyedRouteErrors,
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<AdminScope>,
    AdminBody(body): AdminBody,
) -> Result<(StatusCode, Json<ErasureInfo>), ApiError> {
    let request = read_request(&body, principal.key_id).map_err(ApiError::invalid_body)?;
    let erasure = state.store.create_erasure(request, now_micros()).await?;
    if erasure.request.suppress {
        state.suppressions.add(&erasure.request);
    }
    state.erasure_wakeup.notify_one();
    Ok((StatusCode::ACCEPTED, Json(erasure_info(erasure))))
}

#[utoipa::path(
    get, path = "/v1/erasures", tag = "erasures",
    security(("bearer" = [])),
    params(("limit" = Option<super::params::PageLimit>, Query)),
    responses(
        (status = 200, description = "The most recent erasures, newest first", body = eye_types::ErasureList),
        (status = 400, description = "`invalid_parameter`: the message names the parameter", body = eye_types::ErrorBody),
        super::openapi::KeyedRouteErrors,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    _: Authorized<AdminScope>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ErasureList>, ApiError> {
    let limit = Params::parse(raw.as_deref(), ERASURE_LIST_PARAMS)?.limit()?;
    let erasures = state.store.erasures(limit).await?;
    Ok(Json(ErasureList {
        erasures: erasures.into_iter().map(erasure_info).collect(),
    }))
}

#[utoipa::path(
    get, path = "/v1/erasures/{id}", tag = "erasures",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The erasure's id, as `POST /v1/erasures` gave it")),
    responses(
        (status = 200, description = "The erasure and its progress", body = eye_types::ErasureInfo),
        (status = 404, description = "`not_found`: no erasure has this id", body = eye_types::ErrorBody),
        super::openapi::KeyedRouteErrors,
    )
)]
pub async fn get(
    State(state): State<AppState>,
    _: Authorized<AdminScope>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<ErasureInfo>, ApiError> {
    let Path(id) = path.map_err(|e| ApiError::invalid_parameter("id", e.body_text()))?;
    let erasure = state.store.erasure(&id).await?;
    let erasure = erasure.ok_or_else(|| {
        ApiError::not_found(format!(
            "no erasure has the id {:?}; `GET /v1/erasures` lists them",
            crate::auth::keys::redact(&id)
        ))
    })?;
    Ok(Json(erasure_info(erasure)))
}

/// The request, checked field by field so that the message names the one at fault.
fn read_request(body: &[u8], requested_by: String) -> Result<ErasureRequest, String> {
    const SHAPE: &str = r#"send {"session_ids": ["..."], "app": "optional", "suppress": false}"#;
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("{SHAPE}: not JSON: {e}"))?;
    let Value::Object(mut object) = value else {
        return Err(format!("{SHAPE}: the body must be a JSON object"));
    };
    if let Some(unknown) = object
        .keys()
        .find(|key| !["session_ids", "app", "suppress"].contains(&key.as_str()))
    {
        return Err(format!(
            "unknown field {unknown:?}: an erasure has only session_ids, app and suppress"
        ));
    }
    let session_ids = session_ids(&mut object)?;
    let app = match object.remove("app") {
        None | Some(Value::Null) => None,
        Some(Value::String(app)) => {
            check_identifier(&app, MAX_NAME_CHARS).map_err(|p| format!("`app` {p}"))?;
            Some(app)
        }
        Some(other) => {
            return Err(format!(
                "`app` must be an application name (a string), not {other}"
            ));
        }
    };
    let suppress = match object.remove("suppress") {
        None => false,
        Some(Value::Bool(suppress)) => suppress,
        Some(other) => return Err(format!("`suppress` must be true or false, not {other}")),
    };
    Ok(ErasureRequest {
        session_ids,
        app,
        suppress,
        requested_by,
    })
}

fn session_ids(object: &mut Map<String, Value>) -> Result<Vec<String>, String> {
    let ids = match object.remove("session_ids") {
        Some(Value::Array(ids)) => ids,
        None | Some(Value::Null) => {
            return Err("`session_ids` is required: the sessions to forget".to_owned());
        }
        Some(other) => {
            return Err(format!(
                "`session_ids` must be an array of session ids, not {other}"
            ));
        }
    };
    if ids.is_empty() {
        return Err("`session_ids` must name at least one session".to_owned());
    }
    if ids.len() > MAX_SESSIONS {
        return Err(format!(
            "`session_ids` names {} sessions; one erasure takes at most {MAX_SESSIONS} (send several)",
            ids.len()
        ));
    }
    let mut checked: Vec<String> = Vec::with_capacity(ids.len());
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    for (index, id) in ids.into_iter().enumerate() {
        let Value::String(id) = id else {
            return Err(format!(
                "`session_ids[{index}]` must be a session id (a string), not {id}"
            ));
        };
        check_identifier(&id, MAX_NAME_CHARS).map_err(|p| format!("`session_ids[{index}]` {p}"))?;
        if seen.insert(id.clone()) {
            checked.push(id);
        }
    }
    Ok(checked)
}

pub(crate) fn erasure_info(erasure: Erasure) -> ErasureInfo {
    ErasureInfo {
        id: erasure.id,
        status: erasure.status.as_str().to_owned(),
        session_ids: erasure.request.session_ids,
        app: erasure.request.app,
        suppress: erasure.request.suppress,
        requested_by: erasure.request.requested_by,
        requested_at: format_micros(erasure.requested_at),
        completed_at: erasure.completed_at.map(format_micros),
        events_deleted: erasure.events_deleted,
        errors_deleted: erasure.errors_deleted,
        failure: erasure.failure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(body: &str) -> Result<ErasureRequest, String> {
        read_request(body.as_bytes(), "key_1".into())
    }

    #[test]
    fn a_request_is_read_with_its_defaults() {
        let request = read(r#"{"session_ids": ["s1", "s2", "s1"]}"#).expect("valid");
        assert_eq!(request.session_ids, ["s1", "s2"]);
        assert_eq!((request.app, request.suppress), (None, false));
        let request =
            read(r#"{"session_ids": ["s1"], "app": "shop", "suppress": true}"#).expect("valid");
        assert_eq!(
            (request.app.as_deref(), request.suppress),
            (Some("shop"), true)
        );
    }

    #[test]
    fn bad_requests_name_the_field() {
        let too_many = format!(r#"{{"session_ids": {:?}}}"#, vec!["s"; MAX_SESSIONS + 1]);
        for (body, field) in [
            ("[]", "JSON object"),
            ("{}", "`session_ids` is required"),
            (
                r#"{"session_ids": []}"#,
                "`session_ids` must name at least one",
            ),
            (r#"{"session_ids": "s1"}"#, "`session_ids` must be an array"),
            (r#"{"session_ids": ["s1", 7]}"#, "`session_ids[1]`"),
            (r#"{"session_ids": [""]}"#, "`session_ids[0]`"),
            (too_many.as_str(), "at most 10000"),
            (r#"{"session_ids": ["s"], "app": 3}"#, "`app`"),
            (r#"{"session_ids": ["s"], "suppress": "yes"}"#, "`suppress`"),
            (
                r#"{"session_ids": ["s"], "sessions": ["s"]}"#,
                "unknown field \"sessions\"",
            ),
        ] {
            let error = read(body).expect_err(body);
            assert!(error.contains(field), "{body}: {error}");
        }
    }
}
