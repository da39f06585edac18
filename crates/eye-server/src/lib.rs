//! The Eye as a library: everything `eye serve` runs, buildable and testable in-process.
//!
//! The folders follow the data: [`http`] answers requests; [`ingest`] parses and validates
//! what arrives; [`queue`] keeps it durable; [`pipeline`] moves it into the [`store`] (and
//! replays failed events, and feeds the live view); the query routes of [`http`] read it
//! back. Across them: [`model`] (the records, ids, timestamps, scopes), [`auth`] (key secrets
//! and their cache), [`ops`] (metrics and alerts), [`config`], and [`app`], which builds the
//! whole from a configuration ([`backends`] picks the store and queue).

pub mod app;
pub mod auth;
pub mod backends;
pub mod config;
pub mod http;
pub mod ingest;
pub mod model;
pub mod ops;
pub mod pipeline;
pub mod queue;
pub mod store;

#[cfg(test)]
mod testing;

pub use app::Application;
pub use config::Config;
