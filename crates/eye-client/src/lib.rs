//! Rust client for The Eye.
//!
//! [`Client::track`] never waits on the network: events go to a bounded in-memory buffer and
//! a background task sends them in batches (gzip-compressed above a size), retrying network
//! errors, 5xx, 408 and 429 with exponential backoff and jitter (honouring `Retry-After`).
//! Every event gets an `event_id` (UUIDv7) when tracked, so retries never store it twice.
//! Every request carries `sent_at`, the client's clock when it leaves (each retry anew), so
//! the server corrects event timestamps for a client clock that is off.
//! Events the server rejects are reported to an optional callback, never retried.
//!
//! ```no_run
//! use eye_client::Client;
//! use serde_json::json;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::builder("http://127.0.0.1:8000", "eye_...").build()?;
//! client.track("session-1", "page interaction", "pageview", json!({"host": "example.com", "path": "/"}))?;
//! // With the user the application knows, and where the event happened:
//! client
//!     .event("session-1", "page interaction", "pageview", json!({"host": "example.com", "path": "/"}))
//!     .user_id("user-42")
//!     .context(json!({"page": {"url": "https://example.com/"}}))
//!     .track()?;
//! client.flush().await; // waits until everything tracked so far is accepted, rejected or failed
//! println!("{:?}", client.stats());
//! client.close().await;
//! # Ok(())
//! # }
//! ```
//!
//! Non-async programs use [`BlockingClient`]. The query API ([`Client::events`],
//! [`Client::session`], [`Client::errors`], [`Client::event_stats`], [`Client::sessions`])
//! is here too.

mod aggregates;
mod blocking;
mod buffer;
mod builder;
mod client;
mod error;
mod export;
mod live;
mod query;
mod stats;
mod tracking;
mod transport;
mod worker;

pub use aggregates::{SessionListQuery, StatsQuery};
pub use blocking::BlockingClient;
pub use builder::{ClientBuilder, OverflowPolicy, RetryNotice, check_url};
pub use client::Client;
pub use error::{ClientError, NetworkError, NetworkErrorKind, TrackError};
pub use export::{ExportFormat, ExportStream};
pub use eye_types::{
    ErasureInfo, ErasureList, ErasureRequest, Event, EventError, EventStats, IngestResponse,
    ReplayRequest, ReplayResponse, Retention, SessionInfo, SessionList, StatsKey, StatsPoint,
    StatsSeries, Usage,
};
pub use live::{LiveFilter, LiveStream};
pub use query::{ErrorFilter, EventFilter};
pub use stats::Stats;
pub use tracking::EventBuilder;
pub use worker::Rejected;
