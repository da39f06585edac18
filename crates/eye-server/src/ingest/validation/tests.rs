//! Unit tests of the validation rules.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::model::timestamp;

pub(super) fn rules() -> Rules {
    Rules {
        max_data_bytes: 1024,
        future_tolerance: Duration::from_secs(60),
        max_age: None,
        reject_unknown_event_types: false,
        retention: None,
    }
}

pub(super) fn received() -> Micros {
    timestamp::to_micros(timestamp::parse("2021-01-01T10:00:00Z").expect("valid"))
}

fn pageview() -> Value {
    json!({
        "session_id": "e2085be5-9137-4e4e-80b5-f1ffddc25423",
        "category": "page interaction",
        "name": "pageview",
        "data": {"host": "www.consumeraffairs.com", "path": "/"},
        "timestamp": "2021-01-01 09:15:27.243860"
    })
}

fn verdict(event: &Value) -> Result<ValidEvent, Box<Rejection>> {
    validate_event(event, received(), &rules(), &SchemaRegistry::default())
}

fn rejected(event: &Value) -> (RejectCode, Option<String>) {
    let rejection = verdict(event).expect_err("should be rejected");
    (rejection.code, rejection.path)
}

fn with(field: &str, value: Value) -> Value {
    let mut event = pageview();
    event[field] = value;
    event
}

fn without(field: &str) -> Value {
    let mut event = pageview();
    event.as_object_mut().expect("object").remove(field);
    event
}

#[test]
fn accepts_the_brief_example() {
    let valid = verdict(&pageview()).expect("valid");
    assert_eq!(valid.category, "page interaction");
    assert_eq!(
        timestamp::format_micros(valid.timestamp),
        "2021-01-01T09:15:27.243860Z"
    );
    assert_eq!(valid.schema_version, None);
}

#[test]
fn missing_or_null_required_fields_are_missing_field() {
    for field in ["session_id", "category", "name", "data", "timestamp"] {
        let expected = (RejectCode::MissingField, Some(format!("/{field}")));
        assert_eq!(rejected(&without(field)), expected, "absent {field}");
        assert_eq!(
            rejected(&with(field, Value::Null)),
            expected,
            "null {field}"
        );
    }
}

#[test]
fn wrong_type_empty_or_long_fields_are_invalid_field() {
    let cases = [
        ("session_id", json!(42)),
        ("session_id", json!("")),
        ("session_id", json!("x".repeat(129))),
        ("session_id", json!("a\u{7}b")),
        ("category", json!(["a"])),
        ("name", json!("")),
        ("data", json!("text")),
        ("data", json!([1])),
        ("timestamp", json!(1609492527)),
        ("event_id", json!("e".repeat(65))),
        ("event_id", json!(7)),
    ];
    for (field, value) in cases {
        assert_eq!(
            rejected(&with(field, value.clone())),
            (RejectCode::InvalidField, Some(format!("/{field}"))),
            "{field} = {value}"
        );
    }
    assert!(verdict(&with("session_id", json!("x".repeat(128)))).is_ok());
    assert!(verdict(&with("event_id", json!("e".repeat(64)))).is_ok());
}

#[test]
fn unknown_fields_are_named() {
    assert_eq!(
        rejected(&with("sesion", json!("typo"))),
        (RejectCode::UnknownField, Some("/sesion".into()))
    );
}

#[test]
fn non_objects_are_invalid_events() {
    assert_eq!(rejected(&json!([1])).0, RejectCode::InvalidEvent);
    assert_eq!(rejected(&json!("event")).0, RejectCode::InvalidEvent);
}

#[test]
fn timestamp_window() {
    let cases = [
        ("2021-02-30 09:15:27", Some(RejectCode::InvalidTimestamp)),
        ("soon", Some(RejectCode::InvalidTimestamp)),
        ("2021-01-01T10:01:00Z", None),
        (
            "2021-01-01T10:01:00.000001Z",
            Some(RejectCode::TimestampInFuture),
        ),
        ("2021-01-01T12:00:30+02:00", None),
        (
            "2021-01-01T13:00:00+02:00",
            Some(RejectCode::TimestampInFuture),
        ),
    ];
    for (text, expected) in cases {
        let result = verdict(&with("timestamp", json!(text)));
        assert_eq!(result.as_ref().err().map(|r| r.code), expected, "{text}");
        if let Err(rejection) = result {
            assert_eq!(rejection.path.as_deref(), Some("/timestamp"));
        }
    }
}

#[test]
fn maximum_age_is_off_by_default_and_enforced_when_set() {
    let old = with("timestamp", json!("2001-01-01 00:00:00"));
    assert!(verdict(&old).is_ok());
    let strict = Rules {
        max_age: Some(Duration::from_secs(86_400)),
        ..rules()
    };
    let rejection =
        validate_event(&old, received(), &strict, &SchemaRegistry::default()).expect_err("too old");
    assert_eq!(rejection.code, RejectCode::TimestampTooOld);
}

#[test]
fn data_size_and_nul_characters() {
    let big = with("data", json!({"blob": "x".repeat(2000)}));
    assert_eq!(
        rejected(&big),
        (RejectCode::InvalidField, Some("/data".into()))
    );
    let nul = with("data", json!({"form": {"first_name": "Jo\u{0}hn"}}));
    assert_eq!(
        rejected(&nul),
        (
            RejectCode::InvalidField,
            Some("/data/form/first_name".into())
        )
    );
}

fn registry_with_cta_schema() -> SchemaRegistry {
    let schema = json!({
        "type": "object",
        "required": ["host", "path", "element"],
        "properties": {"element": {"type": "string"}, "count": {"type": "integer", "minimum": 0}}
    });
    let registry = SchemaRegistry::default();
    let validator = compile_schema(&schema).expect("compiles");
    registry.insert(
        "page interaction",
        "cta click",
        CompiledSchema::new(3, validator),
    );
    registry
}

#[test]
fn schema_violations_point_at_the_offending_value() {
    let registry = registry_with_cta_schema();
    let mut event = with("name", json!("cta click"));
    let rejection =
        validate_event(&event, received(), &rules(), &registry).expect_err("element missing");
    assert_eq!(rejection.code, RejectCode::SchemaViolation);
    assert_eq!(rejection.path.as_deref(), Some("/data/element"));
    assert_eq!(rejection.schema_version, Some(3));

    event["data"]["element"] = json!("chat bubble");
    event["data"]["count"] = json!(-1);
    let rejection = validate_event(&event, received(), &rules(), &registry).expect_err("negative");
    assert_eq!(rejection.path.as_deref(), Some("/data/count"));

    event["data"]["count"] = json!(2);
    let valid = validate_event(&event, received(), &rules(), &registry).expect("valid");
    assert_eq!(valid.schema_version, Some(3));
}

#[test]
fn unknown_types_can_be_refused() {
    let strict = Rules {
        reject_unknown_event_types: true,
        retention: None,
        ..rules()
    };
    let registry = registry_with_cta_schema();
    let rejection =
        validate_event(&pageview(), received(), &strict, &registry).expect_err("no schema");
    assert_eq!(rejection.code, RejectCode::UnknownEventType);
}

#[test]
fn remote_references_are_refused_not_fetched() {
    let schema = json!({"$ref": "http://127.0.0.1:9/schema.json"});
    assert!(compile_schema(&schema).is_err());
    assert!(compile_schema(&json!({"type": "nonsense"})).is_err());
    assert!(compile_schema(&json!(3)).is_err());
}

#[test]
fn a_nul_in_data_is_pointed_at_exactly() {
    let nested = with("data", json!({"items": [{"ok": "x"}, {"a/b": "x\u{0}y"}]}));
    assert_eq!(
        rejected(&nested),
        (RejectCode::InvalidField, Some("/data/items/1/a~1b".into()))
    );
    let in_key = with("data", json!({"clean": 1, "bad\u{0}key": true}));
    assert_eq!(
        rejected(&in_key),
        (RejectCode::InvalidField, Some("/data/bad\u{0}key".into()))
    );
}

#[test]
fn a_rejection_keeps_the_hints_it_can_read() {
    let rejection = verdict(&with("timestamp", json!("not a time"))).expect_err("rejected");
    assert_eq!(rejection.code, RejectCode::InvalidTimestamp);
    assert_eq!(rejection.category.as_deref(), Some("page interaction"));
    assert_eq!(rejection.name.as_deref(), Some("pageview"));
    assert_eq!(
        rejection.session_id.as_deref(),
        Some("e2085be5-9137-4e4e-80b5-f1ffddc25423")
    );
}

fn compile_error(schema: Value) -> String {
    match compile_schema(&schema) {
        Ok(_) => panic!("{schema} compiled"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn a_remote_reference_is_named_as_such_with_its_place() {
    let message = compile_error(json!({
        "properties": {"a": {"$ref": "https://example.com/remote.json#/x"}}
    }));
    assert!(
        message.contains("remote references are not allowed"),
        "{message}"
    );
    assert!(message.contains("/properties/a/$ref"), "{message}");
    assert!(
        message.contains("https://example.com/remote.json#/x"),
        "{message}"
    );
    assert!(!message.contains("resolve-http"), "{message}");
    assert!(!message.contains("registry"), "{message}");
    let missing = compile_error(json!({"$ref": "#/$defs/missing"}));
    assert!(
        missing.contains("/$defs/missing, which this document does not have"),
        "{missing}"
    );
}

#[test]
fn a_wrong_type_names_the_keyword_path_and_the_allowed_values() {
    let allowed = [
        "array", "boolean", "integer", "null", "number", "object", "string",
    ];
    for (schema, at) in [
        (json!({"type": "objekt"}), "at /type:"),
        (
            json!({"properties": {"a": {"type": ["string", "objekt"]}}}),
            "at /properties/a/type/1:",
        ),
    ] {
        let message = compile_error(schema);
        assert!(message.contains(at), "{message}");
        assert!(message.contains("\"objekt\" is not allowed"), "{message}");
        for value in allowed {
            assert!(message.contains(&format!("\"{value}\"")), "{message}");
        }
        assert!(!message.contains("anyOf"), "{message}");
    }
    let message = compile_error(json!({"properties": {"n": {"minLength": -1}}}));
    assert!(
        message.contains("at /properties/n/minLength: -1 is less than the minimum of 0"),
        "{message}"
    );
}

#[test]
fn a_schema_file_given_as_a_schema_is_refused() {
    let file = serde_json::json!({"category": "c", "name": "n", "schema": {"type": "object"}});
    let error = compile_schema(&file).expect_err("a wrapper").to_string();
    assert!(error.contains("send its \"schema\" member"), "{error}");
    assert!(compile_schema(&file["schema"]).is_ok());
}

#[test]
fn a_clock_offset_of_a_second_or_more_corrects_the_timestamp_and_keeps_the_one_sent() {
    let judge = |event: &Value, offset: Micros| {
        validate_sent_event(
            event,
            received(),
            offset,
            &rules(),
            &SchemaRegistry::default(),
        )
    };
    let sent =
        timestamp::to_micros(timestamp::parse("2021-01-01T09:15:27.243860Z").expect("valid"));
    let corrected = judge(&pageview(), -600_000_000).expect("valid");
    assert_eq!(corrected.timestamp, sent - 600_000_000);
    assert_eq!(corrected.original_timestamp, Some(sent));
    let network_time = judge(&pageview(), 999_999).expect("valid");
    assert_eq!(
        (network_time.timestamp, network_time.original_timestamp),
        (sent, None)
    );
    // Ten minutes ahead by the client's clock: in the future until corrected.
    let mut ahead = pageview();
    ahead["timestamp"] = json!("2021-01-01T10:10:00Z");
    assert_eq!(
        judge(&ahead, 0).expect_err("future").code,
        RejectCode::TimestampInFuture
    );
    let fixed = judge(&ahead, -600_000_000).expect("corrected into the past");
    assert_eq!(fixed.timestamp, received());
}
