//! `GET /healthz` (the process answers) and `GET /readyz` (its dependencies answer too).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::api_error::ApiError;

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The process answers", body = Object)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Every dependency this node uses, each `ok` or `unavailable`; 503 unless all are ok.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Every dependency of this node answers: `{status, role, checks, queue_depth}`", body = Object),
        (status = 503, description = "A dependency is unavailable; `checks` says which", body = Object),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let store = state.store.check().await;
    let queue = match &state.queue {
        Some(queue) => Some(queue.depth().await),
        None => None,
    };
    let verdict = |ok: bool| if ok { "ok" } else { "unavailable" };
    let mut checks = json!({"store": verdict(store.is_ok())});
    let mut ready = store.is_ok();
    let mut depth = None;
    if let Some(queue) = &queue {
        checks["queue"] = json!(verdict(queue.is_ok()));
        ready &= queue.is_ok();
        depth = queue.as_ref().ok().copied();
    }
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "role": state.config.role,
        "checks": checks,
        "queue_depth": depth,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

/// Prometheus text exposition of every `eye_*` metric. Unauthenticated, like the health
/// checks: it holds no event data, only counts with bounded labels.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus text exposition of the `eye_*` metrics", content_type = "text/plain", body = String),
        (status = 503, description = "`unavailable`: metrics are not recorded in this process", body = eye_types::ErrorBody),
    )
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    if state.metrics.is_some()
        && super::usage::due(&state)
        && let Err(error) = super::usage::measure(&state).await
    {
        tracing::warn!(
            code = error.code,
            "could not read the store's usage for /metrics"
        );
    }
    match &state.metrics {
        Some(handle) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            handle.render(),
        )
            .into_response(),
        None => {
            ApiError::unavailable("metrics are not recorded in this process", 60).into_response()
        }
    }
}
