//! The OpenAPI 3.1 document, generated from the handlers' annotations and the wire types,
//! served at `/openapi.json`, with interactive docs (Swagger UI, assets embedded) at `/docs`.

use std::collections::BTreeMap;

use utoipa::openapi::schema::Schema;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, Ref, RefOr, Required, Response, ResponseBuilder, ResponsesBuilder,
};
use utoipa::{IntoResponses, Modify, OpenApi};

use super::{
    erasures, error_store, export, health, ingest, keys, live, query, schemas, segment,
    session_list, stats, usage,
};
use crate::config::Config;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "The Eye",
        description = "Collects user-behaviour events from trusted applications, validates them (envelope, timestamp, a JSON Schema per event type), stores them durably and serves them to the data team. Every error that is not a per-event verdict is `{\"error\": {\"code\", \"message\"}}`. Authenticate with `Authorization: Bearer <key>`; keys hold the scopes `ingest`, `query` and `admin`.",
    ),
    paths(
        ingest::ingest,
        segment::batch,
        segment::track,
        segment::page,
        segment::screen,
        segment::identify,
        segment::group,
        segment::alias,
        query::list_events,
        query::session,
        session_list::list_sessions,
        stats::event_stats,
        live::live,
        error_store::list_errors,
        error_store::summary,
        export::events,
        export::errors,
        error_store::replay,
        schemas::list,
        schemas::get,
        schemas::put,
        schemas::delete,
        schemas::validate,
        keys::list,
        keys::create,
        keys::revoke,
        erasures::create,
        erasures::list,
        erasures::get,
        usage::usage,
        health::healthz,
        health::readyz,
        health::metrics,
    ),
    // Named schemas reached only through a parameter or another named schema.
    components(schemas(
        eye_types::Event,
        eye_types::schema::EventArray,
        eye_types::schema::EventBatch,
        eye_types::schema::EventContext,
        eye_types::schema::SegmentBatch,
        eye_types::schema::SegmentMessage,
        eye_types::schema::UserId,
        eye_types::schema::EventData,
        eye_types::schema::EventId,
        eye_types::schema::EventType,
        eye_types::schema::Identifier,
        eye_types::schema::JsonSchema,
        eye_types::schema::JsonWithoutNul,
        eye_types::schema::QueryTimestamp,
        eye_types::schema::Scope,
        eye_types::schema::Timestamp,
        super::cursor::Cursor,
        super::cursor::SessionCursor,
        super::stats::StatsInterval,
        super::stats::StatsMetric,
        super::params::PageLimit,
        super::params::SortOrder,
        super::export::ExportFormat,
    )),
    modifiers(&BearerKeys, &OptionalReplayBody, &ShortSegmentPaths),
    tags(
        (name = "ingest", description = "Sending events (ingest scope)"),
        (name = "segment", description = "Segment-compatible tracking API (ingest scope): `/v1/batch`, `/v1/track`, `/v1/page`, `/v1/screen`, `/v1/identify`, `/v1/group`, `/v1/alias` and their one-letter forms; the key as Basic username, Bearer token or `writeKey` in the body"),
        (name = "query", description = "Reading events and sessions (query scope)"),
        (name = "errors", description = "The error store (query scope); replay (admin scope)"),
        (name = "schemas", description = "Per-type JSON Schemas (admin scope)"),
        (name = "keys", description = "API keys (admin scope)"),
        (name = "erasures", description = "Forgetting sessions: a visitor's right to erasure (admin scope)"),
        (name = "operations", description = "Health, readiness and metrics (no key); usage and retention (admin scope)"),
    )
)]
pub struct ApiDoc;

struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        // The Segment-compatible routes also read the key as Basic credentials' username.
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
    }
}

/// The one-letter forms of the Segment single-message routes (`/v1/t` for `/v1/track`...)
/// are the same operations under a second path.
struct ShortSegmentPaths;

impl Modify for ShortSegmentPaths {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (long, short) in segment::SINGLE_MESSAGE_ROUTES {
            if let Some(item) = openapi.paths.paths.get(long).cloned() {
                let mut item = item;
                if let Some(operation) = item.post.as_mut() {
                    operation.operation_id = operation
                        .operation_id
                        .as_ref()
                        .map(|id| format!("{id}_short"));
                }
                openapi.paths.paths.insert(short.to_owned(), item);
            }
        }
    }
}

/// `POST /v1/errors/replay` takes no body as no filters. utoipa writes an optional body as
/// `Option<T>`, which would also admit `null`; the server refuses that, so the body is
/// declared as the object and marked optional here.
struct OptionalReplayBody;

impl Modify for OptionalReplayBody {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let body = openapi
            .paths
            .paths
            .get_mut("/v1/errors/replay")
            .and_then(|item| item.post.as_mut())
            .and_then(|operation| operation.request_body.as_mut());
        if let Some(RefOr::T(body)) = body {
            body.required = Some(Required::False);
        }
    }
}

/// The document, with the running version.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    document
}

/// The document as `config` makes this server: a body holds at most `max_batch_events`.
pub fn configured(config: &Config) -> utoipa::openapi::OpenApi {
    let mut document = document();
    let events = document
        .components
        .as_mut()
        .and_then(|components| components.schemas.get_mut("EventArray"));
    if let Some(RefOr::T(Schema::Array(events))) = events {
        events.max_items = Some(config.max_batch_events);
    }
    document
}

/// The answers every route behind a key may give besides its own, described once:
/// `responses(..., KeyedRouteErrors)` in a handler's annotation.
pub struct KeyedRouteErrors;

impl IntoResponses for KeyedRouteErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        ResponsesBuilder::new()
            .response(
                "401",
                error("`unauthorized`: no key, a malformed header, or an unknown or revoked key"),
            )
            .response("403", error("`forbidden`: the key lacks the scope"))
            .response(
                "503",
                error(
                    "`unavailable`: the store or queue cannot be used right now; see `Retry-After`",
                ),
            )
            .build()
            .into()
    }
}

#[cfg(test)]
mod tests {
    use eye_types::schema;

    use crate::config::Config;
    use crate::ingest::validation::{MAX_EVENT_ID_CHARS, MAX_NAME_CHARS};

    #[test]
    fn the_documented_limits_are_the_servers() {
        assert_eq!(schema::MAX_IDENTIFIER_CHARS, MAX_NAME_CHARS);
        assert_eq!(schema::MAX_EVENT_ID_CHARS, MAX_EVENT_ID_CHARS);
        assert_eq!(
            schema::DEFAULT_MAX_BATCH_EVENTS,
            Config::default().max_batch_events
        );
    }
}
