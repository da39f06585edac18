//! The answer to `POST /v1/events`: one verdict per event.

use serde::{Deserialize, Serialize};

/// Body of a 202 (at least one event accepted) or 422 (every event rejected).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IngestResponse {
    pub accepted: usize,
    pub rejected: usize,
    /// One entry per event of the request, in request order.
    pub results: Vec<EventResult>,
}

/// The verdict on one event, by its position in the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum EventResult {
    Accepted { index: usize, id: String },
    Rejected { index: usize, error: EventError },
}

impl EventResult {
    pub fn index(&self) -> usize {
        match self {
            EventResult::Accepted { index, .. } | EventResult::Rejected { index, .. } => *index,
        }
    }
}

/// Why one event was rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventError {
    /// Stable machine code, e.g. `schema_violation`, `timestamp_in_future`.
    pub code: String,
    pub message: String,
    /// JSON pointer to the offending value inside the event (`/data/element`), when there is one.
    pub path: Option<String>,
}

/// The answer of the Segment-compatible routes (`POST /v1/batch`, `/v1/track`...) to a body
/// they understood: always 200, since the SDKs retry anything else; each message's verdict
/// is in `results`, as for `POST /v1/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SegmentResponse {
    /// Always `true`: the body was understood (which is what Segment's SDKs check).
    pub success: bool,
    pub accepted: usize,
    pub rejected: usize,
    /// One entry per message, in request order.
    pub results: Vec<EventResult>,
}
