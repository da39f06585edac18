//! One Segment message (`track`, `page`, `screen`, `identify`, `group`, `alias`) as the
//! native event The Eye judges and stores, with the correction for the client's clock.
//!
//! Pure: the event depends only on the message, its batch and the receive time. A message that
//! cannot become an event at all (no type, `properties` not an object...) is refused here
//! with a path into the message; everything else is judged as a native event afterwards, with
//! paths into that event (`/data/element`).

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::ingest::validation::{
    MAX_EVENT_ID_CHARS, MAX_NAME_CHARS, RejectCode, Rejection, check_identifier, parse_timestamp,
};
use crate::model::timestamp::{Micros, format_micros};

/// The kinds of message of Segment's tracking API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Track,
    Page,
    Screen,
    Identify,
    Group,
    Alias,
}

impl MessageType {
    pub const ALL: [MessageType; 6] = [
        MessageType::Track,
        MessageType::Page,
        MessageType::Screen,
        MessageType::Identify,
        MessageType::Group,
        MessageType::Alias,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Track => "track",
            MessageType::Page => "page",
            MessageType::Screen => "screen",
            MessageType::Identify => "identify",
            MessageType::Group => "group",
            MessageType::Alias => "alias",
        }
    }

    /// A message's `type`, in any letter case.
    pub fn parse(text: &str) -> Option<MessageType> {
        MessageType::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(text))
    }
}

/// What a batch says for all of its messages.
#[derive(Debug, Clone, Default)]
pub struct BatchDefaults<'a> {
    /// The batch's `sentAt`, as sent.
    pub sent_at: Option<&'a Value>,
    /// The batch's `context`, under each message's own.
    pub context: Option<&'a Map<String, Value>>,
}

/// A message as a native event.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// `{"session_id", "category", "name", "data", "timestamp", "event_id"?, "user_id"?,
    /// "context"?}`.
    pub event: Value,
    /// `received_at - sentAt` when the message had both a timestamp and a `sentAt`, else 0.
    pub clock_offset: Micros,
}

/// `message` as a native event. `route_type` is the type a single-message route gives
/// (`/v1/track`); a batch's messages carry their own `type`.
pub fn map_message(
    message: &Value,
    route_type: Option<MessageType>,
    batch: &BatchDefaults<'_>,
    received_at: Micros,
) -> Result<Mapped, Box<Rejection>> {
    map_object(message, route_type, batch, received_at).map_err(|mut rejection| {
        // The session it was meant for, so that an erasure of that session finds its record.
        rejection.session_id = session_hint(message);
        rejection
    })
}

/// The first of the session's sources that reads as an id, in the mapping's order.
fn session_hint(message: &Value) -> Option<String> {
    [
        message.pointer("/context/sessionId"),
        message.pointer("/properties/session_id"),
        message.get("anonymousId"),
        message.get("userId"),
    ]
    .into_iter()
    .find_map(id_text)
    .filter(|id| check_identifier(id, MAX_NAME_CHARS).is_ok())
}

fn map_object(
    message: &Value,
    route_type: Option<MessageType>,
    batch: &BatchDefaults<'_>,
    received_at: Micros,
) -> Result<Mapped, Box<Rejection>> {
    let Some(message) = message.as_object() else {
        return Err(refuse(
            RejectCode::InvalidEvent,
            "a message must be a JSON object".into(),
            "",
        ));
    };
    let kind = match route_type {
        Some(kind) => kind,
        None => message_type(message)?,
    };
    let user_id = id_field(message, "userId")?;
    let anonymous_id = id_field(message, "anonymousId")?;
    let mut context = merged_context(message, batch.context)?;
    let properties = object_field(message, "properties")?;
    let session_id = context
        .as_ref()
        .and_then(|context| id_text(context.get("sessionId")))
        .or_else(|| properties.and_then(|p| id_text(p.get("session_id"))))
        .or_else(|| anonymous_id.clone())
        .or_else(|| user_id.clone())
        .ok_or_else(|| {
            refuse(
                RejectCode::MissingField,
                "a message needs `anonymousId` or `userId` (or `context.sessionId`, `properties.session_id`) for its session".into(),
                "/anonymousId",
            )
        })?;
    let (category, name, data) = match kind {
        MessageType::Track => {
            let name = required_text(message, "event")?;
            let mut data = properties.cloned().unwrap_or_default();
            let category = match data.get("category") {
                Some(Value::String(_)) => match data.remove("category") {
                    Some(Value::String(category)) => category,
                    _ => unreachable!("the category was just read as a string"),
                },
                _ => "track".to_owned(),
            };
            (category, name, data)
        }
        MessageType::Page | MessageType::Screen => {
            let word = kind.as_str().to_owned();
            let name = optional_text(message, "name")?.unwrap_or_else(|| word.clone());
            (word, name, properties.cloned().unwrap_or_default())
        }
        MessageType::Identify => {
            let data = traits(message, context.as_mut())?;
            (kind.as_str().into(), kind.as_str().into(), data)
        }
        MessageType::Group => {
            let mut data = traits(message, context.as_mut())?;
            let group_id = id_field(message, "groupId")?.ok_or_else(|| {
                refuse(
                    RejectCode::MissingField,
                    "a group message needs `groupId`".into(),
                    "/groupId",
                )
            })?;
            data.insert("groupId".into(), Value::String(group_id));
            (kind.as_str().into(), kind.as_str().into(), data)
        }
        MessageType::Alias => {
            let previous = id_field(message, "previousId")?.ok_or_else(|| {
                refuse(
                    RejectCode::MissingField,
                    "an alias message needs `previousId`".into(),
                    "/previousId",
                )
            })?;
            let mut data = Map::new();
            data.insert("previous_id".into(), Value::String(previous));
            (kind.as_str().into(), kind.as_str().into(), data)
        }
    };
    let (timestamp, clock_offset) = timestamp(message, batch, received_at)?;
    let mut event = json!({
        "session_id": session_id,
        "category": category,
        "name": name,
        "data": data,
        "timestamp": timestamp,
    });
    let fields = event.as_object_mut().expect("an object literal");
    if let Some(event_id) = event_id(message)? {
        fields.insert("event_id".into(), Value::String(event_id));
    }
    if let Some(user_id) = user_id {
        fields.insert("user_id".into(), Value::String(user_id));
    }
    if let Some(context) = context {
        fields.insert("context".into(), Value::Object(context));
    }
    Ok(Mapped {
        event,
        clock_offset,
    })
}

fn message_type(message: &Map<String, Value>) -> Result<MessageType, Box<Rejection>> {
    match message.get("type") {
        None | Some(Value::Null) => Err(refuse(
            RejectCode::MissingField,
            "`type` is required: track, page, screen, identify, group or alias".into(),
            "/type",
        )),
        Some(Value::String(text)) => MessageType::parse(text).ok_or_else(|| {
            refuse(
                RejectCode::InvalidField,
                format!(
                    "unknown `type` {:?}: use track, page, screen, identify, group or alias",
                    truncated(text)
                ),
                "/type",
            )
        }),
        Some(_) => Err(refuse(
            RejectCode::InvalidField,
            "`type` must be a string: track, page, screen, identify, group or alias".into(),
            "/type",
        )),
    }
}

/// `messageId` as the event's `event_id`: as it is when it is a valid event id, else (too
/// long, or with control characters) the hex SHA-256 of it, so that a retry of the same
/// message still finds the event already stored.
fn event_id(message: &Map<String, Value>) -> Result<Option<String>, Box<Rejection>> {
    match message.get("messageId") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) if id.is_empty() => Ok(None),
        Some(Value::String(id)) => Ok(Some(if check_identifier(id, MAX_EVENT_ID_CHARS).is_ok() {
            id.clone()
        } else {
            message_id_digest(id)
        })),
        Some(_) => Err(refuse(
            RejectCode::InvalidField,
            "`messageId` must be a string".into(),
            "/messageId",
        )),
    }
}

/// The event id of a `messageId` too long (or too strange) to be one: 64 hex characters.
pub fn message_id_digest(message_id: &str) -> String {
    let digest = Sha256::digest(message_id.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// An id field (`userId`, `anonymousId`, `groupId`, `previousId`): a string, or a number
/// as its decimal text; absent, null or "" is none.
fn id_field(message: &Map<String, Value>, field: &str) -> Result<Option<String>, Box<Rejection>> {
    match message.get(field) {
        None | Some(Value::Null) => Ok(None),
        value @ Some(Value::String(_) | Value::Number(_)) => Ok(id_text(value)),
        Some(_) => Err(refuse(
            RejectCode::InvalidField,
            format!("`{field}` must be a string or a number"),
            &format!("/{field}"),
        )),
    }
}

fn id_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn object_field<'a>(
    message: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a Map<String, Value>>, Box<Rejection>> {
    match message.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(object)) => Ok(Some(object)),
        Some(_) => Err(refuse(
            RejectCode::InvalidField,
            format!("`{field}` must be a JSON object"),
            &format!("/{field}"),
        )),
    }
}

/// The message's `context` over the batch's.
fn merged_context(
    message: &Map<String, Value>,
    batch: Option<&Map<String, Value>>,
) -> Result<Option<Map<String, Value>>, Box<Rejection>> {
    let own = object_field(message, "context")?;
    Ok(match (batch, own) {
        (None, None) => None,
        (Some(context), None) | (None, Some(context)) => Some(context.clone()),
        (Some(batch), Some(own)) => {
            let mut merged = batch.clone();
            merged.extend(own.iter().map(|(key, value)| (key.clone(), value.clone())));
            Some(merged)
        }
    })
}

/// `traits`, or, where an SDK puts them, `context.traits`, which then leave the context:
/// they are the event's `data`, which the type's PII rules protect, and `context` is not.
fn traits(
    message: &Map<String, Value>,
    context: Option<&mut Map<String, Value>>,
) -> Result<Map<String, Value>, Box<Rejection>> {
    if let Some(traits) = object_field(message, "traits")? {
        return Ok(traits.clone());
    }
    let Some(context) = context else {
        return Ok(Map::new());
    };
    match context.remove("traits") {
        Some(Value::Object(traits)) => Ok(traits),
        Some(other) => {
            context.insert("traits".into(), other);
            Ok(Map::new())
        }
        None => Ok(Map::new()),
    }
}

fn required_text(message: &Map<String, Value>, field: &str) -> Result<String, Box<Rejection>> {
    optional_text(message, field)?.ok_or_else(|| {
        refuse(
            RejectCode::MissingField,
            format!("`{field}` is required"),
            &format!("/{field}"),
        )
    })
}

fn optional_text(
    message: &Map<String, Value>,
    field: &str,
) -> Result<Option<String>, Box<Rejection>> {
    match message.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(refuse(
            RejectCode::InvalidField,
            format!("`{field}` must be a string"),
            &format!("/{field}"),
        )),
    }
}

/// The event's timestamp as the client sent it (`timestamp`, else `originalTimestamp`; the
/// receive time when it sent neither), and the clock offset to correct it by.
fn timestamp(
    message: &Map<String, Value>,
    batch: &BatchDefaults<'_>,
    received_at: Micros,
) -> Result<(String, Micros), Box<Rejection>> {
    let field = ["timestamp", "originalTimestamp"]
        .into_iter()
        .find(|field| !matches!(message.get(*field), None | Some(Value::Null)));
    let Some(field) = field else {
        return Ok((format_micros(received_at), 0));
    };
    let Some(Value::String(text)) = message.get(field) else {
        return Err(refuse(
            RejectCode::InvalidField,
            format!("`{field}` must be an ISO 8601 string such as \"2021-01-01T09:15:27.243Z\""),
            &format!("/{field}"),
        ));
    };
    let sent_at = match message.get("sentAt") {
        None | Some(Value::Null) => batch.sent_at.map(|value| (value, "/sentAt")),
        Some(value) => Some((value, "/sentAt")),
    };
    let Some((sent_at, path)) = sent_at.filter(|(value, _)| !value.is_null()) else {
        return Ok((text.clone(), 0));
    };
    let sent_at = sent_at.as_str().and_then(parse_timestamp).ok_or_else(|| {
        refuse(
            RejectCode::InvalidField,
            "`sentAt` must be when the message was sent, as an ISO 8601 string such as \"2021-01-01T09:15:27.243Z\"".into(),
            path,
        )
    })?;
    Ok((text.clone(), received_at.saturating_sub(sent_at)))
}

/// At most 64 characters of a value quoted back in a message.
fn truncated(text: &str) -> &str {
    text.char_indices()
        .nth(64)
        .map_or(text, |(end, _)| &text[..end])
}

fn refuse(code: RejectCode, message: String, path: &str) -> Box<Rejection> {
    Box::new(Rejection {
        code,
        message,
        path: Some(path.to_owned()).filter(|path| !path.is_empty()),
        category: None,
        name: None,
        session_id: None,
        schema_version: None,
        protected_raw: None,
    })
}

#[cfg(test)]
mod tests;
