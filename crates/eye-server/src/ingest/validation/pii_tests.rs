//! Unit tests of the PII rules in validation: what an accepted event keeps, and what a
//! rejection quotes and keeps as raw input.

use serde_json::{Value, json};

use super::tests::{received, rules};
use super::*;
use crate::ingest::pii::PiiKey;

const MARKER: &str = "Alice-4f1c";

fn registry() -> SchemaRegistry {
    let registry = SchemaRegistry::new(PiiKey::new(b"0123456789abcdef0123456789abcdef"));
    let schema = json!({
        "type": "object",
        "required": ["host"],
        "properties": {
            "host": {"type": "string"},
            "form": {"type": "object", "maxProperties": 3, "properties": {
                "first_name": {"type": "string", "maxLength": 20, "x-eye-pii": "hash"},
                "last_name": {"x-eye-pii": "redact"},
                "address": {"type": "object", "additionalProperties": false,
                            "properties": {"street": {}}, "x-eye-pii": "redact"},
                "email": {"x-eye-pii": "drop"}
            }}
        }
    });
    let compiled = compile_schema(&schema).expect("compiles");
    registry.insert(
        "form interaction",
        "submit",
        CompiledSchema::new(7, compiled),
    );
    registry
}

fn submit(form: Value) -> Value {
    json!({
        "session_id": "s",
        "category": "form interaction",
        "name": "submit",
        "data": {"host": "h", "form": form},
        "timestamp": "2021-01-01 09:15:27.243860"
    })
}

fn rejected(event: &Value) -> Box<Rejection> {
    validate_event(event, received(), &rules(), &registry()).expect_err("rejected")
}

fn clear_of_marker(rejection: &Rejection) {
    let shown = format!(
        "{} {:?} {:?}",
        rejection.message, rejection.path, rejection.protected_raw
    );
    assert!(!shown.contains("Alice"), "{shown}");
}

#[test]
fn an_accepted_event_keeps_only_what_the_rules_leave() {
    let registry = registry();
    let event = submit(json!({"first_name": MARKER, "last_name": "Doe", "email": "a@b.example"}));
    let valid = validate_event(&event, received(), &rules(), &registry).expect("valid");
    let data: Value = serde_json::from_str(&valid.data).expect("json");
    assert_eq!(
        data,
        json!({"host": "h", "form": {
            "first_name": registry.pii_key().hash(&json!(MARKER)),
            "last_name": "[redacted]"
        }})
    );
    assert_eq!(valid.schema_version, Some(7));
}

#[test]
fn a_violation_on_a_pii_field_quotes_no_value() {
    // Wrong type, too long, and an object holding the field (maxProperties).
    for form in [
        json!({"first_name": [MARKER]}),
        json!({"first_name": format!("{MARKER}-far-too-long-for-the-field")}),
        json!({"first_name": MARKER, "last_name": "x", "a": 1, "b": 2}),
    ] {
        let rejection = rejected(&submit(form.clone()));
        assert_eq!(rejection.code, RejectCode::SchemaViolation, "{form}");
        assert!(
            rejection.message.contains("[redacted]"),
            "{}",
            rejection.message
        );
        clear_of_marker(&rejection);
        let raw: Value =
            serde_json::from_str(rejection.protected_raw.as_deref().expect("raw")).expect("json");
        assert_eq!(raw["data"]["host"], "h", "the rest of the event is kept");
        assert_eq!(rejection.schema_version, Some(7));
    }
}

#[test]
fn a_path_inside_a_value_under_a_rule_stops_at_that_value() {
    let rejection = rejected(&submit(json!({"address": {"street": "x", MARKER: 1}})));
    assert_eq!(rejection.path.as_deref(), Some("/data/form/address"));
    clear_of_marker(&rejection);
    let raw: Value =
        serde_json::from_str(rejection.protected_raw.as_deref().expect("raw")).expect("json");
    assert_eq!(raw["data"]["form"]["address"], "[redacted]");
}

#[test]
fn an_envelope_rejection_keeps_the_event_as_the_rules_leave_it() {
    let mut event = submit(json!({"first_name": MARKER, "email": "a@b.example"}));
    event["timestamp"] = json!("not a time");
    let rejection = rejected(&event);
    assert_eq!(rejection.code, RejectCode::InvalidTimestamp);
    clear_of_marker(&rejection);
    let raw: Value =
        serde_json::from_str(rejection.protected_raw.as_deref().expect("raw")).expect("json");
    assert_eq!(raw["timestamp"], "not a time");
    assert!(raw["data"]["form"].get("email").is_none(), "{raw}");
    assert_eq!(
        rejection.schema_version,
        Some(7),
        "the version whose rules applied"
    );
}

#[test]
fn a_rejection_the_rules_do_not_touch_keeps_the_text_as_sent() {
    // The type's rules have nothing to apply to: no raw replacement, no version.
    let mut event = submit(json!({"zip": "10001"}));
    event["timestamp"] = json!("not a time");
    let rejection = rejected(&event);
    assert_eq!(rejection.protected_raw, None);
    assert_eq!(rejection.schema_version, None);
    // A type without rules: as before.
    let mut other = event.clone();
    other["name"] = json!("view");
    assert_eq!(rejected(&other).protected_raw, None);
}
