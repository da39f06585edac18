//! Behind the queue: the worker that moves messages into the store, the replay of failed
//! events, the in-process feed of what was just stored, and what removes data: the retention
//! sweep and erasures (with the sessions they suppress at ingest).

pub mod erasure;
pub mod live;
pub mod replay;
pub mod retention;
pub mod suppressions;
pub mod worker;
