//! The access log: one info line per request with method, route, status and latency; never
//! a key, a payload, a session id or a query string; capped per second, saying how many
//! lines it skipped.
//!
//! Each test installs a subscriber for its own thread: the server it spawns runs on the
//! test's single-threaded runtime, so its lines land there and nowhere else.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;
use tracing::subscriber::DefaultGuard;
use tracing_subscriber::EnvFilter;

use crate::helpers::{pageview, spawn, spawn_with};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    fn access_lines(&self) -> Vec<String> {
        self.text()
            .lines()
            .filter(|line| line.contains("eye_server::http::access_log"))
            .map(str::to_owned)
            .collect()
    }
}

/// Everything this thread logs, at every level, except the test's own HTTP client.
fn capture() -> (Captured, DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(
            "trace,reqwest=off,hyper_util::client=off,hyper::client=off",
        ))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn each_request_is_an_info_line_without_keys_payloads_or_query_strings() {
    let (logs, _guard) = capture();
    let app = spawn().await;
    let mut event = pageview("s-private-session", "2021-01-01 09:15:27");
    event["data"] = json!({"note": "payload-marker-7f3a"});
    let accepted = app.ingest(&event).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let session = app
        .request(
            Method::GET,
            &format!("/v1/sessions/s-private-session?key={}", app.ingest_key),
            Some(&app.query_key),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(
        session.status(),
        StatusCode::BAD_REQUEST,
        "an unknown parameter"
    );
    let anonymous = app
        .request(
            Method::GET,
            &format!("/v1/events?api_key={}", app.query_key),
            None,
        )
        .send()
        .await
        .expect("send");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let nowhere = app
        .request(Method::GET, "/no/such/route?token=abc", None)
        .send()
        .await
        .expect("send");
    assert_eq!(nowhere.status(), StatusCode::NOT_FOUND);

    let lines = logs.access_lines();
    for expected in [
        "method=POST route=/v1/events status=202 latency_us=",
        "method=GET route=/v1/sessions/{session_id} status=400 latency_us=",
        "method=GET route=/v1/events status=401 latency_us=",
        "method=GET route=unmatched status=404 latency_us=",
    ] {
        let line = lines
            .iter()
            .find(|line| line.contains(expected))
            .unwrap_or_else(|| panic!("no line with {expected:?} in {lines:#?}"));
        assert!(line.contains(" INFO "), "not at info: {line}");
    }
    for line in &lines {
        assert!(!line.contains('?'), "a query string in {line}");
    }
    let everything = logs.text();
    for secret in [&app.ingest_key, &app.query_key, &app.admin_key] {
        let secret = secret.trim_start_matches("eye_");
        assert!(
            !everything.contains(secret),
            "a key is logged:\n{everything}"
        );
    }
    for private in ["payload-marker-7f3a", "s-private-session", "token=abc"] {
        assert!(
            !everything.contains(private),
            "{private} is logged:\n{everything}"
        );
    }
}

#[tokio::test]
async fn past_the_cap_lines_are_skipped_and_the_next_line_counts_them() {
    let (logs, _guard) = capture();
    let app = spawn_with(|config| config.access_log_max_per_sec = 3).await;
    let health = || async {
        let response = app
            .request(Method::GET, "/healthz", None)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), StatusCode::OK);
    };
    for _ in 0..30 {
        health().await;
    }
    let burst = logs.access_lines().len();
    assert!(burst < 30, "every request of the burst was logged");
    // A later second's first line says how many were skipped before it.
    let deadline = Instant::now() + Duration::from_secs(5);
    let skipped = loop {
        health().await;
        let reported: u64 = logs
            .access_lines()
            .iter()
            .filter_map(|line| {
                let count = line.split("skipped=").nth(1)?.split_whitespace().next()?;
                count.parse::<u64>().ok()
            })
            .sum();
        if reported > 0 {
            break reported;
        }
        assert!(
            Instant::now() < deadline,
            "no line reported skipped requests"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        skipped >= 30 - burst as u64 - 3,
        "skipped {skipped}, burst {burst}"
    );
}
