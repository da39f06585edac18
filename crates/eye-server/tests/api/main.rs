//! HTTP-level tests: each starts the real server on a random port with its own temporary
//! data directory and talks HTTP to it.

mod abuse;
mod access_log;
mod alerts;
mod auth;
mod concurrency;
mod contract;
mod docs;
mod erasures;
mod export;
mod helpers;
mod hostile;
mod ingest;
mod limits;
mod metrics;
mod pii;
mod query;
mod raw_input;
mod replay;
mod retention;
mod schemas;
mod segment;
mod shutdown;
mod stats;
mod user_context;
