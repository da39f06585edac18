//! What the error store keeps of a Segment message, or a Segment body, that could not become
//! events: never the key (`writeKey`, however it was written), and never a clear value that a
//! PII rule of the message's event type covers (applied to its `properties` or `traits`,
//! which become the event's `data`).

use serde_json::Value;

use super::mapping::MessageType;
use crate::ingest::validation::SchemaRegistry;

/// `message` as the error store keeps it, serialized.
pub fn kept_message(
    message: &Value,
    route_type: Option<MessageType>,
    registry: &SchemaRegistry,
) -> String {
    let mut message = message.clone();
    protect(&mut message, route_type, registry);
    message.to_string()
}

/// A refused body that reads as JSON, as the error store keeps it: each message of a batch
/// (or the one message of a single-message route) as [`kept_message`] keeps it.
pub fn kept_body(
    document: &Value,
    route_type: Option<MessageType>,
    registry: &SchemaRegistry,
) -> String {
    let mut document = document.clone();
    if let Some(object) = document.as_object_mut() {
        object.remove("writeKey");
    }
    match (route_type, document.get_mut("batch")) {
        (None, Some(Value::Array(messages))) => messages
            .iter_mut()
            .for_each(|message| protect(message, None, registry)),
        (Some(_), _) => protect(&mut document, route_type, registry),
        (None, _) => {}
    }
    document.to_string()
}

fn protect(message: &mut Value, route_type: Option<MessageType>, registry: &SchemaRegistry) {
    let Some(object) = message.as_object_mut() else {
        return;
    };
    object.remove("writeKey");
    let kind = route_type.or_else(|| {
        object
            .get("type")
            .and_then(Value::as_str)
            .and_then(MessageType::parse)
    });
    let text = |field: &str| object.get(field).and_then(Value::as_str).map(str::to_owned);
    let (category, name, field) = match kind {
        Some(MessageType::Track) => {
            let category = object
                .get("properties")
                .and_then(|p| p.get("category"))
                .and_then(Value::as_str)
                .unwrap_or("track")
                .to_owned();
            (Some(category), text("event"), "properties")
        }
        Some(kind @ (MessageType::Page | MessageType::Screen)) => {
            let word = kind.as_str().to_owned();
            (
                Some(word.clone()),
                text("name").or(Some(word)),
                "properties",
            )
        }
        Some(kind @ (MessageType::Identify | MessageType::Group)) => {
            let word = kind.as_str().to_owned();
            (Some(word.clone()), Some(word), "traits")
        }
        Some(MessageType::Alias) | None => (None, None, "properties"),
    };
    let Some(schema) = category
        .zip(name)
        .and_then(|(category, name)| registry.get(&category, &name))
        .filter(|schema| !schema.pii().is_empty())
    else {
        return;
    };
    if let Some(data) = object.get_mut(field) {
        schema.pii().apply(data, registry.pii_key());
    }
    if let Some(traits) = object.get_mut("context").and_then(|c| c.get_mut("traits")) {
        schema.pii().apply(traits, registry.pii_key());
    }
}
