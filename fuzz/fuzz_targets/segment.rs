//! A Segment-compatible body, as sent: the first byte picks the route (the batch or one of
//! the single-message routes). Every body must be refused or split into messages, every
//! message mapped onto an event or refused, and every event judged, without a panic; a
//! mapped event always has the native envelope's fields.
#![no_main]

use std::time::Duration;

use eye_server::http::segment::mapping::{BatchDefaults, MessageType, map_message};
use eye_server::ingest::json::parse_strict;
use eye_server::ingest::validation::{Rules, SchemaRegistry, validate_sent_event};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const RECEIVED: i64 = 1_700_000_000_000_000;

fuzz_target!(|input: &[u8]| {
    let Some((flag, body)) = input.split_first() else {
        return;
    };
    let Ok(document) = parse_strict(body) else {
        return;
    };
    let route = match flag % 7 {
        0 => None,
        n => Some(MessageType::ALL[usize::from(n - 1)]),
    };
    let messages = match (route, &document) {
        (Some(_), message) => vec![message.clone()],
        (None, Value::Object(batch)) => match batch.get("batch") {
            Some(Value::Array(messages)) => messages.clone(),
            _ => return,
        },
        (None, _) => return,
    };
    let defaults = BatchDefaults {
        sent_at: document.get("sentAt"),
        context: document.get("context").and_then(Value::as_object),
    };
    let rules = Rules {
        max_data_bytes: 32 * 1024,
        future_tolerance: Duration::from_secs(60),
        max_age: None,
        reject_unknown_event_types: false,
        retention: None,
    };
    let registry = SchemaRegistry::default();
    for message in &messages {
        let Ok(mapped) = map_message(message, route, &defaults, RECEIVED) else {
            continue;
        };
        for field in ["session_id", "category", "name", "data", "timestamp"] {
            assert!(mapped.event.get(field).is_some(), "{field} missing: {}", mapped.event);
        }
        let _ = validate_sent_event(&mapped.event, RECEIVED, mapped.clock_offset, &rules, &registry);
    }
});
