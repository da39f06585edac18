//! Retention: the sweep deletes what has expired (events with their session summaries),
//! an event already past its application's retention is refused, and `GET /v1/usage` and
//! `/metrics` say what the store holds.

use std::time::{Duration, Instant};

use eye_server::config::AppRetention;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::helpers::{expect_error, json_of, pageview, restart_in, spawn, spawn_with};

fn ago(duration: Duration) -> String {
    (OffsetDateTime::now_utc() - duration)
        .format(&Rfc3339)
        .expect("format")
}

const DAY: Duration = Duration::from_secs(86_400);

/// The store gauges (`eye_store_*`) belong to the process, and every test's server in this
/// binary shares them: a test that asserts them holds this lock from its `/v1/usage` call to
/// its last metric read, so another test's usage call cannot overwrite them in between.
static STORE_GAUGES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_deletes_expired_events_and_keeps_session_summaries_true() {
    let app = spawn().await;
    let events = json!([
        pageview("s-old", &ago(3 * DAY)),
        pageview("s-old", &ago(3 * DAY + Duration::from_secs(60))),
        pageview("s-mixed", &ago(3 * DAY)),
        pageview("s-mixed", &ago(Duration::from_secs(60))),
        pageview("s-new", &ago(Duration::from_secs(30))),
    ]);
    assert_eq!(app.ingest(&events).await.status(), StatusCode::ACCEPTED);
    app.drain().await;
    assert_eq!(app.all_events("limit=100").await.len(), 5);
    let (dir, keys) = app.stop().await;

    // The same store, now with a two-day retention: the sweep at start removes what is older.
    let app = restart_in(dir, keys, |config| config.retention_days = Some(2)).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.all_events("limit=100").await.len() != 2 {
        assert!(
            Instant::now() < deadline,
            "the sweep did not run within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, _) = app.query("/v1/sessions/s-old").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a session with no event left is gone"
    );
    let (status, mixed) = app.query("/v1/sessions/s-mixed").await;
    assert_eq!(status, StatusCode::OK, "{mixed}");
    assert_eq!(mixed["event_count"], 1, "{mixed}");
    let remaining = &mixed["events"][0]["timestamp"];
    assert_eq!(mixed["first_timestamp"], *remaining, "{mixed}");
    assert_eq!(mixed["last_timestamp"], *remaining, "{mixed}");
    let (_, new) = app.query("/v1/sessions/s-new").await;
    assert_eq!(new["event_count"], 1, "{new}");

    let gauges = STORE_GAUGES.lock().await;
    let usage = usage(&app).await;
    assert_eq!(usage["events"], 2, "{usage}");
    assert_eq!(usage["retention"]["retention_days"], 2, "{usage}");
    assert_eq!(usage["apps"]["shop"]["retention_days"], 2, "{usage}");
    assert_eq!(
        app.metric("eye_retention_deleted_total{kind=\"events\"}")
            .await,
        Some(3.0)
    );
    assert_eq!(app.metric("eye_store_events ").await, Some(2.0));
    drop(gauges);
}

#[tokio::test]
async fn an_event_older_than_its_applications_retention_is_refused() {
    // The ingest key belongs to `shop`: one day for it, thirty for everyone else.
    let app = spawn_with(|config| {
        config.retention_days = Some(30);
        config.app_retention.insert(
            "shop".into(),
            AppRetention {
                retention_days: Some(1),
                error_retention_days: None,
            },
        );
    })
    .await;
    let old = pageview("s1", &ago(2 * DAY));
    let body = expect_error_of(app.ingest(&old).await).await;
    let error = &body["results"][0]["error"];
    assert_eq!(error["code"], "timestamp_too_old", "{body}");
    assert_eq!(error["path"], "/timestamp", "{body}");
    let message = error["message"].as_str().expect("message");
    assert!(message.contains("1 day"), "says the retention: {message}");
    let recent = pageview("s1", &ago(DAY / 2));
    assert_eq!(app.ingest(&recent).await.status(), StatusCode::ACCEPTED);
}

async fn expect_error_of(response: reqwest::Response) -> Value {
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    body
}

async fn usage(app: &crate::helpers::TestApp) -> Value {
    let response = app
        .request(Method::GET, "/v1/usage", Some(&app.admin_key))
        .send()
        .await
        .expect("usage");
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn usage_says_what_the_store_and_queue_hold() {
    let gauges = STORE_GAUGES.lock().await;
    let app = spawn().await;
    let empty = usage(&app).await;
    assert_eq!(empty["events"], 0, "{empty}");
    assert_eq!(empty["oldest_event_timestamp"], Value::Null, "{empty}");
    assert_eq!(
        empty["retention"]["retention_days"],
        Value::Null,
        "forever: {empty}"
    );
    for app_name in ["shop", "analytics", "ops"] {
        assert_eq!(
            empty["apps"][app_name],
            json!({"retention_days": null, "error_retention_days": null}),
            "{empty}"
        );
    }
    let events = json!([
        pageview("s1", "2021-01-01T09:15:27Z"),
        pageview("s1", "2021-03-01T10:00:00Z"),
        {"session_id": "s1", "category": "page interaction", "name": "pageview", "data": "not an object", "timestamp": "2021-01-01T00:00:00Z"},
    ]);
    assert_eq!(app.ingest(&events).await.status(), StatusCode::ACCEPTED);
    app.drain().await;
    let full = usage(&app).await;
    assert_eq!(full["events"], 2, "{full}");
    assert_eq!(full["errors"], 1, "{full}");
    assert_eq!(
        full["oldest_event_timestamp"], "2021-01-01T09:15:27.000000Z",
        "{full}"
    );
    assert_eq!(
        full["newest_event_timestamp"], "2021-03-01T10:00:00.000000Z",
        "{full}"
    );
    assert!(full["store_bytes"].as_u64().expect("bytes") > 0, "{full}");
    assert!(full["queue_bytes"].as_u64().expect("bytes") > 0, "{full}");
    assert_eq!(app.metric("eye_store_events ").await, Some(2.0));
    assert_eq!(
        app.metric("eye_store_oldest_event_timestamp_seconds ")
            .await,
        Some(1_609_492_527.0)
    );
    assert!(app.metric("eye_store_bytes ").await.expect("gauge") > 0.0);
    drop(gauges);

    let response = app
        .request(Method::GET, "/v1/usage", Some(&app.query_key))
        .send()
        .await
        .expect("usage");
    expect_error(response, StatusCode::FORBIDDEN, "forbidden").await;
}
