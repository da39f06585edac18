//! `/openapi.json` says exactly what the server accepts: value by value, a parameter, a body or
//! an event the document calls valid is accepted and one it calls invalid is refused. The
//! document is read as schemathesis reads it, with a JSON Schema validator (ECMA-262 regex).

use eye_server::http::QUERY_PARAMETERS;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, json_of, pageview, spawn};

/// The document's schemas, to validate values against `#/components/schemas/...` references.
struct Document(Value);

impl Document {
    async fn of(app: &TestApp) -> Document {
        let (status, document) = json_of(
            app.request(Method::GET, "/openapi.json", None)
                .send()
                .await
                .expect("openapi"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        Document(document)
    }

    /// Whether `value` is valid by `schema`, which may refer to the document's components.
    fn allows(&self, schema: &Value, value: &Value) -> bool {
        let mut rooted = schema.clone();
        rooted["components"] = self.0["components"].clone();
        jsonschema::validator_for(&rooted)
            .unwrap_or_else(|e| panic!("{schema} does not compile: {e}"))
            .is_valid(value)
    }

    fn operation(&self, method: &str, path: &str) -> &Value {
        let operation = &self.0["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        operation
    }

    /// The schema of a query parameter of GET `path`.
    fn query_parameter(&self, path: &str, name: &str) -> &Value {
        self.operation("get", path)["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .find(|p| p["name"] == name && p["in"] == "query")
            .map(|p| &p["schema"])
            .unwrap_or_else(|| panic!("GET {path}: no query parameter {name}"))
    }

    fn body(&self, method: &str, path: &str) -> &Value {
        &self.operation(method, path)["requestBody"]["content"]["application/json"]["schema"]
    }

    fn component(name: &str) -> Value {
        json!({"$ref": format!("#/components/schemas/{name}")})
    }
}

/// Query values near every rule: identifiers, timestamps, orders, limits, cursors.
fn query_values() -> Vec<String> {
    let mut values: Vec<String> = [
        "",
        "a",
        "page interaction",
        "é 漢字 \u{2028}",
        "a\tb",
        "a\u{7f}",
        "a\u{85}b",
        "2021-01-01T09:15:27Z",
        "2021-01-01t09:15:27.123456789z",
        "2021-01-01 09:15:27",
        "2021-01-01T11:15:27 02:00",
        "2021-01-01T11:15:27-05:30",
        "2021-01-01x09:15:27Z",
        "+2021-01-01 09:15:27",
        "2016-12-31T23:59:60Z",
        "2021-02-30 00:00:00",
        "2020-02-29 00:00:00",
        "2100-02-29 00:00:00",
        "0000-01-01T00:30:00+01:00",
        "0000-01-01T00:30:00Z",
        "9999-12-31T23:59:59-01:00",
        "2021-01-01T09:15:27.1234567890Z",
        "asc",
        "desc",
        "DESC",
        "0",
        "1",
        "1000",
        "1001",
        "-1",
        "9223372036854775807",
        "1.5",
        "garbage",
    ]
    .map(str::to_owned)
    .to_vec();
    values.push("x".repeat(128));
    values.push("x".repeat(129));
    values.push("0".repeat(48));
    values.push("7f".repeat(24));
    values.push("F".repeat(48));
    values.push("0".repeat(47));
    values
}

/// A query value as its parameter's schema reads it: an integer parameter takes numbers.
fn as_json(schema: &Value, document: &Document, value: &str) -> Value {
    let integer = document.allows(schema, &json!(1)) && !document.allows(schema, &json!("1"));
    match value.parse::<i64>() {
        Ok(number) if integer && number.to_string() == value => json!(number),
        _ => json!(value),
    }
}

#[tokio::test]
async fn every_query_parameter_is_accepted_exactly_when_the_document_says() {
    let app = spawn().await;
    let (status, _) = json_of(app.ingest(&pageview("s1", "2021-01-01 09:15:27")).await).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    app.drain().await;
    let document = Document::of(&app).await;
    let routes = [
        ("/v1/events", "/v1/events"),
        ("/v1/sessions/{session_id}", "/v1/sessions/s1"),
        ("/v1/errors", "/v1/errors"),
        ("/v1/errors/summary", "/v1/errors/summary"),
    ];
    let mut checked = 0;
    for (route, path) in routes {
        let (_, parameters) = QUERY_PARAMETERS
            .iter()
            .find(|(parameters_of, _)| *parameters_of == route)
            .expect("the route takes parameters");
        for parameter in *parameters {
            let schema = document.query_parameter(route, parameter);
            for value in query_values() {
                let documented = document.allows(schema, &as_json(schema, &document, &value));
                let query: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair(parameter, &value)
                    .finish();
                let (status, body) = app.query(&format!("{path}?{query}")).await;
                let expected = if documented {
                    StatusCode::OK
                } else {
                    StatusCode::BAD_REQUEST
                };
                assert_eq!(status, expected, "{route}?{parameter}={value:?}: {body}");
                checked += usize::from(documented);
            }
        }
    }
    assert!(checked > 100, "most values are valid somewhere: {checked}");
}

#[tokio::test]
async fn every_path_identifier_is_accepted_exactly_when_the_document_says() {
    let app = spawn().await;
    let document = Document::of(&app).await;
    let identifier = Document::component("Identifier");
    for value in [
        "a",
        "é 漢字",
        "a\tb",
        "a\u{7f}",
        "a\u{85}b",
        &"x".repeat(128),
        &"x".repeat(129),
    ] {
        let encoded: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
        let encoded = encoded.replace('+', "%20");
        let documented = document.allows(&identifier, &json!(value));
        let (session, _) = app.query(&format!("/v1/sessions/{encoded}")).await;
        let expected = if documented {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::BAD_REQUEST
        };
        assert_eq!(session, expected, "session {value:?}");
        let schema = app
            .request(
                Method::GET,
                &format!("/v1/schemas/{encoded}/{encoded}"),
                Some(&app.admin_key),
            )
            .send()
            .await
            .expect("send");
        assert_eq!(schema.status(), expected, "schema {value:?}");
    }
}

/// Sends `body` (none for `None`) to `method path` with the admin key.
async fn admin(app: &TestApp, method: Method, path: &str, body: Option<&Value>) -> StatusCode {
    let mut request = app.request(method, path, Some(&app.admin_key));
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.expect("send").status()
}

#[tokio::test]
async fn every_admin_body_is_accepted_exactly_when_the_document_says() {
    let app = spawn().await;
    let document = Document::of(&app).await;
    let cases: [(Method, &str, Vec<Value>); 5] = [
        (
            Method::POST,
            "/v1/erasures",
            vec![
                json!({"session_ids": ["s1"]}),
                json!({"session_ids": ["s1", "s2"], "app": "shop", "suppress": true}),
                json!({"session_ids": ["s1"], "app": null}),
                json!({"session_ids": []}),
                json!({"session_ids": [""]}),
                json!({"session_ids": [7]}),
                json!({"session_ids": "s1"}),
                json!({"session_ids": vec!["s"; 10_001]}),
                json!({"session_ids": ["s1"], "suppress": null}),
                json!({"session_ids": ["s1"], "app": ""}),
                json!({"session_ids": ["s1"], "extra": 1}),
                json!({}),
                json!([["s1"]]),
                json!(null),
            ],
        ),
        (
            Method::POST,
            "/v1/keys",
            vec![
                json!({"app": "shop", "scopes": ["ingest"]}),
                json!({"app": "shop", "scopes": ["ingest", "query", "ingest"]}),
                json!({"app": "", "scopes": ["ingest"]}),
                json!({"app": "a\u{85}", "scopes": ["ingest"]}),
                json!({"app": "shop", "scopes": []}),
                json!({"app": "shop", "scopes": [""]}),
                json!({"app": "shop", "scopes": ["root"]}),
                json!(["shop", ["ingest"]]),
                json!(null),
            ],
        ),
        (
            Method::POST,
            "/v1/errors/replay",
            vec![
                json!({}),
                json!({"code": "schema_violation", "dry_run": true}),
                json!({"code": null, "from": "2021-01-01T00:00:00Z", "to": null}),
                json!({"code": ""}),
                json!({"app": "a\tb"}),
                json!({"name": "x".repeat(129)}),
                json!({"from": ""}),
                json!({"from": "2021-01-01x00:00:00Z"}),
                json!({"to": "2016-12-31T23:59:60Z"}),
                json!({"dry_run": null}),
                json!({"limit": 5}),
                json!([null, null]),
                json!(null),
            ],
        ),
        (
            Method::POST,
            "/v1/schemas/validate",
            vec![
                json!({"schema": true, "event": pageview("s1", "2021-01-01 09:15:27")}),
                json!({"schema": false, "event": [null, null]}),
                json!({"schema": {}, "event": null}),
                json!({"schema": 1, "event": {}}),
                json!({"schema": {}}),
                json!({"schema": {}, "event": {}, "dry_run": true}),
                json!([{}, {}]),
            ],
        ),
        (
            Method::PUT,
            "/v1/schemas/c/n",
            vec![
                json!({}),
                json!(true),
                json!(false),
                json!({"type": "object"}),
                json!(1),
                json!("object"),
                json!([]),
                json!(null),
            ],
        ),
    ];
    for (method, path, bodies) in cases {
        let schema = document
            .body(&method.as_str().to_ascii_lowercase(), path_of(path))
            .clone();
        for body in bodies {
            let documented = document.allows(&schema, &body);
            let status = admin(&app, method.clone(), path, Some(&body)).await;
            assert_eq!(
                status.is_success(),
                documented,
                "{method} {path} {body}: {status}"
            );
            if !documented {
                assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path} {body}");
            }
        }
    }
    let replay = document.operation("post", "/v1/errors/replay");
    assert_eq!(replay["requestBody"]["required"], json!(false));
    let status = admin(&app, Method::POST, "/v1/errors/replay", None).await;
    assert_eq!(status, StatusCode::OK, "no body: no filters");
}

/// The documented path of a concrete one.
fn path_of(path: &str) -> &str {
    if path.starts_with("/v1/schemas/") && path != "/v1/schemas/validate" {
        "/v1/schemas/{category}/{name}"
    } else {
        path
    }
}

#[tokio::test]
async fn every_event_is_accepted_exactly_when_the_document_says() {
    let app = spawn().await;
    let document = Document::of(&app).await;
    let event = Document::component("Event");
    let valid = pageview("s1", "2021-01-01 09:15:27");
    let with = |field: &str, value: Value| {
        let mut event = valid.clone();
        event[field] = value;
        event
    };
    let without = |field: &str| {
        let mut event = valid.clone();
        event.as_object_mut().expect("object").remove(field);
        event
    };
    let events = [
        valid.clone(),
        with("event_id", json!("e-1")),
        with("event_id", Value::Null),
        with("event_id", json!("")),
        with("event_id", json!("x".repeat(65))),
        with("category", json!("")),
        with("name", json!("x".repeat(129))),
        with("session_id", json!("a\u{85}b")),
        with("session_id", json!(7)),
        with("data", json!({})),
        with("data", json!([])),
        with("data", json!({"a": [1, {"b": "nul \u{0} inside"}]})),
        with("data", json!({"nul \u{0} key": 1})),
        with(
            "data",
            json!({"a": [1, {"b": "\u{1}\u{7f}\u{85} allowed in data"}]}),
        ),
        with("timestamp", json!("2021-01-01T09:15:27.5+02:00")),
        with("timestamp", json!("2021-01-01t09:15:27Z")),
        with("timestamp", json!("2021-01-01x09:15:27Z")),
        with("timestamp", json!("+2021-01-01 09:15:27")),
        with("timestamp", json!("2016-12-31T23:59:60Z")),
        with("timestamp", json!("0000-01-01T00:30:00+01:00")),
        with("timestamp", json!("2021-02-29 00:00:00")),
        with("extra", json!(1)),
        without("data"),
        json!("not an object"),
    ];
    for sent in events {
        let documented = document.allows(&event, &sent);
        let (status, body) = json_of(app.ingest(&json!([sent.clone()])).await).await;
        let accepted = body["results"][0]["status"] == "accepted";
        assert_eq!(accepted, documented, "{sent}: {status} {body}");
    }
    let ingest = document.body("post", "/v1/events");
    for (body, expected) in [
        (json!([]), StatusCode::BAD_REQUEST),
        (json!({"events": []}), StatusCode::BAD_REQUEST),
        (
            json!({"events": [valid.clone()], "more": 1}),
            StatusCode::BAD_REQUEST,
        ),
        (json!(7), StatusCode::BAD_REQUEST),
    ] {
        assert!(!document.allows(ingest, &body), "{body}");
        let (status, answer) = json_of(app.ingest(&body).await).await;
        assert_eq!(status, expected, "{body}: {answer}");
    }
}

#[tokio::test]
async fn the_batch_limit_documented_is_the_configured_one() {
    let app = crate::helpers::spawn_with(|config| config.max_batch_events = 3).await;
    let document = Document::of(&app).await;
    assert_eq!(
        document.0["components"]["schemas"]["EventArray"]["maxItems"],
        json!(3)
    );
    let ingest = document.body("post", "/v1/events");
    let event = pageview("s1", "2021-01-01 09:15:27");
    for count in [3, 4] {
        let body = json!(vec![event.clone(); count]);
        let (status, answer) = json_of(app.ingest(&body).await).await;
        let expected = if document.allows(ingest, &body) {
            StatusCode::ACCEPTED
        } else {
            StatusCode::PAYLOAD_TOO_LARGE
        };
        assert_eq!(status, expected, "{count} events: {answer}");
    }
}

#[tokio::test]
async fn a_key_request_is_an_object() {
    let app = spawn().await;
    let status = admin(
        &app,
        Method::POST,
        "/v1/keys",
        Some(&json!(["shop", ["ingest"]])),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "serde alone reads a struct from an array"
    );
    let status = admin(
        &app,
        Method::POST,
        "/v1/keys",
        Some(&json!({"app": "shop", "scopes": ["ingest"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}
