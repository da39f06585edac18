//! Unit tests of the PII rules: reading them from a schema, applying them, the hash.

use serde_json::{Value, json};

use super::*;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

fn key() -> PiiKey {
    PiiKey::new(SECRET)
}

fn rules(schema: Value) -> PiiRules {
    PiiRules::from_schema(&schema).expect("valid rules")
}

fn refused(schema: Value) -> String {
    PiiRules::from_schema(&schema).expect_err("refused")
}

fn applied(rules: &PiiRules, mut data: Value) -> Value {
    rules.apply(&mut data, &key());
    data
}

#[test]
fn hashes_are_hmac_sha256_of_the_canonical_json() {
    // Computed with Python's hmac and json.dumps(v, sort_keys=True, separators=(",", ":"),
    // ensure_ascii=False), as the documentation tells analysts to.
    let expected = [
        (
            json!("John"),
            "89da07b941bf6ed6815cbfcb782c1b7b862a90cb8505e0e141a031df2351b9ab",
        ),
        (
            json!({"b": [1, "é"], "a": null}),
            "7980dd469b7c09d0b134d047d37dd1c1e6ec3e2d3e150124eedf320cd04ae773",
        ),
        (
            json!("Jo\"hn\n"),
            "f7f06b86c5e7e8ac0622244839e347720137e2dbd83c61b13d181bb60cbd0a8c",
        ),
    ];
    for (value, hex) in expected {
        assert_eq!(key().hash(&value), format!("hmac-sha256:{hex}"), "{value}");
    }
    assert_eq!(
        canonical_json(&json!({"z": {"b": 1, "a": [true, 1.5]}, "a": "x"})),
        r#"{"a":"x","z":{"a":[true,1.5],"b":1}}"#
    );
    assert_ne!(
        PiiKey::new(b"another secret of 32 characters!").hash(&json!("John")),
        key().hash(&json!("John")),
        "the secret is in the hash"
    );
}

#[test]
fn rules_apply_at_any_depth_and_to_every_element() {
    let rules = rules(json!({
        "type": "object",
        "properties": {
            "form": {"properties": {
                "first_name": {"type": "string", "x-eye-pii": "hash"},
                "last_name": {"x-eye-pii": "redact"},
                "email": {"x-eye-pii": "drop"},
                "zip": {"type": "string"}
            }},
            "children": {"items": {"properties": {"name": {"x-eye-pii": "redact"}}}},
            "phones": {"items": {"x-eye-pii": "hash"}}
        }
    }));
    let data = applied(
        &rules,
        json!({
            "form": {"first_name": "John", "last_name": "Doe", "email": "j@d.example", "zip": "10001"},
            "children": [{"name": "Ann", "age": 3}, {"age": 5}, "not an object"],
            "phones": ["555-1234", "555-1234", 42],
            "host": "h"
        }),
    );
    let form = &data["form"];
    assert_eq!(form["first_name"], json!(key().hash(&json!("John"))));
    assert_eq!(form["last_name"], "[redacted]");
    assert!(form.get("email").is_none(), "{data}");
    assert_eq!(form["zip"], "10001");
    assert_eq!(
        data["children"],
        json!([{"name": "[redacted]", "age": 3}, {"age": 5}, "not an object"])
    );
    let phones = data["phones"].as_array().expect("array");
    assert!(phones.iter().all(is_hash), "{data}");
    assert_eq!(phones[0], phones[1], "equal values, equal hashes");
    assert_ne!(phones[0], phones[2]);
    assert_eq!(data["host"], "h");
}

#[test]
fn data_without_the_paths_is_left_alone() {
    let rules = rules(json!({"properties": {"form": {"properties": {
        "first_name": {"x-eye-pii": "drop"}}}}}));
    for data in [
        json!({}),
        json!({"form": "a string"}),
        json!({"form": {"last_name": "Doe"}}),
    ] {
        let mut changed = data.clone();
        assert!(!rules.apply(&mut changed, &key()), "{data}");
        assert_eq!(changed, data);
    }
}

#[test]
fn a_hash_is_not_hashed_again_and_a_redaction_stays_one() {
    let rules = rules(json!({"properties": {
        "a": {"x-eye-pii": "hash"}, "b": {"x-eye-pii": "redact"}}}));
    let once = applied(&rules, json!({"a": "John", "b": "Doe"}));
    let mut twice = once.clone();
    assert!(
        !rules.apply(&mut twice, &key()),
        "a replayed record changes no more"
    );
    assert_eq!(twice, once);
    // A value that only looks like a hash is hashed.
    let almost = applied(&rules, json!({"a": "hmac-sha256:XYZ"}));
    assert_ne!(almost["a"], "hmac-sha256:XYZ");
}

#[test]
fn the_outer_rule_takes_a_value_whole_and_the_stronger_of_two_wins() {
    let rules = rules(json!({
        "properties": {"form": {"x-eye-pii": "hash",
            "properties": {"first_name": {"x-eye-pii": "redact"}}}},
        "allOf": [
            {"properties": {"email": {"x-eye-pii": "hash"}}},
            {"properties": {"email": {"x-eye-pii": "drop"}}}
        ]
    }));
    let form = json!({"first_name": "John"});
    let data = applied(&rules, json!({"form": form, "email": "j@d.example"}));
    assert_eq!(data, json!({"form": key().hash(&form)}));
}

#[test]
fn rules_are_read_through_combinators_but_not_elsewhere() {
    let combined = rules(json!({
        "anyOf": [{"properties": {"a": {"x-eye-pii": "redact"}}}],
        "oneOf": [{"properties": {"b": {"x-eye-pii": "redact"}}}],
        "if": {"properties": {"c": {"x-eye-pii": "redact"}}},
        "then": {"properties": {"d": {"x-eye-pii": "redact"}}},
        "else": {"properties": {"e": {"x-eye-pii": "redact"}}}
    }));
    let data = applied(
        &combined,
        json!({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6}),
    );
    assert_eq!(
        data,
        json!({"a": "[redacted]", "b": "[redacted]", "c": "[redacted]", "d": "[redacted]",
               "e": "[redacted]", "f": 6})
    );
    for (schema, at) in [
        (
            json!({"$defs": {"name": {"x-eye-pii": "hash"}},
                   "properties": {"n": {"$ref": "#/$defs/name"}}}),
            "/$defs/name/x-eye-pii",
        ),
        (
            json!({"properties": {"form": {"additionalProperties": {"x-eye-pii": "hash"}}}}),
            "/properties/form/additionalProperties/x-eye-pii",
        ),
        (
            json!({"not": {"properties": {"a": {"x-eye-pii": "drop"}}}}),
            "/not/properties/a/x-eye-pii",
        ),
        (
            json!({"patternProperties": {"^n": {"x-eye-pii": "hash"}}}),
            "/patternProperties/^n/x-eye-pii",
        ),
    ] {
        let error = refused(schema);
        assert!(error.contains(&format!("at {at}:")), "{error}");
        assert!(error.contains("\"$ref\" is not followed"), "{error}");
    }
}

#[test]
fn an_unknown_action_is_refused_naming_its_place_and_the_allowed_ones() {
    let error = refused(json!({"properties": {"form": {"properties": {
        "first_name": {"x-eye-pii": "encrypt"}}}}}));
    assert_eq!(
        error,
        "invalid schema at /properties/form/properties/first_name/x-eye-pii: \"encrypt\" is not \
         allowed here; allowed values: \"redact\", \"hash\", \"drop\""
    );
    assert!(refused(json!({"properties": {"a": {"x-eye-pii": true}}})).contains("true is not"));
    let root = refused(json!({"x-eye-pii": "drop"}));
    assert!(root.contains("not on `data` itself"), "{root}");
    let elements = refused(json!({"properties": {"tags": {"items": {"x-eye-pii": "drop"}}}}));
    assert!(elements.contains("the elements of data.tags"), "{elements}");
}

#[test]
fn the_keyword_is_only_a_keyword_where_a_schema_is() {
    let rules = rules(json!({
        "properties": {"x-eye-pii": {"type": "string"}},
        "examples": [{"x-eye-pii": "encrypt"}],
        "enum": [{"x-eye-pii": "encrypt"}],
        "default": {"x-eye-pii": "encrypt"}
    }));
    assert!(rules.is_empty());
}

#[test]
fn exposure_says_whether_a_place_holds_or_is_inside_a_value_under_a_rule() {
    let rules = rules(json!({"properties": {
        "form": {"properties": {"first/name": {"x-eye-pii": "hash"}}},
        "tags": {"items": {"x-eye-pii": "redact"}}
    }}));
    assert_eq!(rules.exposure(""), Exposure::Holds);
    assert_eq!(rules.exposure("/form"), Exposure::Holds);
    assert_eq!(rules.exposure("/form/first~1name"), Exposure::Within(2));
    assert_eq!(rules.exposure("/form/first~1name/x/y"), Exposure::Within(2));
    assert_eq!(rules.exposure("/form/zip"), Exposure::Clear);
    assert_eq!(rules.exposure("/tags/3"), Exposure::Within(2));
    assert_eq!(rules.exposure("/host"), Exposure::Clear);
    assert_eq!(PiiRules::default().exposure(""), Exposure::Clear);
}

#[test]
fn the_key_never_shows_in_debug_output() {
    let shown = format!("{:?}", key());
    assert!(!shown.contains("0123456789"), "{shown}");
}
