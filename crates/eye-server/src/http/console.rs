//! The web console: static files compiled into the binary (no CDN, no build step), served
//! at `/` and `/ui/*`: the page, its style sheet and its ES modules (one per page, and
//! `core.js`, `known.js`, `chart.js` they share). The pages call the same HTTP API with the
//! key the user signs in with.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("../../console/index.html");
const STYLE: &str = include_str!("../../console/style.css");
/// The JavaScript modules, by the name they are served and imported under.
const MODULES: &[(&str, &str)] = &[
    ("app.js", include_str!("../../console/app.js")),
    ("core.js", include_str!("../../console/core.js")),
    ("known.js", include_str!("../../console/known.js")),
    ("chart.js", include_str!("../../console/chart.js")),
    ("overview.js", include_str!("../../console/overview.js")),
    ("events.js", include_str!("../../console/events.js")),
    ("sessions.js", include_str!("../../console/sessions.js")),
    ("errors.js", include_str!("../../console/errors.js")),
    ("live.js", include_str!("../../console/live.js")),
    ("schemas.js", include_str!("../../console/schemas.js")),
];

pub async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX)
}

pub async fn file(Path(name): Path<String>) -> Response {
    if name == "style.css" {
        return asset("text/css; charset=utf-8", STYLE);
    }
    match MODULES.iter().find(|(module, _)| *module == name) {
        Some((_, source)) => asset("text/javascript; charset=utf-8", source),
        None => super::ApiError::not_found("no such console file").into_response(),
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (
                header::HeaderName::from_static("content-security-policy"),
                "default-src 'self'; style-src 'self'; img-src 'self' data:",
            ),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::MODULES;

    /// A module added under console/ but not listed in `MODULES` would fail only in a browser.
    #[test]
    fn every_imported_module_is_served() {
        for (name, source) in MODULES {
            for import in source.split("from \"./").skip(1) {
                let module = import.split('"').next().unwrap_or_default();
                assert!(
                    MODULES.iter().any(|(served, _)| *served == module),
                    "{name} imports {module}, which is not served"
                );
            }
        }
    }
}
