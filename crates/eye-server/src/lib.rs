//! The Eye as a library: everything `eye serve` runs, buildable and testable in-process.
//!
//! Data flow: HTTP ingest ([`http`]) → validation ([`validation`]) → durable queue ([`queue`])
//! → pipeline worker ([`worker`]) → indexed store ([`store`]) → HTTP query API.

pub mod config;
pub mod ids;
pub mod json;
pub mod model;
pub mod queue;
pub mod store;
pub mod timestamp;
pub mod validation;
