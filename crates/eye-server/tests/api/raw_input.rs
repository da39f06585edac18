//! The error store keeps each rejected event as it was sent: the very bytes of its part of
//! the body (after gzip), cut to `max_raw_error_bytes`; never an API key.

use std::io::Write;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{TestApp, json_of, spawn, spawn_with};

/// An event the envelope refuses (`sesion_id` is unknown), written as no serializer would:
/// keys out of order, odd whitespace, escapes, an exponent.
const ODD: &str = "{ \"timestamp\":\"2021-01-01 09:15:27\" ,\n\t\"name\" : \"pageview\", \"data\":{\"z\":1E2,\"a\":\"caf\\u00e9 \\/\"},\"category\":\"page interaction\",  \"sesion_id\":\"s-raw\"}";
const GOOD: &str = r#"{"session_id": "s-raw", "category": "page interaction", "name": "pageview", "data": {}, "timestamp": "2021-01-01 09:15:28"}"#;

async fn stored_raws(app: &TestApp) -> Vec<String> {
    app.drain().await;
    let (status, page) = app.query("/v1/errors?order=asc").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|error| error["raw"].as_str().expect("raw").to_owned())
        .collect()
}

async fn send(app: &TestApp, body: Vec<u8>, gzipped: bool) -> (StatusCode, Value) {
    let mut request = app
        .request(Method::POST, "/v1/events", Some(&app.ingest_key))
        .header("content-type", "application/json");
    if gzipped {
        request = request.header("content-encoding", "gzip");
    }
    json_of(request.body(body).send().await.expect("send")).await
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

#[tokio::test]
async fn a_rejected_event_is_kept_byte_for_byte_in_every_shape_and_gzipped() {
    let app = spawn().await;
    let bodies = [
        format!("  {ODD}\n"),
        format!("[{GOOD} ,  {ODD} ]"),
        format!("{{ \"events\" :[ {ODD}]}}"),
    ];
    for body in &bodies {
        let (status, verdict) = send(&app, body.clone().into_bytes(), false).await;
        assert!(status.is_success() || status == 422, "{verdict}");
    }
    let (_, verdict) = send(&app, gzip(bodies[1].as_bytes()), true).await;
    assert_eq!(verdict["rejected"], 1, "{verdict}");
    let raws = stored_raws(&app).await;
    assert_eq!(raws, vec![ODD; 4], "kept as sent, not re-serialised");
}

#[tokio::test]
async fn the_kept_input_is_cut_to_max_raw_error_bytes() {
    let app = spawn_with(|config| config.max_raw_error_bytes = 20).await;
    send(&app, ODD.as_bytes().to_vec(), false).await;
    let raws = stored_raws(&app).await;
    assert_eq!(raws, vec![&ODD[..20]]);
}

#[tokio::test]
async fn an_api_key_in_a_rejected_event_or_a_refused_body_is_not_kept() {
    let app = spawn().await;
    let key = app.ingest_key.clone();
    let secret = key.trim_start_matches("eye_").to_owned();
    // In a rejected event (its value is quoted in the schema message too), in a body that
    // is not JSON, and in a body over the batch limit.
    let event = ODD.replace("s-raw", &key);
    send(&app, event.into_bytes(), false).await;
    let form = format!("api_key={key}&event=pageview");
    let (status, _) = send(&app, form.into_bytes(), false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = send(&app, format!("[{GOOD}, \"{key}\", 3]").into_bytes(), false).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    app.drain().await;
    let (_, page) = app.query("/v1/errors?order=asc").await;
    let text = page.to_string();
    assert!(
        !text.contains(&secret),
        "the error store holds a key: {text}"
    );
    let errors = page["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 4, "{text}");
    assert!(
        errors[1]["raw"]
            .as_str()
            .expect("raw")
            .starts_with("api_key=eye_[redacted]&event"),
        "{text}"
    );
}
