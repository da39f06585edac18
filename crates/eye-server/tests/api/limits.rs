//! Size limits and back-pressure.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{expect_error, pageview, spawn_with};

#[tokio::test]
async fn bodies_and_batches_over_their_limits_are_413() {
    let app = spawn_with(|config| config.max_batch_events = 10).await;
    let batch: Vec<Value> = (0..11)
        .map(|n| pageview(&format!("s{n}"), "2021-01-01 09:00:00"))
        .collect();
    expect_error(
        app.ingest(&Value::Array(batch)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_many_events",
    )
    .await;
    let huge = vec![b' '; 2 * 1024 * 1024];
    expect_error(
        app.ingest_raw(huge, "application/json").await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;

    let mut big = pageview("s-big", "2021-01-01 09:00:00");
    big["data"]["blob"] = json!("x".repeat(40 * 1024));
    let (status, verdict) = crate::helpers::json_of(app.ingest(&big).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(verdict["results"][0]["error"]["path"], "/data");
}

#[tokio::test]
async fn a_full_queue_answers_503_with_retry_after_and_stores_nothing() {
    let app = spawn_with(|config| config.max_queue_depth = 3).await;
    let batch: Vec<Value> = (0..5)
        .map(|n| pageview(&format!("s{n}"), "2021-01-01 09:00:00"))
        .collect();
    let response = app.ingest(&Value::Array(batch)).await;
    assert!(response.headers().contains_key("retry-after"));
    expect_error(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    app.drain().await;
    assert!(app.all_events("").await.is_empty());
    let small = app.ingest(&pageview("s-ok", "2021-01-01 09:00:00")).await;
    assert_eq!(small.status(), StatusCode::ACCEPTED);
}
