//! `POST /v1/errors/replay`: dry run, replay after a schema fix, idempotence.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_error, json_of, pageview, spawn};

const CTA: &str = "/v1/schemas/page%20interaction/cta%20click";

async fn replay(app: &TestApp, body: Value) -> Value {
    let response = app
        .request(Method::POST, "/v1/errors/replay", Some(&app.admin_key))
        .json(&body)
        .send()
        .await
        .expect("send");
    let (status, outcome) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    outcome
}

fn cta_without_element(n: usize) -> Value {
    let mut event = pageview(&format!("r{n}"), "2021-01-01 09:15:27");
    event["name"] = json!("cta click");
    event
}

#[tokio::test]
async fn rejected_events_are_replayed_once_the_schema_is_fixed() {
    let app = spawn().await;
    let strict = json!({"type": "object", "required": ["element"]});
    let put = app
        .request(Method::PUT, CTA, Some(&app.admin_key))
        .json(&strict)
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), StatusCode::CREATED);
    let body = json!([
        cta_without_element(0),
        cta_without_element(1),
        cta_without_element(2),
        pageview("r9", "2021-02-30 00:00:00")
    ]);
    let (status, _) = json_of(app.ingest(&body).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    app.ingest_raw(b"{broken".to_vec(), "application/json")
        .await;
    app.drain().await;

    let dry = replay(&app, json!({"code": "schema_violation", "dry_run": true})).await;
    assert_eq!(
        (
            dry["matched"].clone(),
            dry["passed"].clone(),
            dry["still_failing"].clone()
        ),
        (json!(3), json!(0), json!(3))
    );

    let relaxed = json!({"type": "object", "properties": {"element": {"type": "string"}}});
    app.request(Method::PUT, CTA, Some(&app.admin_key))
        .json(&relaxed)
        .send()
        .await
        .expect("put");
    let dry = replay(&app, json!({"code": "schema_violation", "dry_run": true})).await;
    assert_eq!(
        (
            dry["matched"].clone(),
            dry["passed"].clone(),
            dry["dry_run"].clone()
        ),
        (json!(3), json!(3), json!(true))
    );
    assert!(
        app.all_events("name=cta%20click").await.is_empty(),
        "a dry run changes nothing"
    );

    let done = replay(&app, json!({"code": "schema_violation"})).await;
    assert_eq!(
        (done["passed"].clone(), done["still_failing"].clone()),
        (json!(3), json!(0))
    );
    assert_eq!(
        done["by_event_type"],
        json!([{"category": "page interaction", "name": "cta click", "matched": 3, "passed": 3, "still_failing": 0}])
    );
    let stored = app.all_events("name=cta%20click").await;
    assert_eq!(stored.len(), 3);
    assert!(
        stored
            .iter()
            .all(|e| e["schema_version"] == 2 && e["app"] == "shop")
    );
    let (_, errors) = app.query("/v1/errors?code=schema_violation").await;
    assert!(
        errors["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .all(|e| e["replayed_at"].is_string() && e["replayed_event_id"].is_string())
    );
    let (_, session) = app.query("/v1/sessions/r0").await;
    assert_eq!(session["event_count"], 1);

    let again = replay(&app, json!({"code": "schema_violation"})).await;
    assert_eq!(again["matched"], 0, "replayed errors are not matched again");
    assert_eq!(
        app.all_events("name=cta%20click").await.len(),
        3,
        "nothing stored twice"
    );

    let rest = replay(&app, json!({})).await;
    assert_eq!(
        (
            rest["matched"].clone(),
            rest["passed"].clone(),
            rest["still_failing"].clone()
        ),
        (json!(2), json!(0), json!(2))
    );
}

#[tokio::test]
async fn replay_checks_its_body_and_scope() {
    let app = spawn().await;
    let response = app
        .request(Method::POST, "/v1/errors/replay", Some(&app.admin_key))
        .json(&json!({"cod": "x"}))
        .send()
        .await
        .expect("send");
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_body").await;
    let response = app
        .request(Method::POST, "/v1/errors/replay", Some(&app.admin_key))
        .json(&json!({"from": "soon"}))
        .send()
        .await
        .expect("send");
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_body").await;
    let response = app
        .request(Method::POST, "/v1/errors/replay", Some(&app.query_key))
        .json(&json!({}))
        .send()
        .await
        .expect("send");
    expect_error(response, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn replay_filters_follow_the_rules_of_get_errors_in_an_object() {
    let app = spawn().await;
    for body in [
        json!({"code": ""}),
        json!({"app": "a\tb"}),
        json!({"category": "x".repeat(129)}),
        json!({"name": "a\u{85}"}),
        json!({"from": "2021-01-01x00:00:00Z"}),
        json!({"to": "2016-12-31T23:59:60Z"}),
        json!([null, null]),
        json!(null),
    ] {
        let response = app
            .request(Method::POST, "/v1/errors/replay", Some(&app.admin_key))
            .json(&body)
            .send()
            .await
            .expect("send");
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_body").await;
    }
    let outcome = replay(
        &app,
        json!({"code": "schema_violation", "app": "shop", "from": "2021-01-01t00:00:00z", "dry_run": true}),
    )
    .await;
    assert_eq!(outcome["matched"], 0);
    let response = app
        .request(Method::POST, "/v1/errors/replay", Some(&app.admin_key))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK, "no body: no filters");
}
