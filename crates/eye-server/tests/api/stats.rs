//! `GET /v1/stats/events` and `GET /v1/sessions` over HTTP: counts that equal the events
//! the query API returns, every bucket present, the session list's filters and pages, and
//! bad input answered 400 `invalid_parameter` naming the parameter.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_error, pageview, spawn};

/// Events over three hours of 2021-01-01 (09:00 to 11:59), of two types and three sessions;
/// s2 submits a form. Nothing in the 10:00 hour for the click type.
async fn seed(app: &TestApp) -> Vec<Value> {
    let mut events = Vec::new();
    for (session, time, name) in [
        ("s1", "2021-01-01T09:05:00Z", "pageview"),
        ("s1", "2021-01-01T09:06:30Z", "cta click"),
        ("s1", "2021-01-01T10:10:00Z", "pageview"),
        ("s2", "2021-01-01T09:59:59.999999Z", "pageview"),
        ("s2", "2021-01-01T10:00:00Z", "pageview"),
        ("s2", "2021-01-01T11:45:00Z", "cta click"),
        ("s3", "2021-01-01T11:30:00Z", "pageview"),
    ] {
        let mut event = pageview(session, time);
        event["name"] = json!(name);
        events.push(event);
    }
    let mut submit = pageview("s2", "2021-01-01T10:20:00Z");
    submit["category"] = json!("form interaction");
    submit["name"] = json!("submit");
    events.push(submit);
    let response = app.ingest(&Value::Array(events.clone())).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    app.drain().await;
    events
}

fn counts(series: &Value) -> Vec<u64> {
    series["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| p["count"].as_u64().expect("count"))
        .collect()
}

#[tokio::test]
async fn counts_by_type_fill_every_bucket_and_equal_the_stored_events() {
    let app = spawn().await;
    seed(&app).await;
    let (status, stats) = app
        .query("/v1/stats/events?from=2021-01-01T08:30:00Z&to=2021-01-01T12:00:00Z&interval=hour&group_by=category,name")
        .await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    // `from` is rounded down to the hour; `to` is already whole.
    assert_eq!(stats["from"], "2021-01-01T08:00:00Z");
    assert_eq!(stats["to"], "2021-01-01T12:00:00Z");
    assert_eq!(
        (stats["metric"].as_str(), stats["interval"].as_str()),
        (Some("events"), Some("hour"))
    );
    assert_eq!(stats["total"], 8);
    let series = stats["series"].as_array().expect("series");
    let keys: Vec<&Value> = series.iter().map(|s| &s["key"]).collect();
    assert_eq!(
        keys,
        vec![
            &json!({"category": "page interaction", "name": "pageview"}),
            &json!({"category": "page interaction", "name": "cta click"}),
            &json!({"category": "form interaction", "name": "submit"}),
        ],
        "largest total first"
    );
    let times: Vec<&str> = series[0]["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| p["t"].as_str().expect("t"))
        .collect();
    assert_eq!(
        times,
        [
            "2021-01-01T08:00:00Z",
            "2021-01-01T09:00:00Z",
            "2021-01-01T10:00:00Z",
            "2021-01-01T11:00:00Z"
        ]
    );
    assert_eq!(counts(&series[0]), vec![0, 2, 2, 1]);
    assert_eq!(counts(&series[1]), vec![0, 1, 0, 1]);
    assert_eq!(counts(&series[2]), vec![0, 0, 1, 0]);
    assert_eq!(series[0]["total"], 5);

    // The same counts as the query API's events, bucket by bucket.
    let events = app
        .all_events("from=2021-01-01T08:00:00Z&to=2021-01-01T12:00:00Z&limit=1000")
        .await;
    let mut scanned: BTreeMap<(String, String), u64> = BTreeMap::new();
    for event in &events {
        let hour = &event["timestamp"].as_str().expect("ts")[..13];
        *scanned
            .entry((
                hour.to_owned(),
                event["name"].as_str().expect("name").to_owned(),
            ))
            .or_default() += 1;
    }
    let mut counted: BTreeMap<(String, String), u64> = BTreeMap::new();
    for s in series {
        for point in s["points"].as_array().expect("points") {
            if point["count"] != 0 {
                let hour = &point["t"].as_str().expect("t")[..13];
                counted.insert(
                    (
                        hour.to_owned(),
                        s["key"]["name"].as_str().expect("name").to_owned(),
                    ),
                    point["count"].as_u64().expect("count"),
                );
            }
        }
    }
    assert_eq!(counted, scanned);
}

#[tokio::test]
async fn intervals_filters_and_sessions_started() {
    let app = spawn().await;
    seed(&app).await;
    let (status, by_minute) = app
        .query("/v1/stats/events?from=2021-01-01T09:05:00Z&to=2021-01-01T09:07:00Z&interval=minute&name=cta%20click")
        .await;
    assert_eq!(status, StatusCode::OK, "{by_minute}");
    let series = by_minute["series"].as_array().expect("series");
    assert_eq!(series.len(), 1, "not grouped: one series");
    assert_eq!(series[0]["key"], json!({}));
    assert_eq!(counts(&series[0]), vec![0, 1]);

    let (_, by_day) = app
        .query("/v1/stats/events?from=2020-12-31&to=2021-01-02&interval=day&group_by=app")
        .await;
    assert_eq!(by_day["series"][0]["key"], json!({"app": "shop"}));
    assert_eq!(counts(&by_day["series"][0]), vec![0, 8]);

    // Nothing matches: every bucket still present, with zeros.
    let (_, none) = app
        .query("/v1/stats/events?from=2021-01-01T09:00:00Z&to=2021-01-01T12:00:00Z&app=blog")
        .await;
    assert_eq!(none["total"], 0);
    assert_eq!(counts(&none["series"][0]), vec![0, 0, 0]);
    let (_, grouped_none) = app
        .query("/v1/stats/events?from=2021-01-01T09:00:00Z&to=2021-01-01T12:00:00Z&app=blog&group_by=name")
        .await;
    assert_eq!(grouped_none["series"], json!([]));

    // Sessions by the hour of their first event: s1 and s2 at 09, s3 at 11.
    let (status, sessions) = app
        .query("/v1/stats/events?from=2021-01-01T09:00:00Z&to=2021-01-01T12:00:00Z&metric=sessions")
        .await;
    assert_eq!(status, StatusCode::OK, "{sessions}");
    assert_eq!(sessions["metric"], "sessions");
    assert_eq!(sessions["total"], 3);
    assert_eq!(counts(&sessions["series"][0]), vec![2, 0, 1]);
}

#[tokio::test]
async fn sessions_are_listed_by_activity_with_filters_and_pages() {
    let app = spawn().await;
    seed(&app).await;
    let ids = |page: &Value| -> Vec<String> {
        page["sessions"]
            .as_array()
            .expect("sessions")
            .iter()
            .map(|s| s["session_id"].as_str().expect("id").to_owned())
            .collect()
    };
    let (status, all) = app.query("/v1/sessions").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(ids(&all), vec!["s2", "s3", "s1"], "newest activity first");
    assert_eq!(all["next_cursor"], Value::Null);
    assert_eq!(
        all["sessions"][0],
        json!({
            "session_id": "s2",
            "first_timestamp": "2021-01-01T09:59:59.999999Z",
            "last_timestamp": "2021-01-01T11:45:00.000000Z",
            "event_count": 4,
            "apps": ["shop"],
        })
    );
    let (_, submitted) = app
        .query("/v1/sessions?has_event=form%20interaction%2Fsubmit")
        .await;
    assert_eq!(ids(&submitted), vec!["s2"]);
    let (_, submitted) = app
        .query("/v1/sessions?has_event=form%20interaction/submit&app=shop")
        .await;
    assert_eq!(
        ids(&submitted),
        vec!["s2"],
        "a `/` left unencoded works too"
    );
    let (_, big) = app.query("/v1/sessions?min_events=3&order=asc").await;
    assert_eq!(ids(&big), vec!["s1", "s2"]);
    let (_, early) = app
        .query("/v1/sessions?from=2021-01-01T09:00:00Z&to=2021-01-01T09:30:00Z")
        .await;
    assert_eq!(ids(&early), vec!["s1"], "only s1 was active then");

    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..5 {
        let (status, page) = app
            .query(&format!("/v1/sessions?limit=1&cursor={cursor}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, vec!["s2", "s3", "s1"]);
}

#[tokio::test]
async fn bad_parameters_are_refused_naming_them() {
    let app = spawn().await;
    let range = "from=2021-01-01T00:00:00Z&to=2021-01-02T00:00:00Z";
    for (query, parameter) in [
        (
            "/v1/stats/events?to=2021-01-02T00:00:00Z".to_owned(),
            "from",
        ),
        (
            "/v1/stats/events?from=2021-01-02T00:00:00Z".to_owned(),
            "to",
        ),
        (
            "/v1/stats/events?from=2021-01-02T00:00:00Z&to=2021-01-01T00:00:00Z".to_owned(),
            "to",
        ),
        (
            "/v1/stats/events?from=2021-01-02T00:00:00Z&to=2021-01-02T00:00:00Z".to_owned(),
            "to",
        ),
        (
            format!("/v1/stats/events?{range}&interval=week"),
            "interval",
        ),
        (format!("/v1/stats/events?{range}&interval="), "interval"),
        (
            format!("/v1/stats/events?{range}&group_by=session_id"),
            "group_by",
        ),
        (
            format!("/v1/stats/events?{range}&group_by=app,%20name"),
            "group_by",
        ),
        (
            format!("/v1/stats/events?{range}&group_by=name,name"),
            "group_by",
        ),
        (format!("/v1/stats/events?{range}&group_by="), "group_by"),
        (format!("/v1/stats/events?{range}&metric=users"), "metric"),
        (
            format!("/v1/stats/events?{range}&metric=sessions&group_by=name"),
            "group_by",
        ),
        (
            format!("/v1/stats/events?{range}&metric=sessions&app=shop"),
            "app",
        ),
        (
            "/v1/stats/events?from=2021-01-01&to=2021-02-01&interval=minute".to_owned(),
            "interval",
        ),
        (format!("/v1/stats/events?{range}&bucket=hour"), "bucket"),
        (
            "/v1/stats/events?from=9999-12-31T00:00:00Z&to=9999-12-31T23:59:59.5Z&interval=day"
                .to_owned(),
            "to",
        ),
        ("/v1/sessions?has_event=submit".to_owned(), "has_event"),
        ("/v1/sessions?has_event=%2Fsubmit".to_owned(), "has_event"),
        ("/v1/sessions?has_event=form%2F".to_owned(), "has_event"),
        ("/v1/sessions?min_events=-1".to_owned(), "min_events"),
        ("/v1/sessions?min_events=many".to_owned(), "min_events"),
        (
            "/v1/sessions?from=2021-01-02&to=2021-01-01".to_owned(),
            "to",
        ),
        ("/v1/sessions?cursor=zz".to_owned(), "cursor"),
        ("/v1/sessions?limit=1001".to_owned(), "limit"),
        ("/v1/sessions?order=up".to_owned(), "order"),
    ] {
        let response = app
            .request(Method::GET, &query, Some(&app.query_key))
            .send()
            .await
            .expect("send");
        let body = expect_error(response, StatusCode::BAD_REQUEST, "invalid_parameter").await;
        let message = body["error"]["message"].as_str().expect("message");
        assert!(
            message.contains(&format!("`{parameter}`")),
            "{query}: {message}"
        );
    }
    // Too many points: by minute, 44,640 buckets in 31 days; grouped, 2 series × 6,000.
    let (_, body) = app
        .query("/v1/stats/events?from=2021-01-01&to=2021-02-01&interval=minute")
        .await;
    let message = body["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("10000") && message.contains("wider interval"),
        "{message}"
    );
}

#[tokio::test]
async fn too_many_series_times_buckets_is_refused_with_how_to_narrow() {
    let app = spawn().await;
    seed(&app).await;
    // 6,000 minutes: within the limit alone; with three types, 18,000 points.
    let range = "from=2021-01-01T00:00:00Z&to=2021-01-05T04:00:00Z&interval=minute";
    let (status, _) = app.query(&format!("/v1/stats/events?{range}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .query(&format!("/v1/stats/events?{range}&group_by=name"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_parameter");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("`group_by`") && message.contains("fewer"),
        "{message}"
    );
}
