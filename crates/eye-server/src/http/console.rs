//! The web console: static files compiled into the binary (no CDN, no build step), served
//! at `/` and `/ui/*`. The pages call the same HTTP API with the key the user signs in with.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("../../console/index.html");
const APP: &str = include_str!("../../console/app.js");
const STYLE: &str = include_str!("../../console/style.css");

pub async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX)
}

pub async fn file(Path(name): Path<String>) -> Response {
    match name.as_str() {
        "app.js" => asset("text/javascript; charset=utf-8", APP),
        "style.css" => asset("text/css; charset=utf-8", STYLE),
        _ => super::ApiError::not_found("no such console file").into_response(),
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
