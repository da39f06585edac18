//! Bearer-key authentication and scope checks, as an extractor: a handler that takes
//! `Authorized<QueryScope>` runs only for a live key holding the `query` scope.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::AppState;
use super::api_error::ApiError;
use crate::auth::keys;
use crate::model::Scope;

/// Keys longer than this are refused unread.
const MAX_KEY_CHARS: usize = 256;

/// Who is calling: the application a live key belongs to.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The key's id (never its secret), to record who asked for something.
    pub key_id: String,
    pub app: String,
    pub scopes: Vec<Scope>,
}

pub trait RequiredScope: Send + Sync + 'static {
    const SCOPE: Scope;
}

pub struct IngestScope;
pub struct QueryScope;
pub struct AdminScope;

impl RequiredScope for IngestScope {
    const SCOPE: Scope = Scope::Ingest;
}
impl RequiredScope for QueryScope {
    const SCOPE: Scope = Scope::Query;
}
impl RequiredScope for AdminScope {
    const SCOPE: Scope = Scope::Admin;
}

pub struct Authorized<S>(pub Principal, pub PhantomData<S>);

impl<S: RequiredScope> FromRequestParts<AppState> for Authorized<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = authenticate(parts, state).await?;
        if !principal.scopes.contains(&S::SCOPE) {
            return Err(ApiError::forbidden(format!(
                "this key lacks the `{}` scope this route needs",
                S::SCOPE.as_str()
            )));
        }
        Ok(Authorized(principal, PhantomData))
    }
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    let Some(header) = parts.headers.get(AUTHORIZATION) else {
        return Err(ApiError::unauthorized(
            "send an API key as `Authorization: Bearer <key>`",
        ));
    };
    let secret = header
        .to_str()
        .ok()
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, secret)| secret.trim())
        .filter(|secret| !secret.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized("the Authorization header must read `Bearer <key>`")
        })?;
    principal_of(secret, state).await
}

/// The live key whose secret is `secret`, as its principal.
pub(super) async fn principal_of(secret: &str, state: &AppState) -> Result<Principal, ApiError> {
    if secret.len() > MAX_KEY_CHARS || !secret.starts_with(keys::KEY_PREFIX) {
        return Err(ApiError::unauthorized("unknown API key"));
    }
    let key = state
        .keys
        .lookup(state.store.as_ref(), keys::digest(secret))
        .await?;
    let Some(key) = key else {
        return Err(ApiError::unauthorized("unknown API key"));
    };
    if key.revoked_at.is_some() {
        return Err(ApiError::unauthorized("this API key has been revoked"));
    }
    Ok(Principal {
        key_id: key.id,
        app: key.app,
        scopes: key.scopes,
    })
}
