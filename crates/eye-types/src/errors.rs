//! Error bodies of the API, and the error store as the query API returns it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Every error answer that is not a per-event verdict: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ProblemDetail,
}

/// An error answer of the Segment-compatible routes: The Eye's `error`, and `code` and
/// `message` at the top level too, where Segment's SDKs read them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SegmentErrorBody {
    pub code: String,
    pub message: String,
    pub error: ProblemDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProblemDetail {
    pub code: String,
    pub message: String,
}

/// One record of the error store: a rejected event or a refused request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorRecord {
    pub id: String,
    pub code: String,
    pub message: String,
    pub path: Option<String>,
    pub app: String,
    pub received_at: String,
    pub category: Option<String>,
    pub name: Option<String>,
    pub session_id: Option<String>,
    pub schema_version: Option<i64>,
    /// The input as received: a rejected event's own bytes exactly as sent (its part of the
    /// body, after gzip), or a refused body; cut to the server's `max_raw_error_bytes`, with
    /// anything shaped like an API key replaced by `eye_[redacted]`.
    pub raw: String,
    /// When a replay stored this input as an event, and that event's id.
    #[serde(default)]
    pub replayed_at: Option<String>,
    #[serde(default)]
    pub replayed_event_id: Option<String>,
}

/// One page of `GET /v1/errors`, newest first by default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorPage {
    pub errors: Vec<ErrorRecord>,
    pub next_cursor: Option<String>,
}

/// `GET /v1/errors/summary`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorSummary {
    pub by_code: BTreeMap<String, u64>,
    pub by_event_type: Vec<EventTypeCount>,
}

/// `POST /v1/errors/replay`: the filters of `GET /v1/errors`, and whether to change anything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::Identifier>))]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::Identifier>))]
    pub app: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::Identifier>))]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::Identifier>))]
    pub name: Option<String>,
    /// Receive time from (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::Timestamp>))]
    pub from: Option<String>,
    /// Receive time to (exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::Timestamp>))]
    pub to: Option<String>,
    /// Count what would happen, change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// What a replay did (or, with `dry_run`, would do) to the errors not yet replayed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplayResponse {
    pub matched: u64,
    pub passed: u64,
    pub still_failing: u64,
    pub dry_run: bool,
    pub by_event_type: Vec<ReplayTypeCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplayTypeCount {
    /// `null` for refused bodies, which have no event type.
    pub category: Option<String>,
    pub name: Option<String>,
    pub matched: u64,
    pub passed: u64,
    pub still_failing: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventTypeCount {
    pub category: String,
    pub name: String,
    pub count: u64,
}
