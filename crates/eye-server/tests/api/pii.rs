//! PII rules (`x-eye-pii` in a type's schema) through the API: what is stored for accepted
//! events, what the error store keeps of rejected ones, schema changes, refused rules.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_error, json_of, restart_in, spawn, spawn_with};

const SUBMIT: &str = "/v1/schemas/form%20interaction/submit";
const SECRET: &str = "0123456789abcdef0123456789abcdef";
/// HMAC-SHA-256 under `SECRET` of `"John"` (the JSON text, quotes included), computed with
/// Python's `hmac` module.
const JOHN: &str = "hmac-sha256:89da07b941bf6ed6815cbfcb782c1b7b862a90cb8505e0e141a031df2351b9ab";

fn schema() -> Value {
    json!({
        "type": "object",
        "required": ["host"],
        "properties": {
            "host": {"type": "string"},
            "form": {"type": "object", "properties": {
                "first_name": {"type": "string", "x-eye-pii": "hash"},
                "last_name": {"x-eye-pii": "redact"},
                "email": {"x-eye-pii": "drop"}
            }},
            "children": {"type": "array", "items": {"properties": {
                "name": {"x-eye-pii": "redact"}
            }}}
        }
    })
}

fn submit(session: &str, data: Value) -> Value {
    json!({
        "session_id": session,
        "category": "form interaction",
        "name": "submit",
        "data": data,
        "timestamp": "2021-01-01 09:15:27.243860"
    })
}

async fn put(app: &TestApp, schema: &Value) -> (StatusCode, Value) {
    json_of(
        app.request(Method::PUT, SUBMIT, Some(&app.admin_key))
            .json(schema)
            .send()
            .await
            .expect("send"),
    )
    .await
}

/// The stored events of `session`, in time order.
async fn stored(app: &TestApp, session: &str) -> Vec<Value> {
    app.drain().await;
    app.all_events(&format!("session_id={session}&order=asc"))
        .await
}

fn is_hash(value: &Value) -> bool {
    value
        .as_str()
        .and_then(|text| text.strip_prefix("hmac-sha256:"))
        .is_some_and(|hex| {
            hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
}

#[tokio::test]
async fn rules_apply_at_any_depth_and_to_every_element_of_an_array() {
    let app = spawn_with(|config| config.pii_secret = Some(SECRET.to_owned())).await;
    assert_eq!(put(&app, &schema()).await.0, StatusCode::CREATED);
    let form =
        json!({"first_name": "John", "last_name": "Doe", "email": "j@d.example", "zip": "10001"});
    let events = json!([
        submit(
            "s-deep",
            json!({"host": "h", "form": form,
            "children": [{"name": "Ann", "age": 3}, {"age": 5}]})
        ),
        submit(
            "s-deep",
            json!({"host": "h", "form": {"first_name": "John"}})
        ),
        submit(
            "s-deep",
            json!({"host": "h", "form": {"first_name": "Jane"}})
        ),
    ]);
    let (status, verdict) = json_of(app.ingest(&events).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{verdict}");
    assert_eq!(verdict["accepted"], 3, "{verdict}");
    let stored = stored(&app, "s-deep").await;
    let data: Vec<&Value> = stored.iter().map(|event| &event["data"]).collect();
    assert_eq!(
        data[0],
        &json!({"host": "h",
            "form": {"first_name": JOHN, "last_name": "[redacted]", "zip": "10001"},
            "children": [{"name": "[redacted]", "age": 3}, {"age": 5}]})
    );
    assert_eq!(
        data[1]["form"]["first_name"], JOHN,
        "equal values, equal hashes"
    );
    assert!(is_hash(&data[2]["form"]["first_name"]), "{}", data[2]);
    assert_ne!(data[2]["form"]["first_name"], JOHN);
}

#[tokio::test]
async fn the_secret_is_made_once_and_kept_in_the_store() {
    let app = spawn().await;
    put(&app, &schema()).await;
    let event = |session| {
        submit(
            session,
            json!({"host": "h", "form": {"first_name": "John"}}),
        )
    };
    app.ingest(&event("s-before")).await;
    let before = stored(&app, "s-before").await[0]["data"]["form"]["first_name"].clone();
    assert!(is_hash(&before), "{before}");
    assert_ne!(before, JOHN, "not the configured secret");
    let (dir, keys) = app.stop().await;
    let app = restart_in(dir, keys, |_| {}).await;
    app.ingest(&event("s-after")).await;
    let after = &stored(&app, "s-after").await[0]["data"]["form"]["first_name"];
    assert_eq!(after, &before, "the same secret after a restart");
}

#[tokio::test]
async fn a_schema_change_applies_to_the_events_judged_after_it() {
    let app = spawn().await;
    let without = json!({"type": "object", "properties": {"form": {"type": "object"}}});
    let versions = [without.clone(), schema(), without];
    for (index, version) in versions.iter().enumerate() {
        let (status, body) = put(&app, version).await;
        assert!(status.is_success(), "{body}");
        assert_eq!(body["version"], index + 1);
        let mut event = submit(
            "s-change",
            json!({"host": "h", "form": {"first_name": "John"}}),
        );
        event["timestamp"] = json!(format!("2021-01-01 09:15:2{index}"));
        let (status, verdict) = json_of(app.ingest(&event).await).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{verdict}");
    }
    let stored = stored(&app, "s-change").await;
    let seen: Vec<(Value, bool)> = stored
        .iter()
        .map(|event| {
            (
                event["schema_version"].clone(),
                is_hash(&event["data"]["form"]["first_name"]),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [(json!(1), false), (json!(2), true), (json!(3), false)],
        "{stored:?}"
    );
}

#[tokio::test]
async fn an_unknown_action_is_refused_naming_the_place_and_the_allowed_ones() {
    let app = spawn().await;
    let mut bad = schema();
    bad["properties"]["form"]["properties"]["first_name"]["x-eye-pii"] = json!("encrypt");
    let put = app
        .request(Method::PUT, SUBMIT, Some(&app.admin_key))
        .json(&bad)
        .send()
        .await
        .expect("send");
    let tried = app
        .request(Method::POST, "/v1/schemas/validate", Some(&app.admin_key))
        .json(&json!({"schema": bad, "event": submit("s", json!({"host": "h"}))}))
        .send()
        .await
        .expect("send");
    for response in [put, tried] {
        let body = expect_error(response, StatusCode::BAD_REQUEST, "invalid_schema").await;
        let message = body["error"]["message"].as_str().expect("message");
        for part in [
            "/properties/form/properties/first_name/x-eye-pii",
            "\"encrypt\"",
            "\"redact\", \"hash\", \"drop\"",
        ] {
            assert!(message.contains(part), "{part:?} missing from {message}");
        }
    }
    let stored = app
        .request(Method::GET, SUBMIT, Some(&app.admin_key))
        .send()
        .await
        .expect("send");
    assert_eq!(stored.status(), StatusCode::NOT_FOUND, "nothing was stored");
}

#[tokio::test]
async fn rejected_events_keep_no_clear_value_in_the_answer_or_the_error_store() {
    let app = spawn_with(|config| config.pii_secret = Some(SECRET.to_owned())).await;
    put(&app, &schema()).await;
    let marker = "Marker-Rejected-93b1";
    let mut bad_time = submit(
        "s-bad",
        json!({"host": "h", "form": {"first_name": "John", "last_name": marker}}),
    );
    bad_time["timestamp"] = json!("not a time");
    let events = json!([
        // A violation elsewhere in the event (no host).
        submit(
            "s-bad",
            json!({"form": {"first_name": "John", "last_name": marker, "email": marker}})
        ),
        // A violation on the PII field itself, quoting it.
        submit(
            "s-bad",
            json!({"host": "h", "form": {"first_name": [marker]}})
        ),
        // The envelope refuses it before the schema is read.
        bad_time,
    ]);
    let response = app.ingest(&events).await;
    let text = response.text().await.expect("body");
    assert!(
        !text.contains(marker),
        "the answer quotes a clear value: {text}"
    );
    let verdict: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(verdict["rejected"], 3, "{verdict}");
    assert_eq!(
        verdict["results"][1]["error"]["message"],
        "[redacted] is not of type \"string\"",
    );
    app.drain().await;
    let (status, page) = app.query("/v1/errors?order=asc").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let errors = page["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 3, "{page}");
    assert!(!page.to_string().contains(marker), "{page}");
    let raw = |index: usize| -> Value {
        serde_json::from_str(errors[index]["raw"].as_str().expect("raw")).expect("raw JSON")
    };
    assert_eq!(
        raw(0)["data"]["form"],
        json!({"first_name": JOHN, "last_name": "[redacted]"})
    );
    assert!(is_hash(&raw(1)["data"]["form"]["first_name"]), "{}", raw(1));
    assert_eq!(
        raw(2)["data"]["form"]["first_name"],
        JOHN,
        "joins with stored events"
    );
    assert_eq!(raw(2)["timestamp"], "not a time", "the rest as sent");
    for error in errors {
        assert_eq!(error["schema_version"], 1, "{error}");
    }
}

#[tokio::test]
async fn the_shipped_form_schema_hashes_the_first_name_and_redacts_the_last() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let app = spawn_with(|config| {
        config.schemas = Some(dir);
        config.pii_secret = Some(SECRET.to_owned());
    })
    .await;
    let event = submit(
        "s-shipped",
        json!({"host": "h", "path": "/", "form": {"first_name": "John", "last_name": "Doe", "id": "signup"}}),
    );
    let (status, verdict) = json_of(app.ingest(&event).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{verdict}");
    let stored = stored(&app, "s-shipped").await;
    assert_eq!(
        stored[0]["data"]["form"],
        json!({"first_name": JOHN, "last_name": "[redacted]", "id": "signup"})
    );
}

/// A replayed error record was kept with the rules applied: replaying it stores the same
/// hash (nothing is hashed twice), so replayed events join with the others.
#[tokio::test]
async fn a_replayed_event_keeps_the_hash_it_was_kept_with() {
    let app = spawn_with(|config| config.pii_secret = Some(SECRET.to_owned())).await;
    put(&app, &schema()).await;
    let event = submit(
        "s-replay",
        json!({"form": {"first_name": "John", "last_name": "Doe"}}),
    );
    let (status, _) = json_of(app.ingest(&event).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "no host");
    app.drain().await;
    let mut relaxed = schema();
    relaxed["required"] = json!([]);
    assert!(put(&app, &relaxed).await.0.is_success());
    let response = app
        .request(Method::POST, "/v1/errors/replay", Some(&app.admin_key))
        .json(&json!({"code": "schema_violation"}))
        .send()
        .await
        .expect("send");
    let (status, outcome) = json_of(response).await;
    assert_eq!(
        (status, &outcome["passed"]),
        (StatusCode::OK, &json!(1)),
        "{outcome}"
    );
    let stored = stored(&app, "s-replay").await;
    assert_eq!(
        stored[0]["data"]["form"],
        json!({"first_name": JOHN, "last_name": "[redacted]"})
    );
    assert_eq!(stored[0]["schema_version"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_refused_whole_keeps_no_clear_value_in_the_error_store() {
    let app = spawn_with(|config| config.max_batch_events = 2).await;
    assert_eq!(put(&app, &schema()).await.0, StatusCode::CREATED);
    let event = |session: &str| {
        submit(
            session,
            json!({"host": "h", "form": {"first_name": "Marker-Hash-77", "last_name": "Marker-Redact-77"}}),
        )
    };
    // Too many events; an events object with a field it does not have.
    let too_many = json!([event("s1"), event("s2"), event("s3")]);
    let response = app.ingest(&too_many).await;
    expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "too_many_events").await;
    let wrong_shape = json!({"events": [event("s4")], "extra": true});
    let response = app.ingest(&wrong_shape).await;
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_body").await;
    app.drain().await;

    let (status, errors) = app.query("/v1/errors?limit=10").await;
    assert_eq!(status, StatusCode::OK, "{errors}");
    let records = errors["errors"].as_array().expect("errors");
    assert_eq!(records.len(), 2, "{errors}");
    for record in records {
        let raw = record["raw"].as_str().expect("raw");
        assert!(!raw.contains("Marker-Hash-77"), "{raw}");
        assert!(!raw.contains("Marker-Redact-77"), "{raw}");
        assert!(
            raw.contains("hmac-sha256:") && raw.contains("[redacted]"),
            "{raw}"
        );
    }
}
