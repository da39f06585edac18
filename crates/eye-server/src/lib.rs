//! The Eye as a library: everything `eye serve` runs, buildable and testable in-process.
//!
//! Data flow: HTTP ingest ([`http`]) → validation ([`validation`]) → durable queue ([`queue`])
//! → pipeline worker ([`worker`]) → indexed store ([`store`]) → HTTP query API.

pub mod alerts;
pub mod app;
pub mod backends;
pub mod catalog;
pub mod config;
pub mod http;
pub mod ids;
pub mod json;
pub mod key_cache;
pub mod keys;
pub mod live;
pub mod metrics;
pub mod model;
pub mod queue;
pub mod replay;
pub mod store;
pub mod timestamp;
pub mod validation;
pub mod wal_checkpoint;
pub mod worker;

#[cfg(test)]
mod testing;

pub use app::Application;
pub use config::Config;
