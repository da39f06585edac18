//! `GET /healthz` (the process answers) and `GET /readyz` (its dependencies answer too).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Every dependency this node uses, each `ok` or `unavailable`; 503 unless all are ok.
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
