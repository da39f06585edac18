//! `GET /metrics`: Prometheus text with the `eye_*` metrics.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{pageview, spawn};

/// The value of the first sample line starting with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_events_and_the_pipeline() {
    let app = spawn().await;
    let body = json!([
        pageview("m1", "2021-01-01 09:00:00"),
        pageview("m1", "2999-01-01 00:00:00")
    ]);
    assert_eq!(app.ingest(&body).await.status(), StatusCode::ACCEPTED);
    app.ingest_raw(b"{oops".to_vec(), "application/json").await;
    app.drain().await;

    let response = app
        .request(Method::GET, "/metrics", None)
        .send()
        .await
        .expect("metrics");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/plain")
    );
    let text = response.text().await.expect("text");
    assert!(
        sample(&text, "eye_events_accepted_total").is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "eye_events_rejected_total{code=\"timestamp_in_future\"}"
        )
        .is_some_and(|n| n >= 1.0)
    );
    assert!(
        sample(&text, "eye_requests_refused_total{code=\"malformed_json\"}")
            .is_some_and(|n| n >= 1.0)
    );
    assert!(sample(&text, "eye_events_stored_total").is_some_and(|n| n >= 1.0));
    assert!(
        text.contains(
            "eye_http_requests_total{method=\"POST\",route=\"/v1/events\",status=\"202\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains("eye_http_request_duration_seconds_bucket{"),
        "latency is a histogram"
    );
    assert!(text.contains("eye_worker_batch_size_bucket{"));
    assert!(text.contains("eye_worker_batch_duration_seconds_bucket{"));
    assert!(text.contains("eye_processing_lag_seconds"));
    // The queue depth is sampled once a second.
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = app
            .request(Method::GET, "/metrics", None)
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        if text.contains("eye_queue_depth") {
            break text;
        }
        assert!(Instant::now() < deadline, "no eye_queue_depth:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        !text.contains("m1"),
        "no client-controlled values (here a session id) in labels"
    );
}
