//! Wire types of The Eye's HTTP API: what clients send and what the server answers.
//!
//! This crate holds data shapes only (serde, no I/O), so that the server and every client
//! agree on the JSON by construction. Timestamps travel as RFC 3339 strings.

mod admin;
mod errors;
mod events;
mod ingest;
mod lifecycle;
#[cfg(feature = "openapi")]
pub mod schema;
mod stats;

pub use admin::{CreateKeyRequest, CreatedKey, KeyInfo, KeyList, SchemaInfo, SchemaList};
pub use errors::{
    ErrorBody, ErrorPage, ErrorRecord, ErrorSummary, EventTypeCount, ProblemDetail, ReplayRequest,
    ReplayResponse, ReplayTypeCount, SegmentErrorBody,
};
pub use events::{Event, EventPage, SessionPage, StoredEvent};
pub use ingest::{EventError, EventResult, IngestResponse, SegmentResponse};
pub use lifecycle::{ErasureInfo, ErasureList, ErasureRequest, Retention, Usage};
pub use stats::{EventStats, SessionInfo, SessionList, StatsKey, StatsPoint, StatsSeries};
