//! The envelope rules every event obeys, whatever its type: required fields, their JSON types
//! and lengths, the timestamp window, the size of `data`.

use serde_json::{Map, Value};

use super::{RejectCode, Rejection, Rules, ValidEvent};
use crate::model::timestamp::{self, Micros};

pub const MAX_NAME_CHARS: usize = 128;
pub const MAX_EVENT_ID_CHARS: usize = 64;
/// The smallest clock offset (`received_at - sent_at`) corrected for, in microseconds.
pub const MIN_CLOCK_CORRECTION: u64 = 1_000_000;
/// The longest `context` object, serialized.
pub const MAX_CONTEXT_BYTES: usize = 8 * 1024;

const KNOWN_FIELDS: [&str; 8] = [
    "session_id",
    "category",
    "name",
    "data",
    "timestamp",
    "event_id",
    "user_id",
    "context",
];

/// An event whose envelope passed; `data` still awaits its schema.
pub(super) struct Envelope<'a> {
    pub session_id: String,
    pub category: String,
    pub name: String,
    pub data_value: &'a Value,
    data: String,
    timestamp: Micros,
    original_timestamp: Option<Micros>,
    event_id: Option<String>,
    user_id: Option<String>,
    context: Option<String>,
}

impl Envelope<'_> {
    pub fn reject(
        &self,
        code: RejectCode,
        message: String,
        path: Option<String>,
        schema_version: Option<i64>,
    ) -> Box<Rejection> {
        Box::new(Rejection {
            code,
            message,
            path,
            category: Some(self.category.clone()),
            name: Some(self.name.clone()),
            session_id: Some(self.session_id.clone()),
            schema_version,
            protected_raw: None,
        })
    }

    pub fn into_valid(self, schema_version: Option<i64>) -> ValidEvent {
        ValidEvent {
            session_id: self.session_id,
            category: self.category,
            name: self.name,
            data: self.data,
            timestamp: self.timestamp,
            original_timestamp: self.original_timestamp,
            event_id: self.event_id,
            user_id: self.user_id,
            context: self.context,
            schema_version,
        }
    }
}

/// Checks the envelope of `event`, received at `received_at` from a client whose clock is
/// `clock_offset` behind the receiver's (`received_at - sent_at`; 0 when the request has no
/// `sent_at`): its timestamp is corrected by that much before the window applies.
pub(super) fn check<'a>(
    event: &'a Value,
    received_at: Micros,
    clock_offset: Micros,
    rules: &Rules,
) -> Result<Envelope<'a>, Box<Rejection>> {
    let Some(object) = event.as_object() else {
        return Err(rejection(
            RejectCode::InvalidEvent,
            format!("an event must be a JSON object, not {}", json_type(event)),
            "",
            object_hints(None),
        ));
    };
    // The hints are only read on the way out with a rejection: accepted events never pay
    // for them.
    let fail = |code, message: String, path: &str| {
        rejection(code, message, path, object_hints(Some(object)))
    };

    let session_id = required_identifier(object, "session_id", MAX_NAME_CHARS)
        .map_err(|e| fail(e.0, e.1, e.2))?;
    let category =
        required_identifier(object, "category", MAX_NAME_CHARS).map_err(|e| fail(e.0, e.1, e.2))?;
    let name =
        required_identifier(object, "name", MAX_NAME_CHARS).map_err(|e| fail(e.0, e.1, e.2))?;
    let data_value = match object.get("data") {
        None | Some(Value::Null) => {
            return Err(fail(
                RejectCode::MissingField,
                "`data` is required: send an object, {} when empty".into(),
                "/data",
            ));
        }
        Some(value @ Value::Object(_)) => value,
        Some(other) => {
            return Err(fail(
                RejectCode::InvalidField,
                format!("`data` must be a JSON object, not {}", json_type(other)),
                "/data",
            ));
        }
    };
    let timestamp_text = match object.get("timestamp") {
        None | Some(Value::Null) => {
            return Err(fail(
                RejectCode::MissingField,
                "`timestamp` is required".into(),
                "/timestamp",
            ));
        }
        Some(Value::String(text)) => text,
        Some(other) => {
            return Err(fail(
                RejectCode::InvalidField,
                format!(
                    "`timestamp` must be a string such as \"2021-01-01 09:15:27.243860\", not {}",
                    json_type(other)
                ),
                "/timestamp",
            ));
        }
    };
    let event_id = match object.get("event_id") {
        None | Some(Value::Null) => None,
        Some(_) => Some(
            required_identifier(object, "event_id", MAX_EVENT_ID_CHARS)
                .map_err(|e| fail(e.0, e.1, e.2))?,
        ),
    };
    let user_id = match object.get("user_id") {
        None | Some(Value::Null) => None,
        Some(_) => Some(
            required_identifier(object, "user_id", MAX_NAME_CHARS)
                .map_err(|e| fail(e.0, e.1, e.2))?,
        ),
    };
    let context = match object.get("context") {
        None | Some(Value::Null) => None,
        Some(value @ Value::Object(_)) => Some(value),
        Some(other) => {
            return Err(fail(
                RejectCode::InvalidField,
                format!("`context` must be a JSON object, not {}", json_type(other)),
                "/context",
            ));
        }
    };
    if let Some(unknown) = object
        .keys()
        .find(|key| !KNOWN_FIELDS.contains(&key.as_str()))
    {
        return Err(fail(
            RejectCode::UnknownField,
            format!(
                "unknown field {unknown:?}: an event has only session_id, category, name, data, timestamp, event_id, user_id and context"
            ),
            &format!("/{}", escape_pointer(unknown)),
        ));
    }
    let (timestamp, original_timestamp) =
        check_timestamp(timestamp_text, received_at, clock_offset, rules)
            .map_err(|(code, message)| fail(code, message, "/timestamp"))?;
    let nul = find_nul(data_value)
        .map(|rest| format!("/data{rest}"))
        .or_else(|| {
            context
                .and_then(find_nul)
                .map(|rest| format!("/context{rest}"))
        });
    if let Some(path) = nul {
        return Err(fail(
            RejectCode::InvalidField,
            "strings must not contain NUL (\\u0000) characters".into(),
            &path,
        ));
    }
    let context =
        context.map(|value| serde_json::to_string(value).expect("a JSON value always serializes"));
    if let Some(context) = context.as_ref().filter(|c| c.len() > MAX_CONTEXT_BYTES) {
        return Err(fail(
            RejectCode::InvalidField,
            format!(
                "`context` is {} bytes serialized, over the limit of {MAX_CONTEXT_BYTES} bytes: keep page, user agent and library, not data",
                context.len()
            ),
            "/context",
        ));
    }
    let data = serde_json::to_string(data_value).expect("a JSON value always serializes");
    if data.len() > rules.max_data_bytes {
        return Err(fail(
            RejectCode::InvalidField,
            format!(
                "`data` is {} bytes serialized, over the limit of {} bytes",
                data.len(),
                rules.max_data_bytes
            ),
            "/data",
        ));
    }
    Ok(Envelope {
        session_id,
        category,
        name,
        data_value,
        data,
        timestamp,
        original_timestamp,
        event_id,
        user_id,
        context,
    })
}

type FieldError = (RejectCode, String, &'static str);

fn required_identifier(
    object: &Map<String, Value>,
    field: &'static str,
    max_chars: usize,
) -> Result<String, FieldError> {
    let path = match field {
        "session_id" => "/session_id",
        "category" => "/category",
        "name" => "/name",
        "user_id" => "/user_id",
        _ => "/event_id",
    };
    match object.get(field) {
        None | Some(Value::Null) => Err((
            RejectCode::MissingField,
            format!("`{field}` is required"),
            path,
        )),
        Some(Value::String(text)) => check_identifier(text, max_chars)
            .map(|()| text.clone())
            .map_err(|problem| {
                (
                    RejectCode::InvalidField,
                    format!("`{field}` {problem}"),
                    path,
                )
            }),
        Some(other) => Err((
            RejectCode::InvalidField,
            format!("`{field}` must be a string, not {}", json_type(other)),
            path,
        )),
    }
}

/// The rule for identifiers (session id, category, name, event id, user id): non-empty, at most
/// `max_chars` characters, no control characters. The error completes "`field` ...".
pub fn check_identifier(text: &str, max_chars: usize) -> Result<(), String> {
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    let chars = text.chars().count();
    if chars > max_chars {
        return Err(format!(
            "is {chars} characters long, over the limit of {max_chars}"
        ));
    }
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// The event's timestamp corrected by `clock_offset`, within the window, and the timestamp
/// as sent when the correction changed it.
fn check_timestamp(
    text: &str,
    received_at: Micros,
    clock_offset: Micros,
    rules: &Rules,
) -> Result<(Micros, Option<Micros>), (RejectCode, String)> {
    let Some(sent) = super::parse_timestamp(text) else {
        return Err((
            RejectCode::InvalidTimestamp,
            format!(
                "{text:?} is not a valid timestamp: use RFC 3339 (2021-01-01T09:15:27.243860Z) or \
                 2021-01-01 09:15:27.243860 (UTC)"
            ),
        ));
    };
    // Network time and an ordinary clock error stay under a second: a client whose clock is
    // right keeps its timestamps exactly as sent, in their order across requests.
    let at = if clock_offset.unsigned_abs() >= MIN_CLOCK_CORRECTION {
        sent.saturating_add(clock_offset)
    } else {
        sent
    };
    let tolerance = rules.future_tolerance.as_micros() as i64;
    if at > received_at.saturating_add(tolerance) {
        return Err((
            RejectCode::TimestampInFuture,
            format!(
                "timestamp {} is later than the receive time {} plus the tolerance of {} s",
                timestamp::format_micros(at),
                timestamp::format_micros(received_at),
                rules.future_tolerance.as_secs()
            ),
        ));
    }
    if let Some(max_age) = rules.max_age
        && at < received_at.saturating_sub(max_age.as_micros() as i64)
    {
        return Err((
            RejectCode::TimestampTooOld,
            format!(
                "timestamp {} is older than the maximum age of {} s",
                timestamp::format_micros(at),
                max_age.as_secs()
            ),
        ));
    }
    if let Some(retention) = rules.retention
        && at < received_at.saturating_sub(retention.as_micros() as i64)
    {
        let days = retention.as_secs() / 86_400;
        return Err((
            RejectCode::TimestampTooOld,
            format!(
                "timestamp {} is older than this application's retention of {days} day{}: it would be deleted at once",
                timestamp::format_micros(at),
                if days == 1 { "" } else { "s" }
            ),
        ));
    }
    Ok((at, (at != sent).then_some(sent)))
}

/// The first string (value or key) holding a NUL, as a JSON pointer relative to `value`:
/// PostgreSQL cannot store one in JSONB, and no behaviour event needs one. The pointer is
/// built on the way back from a find, so clean data (nearly all of it) allocates nothing.
fn find_nul(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => text.contains('\0').then(String::new),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| find_nul(item).map(|rest| format!("/{index}{rest}"))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            let segment = || format!("/{}", escape_pointer(key));
            if key.contains('\0') {
                Some(segment())
            } else {
                find_nul(item).map(|rest| segment() + &rest)
            }
        }),
        _ => None,
    }
}

/// Escapes one JSON-pointer segment (RFC 6901).
pub(crate) fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What can be read of an invalid event, so its error record says which session and type it
/// was meant for.
struct Hints {
    category: Option<String>,
    name: Option<String>,
    session_id: Option<String>,
}

fn object_hints(object: Option<&Map<String, Value>>) -> Hints {
    let text = |field: &str| {
        object
            .and_then(|o| o.get(field))
            .and_then(Value::as_str)
            .filter(|text| check_identifier(text, MAX_NAME_CHARS).is_ok())
            .map(str::to_owned)
    };
    Hints {
        category: text("category"),
        name: text("name"),
        session_id: text("session_id"),
    }
}

fn rejection(code: RejectCode, message: String, path: &str, hints: Hints) -> Box<Rejection> {
    Box::new(Rejection {
        code,
        message,
        path: Some(path.to_owned()).filter(|p| !p.is_empty()),
        category: hints.category,
        name: hints.name,
        session_id: hints.session_id,
        schema_version: None,
        protected_raw: None,
    })
}
