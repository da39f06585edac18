//! What the store keeps over time: usage and retention (`GET /v1/usage`) and erasures of
//! sessions (`/v1/erasures`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `POST /v1/erasures`: forget every event and error record of these sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ErasureRequest {
    /// 1 to 10,000 session ids.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Vec<crate::schema::Identifier>, min_items = 1, max_items = 10000)
    )]
    pub session_ids: Vec<String>,
    /// Only this application's data of those sessions; every application's when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::Identifier>))]
    pub app: Option<String>,
    /// Also answer every later event of those sessions `accepted` and drop it.
    #[serde(default)]
    pub suppress: bool,
}

/// An erasure job. The record stays; the erased data never does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErasureInfo {
    pub id: String,
    /// `pending`, `running`, `done` or `failed`.
    pub status: String,
    pub session_ids: Vec<String>,
    pub app: Option<String>,
    pub suppress: bool,
    /// The id of the key that asked.
    pub requested_by: String,
    pub requested_at: String,
    pub completed_at: Option<String>,
    pub events_deleted: u64,
    pub errors_deleted: u64,
    /// Why a `failed` erasure failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErasureList {
    /// Newest first.
    pub erasures: Vec<ErasureInfo>,
}

/// How long one application's records are kept; `null`: forever.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Retention {
    /// Events, counted from their timestamp.
    pub retention_days: Option<u32>,
    /// Error records, counted from when they were received.
    pub error_retention_days: Option<u32>,
}

/// `GET /v1/usage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Usage {
    /// Bytes on disk of the store (SQLite: the database and its log; PostgreSQL: The Eye's
    /// tables and indexes).
    pub store_bytes: u64,
    /// Bytes of the queue (the embedded log's files, or the JetStream stream); `null` on a
    /// node that does not use the queue.
    pub queue_bytes: Option<u64>,
    pub events: u64,
    pub errors: u64,
    pub oldest_event_timestamp: Option<String>,
    pub newest_event_timestamp: Option<String>,
    /// The retention of applications without an override.
    pub retention: Retention,
    /// The retention in force for each application that has keys or an override.
    pub apps: BTreeMap<String, Retention>,
}
