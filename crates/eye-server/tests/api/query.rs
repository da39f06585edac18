//! `GET /v1/events`, `GET /v1/sessions/{id}`, `GET /v1/errors` and the error summary.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_error, pageview, spawn};

async fn seed(app: &TestApp) {
    let mut events = Vec::new();
    for n in 0..25 {
        let mut event = pageview(
            &format!("s{}", n % 3),
            &format!("2021-01-01 09:{:02}:00", n),
        );
        if n % 5 == 0 {
            event["name"] = json!("cta click");
            event["data"]["element"] = json!("chat bubble");
        }
        events.push(event);
    }
    let response = app.ingest(&Value::Array(events)).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    app.drain().await;
}

#[tokio::test]
async fn filters_combine_and_pages_visit_every_event_once_in_order() {
    let app = spawn().await;
    seed(&app).await;
    let all = app.all_events("limit=7").await;
    assert_eq!(all.len(), 25);
    let ids: HashSet<&str> = all.iter().map(|e| e["id"].as_str().expect("id")).collect();
    assert_eq!(ids.len(), 25);
    let times: Vec<&str> = all
        .iter()
        .map(|e| e["timestamp"].as_str().expect("ts"))
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);

    let descending = app.all_events("limit=4&order=desc").await;
    let mut reversed = all.clone();
    reversed.reverse();
    assert_eq!(descending, reversed);

    assert_eq!(app.all_events("session_id=s0").await.len(), 9);
    assert_eq!(
        app.all_events("category=page%20interaction&name=cta%20click")
            .await
            .len(),
        5
    );
    assert_eq!(
        app.all_events("app=shop&session_id=s1&name=pageview")
            .await
            .len(),
        7
    );
    assert_eq!(app.all_events("app=blog").await.len(), 0);
    let window = app
        .all_events("from=2021-01-01T09:05:00Z&to=2021-01-01%2009:10:00")
        .await;
    assert_eq!(window.len(), 5, "from inclusive, to exclusive");
    let offset = app
        .all_events("from=2021-01-01T11:05:00%2B02:00&to=2021-01-01T11:10:00+02:00")
        .await;
    assert_eq!(offset, window, "offsets, encoded or not");
}

#[tokio::test]
async fn bad_parameters_are_400_naming_the_parameter() {
    let app = spawn().await;
    let cases = [
        ("/v1/events?limit=0", "limit"),
        ("/v1/events?limit=1001", "limit"),
        ("/v1/events?limit=-1", "limit"),
        ("/v1/events?limit=99999999999999999999999", "limit"),
        ("/v1/events?from=yesterday", "from"),
        ("/v1/events?to=2021-02-30", "to"),
        ("/v1/events?order=sideways", "order"),
        ("/v1/events?cursor=garbage", "cursor"),
        ("/v1/events?session_id=", "session_id"),
        ("/v1/events?sesion_id=typo", "sesion_id"),
        ("/v1/events?app=a&app=b", "app"),
        ("/v1/errors?code=", "code"),
        ("/v1/errors/summary?from=never", "from"),
        ("/v1/sessions/s1?limit=abc", "limit"),
    ];
    for (path, parameter) in cases {
        let response = app
            .request(Method::GET, path, Some(&app.query_key))
            .send()
            .await
            .expect("send");
        let body = expect_error(response, StatusCode::BAD_REQUEST, "invalid_parameter").await;
        let message = body["error"]["message"].as_str().expect("message");
        assert!(
            message.contains(&format!("`{parameter}`")),
            "{path}: {message}"
        );
    }
}

#[tokio::test]
async fn cursors_are_48_hex_digits_and_any_such_cursor_is_a_position() {
    let app = spawn().await;
    seed(&app).await;
    let (status, first) = app.query("/v1/events?limit=10").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let cursor = first["next_cursor"].as_str().expect("more pages");
    assert_eq!(cursor.len(), 48, "{cursor}");
    assert!(
        cursor
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "{cursor}"
    );
    // The document's pattern for `cursor`: every string of that shape is a keyset position.
    let (status, from_start) = app
        .query(&format!("/v1/events?cursor={}", "0".repeat(48)))
        .await;
    assert_eq!(status, StatusCode::OK, "{from_start}");
    assert_eq!(from_start["events"].as_array().expect("events").len(), 25);
    let (status, past_the_end) = app
        .query(&format!("/v1/events?cursor={}", "7f".repeat(24)))
        .await;
    assert_eq!(status, StatusCode::OK, "{past_the_end}");
    assert_eq!(past_the_end["events"], json!([]));
    for garbage in ["F".repeat(48), "0".repeat(47), "0".repeat(49)] {
        let (status, _) = app.query(&format!("/v1/events?cursor={garbage}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{garbage}");
    }
}

#[tokio::test]
async fn time_filters_take_only_the_documented_forms() {
    let app = spawn().await;
    for (value, expected) in [
        ("2021-01-01t09:00:00z", StatusCode::OK),
        ("2021-01-01T11:00:00%2002:00", StatusCode::OK),
        ("2021-01-01x09:00:00Z", StatusCode::BAD_REQUEST),
        ("%2B2021-01-01%2009:00:00", StatusCode::BAD_REQUEST),
        ("2016-12-31T23:59:60Z", StatusCode::BAD_REQUEST),
        ("0000-06-01T00:30:00%2B01:00", StatusCode::BAD_REQUEST),
    ] {
        let (status, body) = app.query(&format!("/v1/errors?from={value}")).await;
        assert_eq!(status, expected, "{value}: {body}");
    }
}

#[tokio::test]
async fn sql_looking_parameters_are_just_values() {
    let app = spawn().await;
    seed(&app).await;
    for value in [
        "'%20OR%201=1%20--",
        "s0'%3B%20DROP%20TABLE%20events%3B--",
        "..%2F..%2Fetc%2Fpasswd",
    ] {
        let (status, page) = app.query(&format!("/v1/events?session_id={value}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page["events"], json!([]));
    }
    assert_eq!(app.all_events("").await.len(), 25);
}

#[tokio::test]
async fn a_session_has_its_summary_and_its_events_in_time_order() {
    let app = spawn().await;
    seed(&app).await;
    let (status, session) = app.query("/v1/sessions/s0?limit=4").await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["session_id"], "s0");
    assert_eq!(session["event_count"], 9);
    assert_eq!(session["first_timestamp"], "2021-01-01T09:00:00.000000Z");
    assert_eq!(session["last_timestamp"], "2021-01-01T09:24:00.000000Z");
    assert_eq!(session["apps"], json!(["shop"]));
    assert_eq!(session["events"].as_array().expect("events").len(), 4);
    let cursor = session["next_cursor"].as_str().expect("more pages");
    let (_, next) = app
        .query(&format!("/v1/sessions/s0?limit=10&cursor={cursor}"))
        .await;
    assert_eq!(next["events"].as_array().expect("events").len(), 5);
    assert_eq!(next["next_cursor"], Value::Null);

    let response = app
        .request(Method::GET, "/v1/sessions/never-seen", Some(&app.query_key))
        .send()
        .await
        .expect("send");
    expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn errors_are_filtered_newest_first_and_summarised() {
    let app = spawn().await;
    let mut missing = pageview("s-x", "2021-01-01 09:00:00");
    missing
        .as_object_mut()
        .expect("object")
        .remove("session_id");
    let future = pageview("s-y", "2999-01-01 00:00:00");
    app.ingest(&json!([missing.clone(), future.clone(), future]))
        .await;
    app.ingest_raw(b"{oops".to_vec(), "application/json").await;
    app.drain().await;

    let (_, page) = app.query("/v1/errors?limit=2").await;
    assert_eq!(page["errors"][0]["code"], "malformed_json");
    let cursor = page["next_cursor"].as_str().expect("another page");
    let (_, rest) = app
        .query(&format!("/v1/errors?limit=10&cursor={cursor}"))
        .await;
    assert_eq!(rest["errors"].as_array().expect("errors").len(), 2);

    let (_, future_only) = app
        .query("/v1/errors?code=timestamp_in_future&category=page%20interaction&name=pageview")
        .await;
    assert_eq!(future_only["errors"].as_array().expect("errors").len(), 2);
    let (_, none) = app.query("/v1/errors?from=2999-01-01T00:00:00Z").await;
    assert_eq!(none["errors"], json!([]));

    let (status, summary) = app
        .query("/v1/errors/summary?from=2020-01-01T00:00:00Z")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        summary["by_code"],
        json!({"malformed_json": 1, "missing_field": 1, "timestamp_in_future": 2})
    );
    assert_eq!(
        summary["by_event_type"],
        json!([{"category": "page interaction", "name": "pageview", "count": 3}])
    );
}
