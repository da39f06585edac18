//! `GET /v1/usage`: what the store and queue hold, and the retention in force per
//! application. The same figures are gauges in `/metrics`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use eye_types::{Retention, Usage};

use super::AppState;
use super::api_error::ApiError;
use super::auth::{AdminScope, Authorized};
use crate::config::Config;
use crate::model::timestamp::format_micros;
use crate::ops::metrics;
use crate::store::StoreUsage;

#[utoipa::path(
    get, path = "/v1/usage", tag = "operations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Bytes on disk of store and queue, events and errors stored, the oldest and newest event timestamps, and the retention in force (`null`: kept forever) by default and for each application with keys or an override", body = eye_types::Usage),
        super::openapi::KeyedRouteErrors,
    )
)]
pub async fn usage(
    State(state): State<AppState>,
    _: Authorized<AdminScope>,
) -> Result<Json<Usage>, ApiError> {
    let (store, queue_bytes) = measure(&state).await?;
    let keys = state.store.keys().await?;
    let config = &state.config;
    let mut apps: BTreeMap<String, Retention> = keys
        .into_iter()
        .map(|key| (key.app.clone(), retention_of(config, &key.app)))
        .collect();
    for app in config.app_retention.keys() {
        apps.insert(app.clone(), retention_of(config, app));
    }
    Ok(Json(Usage {
        store_bytes: store.bytes,
        queue_bytes,
        events: store.events,
        errors: store.errors,
        oldest_event_timestamp: store.oldest_event.map(format_micros),
        newest_event_timestamp: store.newest_event.map(format_micros),
        retention: Retention {
            retention_days: config.retention_days,
            error_retention_days: config.error_retention_days,
        },
        apps,
    }))
}

/// `/metrics` reads the store's usage (exact counts, a scan of the events' smallest index)
/// at most this often; between two reads its gauges keep the last values. `GET /v1/usage`
/// always reads afresh.
const GAUGES_READ_EVERY: Duration = Duration::from_secs(5);

/// Whether `/metrics` should read the usage again, noting that it does.
pub(super) fn due(state: &AppState) -> bool {
    let mut read_at = state
        .usage_read_at
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if read_at.is_some_and(|at| at.elapsed() < GAUGES_READ_EVERY) {
        return false;
    }
    *read_at = Some(Instant::now());
    true
}

/// Reads the store's and the queue's usage, and sets the gauges from them.
pub(super) async fn measure(state: &AppState) -> Result<(StoreUsage, Option<u64>), ApiError> {
    let store = state.store.usage().await?;
    let queue_bytes = match &state.queue {
        Some(queue) => Some(queue.stored_bytes().await?),
        None => None,
    };
    metrics::store_usage(&store, queue_bytes);
    *state
        .usage_read_at
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    Ok((store, queue_bytes))
}

fn retention_of(config: &Config, app: &str) -> Retention {
    let overrides = config.app_retention.get(app);
    Retention {
        retention_days: overrides
            .and_then(|r| r.retention_days)
            .or(config.retention_days),
        error_retention_days: overrides
            .and_then(|r| r.error_retention_days)
            .or(config.error_retention_days),
    }
}
