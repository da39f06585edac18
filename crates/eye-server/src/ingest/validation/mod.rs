//! Validation of one event: envelope, timestamp rules and the per-type JSON Schema.
//!
//! Pure: the verdict depends only on the event, the receive time, the rules and the schema in
//! force, never on I/O or on when the worker runs.

mod envelope;
mod schemas;
mod timestamps;

pub use envelope::{MAX_EVENT_ID_CHARS, MAX_NAME_CHARS, check_identifier};
pub use schemas::{CompiledSchema, SchemaError, SchemaRegistry, compile_schema};
pub use timestamps::{parse_query_timestamp, parse_timestamp};

use std::time::Duration;

use serde_json::Value;

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
    pub schema_version: Option<i64>,
}

/// An event that passed every rule, in the shape the store keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidEvent {
    pub session_id: String,
    pub category: String,
    pub name: String,
    /// The `data` object, serialized.
    pub data: String,
    pub timestamp: Micros,
    pub event_id: Option<String>,
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
}

/// Judges one event received at `received_at` against `rules` and the schemas in `registry`.
pub fn validate_event(
    event: &Value,
    received_at: Micros,
    rules: &Rules,
    registry: &SchemaRegistry,
) -> Result<ValidEvent, Box<Rejection>> {
    let envelope = envelope::check(event, received_at, rules)?;
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
        return Err(envelope.reject(
            RejectCode::SchemaViolation,
            message,
            Some(format!("/data{path}")),
            Some(schema.version),
        ));
    }
    Ok(envelope.into_valid(Some(schema.version)))
}

#[cfg(test)]
mod tests;
