//! `POST /v1/events`: shapes, per-event verdicts, timestamps, and the error store.

use std::io::Write;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{expect_error, json_of, pageview, spawn, spawn_with};

#[tokio::test]
async fn accepts_the_three_body_shapes_and_stores_the_events() {
    let app = spawn().await;
    let single = app
        .ingest(&pageview("s-1", "2021-01-01 09:15:27.243860"))
        .await;
    let array = app
        .ingest(&json!([pageview("s-1", "2021-01-01T09:15:28Z")]))
        .await;
    let wrapped = app
        .ingest(&json!({"events": [pageview("s-1", "2021-01-01T11:15:29+02:00")]}))
        .await;
    let mut ids = Vec::new();
    for response in [single, array, wrapped] {
        let (status, body) = json_of(response).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(
            (body["accepted"].clone(), body["rejected"].clone()),
            (json!(1), json!(0))
        );
        assert_eq!(body["results"][0]["status"], "accepted");
        ids.push(body["results"][0]["id"].as_str().expect("id").to_owned());
    }
    app.drain().await;
    let events = app.all_events("session_id=s-1").await;
    let stored: Vec<&str> = events
        .iter()
        .map(|e| e["id"].as_str().expect("id"))
        .collect();
    assert_eq!(stored, ids);
    let first = &events[0];
    assert_eq!(first["timestamp"], "2021-01-01T09:15:27.243860Z");
    assert_eq!(first["app"], "shop");
    assert_eq!(
        first["data"],
        json!({"host": "www.consumeraffairs.com", "path": "/"})
    );
    assert!(
        first["received_at"]
            .as_str()
            .expect("received_at")
            .ends_with('Z')
    );
    assert_eq!(events[2]["timestamp"], "2021-01-01T09:15:29.000000Z");
}

#[tokio::test]
async fn mixed_batches_get_a_verdict_per_event_and_all_rejected_is_422() {
    let app = spawn().await;
    let mut bad = pageview("s-2", "2021-01-01 09:15:27");
    bad.as_object_mut().expect("object").remove("category");
    let body = json!([
        pageview("s-2", "2021-01-01 09:15:27"),
        bad,
        pageview("s-2", "2021-02-30 10:00:00")
    ]);
    let (status, verdict) = json_of(app.ingest(&body).await).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        (verdict["accepted"].clone(), verdict["rejected"].clone()),
        (json!(1), json!(2))
    );
    let results = verdict["results"].as_array().expect("results");
    assert_eq!(
        results
            .iter()
            .map(|r| r["index"].clone())
            .collect::<Vec<_>>(),
        vec![json!(0), json!(1), json!(2)]
    );
    assert_eq!(results[1]["error"]["code"], "missing_field");
    assert_eq!(results[1]["error"]["path"], "/category");
    assert_eq!(results[2]["error"]["code"], "invalid_timestamp");
    assert_eq!(results[2]["error"]["path"], "/timestamp");

    let (status, verdict) =
        json_of(app.ingest(&json!([bad_timestamp(), bad_timestamp()])).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        (verdict["accepted"].clone(), verdict["rejected"].clone()),
        (json!(0), json!(2))
    );
}

fn bad_timestamp() -> Value {
    pageview("s-3", "not a time")
}

#[tokio::test]
async fn future_timestamps_are_rejected_beyond_the_tolerance() {
    let app = spawn().await;
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(30);
    let later = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let format = time::format_description::well_known::Rfc3339;
    let body = json!([
        pageview("s-f", &soon.format(&format).expect("format")),
        pageview("s-f", &later.format(&format).expect("format")),
    ]);
    let (_, verdict) = json_of(app.ingest(&body).await).await;
    assert_eq!(verdict["results"][0]["status"], "accepted", "{verdict}");
    assert_eq!(
        verdict["results"][1]["error"]["code"],
        "timestamp_in_future"
    );
}

#[tokio::test]
async fn timestamps_are_read_only_in_the_documented_forms() {
    let app = spawn().await;
    let forms = [
        ("2021-01-01t09:15:27.5z", "accepted"),
        ("2021-01-01 09:15:27+02:00", "accepted"),
        ("0000-01-01T00:30:00Z", "accepted"),
        // Read before by the parser underneath, though no documented form has them.
        ("2021-01-01x09:15:27Z", "rejected"),
        ("+2021-01-01 09:15:27", "rejected"),
        ("2016-12-31T23:59:60Z", "rejected"),
        ("0000-06-01T00:30:00+01:00", "rejected"),
        ("9999-01-01T00:00:00-01:00", "rejected"),
    ];
    let body: Vec<Value> = forms.iter().map(|(at, _)| pageview("s-t", at)).collect();
    let (_, verdict) = json_of(app.ingest(&json!(body)).await).await;
    for (index, (at, status)) in forms.iter().enumerate() {
        let result = &verdict["results"][index];
        assert_eq!(result["status"], *status, "{at}: {result}");
        if *status == "rejected" {
            assert_eq!(result["error"]["code"], "invalid_timestamp", "{at}");
        }
    }
}

#[tokio::test]
async fn maximum_age_rejects_old_events_when_configured() {
    let app = spawn_with(|config| config.max_event_age_secs = Some(86_400)).await;
    let (_, verdict) = json_of(app.ingest(&pageview("s-o", "2021-01-01 09:15:27")).await).await;
    assert_eq!(verdict["results"][0]["error"]["code"], "timestamp_too_old");
}

#[tokio::test]
async fn rejected_events_land_in_the_error_store_with_their_context() {
    let app = spawn().await;
    let mut event = pageview("s-e", "2021-01-01 09:15:27");
    event["data"] = json!("not an object");
    app.ingest(&json!([event])).await;
    app.drain().await;
    let (status, page) = app.query("/v1/errors").await;
    assert_eq!(status, StatusCode::OK);
    let error = &page["errors"][0];
    assert_eq!(error["code"], "invalid_field");
    assert_eq!(error["path"], "/data");
    assert_eq!(error["app"], "shop");
    assert_eq!(error["category"], "page interaction");
    assert_eq!(error["name"], "pageview");
    assert_eq!(error["session_id"], "s-e");
    assert_eq!(error["schema_version"], Value::Null);
    let raw: Value =
        serde_json::from_str(error["raw"].as_str().expect("raw")).expect("raw is the event");
    assert_eq!(raw["data"], "not an object");
    assert!(
        error["received_at"]
            .as_str()
            .expect("received_at")
            .ends_with('Z')
    );
}

#[tokio::test]
async fn refused_bodies_are_answered_and_recorded() {
    let app = spawn().await;
    expect_error(
        app.ingest_raw(b"{\"session_id\": ".to_vec(), "application/json")
            .await,
        StatusCode::BAD_REQUEST,
        "malformed_json",
    )
    .await;
    expect_error(
        app.ingest_raw(b"42".to_vec(), "application/json").await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    expect_error(
        app.ingest_raw(b"[]".to_vec(), "application/json").await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    expect_error(
        app.ingest_raw(b"{\"events\": 5}".to_vec(), "application/json")
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    expect_error(
        app.ingest_raw(b"{}".to_vec(), "text/xml").await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    app.drain().await;
    let (_, page) = app.query("/v1/errors?app=shop").await;
    let codes: Vec<&str> = page["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["code"].as_str().expect("code"))
        .collect();
    assert_eq!(
        codes,
        vec![
            "unsupported_media_type",
            "invalid_body",
            "invalid_body",
            "invalid_body",
            "malformed_json"
        ]
    );
    assert_eq!(page["errors"][4]["raw"], "{\"session_id\": ");
    assert_eq!(page["errors"][4]["path"], Value::Null);
}

#[tokio::test]
async fn hostile_json_gets_a_4xx_never_a_5xx() {
    let app = spawn().await;
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (deep.into_bytes(), "malformed_json"),
        (b"\xff\xfe{}".to_vec(), "malformed_json"),
        (b"\xef\xbb\xbf{}".to_vec(), "malformed_json"),
        (
            br#"{"session_id": "a", "session_id": "b"}"#.to_vec(),
            "malformed_json",
        ),
        (b"[1e400]".to_vec(), "malformed_json"),
        (b"".to_vec(), "malformed_json"),
        (b"   ".to_vec(), "malformed_json"),
        (b"null".to_vec(), "invalid_body"),
    ];
    for (body, code) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(20)]).into_owned();
        let body = expect_error(
            app.ingest_raw(body, "application/json").await,
            StatusCode::BAD_REQUEST,
            code,
        )
        .await;
        assert!(body["error"]["message"].is_string(), "{shown}");
    }
    let mut event = pageview("s-nul", "2021-01-01 09:15:27");
    event["session_id"] = json!("a\u{0}b");
    event["data"]["note"] = json!("x\u{0}y");
    let (status, verdict) = json_of(
        app.ingest(&json!([
            event,
            pageview("' OR 1=1 --", "2021-01-01 09:15:27")
        ]))
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(verdict["results"][0]["error"]["code"], "invalid_field");
    assert_eq!(verdict["results"][1]["status"], "accepted");
    let health = app
        .request(reqwest::Method::GET, "/healthz", None)
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn gzip_bodies_are_accepted_within_the_decompressed_cap() {
    let app = spawn_with(|config| config.max_decompressed_bytes = 2 * 1024 * 1024).await;
    let body = serde_json::to_vec(&json!([pageview("s-z", "2021-01-01 09:15:27")])).expect("json");
    let send = |bytes: Vec<u8>, encoding: &'static str| {
        app.request(reqwest::Method::POST, "/v1/events", Some(&app.ingest_key))
            .header("content-type", "application/json")
            .header("content-encoding", encoding)
            .body(bytes)
            .send()
    };
    let (status, _) = json_of(send(gzip(&body), "gzip").await.expect("send")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let bomb = gzip(&vec![b' '; 20 * 1024 * 1024]);
    assert!(bomb.len() < 1024 * 1024);
    expect_error(
        send(bomb, "gzip").await.expect("send"),
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    expect_error(
        send(b"not gzip".to_vec(), "gzip").await.expect("send"),
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    expect_error(
        send(body, "br").await.expect("send"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("compress");
    encoder.finish().expect("finish")
}

#[tokio::test]
async fn unknown_event_types_can_be_refused() {
    let app = spawn_with(|config| config.reject_unknown_event_types = true).await;
    let (status, verdict) =
        json_of(app.ingest(&pageview("s-u", "2021-01-01 09:15:27")).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(verdict["results"][0]["error"]["code"], "unknown_event_type");
}
