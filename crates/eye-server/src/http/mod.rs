//! The HTTP API: shared state, the route table, and the JSON fallbacks.

mod access_log;
mod api_error;
mod auth;
pub mod body;
mod bounded_body;
mod console;
pub mod cursor;
mod erasures;
mod error_store;
pub(crate) mod export;
mod health;
mod ingest;
mod json_body;
mod keys;
mod live;
pub(crate) mod openapi;
pub mod params;
mod query;
mod rate_limit;
mod schemas;
pub mod segment;
mod serve;
mod session_list;
mod stats;
mod usage;

pub use api_error::ApiError;
pub use keys::key_info;
pub use openapi::document as openapi_document;
pub use rate_limit::RateLimiter;
pub use serve::{ConnectionLimits, serve};

use std::sync::Arc;

use axum::Router;
use axum::routing::{delete, get, post};

use crate::auth::key_cache::KeyCache;
use crate::config::Config;
use crate::ingest::validation::{Rules, SchemaRegistry};
use crate::queue::Queue;
use crate::store::Store;
use body::BodyLimits;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// `None` on query nodes, which never touch the queue.
    pub queue: Option<Arc<dyn Queue>>,
    pub schemas: Arc<SchemaRegistry>,
    pub config: Arc<Config>,
    pub rules: Arc<Rules>,
    pub keys: Arc<KeyCache>,
    /// Renders `/metrics`; `None` when another metrics recorder owns the process.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// Events as the worker stores them, for live subscribers.
    pub live: crate::pipeline::live::LiveFeed,
    /// Per-application ingest limit; `None` when off.
    pub rate_limit: Option<Arc<RateLimiter>>,
    /// Sessions whose events ingest drops (erasures with `suppress`).
    pub suppressions: crate::pipeline::suppressions::Suppressions,
    /// Wakes this node's erasure runner when an erasure is recorded here.
    pub erasure_wakeup: Arc<tokio::sync::Notify>,
    /// When the store's usage (exact counts: a scan) was last read for the gauges.
    pub usage_read_at: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
    /// The exports this node may stream at once (`export::MAX_CONCURRENT_EXPORTS`).
    pub export_slots: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    fn queue(&self) -> Result<&Arc<dyn Queue>, ApiError> {
        self.queue
            .as_ref()
            .ok_or_else(|| ApiError::unavailable("this node does not accept events", 60))
    }

    fn body_limits(&self) -> BodyLimits {
        BodyLimits {
            max_body_bytes: self.config.max_body_bytes,
            max_decompressed_bytes: self.config.max_decompressed_bytes,
            max_batch_events: self.config.max_batch_events,
            body_timeout: std::time::Duration::from_secs(self.config.body_timeout_secs),
        }
    }
}

/// Every route with the scope it needs (`None`: no key needed). The router below and the
/// authorization tests are both checked against this table.
pub const ROUTES: &[(&str, &str, Option<&str>)] = &[
    ("GET", "/healthz", None),
    ("GET", "/readyz", None),
    ("GET", "/metrics", None),
    ("GET", "/openapi.json", None),
    ("GET", "/", None),
    ("GET", "/v1/events/live", Some("query")),
    ("POST", "/v1/schemas/validate", Some("admin")),
    ("GET", "/docs", None),
    ("POST", "/v1/events", Some("ingest")),
    ("POST", "/v1/batch", Some("ingest")),
    ("POST", "/v1/track", Some("ingest")),
    ("POST", "/v1/t", Some("ingest")),
    ("POST", "/v1/page", Some("ingest")),
    ("POST", "/v1/p", Some("ingest")),
    ("POST", "/v1/screen", Some("ingest")),
    ("POST", "/v1/s", Some("ingest")),
    ("POST", "/v1/identify", Some("ingest")),
    ("POST", "/v1/i", Some("ingest")),
    ("POST", "/v1/group", Some("ingest")),
    ("POST", "/v1/g", Some("ingest")),
    ("POST", "/v1/alias", Some("ingest")),
    ("POST", "/v1/a", Some("ingest")),
    ("GET", "/v1/events", Some("query")),
    ("GET", "/v1/events/export", Some("query")),
    ("GET", "/v1/sessions/{session_id}", Some("query")),
    ("GET", "/v1/sessions", Some("query")),
    ("GET", "/v1/stats/events", Some("query")),
    ("GET", "/v1/errors", Some("query")),
    ("GET", "/v1/errors/summary", Some("query")),
    ("GET", "/v1/errors/export", Some("query")),
    ("POST", "/v1/errors/replay", Some("admin")),
    ("GET", "/v1/schemas", Some("admin")),
    ("GET", "/v1/schemas/{category}/{name}", Some("admin")),
    ("PUT", "/v1/schemas/{category}/{name}", Some("admin")),
    ("DELETE", "/v1/schemas/{category}/{name}", Some("admin")),
    ("GET", "/v1/keys", Some("admin")),
    ("POST", "/v1/keys", Some("admin")),
    ("DELETE", "/v1/keys/{id}", Some("admin")),
    ("GET", "/v1/usage", Some("admin")),
    ("GET", "/v1/erasures", Some("admin")),
    ("POST", "/v1/erasures", Some("admin")),
    ("GET", "/v1/erasures/{id}", Some("admin")),
];

/// Every query parameter of every route that takes some, for the hostile-input tests: each
/// handler parses its query string with the same list.
pub const QUERY_PARAMETERS: &[(&str, &[&str])] = &[
    ("/v1/events", query::EVENT_PARAMS),
    ("/v1/sessions/{session_id}", query::SESSION_PARAMS),
    ("/v1/sessions", session_list::SESSION_LIST_PARAMS),
    ("/v1/stats/events", stats::STATS_PARAMS),
    ("/v1/errors", error_store::ERROR_PARAMS),
    ("/v1/errors/summary", error_store::SUMMARY_PARAMS),
    ("/v1/events/export", export::EVENT_EXPORT_PARAMS),
    ("/v1/errors/export", export::ERROR_EXPORT_PARAMS),
    ("/v1/events/live", live::LIVE_PARAMS),
    ("/v1/schemas/{category}/{name}", schemas::SCHEMA_PARAMS),
    ("/v1/erasures", erasures::ERASURE_LIST_PARAMS),
];

/// The routes of this node's role, with JSON fallbacks and the access log.
pub fn router(state: AppState) -> Router {
    let role = state.config.role;
    let document = openapi::configured(&state.config);
    let mut router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics));
    router = match (role.serves_ingest(), role.serves_queries()) {
        (true, true) => router.route("/v1/events", get(query::list_events).post(ingest::ingest)),
        (true, false) => router.route("/v1/events", post(ingest::ingest)),
        (false, true) => router.route("/v1/events", get(query::list_events)),
        (false, false) => router,
    };
    if role.serves_ingest() {
        router = router.route("/v1/batch", post(segment::batch));
        let handlers = [
            post(segment::track),
            post(segment::page),
            post(segment::screen),
            post(segment::identify),
            post(segment::group),
            post(segment::alias),
        ];
        for ((long, short), handler) in segment::SINGLE_MESSAGE_ROUTES.into_iter().zip(handlers) {
            router = router.route(long, handler.clone()).route(short, handler);
        }
    }
    if role.serves_queries() {
        router = router
            .route("/", get(console::index))
            .route("/ui/{file}", get(console::file))
            .route("/v1/events/live", get(live::live))
            .route("/v1/events/export", get(export::events))
            .route("/v1/errors/export", get(export::errors))
            .route("/v1/schemas/validate", post(schemas::validate))
            .route("/v1/sessions/{session_id}", get(query::session))
            .route("/v1/sessions", get(session_list::list_sessions))
            .route("/v1/stats/events", get(stats::event_stats))
            .route("/v1/errors", get(error_store::list_errors))
            .route("/v1/errors/summary", get(error_store::summary))
            .route("/v1/errors/replay", post(error_store::replay))
            .route("/v1/schemas", get(schemas::list))
            .route(
                "/v1/schemas/{category}/{name}",
                get(schemas::get).put(schemas::put).delete(schemas::delete),
            )
            .route("/v1/keys", get(keys::list).post(keys::create))
            .route("/v1/keys/{id}", delete(keys::revoke))
            .route("/v1/usage", get(usage::usage))
            .route("/v1/erasures", get(erasures::list).post(erasures::create))
            .route("/v1/erasures/{id}", get(erasures::get));
    }
    router
        .fallback(|| async {
            ApiError::not_found("no such route on this node: see the README for the API")
        })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(axum::middleware::from_fn_with_state(
            std::time::Duration::from_secs(state.config.request_timeout_secs),
            serve::request_timeout,
        ))
        // Outside the timeout, so that its answer on a Segment route has them too.
        .layer(axum::middleware::from_fn(segment::top_level_errors))
        .layer(axum::middleware::from_fn_with_state(
            access_log::AccessLog::new(state.config.access_log_max_per_sec),
            access_log::log_request,
        ))
        .with_state(state)
        .merge(utoipa_swagger_ui::SwaggerUi::new("/docs").url("/openapi.json", document))
}
