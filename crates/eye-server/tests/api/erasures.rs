//! Erasure: `POST /v1/erasures` forgets every event, error record and summary of sessions,
//! including events still queued when it ran; `suppress` drops their later events.

use std::time::{Duration, Instant};

use eye_server::model::Scope;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, create_key, expect_error, json_of, pageview, spawn};

async fn admin(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.request(method, path, Some(&app.admin_key));
    if let Some(body) = body {
        request = request.json(&body);
    }
    json_of(request.send().await.expect("send")).await
}

/// Asks for an erasure and waits (with a deadline) until it is done.
async fn erase(app: &TestApp, body: Value) -> Value {
    let (status, job) = admin(app, Method::POST, "/v1/erasures", Some(body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["status"], "pending", "{job}");
    let id = job["id"].as_str().expect("id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, job) = admin(app, Method::GET, &format!("/v1/erasures/{id}"), None).await;
        assert_eq!(status, StatusCode::OK, "{job}");
        match job["status"].as_str() {
            Some("done") => return job,
            Some("pending" | "running") => {}
            other => panic!("erasure ended {other:?}: {job}"),
        }
        assert!(Instant::now() < deadline, "not done within 20 s: {job}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn invalid(session: &str) -> Value {
    // `data` must be an object: a rejection that keeps its session id.
    json!({"session_id": session, "category": "page interaction", "name": "pageview",
           "data": "Ada Lovelace", "timestamp": "2021-01-01T09:15:27Z"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_forgets_every_trace_of_its_sessions() {
    let app = spawn().await;
    let body = json!([
        pageview("s-forget", "2021-01-01T09:15:27Z"),
        pageview("s-forget", "2021-01-01T09:16:27Z"),
        invalid("s-forget"),
        pageview("s-keep", "2021-01-01T09:15:27Z"),
        invalid("s-keep"),
    ]);
    assert_eq!(app.ingest(&body).await.status(), StatusCode::ACCEPTED);
    app.drain().await;

    let job = erase(&app, json!({"session_ids": ["s-forget"]})).await;
    assert_eq!(job["events_deleted"], 2, "{job}");
    assert_eq!(job["errors_deleted"], 1, "{job}");
    assert_eq!(job["session_ids"], json!(["s-forget"]), "{job}");
    assert_eq!(job["app"], Value::Null, "{job}");
    assert!(job["completed_at"].is_string(), "{job}");
    let requested_by = job["requested_by"].as_str().expect("requested_by");
    assert!(requested_by.starts_with("key_"), "a key id: {job}");
    assert!(
        !job.to_string().contains(&app.admin_key),
        "never the secret"
    );

    assert!(app.all_events("session_id=s-forget").await.is_empty());
    let (status, _) = app.query("/v1/sessions/s-forget").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, errors) = app.query("/v1/errors?limit=100").await;
    let errors = errors["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "only s-keep's error is left: {errors:?}");
    assert!(
        !Value::Array(errors.clone())
            .to_string()
            .contains("s-forget")
    );
    assert_eq!(app.all_events("session_id=s-keep").await.len(), 1);

    // The record stays, listed newest first.
    let (status, list) = admin(&app, Method::GET, "/v1/erasures", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["erasures"][0]["id"], job["id"], "{list}");
    assert_eq!(list["erasures"][0]["status"], "done", "{list}");
}

#[tokio::test]
async fn erasing_an_unknown_session_is_done_with_nothing_deleted() {
    let app = spawn().await;
    let job = erase(&app, json!({"session_ids": ["never-seen"]})).await;
    assert_eq!(
        (job["events_deleted"].clone(), job["errors_deleted"].clone()),
        (json!(0), json!(0))
    );
    let (status, _) = admin(&app, Method::GET, "/v1/erasures/era_nosuchjob", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_queued_before_the_erasure_finished_never_appear() {
    let app = spawn().await;
    let batch: Vec<Value> = (0..500)
        .map(|i| {
            pageview(
                "s-queued",
                &format!("2021-01-01T09:{:02}:{:02}Z", i / 60, i % 60),
            )
        })
        .collect();
    for chunk in batch.chunks(100) {
        assert_eq!(
            app.ingest(&json!(chunk)).await.status(),
            StatusCode::ACCEPTED
        );
    }
    // Asked at once: some of these are still queued when the erasure runs.
    let job = erase(&app, json!({"session_ids": ["s-queued"]})).await;
    app.drain().await;
    assert!(
        app.all_events("session_id=s-queued").await.is_empty(),
        "{job}"
    );
    let (status, _) = app.query("/v1/sessions/s-queued").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A later event of the session, without `suppress`, is stored as usual.
    let later = pageview("s-queued", "2021-01-02T00:00:00Z");
    assert_eq!(app.ingest(&later).await.status(), StatusCode::ACCEPTED);
    app.drain().await;
    assert_eq!(app.all_events("session_id=s-queued").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suppressed_session_is_answered_accepted_and_never_stored() {
    let app = spawn().await;
    erase(&app, json!({"session_ids": ["s-gone"], "suppress": true})).await;
    let body = json!([
        pageview("s-gone", "2021-01-01T09:15:27Z"),
        pageview("s-here", "2021-01-01T09:15:27Z")
    ]);
    let (status, answer) = json_of(app.ingest(&body).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(
        answer["accepted"], 2,
        "the client has nothing to retry: {answer}"
    );
    app.drain().await;
    assert!(app.all_events("session_id=s-gone").await.is_empty());
    assert_eq!(app.all_events("session_id=s-here").await.len(), 1);
    assert_eq!(app.metric("eye_events_suppressed_total ").await, Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_for_one_application_keeps_the_others() {
    let app = spawn().await;
    let blog_key = create_key(app.dir.path(), "blog", &[Scope::Ingest]).await;
    let from_shop = pageview("s-both", "2021-01-01T09:15:27Z");
    assert_eq!(app.ingest(&from_shop).await.status(), StatusCode::ACCEPTED);
    let from_blog = json!([
        pageview("s-both", "2021-01-01T08:00:00Z"),
        pageview("s-both", "2021-01-01T10:00:00Z"),
    ]);
    let response = app
        .request(Method::POST, "/v1/events", Some(&blog_key))
        .json(&from_blog)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    app.drain().await;

    let job = erase(&app, json!({"session_ids": ["s-both"], "app": "blog"})).await;
    assert_eq!(job["events_deleted"], 2, "{job}");
    let (status, session) = app.query("/v1/sessions/s-both").await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["event_count"], 1, "{session}");
    assert_eq!(session["apps"], json!(["shop"]), "{session}");
    assert_eq!(
        session["first_timestamp"], "2021-01-01T09:15:27.000000Z",
        "{session}"
    );
    assert_eq!(
        session["last_timestamp"], "2021-01-01T09:15:27.000000Z",
        "{session}"
    );
}

#[tokio::test]
async fn bad_erasure_requests_are_refused_naming_the_field() {
    let app = spawn().await;
    for (body, field) in [
        (json!({"session_ids": []}), "session_ids"),
        (json!({"session_ids": [1, 2]}), "session_ids[0]"),
        (json!({"session_ids": vec!["s"; 10_001]}), "session_ids"),
        (json!({"session_ids": ["s"], "app": ["shop"]}), "app"),
        (json!({"sessions": ["s"]}), "sessions"),
    ] {
        let response = app
            .request(Method::POST, "/v1/erasures", Some(&app.admin_key))
            .json(&body)
            .send()
            .await
            .expect("send");
        let answer = expect_error(response, StatusCode::BAD_REQUEST, "invalid_body").await;
        let message = answer["error"]["message"].as_str().expect("message");
        assert!(message.contains(field), "{body}: {message}");
    }
    let response = app
        .request(Method::POST, "/v1/erasures", Some(&app.query_key))
        .json(&json!({"session_ids": ["s"]}))
        .send()
        .await
        .expect("send");
    expect_error(response, StatusCode::FORBIDDEN, "forbidden").await;
    let (_, list) = admin(&app, Method::GET, "/v1/erasures", None).await;
    assert_eq!(list["erasures"], json!([]), "nothing half-recorded: {list}");
}

/// Hostile bodies and ids: each gets its 4xx with a code, nothing is recorded, and SQL in a
/// session id is only ever a session id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_erasure_requests_get_their_4xx_and_record_nothing() {
    let app = spawn().await;
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    let huge = format!(r#"{{"session_ids": ["{}"]}}"#, "s".repeat(3 * 1024 * 1024));
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "empty body",
            Vec::new(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "truncated",
            b"{\"session_ids\": [".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "invalid UTF-8",
            b"{\"session_ids\": [\"\xff\"]}".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "nested 10,000 deep",
            deep.into_bytes(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "NUL in an id",
            br#"{"session_ids": ["a\u0000b"]}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "an id of 10,000 characters",
            format!(r#"{{"session_ids": ["{}"]}}"#, "s".repeat(10_000)).into_bytes(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "3 MiB body",
            huge.into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "object ids",
            br#"{"session_ids": [{"$ne": null}]}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
    ];
    for (name, body, status, code) in cases {
        let response = app
            .request(Method::POST, "/v1/erasures", Some(&app.admin_key))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("send");
        let answer = json_of(response).await;
        assert_eq!(
            (answer.0, answer.1["error"]["code"].as_str()),
            (status, Some(code)),
            "{name}: {}",
            answer.1
        );
    }
    let (_, list) = admin(&app, Method::GET, "/v1/erasures", None).await;
    assert_eq!(list["erasures"], json!([]), "nothing recorded: {list}");

    // SQL is a session id like any other: the events of `s1` stay.
    assert_eq!(
        app.ingest(&pageview("s1", "2021-01-01T09:15:27Z"))
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    app.drain().await;
    let job = erase(&app, json!({"session_ids": ["' OR '1'='1", "s1' --", "%"]})).await;
    assert_eq!(job["events_deleted"], 0, "{job}");
    assert_eq!(app.all_events("session_id=s1").await.len(), 1);
    for id in ["' OR '1'='1", "..%2F..%2Fetc%2Fpasswd", "%00", "era_%25"] {
        let (status, body) = admin(&app, Method::GET, &format!("/v1/erasures/{id}"), None).await;
        assert!(
            status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST,
            "{id}: {status} {body}"
        );
        assert!(body["error"]["code"].is_string(), "{id}: {body}");
    }
}
