//! The native API's user and context fields and its clock-skew correction: `user_id` and
//! `context` stored and returned, their limits, `{"sent_at", "events"}`, and a user's events
//! and sessions found by `user_id`.

use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::helpers::{expect_error, json_of, pageview, spawn};

fn at(offset: time::Duration) -> String {
    (OffsetDateTime::now_utc() + offset)
        .format(&Rfc3339)
        .expect("format")
}

fn parse(value: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(value.as_str().expect("a timestamp"), &Rfc3339).expect("RFC 3339")
}

#[tokio::test]
async fn user_id_and_context_are_stored_and_returned() {
    let app = spawn().await;
    let mut event = pageview("s-user", "2021-01-01T09:15:27Z");
    event["user_id"] = json!("user-1");
    event["context"] = json!({"page": {"url": "https://shop.example.com/"}, "userAgent": "test"});
    let plain = pageview("s-user", "2021-01-01T09:15:28Z");
    let (status, verdict) = json_of(app.ingest(&json!([event, plain])).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{verdict}");
    app.drain().await;
    let events = app.all_events("session_id=s-user").await;
    assert_eq!(events[0]["user_id"], "user-1");
    assert_eq!(
        events[0]["context"],
        json!({"page": {"url": "https://shop.example.com/"}, "userAgent": "test"})
    );
    assert_eq!(
        events[0]["original_timestamp"], events[0]["timestamp"],
        "no sent_at: the timestamp as sent"
    );
    assert_eq!(events[1]["user_id"], Value::Null);
    assert_eq!(events[1]["context"], Value::Null);
    let (_, session) = app.query("/v1/sessions/s-user").await;
    assert_eq!(session["events"][0]["user_id"], "user-1", "{session}");
}

#[tokio::test]
async fn user_id_and_context_outside_their_limits_are_refused_with_their_path() {
    let app = spawn().await;
    let with = |field: &str, value: Value| {
        let mut event = pageview("s-limits", "2021-01-01T09:15:27Z");
        event[field] = value;
        event
    };
    let cases = [
        with("user_id", json!("")),
        with("user_id", json!("u".repeat(129))),
        with("user_id", json!(42)),
        with("user_id", json!("a\nb")),
        with("context", json!("a string")),
        with("context", json!([1])),
        with("context", json!({"blob": "x".repeat(8 * 1024)})),
        with("context", json!({"a": "nul\u{0}"})),
    ];
    let (status, verdict) = json_of(app.ingest(&Value::Array(cases.to_vec())).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{verdict}");
    let paths: Vec<(&str, &str)> = verdict["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["error"]["code"].as_str().expect("code"),
                r["error"]["path"].as_str().expect("path"),
            )
        })
        .collect();
    assert_eq!(
        paths,
        [
            ("invalid_field", "/user_id"),
            ("invalid_field", "/user_id"),
            ("invalid_field", "/user_id"),
            ("invalid_field", "/user_id"),
            ("invalid_field", "/context"),
            ("invalid_field", "/context"),
            ("invalid_field", "/context"),
            ("invalid_field", "/context/a"),
        ]
    );
    let mut largest = with("context", json!({"blob": ""}));
    let room = 8 * 1024 - json!({"blob": ""}).to_string().len();
    largest["context"]["blob"] = json!("x".repeat(room));
    assert_eq!(app.ingest(&largest).await.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn sent_at_corrects_every_event_of_a_request_for_the_clients_clock() {
    let app = spawn().await;
    // The client's clock runs ten minutes fast: its "now" is ten minutes ahead.
    let skew = time::Duration::minutes(10);
    let mut first = pageview("s-sent", &at(skew));
    first["event_id"] = json!("sent-1");
    let second = pageview("s-sent", &at(skew - time::Duration::seconds(30)));
    let body = json!({"sent_at": at(skew), "events": [first.clone(), second]});
    let (status, verdict) = json_of(app.ingest(&body).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{verdict}");
    assert_eq!(verdict["accepted"], 2, "{verdict}");
    app.drain().await;
    let events = app.all_events("session_id=s-sent").await;
    let now = OffsetDateTime::now_utc();
    let newest = &events[1];
    let off = (now - parse(&newest["timestamp"])).abs();
    assert!(off < time::Duration::seconds(5), "{newest}: {off} from now");
    let gap = parse(&events[1]["timestamp"]) - parse(&events[0]["timestamp"]);
    assert!(
        (gap - time::Duration::seconds(30)).abs() < time::Duration::milliseconds(5),
        "the events keep their spacing: {gap}"
    );
    let kept = parse(&newest["original_timestamp"]) - parse(&first["timestamp"]);
    assert!(kept.abs() < time::Duration::microseconds(1), "{newest}");

    // A retry (a later sent_at) answers with the id already stored and stores nothing new.
    let retry = json!({"sent_at": at(skew + time::Duration::seconds(2)), "events": [first]});
    let (_, again) = json_of(app.ingest(&retry).await).await;
    assert_eq!(again["results"][0]["id"], verdict["results"][0]["id"]);
    app.drain().await;
    assert_eq!(app.all_events("session_id=s-sent").await.len(), 2);

    // Without sent_at the same events are in the future.
    let uncorrected = json!({"events": [pageview("s-sent", &at(skew))]});
    let (status, verdict) = json_of(app.ingest(&uncorrected).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        verdict["results"][0]["error"]["code"],
        "timestamp_in_future"
    );
}

#[tokio::test]
async fn a_sent_at_that_is_not_a_timestamp_refuses_the_request() {
    let app = spawn().await;
    for sent_at in [json!("yesterday"), json!(1_609_492_527), json!({})] {
        let body = json!({"sent_at": sent_at, "events": [pageview("s", "2021-01-01T09:15:27Z")]});
        let error = expect_error(
            app.ingest(&body).await,
            StatusCode::BAD_REQUEST,
            "invalid_body",
        )
        .await;
        assert!(
            error["error"]["message"]
                .as_str()
                .expect("message")
                .contains("sent_at"),
            "{error}"
        );
    }
    let other_key = json!({"events": [pageview("s", "2021-01-01T09:15:27Z")], "extra": 1});
    expect_error(
        app.ingest(&other_key).await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
}

#[tokio::test]
async fn a_users_events_and_sessions_are_found_by_user_id() {
    let app = spawn().await;
    let mut events = Vec::new();
    for (session, user, minute) in [
        ("s-a", Some("alice"), 1),
        ("s-a", None, 2),
        ("s-b", Some("bob"), 3),
        ("s-c", Some("alice"), 4),
        ("s-c", Some("bob"), 5),
    ] {
        let mut event = pageview(session, &format!("2021-01-01T09:{minute:02}:00Z"));
        if let Some(user) = user {
            event["user_id"] = json!(user);
        }
        events.push(event);
    }
    assert_eq!(
        app.ingest(&Value::Array(events)).await.status(),
        StatusCode::ACCEPTED
    );
    app.drain().await;
    let alice: Vec<(Value, Value)> = app
        .all_events("user_id=alice&limit=1")
        .await
        .iter()
        .map(|e| (e["session_id"].clone(), e["timestamp"].clone()))
        .collect();
    assert_eq!(
        alice,
        [
            (json!("s-a"), json!("2021-01-01T09:01:00.000000Z")),
            (json!("s-c"), json!("2021-01-01T09:04:00.000000Z")),
        ]
    );
    let (status, sessions) = app
        .query("/v1/sessions?user_id=bob&from=2021-01-01&to=2021-01-02")
        .await;
    assert_eq!(status, StatusCode::OK, "{sessions}");
    let ids: Vec<&Value> = sessions["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| &s["session_id"])
        .collect();
    assert_eq!(ids, [&json!("s-c"), &json!("s-b")], "newest activity first");
    let (status, none) = app.query("/v1/sessions?user_id=nobody").await;
    assert_eq!((status, &none["sessions"]), (StatusCode::OK, &json!([])));
    let (status, bad) = app.query("/v1/events?user_id=").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
}
