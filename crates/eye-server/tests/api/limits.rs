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

/// Sends `body` whole over one connection, as a client that does not watch for an early
/// answer does, and only then reads the answer's status line and body.
async fn send_whole_then_read(base: &str, path: &str, key: &str, body: Vec<u8>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(&body).await.expect(
        "the server reads an oversized body to its end instead of resetting the connection",
    );
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        stream.read_to_end(&mut answer),
    )
    .await
    .expect("the answer within 20 s")
    .expect("the answer, not a reset");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn an_oversized_body_sent_whole_still_gets_its_413() {
    let app = crate::helpers::spawn().await;
    let ingest = send_whole_then_read(
        &app.base,
        "/v1/events",
        &app.ingest_key,
        vec![b' '; 6 * 1024 * 1024],
    )
    .await;
    assert!(ingest.starts_with("HTTP/1.1 413"), "{ingest}");
    assert!(ingest.contains("payload_too_large"), "{ingest}");
    let admin = send_whole_then_read(
        &app.base,
        "/v1/erasures",
        &app.admin_key,
        vec![b' '; 6 * 1024 * 1024],
    )
    .await;
    assert!(admin.starts_with("HTTP/1.1 413"), "{admin}");
    assert!(admin.contains("payload_too_large"), "{admin}");
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
