//! Error bodies of the API, and the error store as the query API returns it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Every error answer that is not a per-event verdict: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ProblemDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProblemDetail {
    pub code: String,
    pub message: String,
}

/// One record of the error store: a rejected event or a refused request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// The input as received, truncated to the server's `max_raw_error_bytes`.
    pub raw: String,
}

/// One page of `GET /v1/errors`, newest first by default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorPage {
    pub errors: Vec<ErrorRecord>,
    pub next_cursor: Option<String>,
}

/// `GET /v1/errors/summary`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorSummary {
    pub by_code: BTreeMap<String, u64>,
    pub by_event_type: Vec<EventTypeCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventTypeCount {
    pub category: String,
    pub name: String,
    pub count: u64,
}
