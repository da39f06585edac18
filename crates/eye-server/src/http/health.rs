//! `GET /healthz` (the process answers) and `GET /readyz` (its dependencies answer too).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let store = state.store.check().await;
    let queue = state.queue.depth().await;
    let ready = store.is_ok() && queue.is_ok();
    let verdict = |ok: bool| if ok { "ok" } else { "unavailable" };
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "checks": {"store": verdict(store.is_ok()), "queue": verdict(queue.is_ok())},
        "queue_depth": queue.ok(),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
