//! Validation of one event: envelope, timestamp rules and the per-type JSON Schema.
//!
//! Pure: the verdict depends only on the event, the receive time, the rules and the schema in
//! force, never on I/O or on when the worker runs.

mod envelope;
mod schemas;
mod timestamps;

pub(crate) use envelope::escape_pointer;
pub use envelope::{
    MAX_CONTEXT_BYTES, MAX_EVENT_ID_CHARS, MAX_NAME_CHARS, MIN_CLOCK_CORRECTION, check_identifier,
};
pub use schemas::{Compiled, CompiledSchema, SchemaError, SchemaRegistry, compile_schema};
pub use timestamps::{parse_query_timestamp, parse_timestamp};

use std::time::Duration;

use serde_json::Value;

use crate::ingest::pii::{Exposure, PiiKey};
use crate::model::EventRecord;
use crate::model::timestamp::Micros;

/// Stable codes of per-event rejections, as they appear in results and the error store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectCode {
    /// The array element is not a JSON object.
    InvalidEvent,
    MissingField,
    InvalidField,
    UnknownField,
    InvalidTimestamp,
    TimestampInFuture,
    TimestampTooOld,
    UnknownEventType,
    SchemaViolation,
}

impl RejectCode {
    pub const ALL: [RejectCode; 9] = [
        RejectCode::InvalidEvent,
        RejectCode::MissingField,
        RejectCode::InvalidField,
        RejectCode::UnknownField,
        RejectCode::InvalidTimestamp,
        RejectCode::TimestampInFuture,
        RejectCode::TimestampTooOld,
        RejectCode::UnknownEventType,
        RejectCode::SchemaViolation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::InvalidEvent => "invalid_event",
            RejectCode::MissingField => "missing_field",
            RejectCode::InvalidField => "invalid_field",
            RejectCode::UnknownField => "unknown_field",
            RejectCode::InvalidTimestamp => "invalid_timestamp",
            RejectCode::TimestampInFuture => "timestamp_in_future",
            RejectCode::TimestampTooOld => "timestamp_too_old",
            RejectCode::UnknownEventType => "unknown_event_type",
            RejectCode::SchemaViolation => "schema_violation",
        }
    }
}

/// Why an event was refused, and what could still be read from it for the error store.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub code: RejectCode,
    pub message: String,
    /// JSON pointer into the event, e.g. `/data/element`.
    pub path: Option<String>,
    pub category: Option<String>,
    pub name: Option<String>,
    pub session_id: Option<String>,
    /// The version of the schema that judged the event, or whose PII rules changed
    /// `protected_raw`.
    pub schema_version: Option<i64>,
    /// The event with the PII rules of its type's schema applied, serialized, when they
    /// changed it: the raw input to keep instead of the text as sent.
    pub protected_raw: Option<String>,
}

/// An event that passed every rule, in the shape the store keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidEvent {
    pub session_id: String,
    pub category: String,
    pub name: String,
    /// The `data` object, serialized.
    pub data: String,
    /// Corrected for the client's clock when the request said when it was sent.
    pub timestamp: Micros,
    /// The timestamp as sent, when the correction changed it.
    pub original_timestamp: Option<Micros>,
    pub event_id: Option<String>,
    pub user_id: Option<String>,
    /// The `context` object, serialized.
    pub context: Option<String>,
    pub schema_version: Option<i64>,
}

impl ValidEvent {
    /// The record stored for this event, sent by `app` and received at `received_at`.
    pub fn into_record(self, id: uuid::Uuid, app: String, received_at: Micros) -> EventRecord {
        EventRecord {
            id,
            app,
            session_id: self.session_id,
            category: self.category,
            name: self.name,
            data: self.data,
            timestamp: self.timestamp,
            received_at,
            event_id: self.event_id,
            schema_version: self.schema_version,
            user_id: self.user_id,
            context: self.context,
            original_timestamp: self.original_timestamp,
        }
    }
}

/// The configurable rules that apply to every event.
#[derive(Debug, Clone)]
pub struct Rules {
    pub max_data_bytes: usize,
    pub future_tolerance: Duration,
    pub max_age: Option<Duration>,
    pub reject_unknown_event_types: bool,
    /// The sending application's event retention: an event already older than it would be
    /// deleted by the next sweep, so it is refused (`timestamp_too_old`).
    pub retention: Option<Duration>,
}

/// Judges one event received at `received_at` against `rules` and the schemas in `registry`.
/// The PII rules of the type's schema are applied to what comes out: an accepted event's
/// `data`; a rejected event's message, path and raw input (see [`Rejection`]).
pub fn validate_event(
    event: &Value,
    received_at: Micros,
    rules: &Rules,
    registry: &SchemaRegistry,
) -> Result<ValidEvent, Box<Rejection>> {
    validate_sent_event(event, received_at, 0, rules, registry)
}

/// [`validate_event`] for an event whose client clock is `clock_offset` behind the receiver's
/// (`received_at - sent_at`): its timestamp is corrected by that much before any rule reads
/// it, and the timestamp as sent is kept beside it. An offset under a second
/// ([`MIN_CLOCK_CORRECTION`]) is network time, not a wrong clock, and is left alone.
pub fn validate_sent_event(
    event: &Value,
    received_at: Micros,
    clock_offset: Micros,
    rules: &Rules,
    registry: &SchemaRegistry,
) -> Result<ValidEvent, Box<Rejection>> {
    let envelope = match envelope::check(event, received_at, clock_offset, rules) {
        Ok(envelope) => envelope,
        Err(rejection) => {
            let schema = rejection
                .category
                .as_deref()
                .zip(rejection.name.as_deref())
                .and_then(|(category, name)| registry.get(category, name));
            return Err(protect(
                event,
                rejection,
                schema.as_deref(),
                registry.pii_key(),
            ));
        }
    };
    let Some(schema) = registry.get(&envelope.category, &envelope.name) else {
        if rules.reject_unknown_event_types {
            return Err(envelope.reject(
                RejectCode::UnknownEventType,
                format!(
                    "no schema is registered for event type ({:?}, {:?}) and unknown types are refused",
                    envelope.category, envelope.name
                ),
                Some("/name".to_owned()),
                None,
            ));
        }
        return Ok(envelope.into_valid(None));
    };
    if let Some((message, path)) = schema.first_violation(envelope.data_value) {
        let rejection = envelope.reject(
            RejectCode::SchemaViolation,
            message,
            Some(format!("/data{path}")),
            Some(schema.version),
        );
        return Err(protect(event, rejection, Some(&schema), registry.pii_key()));
    }
    if schema.pii().is_empty() {
        return Ok(envelope.into_valid(Some(schema.version)));
    }
    let mut data = envelope.data_value.clone();
    schema.pii().apply(&mut data, registry.pii_key());
    let mut valid = envelope.into_valid(Some(schema.version));
    valid.data = data.to_string();
    Ok(valid)
}

/// Applies the PII rules of `schema` to a rejection of `event`: its raw input wherever a
/// rule's path exists, and its path when it points inside a value under a rule (cut to that
/// value). Its message was written without such values already
/// ([`CompiledSchema::first_violation`]; the envelope's messages quote none).
fn protect(
    event: &Value,
    mut rejection: Box<Rejection>,
    schema: Option<&CompiledSchema>,
    key: &PiiKey,
) -> Box<Rejection> {
    let Some(schema) = schema.filter(|schema| !schema.pii().is_empty()) else {
        return rejection;
    };
    if let Some(path) = &rejection.path
        && let Some(inner) = path.strip_prefix("/data")
        && (inner.is_empty() || inner.starts_with('/'))
        && let Exposure::Within(depth) = schema.pii().exposure(inner)
    {
        let cut: Vec<&str> = path.split('/').take(depth + 2).collect();
        rejection.path = Some(cut.join("/"));
    }
    let mut protected = event.clone();
    if let Some(data) = protected.get_mut("data")
        && schema.pii().apply(data, key)
    {
        rejection.protected_raw = Some(protected.to_string());
        rejection.schema_version.get_or_insert(schema.version);
    }
    rejection
}

/// A request body refused whole (wrong shape, too many events, not strict JSON) that still
/// reads as JSON, with the PII rules of each event's type applied wherever they find their
/// paths, serialized: the raw input to keep instead of the body as sent. `None` when the body
/// is not JSON or no rule changed anything.
pub fn protect_refused_body(raw: &[u8], registry: &SchemaRegistry) -> Option<String> {
    let mut body: Value = serde_json::from_slice(raw).ok()?;
    let mut changed = false;
    let mut protect = |event: &mut Value| {
        let schema = match (event.get("category"), event.get("name")) {
            (Some(Value::String(category)), Some(Value::String(name))) => {
                registry.get(category, name)
            }
            _ => None,
        };
        if let Some(schema) = schema.filter(|schema| !schema.pii().is_empty())
            && let Some(data) = event.get_mut("data")
        {
            changed |= schema.pii().apply(data, registry.pii_key());
        }
    };
    let in_events_object = body.get("events").is_some_and(Value::is_array);
    if let Some(events) = body.as_array_mut() {
        events.iter_mut().for_each(&mut protect);
    } else if let Some(events) = body
        .get_mut("events")
        .filter(|_| in_events_object)
        .and_then(Value::as_array_mut)
    {
        events.iter_mut().for_each(&mut protect);
    } else if body.is_object() {
        protect(&mut body);
    }
    changed.then(|| body.to_string())
}

#[cfg(test)]
mod pii_tests;
#[cfg(test)]
mod tests;
