//! Each message type's mapping, the session id's sources in order, `messageId` digests, the
//! clock correction, and every message that cannot become an event.

use serde_json::{Value, json};

use super::*;

const RECEIVED: Micros = 1_609_492_527_000_000; // 2021-01-01T09:15:27Z

fn map(message: Value) -> Result<Mapped, Box<Rejection>> {
    map_message(&message, None, &BatchDefaults::default(), RECEIVED)
}

fn event(message: Value) -> Value {
    map(message)
        .unwrap_or_else(|r| panic!("{}", r.message))
        .event
}

fn refused(message: Value) -> (RejectCode, Option<String>) {
    let rejection = map(message).expect_err("refused");
    (rejection.code, rejection.path)
}

#[test]
fn a_track_message_is_the_event_its_properties_category_names() {
    let mapped = event(json!({
        "type": "track", "event": "cta click", "anonymousId": "s-1", "userId": "u-1",
        "messageId": "m-1", "timestamp": "2021-01-01T09:15:00Z",
        "properties": {"category": "page interaction", "host": "shop.example.com", "path": "/", "element": "buy"},
        "context": {"library": {"name": "analytics-python", "version": "2.4.0"}},
        "integrations": {}, "writeKey": "ignored here",
    }));
    assert_eq!(
        mapped,
        json!({
            "session_id": "s-1", "category": "page interaction", "name": "cta click",
            "data": {"host": "shop.example.com", "path": "/", "element": "buy"},
            "timestamp": "2021-01-01T09:15:00Z", "event_id": "m-1", "user_id": "u-1",
            "context": {"library": {"name": "analytics-python", "version": "2.4.0"}},
        })
    );
}

#[test]
fn a_track_message_without_a_string_category_is_of_category_track() {
    let mapped = event(json!({"type": "track", "event": "signup", "userId": 42,
        "properties": {"category": 7, "plan": "pro"}}));
    assert_eq!(mapped["category"], "track");
    assert_eq!(mapped["data"], json!({"category": 7, "plan": "pro"}));
    assert_eq!(
        mapped["session_id"], "42",
        "a numeric userId is its decimal text"
    );
    assert_eq!(mapped["user_id"], "42");
}

#[test]
fn page_screen_identify_group_and_alias_map_as_documented() {
    let page = event(
        json!({"type": "page", "name": "Home", "anonymousId": "a", "properties": {"path": "/"}}),
    );
    assert_eq!(
        (&page["category"], &page["name"]),
        (&json!("page"), &json!("Home"))
    );
    assert_eq!(page["data"], json!({"path": "/"}));
    let screen = event(json!({"type": "screen", "anonymousId": "a"}));
    assert_eq!(
        (&screen["category"], &screen["name"]),
        (&json!("screen"), &json!("screen"))
    );
    assert_eq!(screen["data"], json!({}));
    let identify = event(json!({"type": "identify", "userId": "u", "traits": {"plan": "pro"}}));
    assert_eq!(
        (&identify["category"], &identify["name"]),
        (&json!("identify"), &json!("identify"))
    );
    assert_eq!(identify["data"], json!({"plan": "pro"}));
    let group =
        event(json!({"type": "group", "userId": "u", "groupId": "g-1", "traits": {"seats": 3}}));
    assert_eq!(group["data"], json!({"seats": 3, "groupId": "g-1"}));
    let alias = event(json!({"type": "alias", "userId": "u", "previousId": "anon-1"}));
    assert_eq!(
        (&alias["category"], &alias["name"]),
        (&json!("alias"), &json!("alias"))
    );
    assert_eq!(alias["data"], json!({"previous_id": "anon-1"}));
}

#[test]
fn the_session_is_the_first_present_of_four_sources() {
    let all = json!({"type": "track", "event": "e", "userId": "u", "anonymousId": "a",
        "context": {"sessionId": 1234}, "properties": {"session_id": "p"}});
    assert_eq!(event(all.clone())["session_id"], "1234");
    let mut without_context = all.clone();
    without_context["context"] = json!({});
    assert_eq!(event(without_context.clone())["session_id"], "p");
    without_context["properties"] = json!({});
    assert_eq!(event(without_context.clone())["session_id"], "a");
    without_context["anonymousId"] = Value::Null;
    assert_eq!(event(without_context)["session_id"], "u");
    assert_eq!(
        refused(json!({"type": "track", "event": "e"})),
        (RejectCode::MissingField, Some("/anonymousId".into()))
    );
}

#[test]
fn a_long_message_id_becomes_a_stable_digest_of_64_characters() {
    let long = "m".repeat(65);
    let first =
        event(json!({"type": "track", "event": "e", "anonymousId": "a", "messageId": long}));
    let again =
        event(json!({"type": "track", "event": "e", "anonymousId": "a", "messageId": long}));
    let id = first["event_id"].as_str().expect("an event id");
    assert_eq!(id.len(), 64);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
    assert_eq!(first["event_id"], again["event_id"]);
    let other = event(
        json!({"type": "track", "event": "e", "anonymousId": "a", "messageId": "m".repeat(66)}),
    );
    assert_ne!(first["event_id"], other["event_id"]);
    let exact = "x".repeat(64);
    let kept =
        event(json!({"type": "track", "event": "e", "anonymousId": "a", "messageId": exact}));
    assert_eq!(
        kept["event_id"],
        json!(exact),
        "64 characters are kept as they are"
    );
}

#[test]
fn sent_at_gives_the_clock_offset_and_the_timestamp_stays_as_sent() {
    // The client's clock runs ten minutes fast: it sent at 09:25:27 by its clock.
    let message = json!({"type": "track", "event": "e", "anonymousId": "a",
        "timestamp": "2021-01-01T09:25:00Z", "sentAt": "2021-01-01T09:25:27Z"});
    let mapped = map(message).expect("mapped");
    assert_eq!(mapped.clock_offset, -600_000_000);
    assert_eq!(mapped.event["timestamp"], "2021-01-01T09:25:00Z");

    let batch_sent_at = json!("2021-01-01T09:25:27Z");
    let defaults = BatchDefaults {
        sent_at: Some(&batch_sent_at),
        context: None,
    };
    let from_batch = map_message(
        &json!({"type": "page", "anonymousId": "a", "originalTimestamp": "2021-01-01T09:25:00Z"}),
        None,
        &defaults,
        RECEIVED,
    )
    .expect("mapped");
    assert_eq!(from_batch.clock_offset, -600_000_000);

    let no_sent_at =
        map(json!({"type": "page", "anonymousId": "a", "timestamp": "2021-01-01T09:00:00Z"}))
            .expect("mapped");
    assert_eq!(no_sent_at.clock_offset, 0);
    let no_timestamp =
        map(json!({"type": "page", "anonymousId": "a", "sentAt": "2030-01-01T00:00:00Z"}))
            .expect("mapped");
    assert_eq!(
        (
            no_timestamp.event["timestamp"].as_str(),
            no_timestamp.clock_offset
        ),
        (Some("2021-01-01T09:15:27.000000Z"), 0),
        "no timestamp: the receive time, uncorrected"
    );
}

#[test]
fn the_batch_context_is_under_each_messages_own() {
    let batch_context = json!({"library": {"name": "x"}, "locale": "en"});
    let defaults = BatchDefaults {
        sent_at: None,
        context: batch_context.as_object(),
    };
    let mapped = map_message(
        &json!({"type": "page", "anonymousId": "a", "context": {"locale": "fr"}}),
        None,
        &defaults,
        RECEIVED,
    )
    .expect("mapped");
    assert_eq!(
        mapped.event["context"],
        json!({"library": {"name": "x"}, "locale": "fr"})
    );
}

#[test]
fn the_route_gives_the_type_of_a_single_message() {
    let mapped = map_message(
        &json!({"type": "identify", "event": "e", "anonymousId": "a"}),
        Some(MessageType::Track),
        &BatchDefaults::default(),
        RECEIVED,
    )
    .expect("mapped");
    assert_eq!(mapped.event["name"], "e");
}

#[test]
fn messages_that_cannot_become_events_are_refused_with_their_path() {
    let cases = [
        (json!("not an object"), RejectCode::InvalidEvent, None),
        (
            json!({"anonymousId": "a"}),
            RejectCode::MissingField,
            Some("/type"),
        ),
        (
            json!({"type": "purchase", "anonymousId": "a"}),
            RejectCode::InvalidField,
            Some("/type"),
        ),
        (
            json!({"type": 3, "anonymousId": "a"}),
            RejectCode::InvalidField,
            Some("/type"),
        ),
        (
            json!({"type": "track", "anonymousId": "a"}),
            RejectCode::MissingField,
            Some("/event"),
        ),
        (
            json!({"type": "track", "event": 1, "anonymousId": "a"}),
            RejectCode::InvalidField,
            Some("/event"),
        ),
        (
            json!({"type": "track", "event": "e", "anonymousId": "a", "properties": [1]}),
            RejectCode::InvalidField,
            Some("/properties"),
        ),
        (
            json!({"type": "track", "event": "e", "anonymousId": "a", "messageId": 7}),
            RejectCode::InvalidField,
            Some("/messageId"),
        ),
        (
            json!({"type": "track", "event": "e", "anonymousId": {"a": 1}}),
            RejectCode::InvalidField,
            Some("/anonymousId"),
        ),
        (
            json!({"type": "track", "event": "e", "userId": true}),
            RejectCode::InvalidField,
            Some("/userId"),
        ),
        (
            json!({"type": "track", "event": "e", "anonymousId": "a", "context": "x"}),
            RejectCode::InvalidField,
            Some("/context"),
        ),
        (
            json!({"type": "identify", "userId": "u", "traits": 1}),
            RejectCode::InvalidField,
            Some("/traits"),
        ),
        (
            json!({"type": "group", "userId": "u"}),
            RejectCode::MissingField,
            Some("/groupId"),
        ),
        (
            json!({"type": "alias", "userId": "u"}),
            RejectCode::MissingField,
            Some("/previousId"),
        ),
        (
            json!({"type": "page", "anonymousId": "a", "name": ["x"]}),
            RejectCode::InvalidField,
            Some("/name"),
        ),
        (
            json!({"type": "page", "anonymousId": "a", "timestamp": 1609492527}),
            RejectCode::InvalidField,
            Some("/timestamp"),
        ),
        (
            json!({"type": "page", "anonymousId": "a", "timestamp": "2021-01-01T09:00:00Z", "sentAt": "yesterday"}),
            RejectCode::InvalidField,
            Some("/sentAt"),
        ),
    ];
    for (message, code, path) in cases {
        assert_eq!(
            refused(message.clone()),
            (code, path.map(str::to_owned)),
            "{message}"
        );
    }
}

#[test]
fn traits_found_in_the_context_become_data_and_leave_the_context() {
    let mapped = event(json!({"type": "identify", "userId": "u",
        "context": {"traits": {"email": "a@example.com"}, "locale": "en"}}));
    assert_eq!(mapped["data"], json!({"email": "a@example.com"}));
    assert_eq!(
        mapped["context"],
        json!({"locale": "en"}),
        "PII rules protect data, not context"
    );
    let own = event(
        json!({"type": "identify", "userId": "u", "traits": {"plan": "pro"},
        "context": {"traits": {"plan": "pro"}}}),
    );
    assert_eq!(
        own["context"],
        json!({"traits": {"plan": "pro"}}),
        "top-level traits: context untouched"
    );
}

#[test]
fn a_refused_message_names_the_session_it_was_meant_for() {
    let rejection = map(json!({"type": "track", "anonymousId": "s-9", "properties": [1]}))
        .expect_err("refused");
    assert_eq!(rejection.session_id.as_deref(), Some("s-9"));
    let rejection = map(json!({"type": "nope", "context": {"sessionId": 5}})).expect_err("refused");
    assert_eq!(rejection.session_id.as_deref(), Some("5"));
}
