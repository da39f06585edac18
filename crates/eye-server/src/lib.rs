//! The Eye as a library: everything `eye serve` runs, buildable and testable in-process.
//!
//! Data flow: HTTP ingest ([`http`]) → validation ([`validation`]) → durable queue ([`queue`])
//! → pipeline worker ([`worker`]) → indexed store ([`store`]) → HTTP query API.

pub mod config;
pub mod json;
pub mod timestamp;
pub mod validation;
