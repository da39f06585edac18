//! Events as applications send them and as the query API returns them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An event as an application sends it to `POST /v1/events`. Any other field is refused
/// (`unknown_field`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Event {
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::Identifier))]
    pub session_id: String,
    /// With `name`, the event type.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::Identifier))]
    pub category: String,
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::Identifier))]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::EventData))]
    pub data: Map<String, Value>,
    /// RFC 3339, or the naive forms `2021-01-01 09:15:27.243860` / `2021-01-01T09:15:27`
    /// (UTC); not later than the receive time plus `future_tolerance_secs` (60).
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::Timestamp))]
    pub timestamp: String,
    /// The client's idempotency key: two events of one application with the same
    /// `event_id` are stored once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::EventId>))]
    pub event_id: Option<String>,
    /// The user the application knows, when it knows one (Segment's `userId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::UserId>))]
    pub user_id: Option<String>,
    /// Where and how the event was sent: page, user agent, library, locale... At most
    /// 8 KiB serialized. No schema judges it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::EventContext>))]
    pub context: Option<Map<String, Value>>,
}

/// An event as stored, returned by `GET /v1/events` and `GET /v1/sessions/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredEvent {
    pub id: String,
    pub app: String,
    pub session_id: String,
    pub category: String,
    pub name: String,
    pub data: Value,
    /// When it happened, RFC 3339 in UTC with microseconds.
    pub timestamp: String,
    /// When The Eye received it, RFC 3339 in UTC with microseconds.
    pub received_at: String,
    pub event_id: Option<String>,
    /// Version of the schema that judged the event, when its type has one.
    pub schema_version: Option<i64>,
    /// The user the application knows, if it sent one.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The event's `context` object, if it had one.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub context: Option<Value>,
    /// The timestamp as the client sent it. It differs from `timestamp` when the request
    /// said when it was sent (`sent_at`) and The Eye corrected the client's clock.
    #[serde(default)]
    pub original_timestamp: Option<String>,
}

/// One page of `GET /v1/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventPage {
    pub events: Vec<StoredEvent>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /v1/sessions/{session_id}`: the session's summary and one page of its events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionPage {
    pub session_id: String,
    pub first_timestamp: String,
    pub last_timestamp: String,
    pub event_count: u64,
    /// Applications that sent events for this session, sorted by name.
    pub apps: Vec<String>,
    pub events: Vec<StoredEvent>,
    pub next_cursor: Option<String>,
}
