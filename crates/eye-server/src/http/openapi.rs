//! The OpenAPI 3.1 document, generated from the handlers' annotations and the wire types,
//! served at `/openapi.json`, with interactive docs (Swagger UI, assets embedded) at `/docs`.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{errors, health, ingest, keys, live, query, schemas};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "The Eye",
        description = "Collects user-behaviour events from trusted applications, validates them (envelope, timestamp, a JSON Schema per event type), stores them durably and serves them to the data team. Every error that is not a per-event verdict is `{\"error\": {\"code\", \"message\"}}`. Authenticate with `Authorization: Bearer <key>`; keys hold the scopes `ingest`, `query` and `admin`.",
    ),
    paths(
        ingest::ingest,
        query::list_events,
        query::session,
        live::live,
        errors::list_errors,
        errors::summary,
        errors::replay,
        schemas::list,
        schemas::get,
        schemas::put,
        schemas::delete,
        schemas::validate,
        keys::list,
        keys::create,
        keys::revoke,
        health::healthz,
        health::readyz,
        health::metrics,
    ),
    modifiers(&BearerKeys),
    tags(
        (name = "ingest", description = "Sending events (ingest scope)"),
        (name = "query", description = "Reading events and sessions (query scope)"),
        (name = "errors", description = "The error store (query scope); replay (admin scope)"),
        (name = "schemas", description = "Per-type JSON Schemas (admin scope)"),
        (name = "keys", description = "API keys (admin scope)"),
        (name = "operations", description = "Health, readiness and metrics (no key)"),
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
    }
}

/// The document, with the running version.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    document
}
