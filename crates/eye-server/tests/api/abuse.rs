//! Limits against abuse: the per-application rate limit, slow clients (headers and body),
//! and the cap on open connections. Each proves the server keeps serving everyone else.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{expect_error, pageview, spawn_with};

fn address(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_over_its_rate_gets_429_with_retry_after_and_others_do_not() {
    let app = spawn_with(|config| {
        config.rate_limit_events_per_second = 5;
        config.rate_limit_burst_events = 10;
    })
    .await;
    let batch: Vec<Value> = (0..10)
        .map(|i| pageview(&format!("s{i}"), "2021-01-01 09:15:27"))
        .collect();
    let first = app.ingest(&Value::Array(batch.clone())).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let refused = app.ingest(&pageview("s", "2021-01-01 09:15:27")).await;
    let retry_after: u64 = refused
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
    expect_error(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // A batch larger than the bucket can never pass: a final 413 without Retry-After (a
    // client obeying Retry-After would retry it forever), naming the limit.
    let huge: Vec<Value> = (0..11)
        .map(|_| pageview("s", "2021-01-01 09:15:27"))
        .collect();
    let too_many = app.ingest(&Value::Array(huge)).await;
    assert!(too_many.headers().get("retry-after").is_none());
    let body = expect_error(too_many, StatusCode::PAYLOAD_TOO_LARGE, "too_many_events").await;
    let message = body["error"]["message"].as_str().expect("a message");
    assert!(
        message.contains("rate_limit_burst_events = 10"),
        "{message}"
    );
    // Both refusals are counted where the README says refusals are (the recorder is shared
    // by every test of this process: at least one each).
    let metrics = app
        .request(reqwest::Method::GET, "/metrics", None)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for code in ["rate_limited", "too_many_events"] {
        let prefix = format!("eye_requests_refused_total{{code=\"{code}\"}} ");
        let count: Option<f64> = metrics
            .lines()
            .find_map(|line| line.strip_prefix(prefix.as_str())?.parse().ok());
        assert!(count.is_some_and(|n| n >= 1.0), "{prefix} in:\n{metrics}");
    }
    // Queries are not ingest and are not limited.
    let (status, _) = app.query("/v1/events?limit=1").await;
    assert_eq!(status, StatusCode::OK);
    // After Retry-After, the bucket has refilled.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let again = app.ingest(&pageview("s", "2021-01-01 09:15:27")).await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    // Only the accepted events were stored.
    app.drain().await;
    assert_eq!(app.all_events("").await.len(), 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_closed_and_others_are_served() {
    let app = spawn_with(|config| {
        config.header_timeout_secs = 1;
    })
    .await;
    let mut slow = Vec::new();
    for _ in 0..50 {
        let mut stream = TcpStream::connect(address(&app.base))
            .await
            .expect("connect");
        stream
            .write_all(b"POST /v1/events HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("partial headers");
        slow.push(stream);
    }
    // While the slow clients dribble, a normal client is served at once.
    for _ in 0..5 {
        let response = app.ingest(&pageview("s", "2021-01-01 09:15:27")).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    // Keep dribbling a header byte every 200 ms: the deadline is for the whole header.
    for _ in 0..10 {
        for stream in &mut slow {
            let _ = stream.write_all(b"X").await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut closed = 0;
    for mut stream in slow {
        let mut buffer = [0u8; 256];
        // EOF, an answer then EOF, or a reset all count as closed; only silence does not.
        let read = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buffer)).await;
        if read.is_ok() {
            closed += 1;
        }
    }
    assert_eq!(closed, 50, "slow connections left open");
    let healthy = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .expect("healthz");
    assert_eq!(healthy.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_finishes_is_408_and_stores_nothing() {
    let app = spawn_with(|config| {
        config.body_timeout_secs = 1;
    })
    .await;
    let mut stream = TcpStream::connect(address(&app.base))
        .await
        .expect("connect");
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"session_id\":",
        app.ingest_key
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buffer = [0u8; 1024];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buffer[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}}") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer to a stalled body");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"body_timeout\""), "{text}");
    app.drain().await;
    assert!(app.all_events("").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_get_503_and_the_server_recovers() {
    let app = spawn_with(|config| {
        config.max_connections = 4;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(
            TcpStream::connect(address(&app.base))
                .await
                .expect("connect"),
        );
    }
    // The server accepts connections in the order they were made: these four take the
    // permits before the next one is looked at.
    let mut extra = TcpStream::connect(address(&app.base))
        .await
        .expect("connect");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), extra.read_to_string(&mut answer))
        .await
        .expect("an answer")
        .expect("read");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("too_many_connections"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    drop(held);
    // Each closed connection gives its permit back once the server sees it close; until
    // then a new one is refused (503, or closed before the request is read).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let sent = app
            .request(reqwest::Method::POST, "/v1/events", Some(&app.ingest_key))
            .json(&pageview("s", "2021-01-01 09:15:27"))
            .send()
            .await;
        match sent {
            Ok(response) if response.status() == StatusCode::ACCEPTED => break,
            Ok(response) => assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE),
            Err(_) => {}
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server did not recover its connections"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_not_ready_in_time_is_503_request_timeout() {
    // The body deadline is longer than the answer deadline, so a stalled body keeps the
    // handler busy until the answer deadline strikes.
    let app = spawn_with(|config| {
        config.body_timeout_secs = 30;
        config.request_timeout_secs = 1;
    })
    .await;
    let mut stream = TcpStream::connect(address(&app.base))
        .await
        .expect("connect");
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[",
        app.ingest_key
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("an answer within the deadline")
        .expect("read");
    let text = String::from_utf8_lossy(&answer[..read]);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("\"request_timeout\""), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("retry-after: 1"),
        "{text}"
    );
    // Others are served meanwhile and afterwards.
    let response = app.ingest(&pageview("s", "2021-01-01 09:15:27")).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}
