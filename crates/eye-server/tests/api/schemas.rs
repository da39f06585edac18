//! Schema administration and per-type validation through the API.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_error, json_of, pageview, spawn, spawn_with};

const CTA: &str = "/v1/schemas/page%20interaction/cta%20click";

fn cta_click(element: Option<&str>) -> Value {
    let mut event = pageview("s-cta", "2021-01-01 09:15:27.243860");
    event["name"] = json!("cta click");
    if let Some(element) = element {
        event["data"]["element"] = json!(element);
    }
    event
}

async fn put(app: &TestApp, path: &str, schema: &Value) -> (StatusCode, Value) {
    json_of(
        app.request(Method::PUT, path, Some(&app.admin_key))
            .json(schema)
            .send()
            .await
            .expect("send"),
    )
    .await
}

#[tokio::test]
async fn schemas_are_versioned_and_judge_events() {
    let app = spawn().await;
    let v1 = json!({"type": "object", "required": ["element"], "properties": {"element": {"type": "string"}}});
    let (status, created) = put(&app, CTA, &v1).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        (
            created["category"].clone(),
            created["name"].clone(),
            created["version"].clone()
        ),
        (json!("page interaction"), json!("cta click"), json!(1))
    );

    let (_, verdict) = json_of(
        app.ingest(&json!([cta_click(None), cta_click(Some("chat bubble"))]))
            .await,
    )
    .await;
    let error = &verdict["results"][0]["error"];
    assert_eq!(
        (error["code"].clone(), error["path"].clone()),
        (json!("schema_violation"), json!("/data/element"))
    );
    assert_eq!(verdict["results"][1]["status"], "accepted");

    let v2 = json!({"type": "object", "properties": {"element": {"enum": ["chat bubble"]}}});
    let (status, updated) = put(&app, CTA, &v2).await;
    assert_eq!(
        (status, updated["version"].clone()),
        (StatusCode::OK, json!(2))
    );
    let (_, verdict) = json_of(
        app.ingest(&json!([cta_click(None), cta_click(Some("banner"))]))
            .await,
    )
    .await;
    assert_eq!(verdict["results"][0]["status"], "accepted");
    assert_eq!(verdict["results"][1]["error"]["path"], "/data/element");

    app.drain().await;
    let events = app.all_events("name=cta%20click").await;
    let versions: Vec<Value> = events.iter().map(|e| e["schema_version"].clone()).collect();
    assert_eq!(versions, vec![json!(1), json!(2)]);
    let (_, errors) = app.query("/v1/errors?code=schema_violation").await;
    let versions: Vec<Value> = errors["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["schema_version"].clone())
        .collect();
    assert_eq!(versions, vec![json!(2), json!(1)]);

    let (status, current) = json_of(
        app.request(Method::GET, CTA, Some(&app.admin_key))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!((status, current["schema"].clone()), (StatusCode::OK, v2));
    let (_, old) = json_of(
        app.request(
            Method::GET,
            &format!("{CTA}?version=1"),
            Some(&app.admin_key),
        )
        .send()
        .await
        .expect("send"),
    )
    .await;
    assert_eq!(old["schema"], v1);
    let (_, list) = json_of(
        app.request(Method::GET, "/v1/schemas", Some(&app.admin_key))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(list["schemas"].as_array().expect("schemas").len(), 1);

    let deleted = app
        .request(Method::DELETE, CTA, Some(&app.admin_key))
        .send()
        .await
        .expect("send");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let missing = app
        .request(Method::GET, CTA, Some(&app.admin_key))
        .send()
        .await
        .expect("send");
    expect_error(missing, StatusCode::NOT_FOUND, "not_found").await;
    let (_, verdict) = json_of(app.ingest(&cta_click(Some("banner"))).await).await;
    assert_eq!(
        verdict["results"][0]["status"], "accepted",
        "no schema: accepted by default"
    );
}

#[tokio::test]
async fn schemas_that_do_not_compile_are_refused() {
    let app = spawn().await;
    for bad in [
        json!({"type": "no-such-type"}),
        json!({"$ref": "https://example.com/remote.json"}),
        json!([1]),
    ] {
        let response = app
            .request(Method::PUT, CTA, Some(&app.admin_key))
            .json(&bad)
            .send()
            .await
            .expect("send");
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_schema").await;
    }
    let response = app
        .request(Method::PUT, CTA, Some(&app.admin_key))
        .body("{nope")
        .send()
        .await
        .expect("send");
    expect_error(response, StatusCode::BAD_REQUEST, "malformed_json").await;
    let (_, list) = json_of(
        app.request(Method::GET, "/v1/schemas", Some(&app.admin_key))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(list["schemas"], json!([]));
}

#[tokio::test]
async fn try_it_takes_an_object_with_any_schema_and_any_event() {
    let app = spawn().await;
    let try_it = |body: Value| {
        app.request(Method::POST, "/v1/schemas/validate", Some(&app.admin_key))
            .json(&body)
            .send()
    };
    let (status, verdict) = json_of(
        try_it(json!({"schema": false, "event": pageview("s", "2021-01-01 09:15:27")}))
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{verdict}");
    assert_eq!(verdict["error"]["code"], "schema_violation");
    let (status, verdict) = json_of(
        try_it(json!({"schema": true, "event": [1]}))
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{verdict}");
    assert_eq!(verdict["error"]["code"], "invalid_event");
    // serde would read the struct from an array of its fields; the document says object.
    let response = try_it(json!([{}, {}])).await.expect("send");
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_body").await;
}

#[tokio::test]
async fn the_shipped_schema_directory_loads_at_start_up() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let app = spawn_with(|config| config.schemas = Some(dir)).await;
    let mut submit = pageview("s-form", "2021-01-01 09:15:27.243860");
    submit["category"] = json!("form interaction");
    submit["name"] = json!("submit");
    submit["data"]["form"] = json!({"first_name": "John", "last_name": "Doe"});
    let body = json!([
        pageview("s-form", "2021-01-01 09:15:27.243860"),
        cta_click(Some("chat bubble")),
        submit,
        cta_click(None)
    ]);
    let (_, verdict) = json_of(app.ingest(&body).await).await;
    assert_eq!(verdict["accepted"], 3, "{verdict}");
    assert_eq!(verdict["results"][3]["error"]["path"], "/data/element");
}

/// Schema errors are written for people, the same through `PUT` and the console's "try it".
#[tokio::test]
async fn schema_errors_name_the_keyword_path_and_what_is_allowed() {
    let app = spawn().await;
    let remote = json!({"properties": {"a": {"$ref": "https://example.com/a.json"}}});
    let objekt = json!({"type": "objekt"});
    let expected: [(&Value, &[&str]); 2] = [
        (
            &remote,
            &[
                "remote references are not allowed",
                "/properties/a/$ref",
                "https://example.com/a.json",
            ],
        ),
        (
            &objekt,
            &[
                "at /type",
                "\"objekt\" is not allowed",
                "\"object\"",
                "\"string\"",
            ],
        ),
    ];
    for (schema, words) in expected {
        let put = app
            .request(Method::PUT, CTA, Some(&app.admin_key))
            .json(schema)
            .send()
            .await
            .expect("send");
        let tried = app
            .request(Method::POST, "/v1/schemas/validate", Some(&app.admin_key))
            .json(&json!({"schema": schema, "event": cta_click(Some("x"))}))
            .send()
            .await
            .expect("send");
        for response in [put, tried] {
            let body = expect_error(response, StatusCode::BAD_REQUEST, "invalid_schema").await;
            let message = body["error"]["message"].as_str().expect("message");
            for word in words {
                assert!(message.contains(word), "{word:?} missing from {message}");
            }
            for jargon in ["resolve-http", "registry", "anyOf"] {
                assert!(!message.contains(jargon), "{jargon:?} in {message}");
            }
        }
    }
}

/// A shipped schema file sent whole to `PUT` would be a schema that lets every event
/// through: it is refused, with what to send instead.
#[tokio::test]
async fn a_schema_file_sent_as_a_schema_is_refused() {
    let app = spawn().await;
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schemas/page-interaction.cta-click.json"
    );
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(file).expect("shipped file")).expect("json");
    let (status, body) = put(&app, CTA, &file).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_schema");
    let (status, _) = put(&app, CTA, &file["schema"]).await;
    assert_eq!(status, StatusCode::CREATED);
}
