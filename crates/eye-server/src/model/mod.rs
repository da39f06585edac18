//! Records that travel from ingest through the queue into the store, with the ids and
//! timestamps they carry.

pub mod ids;
pub mod timestamp;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::timestamp::Micros;

/// An accepted event, as queued and as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub id: Uuid,
    pub app: String,
    pub session_id: String,
    pub category: String,
    pub name: String,
    /// The `data` object, serialized JSON. Queued as JSON in the message, not as a string.
    #[serde(with = "data_json")]
    pub data: String,
    pub timestamp: Micros,
    pub received_at: Micros,
    pub event_id: Option<String>,
    pub schema_version: Option<i64>,
    /// The user the sending application knows (Segment's `userId`), 1-128 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The `context` object (page, user agent, library...), serialized JSON. Queued as JSON
    /// in the message, like `data`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_data_json"
    )]
    pub context: Option<String>,
    /// The timestamp the client sent, when The Eye corrected it for the client's clock
    /// (`timestamp` is then the corrected one); `None` when `timestamp` is as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_timestamp: Option<Micros>,
}

/// [`data_json`] for a field that may be absent.
mod optional_data_json {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        data: &Option<String>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match data {
            Some(data) => super::data_json::serialize(data, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<String>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super::data_json")] String);
        Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|Wrapped(text)| text))
    }
}

/// How a queued event carries its `data`: as the JSON object itself, so that neither ingest
/// nor the worker escapes and unescapes every quote of it. Messages that an earlier build
/// queued carry it as a string of JSON; they still decode, since `data` is always an object
/// and a string can only be that older form.
mod data_json {
    use serde::{Deserialize, Deserializer, Serialize, Serializer, de, ser};
    use serde_json::value::RawValue;

    pub fn serialize<S: Serializer>(data: &str, serializer: S) -> Result<S::Ok, S::Error> {
        // Borrowing the text as a `RawValue` is serde_json's only public way to embed JSON
        // verbatim; it scans the text once, which costs less than escaping it did.
        let raw: &RawValue = serde_json::from_str(data).map_err(ser::Error::custom)?;
        raw.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        if raw.get().trim_start().starts_with('"') {
            return serde_json::from_str(raw.get()).map_err(de::Error::custom);
        }
        Ok(Box::<str>::from(raw).into_string())
    }
}

/// A rejected event or a refused request body, as queued and as kept in the error store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEntry {
    pub id: Uuid,
    pub app: String,
    pub code: String,
    pub message: String,
    pub path: Option<String>,
    pub received_at: Micros,
    pub category: Option<String>,
    pub name: Option<String>,
    pub session_id: Option<String>,
    pub schema_version: Option<i64>,
    pub raw: String,
    /// Set once a replay stored this input as an event.
    #[serde(default)]
    pub replayed_at: Option<Micros>,
    #[serde(default)]
    pub replayed_event_id: Option<Uuid>,
}

impl ErrorEntry {
    /// An error record of no event type, path or schema version (the caller adds those it
    /// knows), not replayed.
    pub fn new(
        id: Uuid,
        app: String,
        code: String,
        message: String,
        received_at: Micros,
        raw: String,
    ) -> ErrorEntry {
        ErrorEntry {
            id,
            app,
            code,
            message,
            path: None,
            received_at,
            category: None,
            name: None,
            session_id: None,
            schema_version: None,
            raw,
            replayed_at: None,
            replayed_event_id: None,
        }
    }
}

/// The longest prefix of `text` of at most `max_bytes` that ends on a character boundary.
pub fn truncate_utf8(text: &str, max_bytes: usize) -> &str {
    let mut end = text.len().min(max_bytes);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// One unit of work for the pipeline worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum QueueMessage {
    Event(EventRecord),
    Error(ErrorEntry),
}

/// What a key may do. A key holds one or more scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Ingest,
    Query,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Ingest, Scope::Query, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Query => "query",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == text)
    }

    /// Scopes by name, at least one, each known; the error says what to write instead.
    pub fn parse_all(names: &[String]) -> Result<Vec<Scope>, String> {
        if names.is_empty() {
            return Err("give at least one scope: ingest, query or admin".into());
        }
        names
            .iter()
            .map(|name| {
                Scope::parse(name)
                    .ok_or_else(|| format!("unknown scope {name:?}: use ingest, query or admin"))
            })
            .collect()
    }

    /// Sorted, without repeats, comma-separated: how stores keep a key's scopes.
    pub fn join(scopes: &[Scope]) -> (Vec<Scope>, String) {
        let mut scopes = scopes.to_vec();
        scopes.sort();
        scopes.dedup();
        let text = scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",");
        (scopes, text)
    }

    pub fn split(text: &str) -> Vec<Scope> {
        text.split(',').filter_map(Scope::parse).collect()
    }
}

/// A stored API key, without its secret.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRecord {
    pub id: String,
    pub app: String,
    pub scopes: Vec<Scope>,
    pub created_at: Micros,
    pub revoked_at: Option<Micros>,
}

/// One version of a schema.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaRecord {
    pub category: String,
    pub name: String,
    pub version: i64,
    /// The JSON Schema document, serialized.
    pub schema: String,
    pub created_at: Micros,
}

/// One entry of a type's schema history; `schema` is `None` for a deletion.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaVersion {
    pub category: String,
    pub name: String,
    pub version: i64,
    pub schema: Option<String>,
    pub created_at: Micros,
}

/// The schema file last loaded for an event type, known by the SHA-256 digest of its bytes:
/// at start-up a file makes a new version only when it changed since (see `catalog`).
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaFileDigest {
    pub category: String,
    pub name: String,
    /// Lowercase hex SHA-256 of the file's bytes.
    pub digest: String,
    pub loaded_at: Micros,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> EventRecord {
        EventRecord {
            id: Uuid::nil(),
            app: "shop".into(),
            session_id: "s-1".into(),
            category: "navigation".into(),
            name: "pageview".into(),
            data: r#"{"url":"https://shop.example.com/?q=\"a\"","n":[1,2.5,null]}"#.into(),
            timestamp: 1_700_000_000_000_000,
            received_at: 1_700_000_000_000_001,
            event_id: Some("e-1".into()),
            schema_version: Some(2),
            user_id: Some("u-1".into()),
            context: Some(r#"{"page":{"url":"https://shop.example.com/"}}"#.into()),
            original_timestamp: Some(1_699_999_880_000_000),
        }
    }

    #[test]
    fn a_queued_event_carries_its_data_as_json_and_decodes_unchanged() {
        let message = QueueMessage::Event(event());
        let encoded = serde_json::to_string(&message).expect("encode");
        let wire: serde_json::Value = serde_json::from_str(&encoded).expect("wire JSON");
        assert!(
            wire["Event"]["data"].is_object(),
            "data is an object on the wire, not a string: {encoded}"
        );
        assert!(wire["Event"]["context"].is_object(), "{encoded}");
        let decoded: QueueMessage = serde_json::from_str(&encoded).expect("decode");
        assert_eq!(decoded, message);
    }

    #[test]
    fn a_message_queued_before_user_and_context_decodes_without_them() {
        let mut legacy = serde_json::to_value(QueueMessage::Event(event())).expect("value");
        for field in ["user_id", "context", "original_timestamp"] {
            legacy["Event"]
                .as_object_mut()
                .expect("event")
                .remove(field);
        }
        let QueueMessage::Event(decoded) = serde_json::from_value(legacy).expect("decode") else {
            panic!("an event");
        };
        assert_eq!(
            (decoded.user_id, decoded.context, decoded.original_timestamp),
            (None, None, None)
        );
    }

    #[test]
    fn a_message_queued_with_data_as_a_string_still_decodes() {
        let original = event();
        let mut legacy =
            serde_json::to_value(QueueMessage::Event(original.clone())).expect("value");
        legacy["Event"]["data"] = serde_json::Value::String(original.data.clone());
        let bytes = serde_json::to_vec(&legacy).expect("legacy bytes");
        let decoded: QueueMessage = serde_json::from_slice(&bytes).expect("decode legacy");
        assert_eq!(decoded, QueueMessage::Event(original));
    }
}
