//! Behind the queue: the worker that moves messages into the store, the replay of failed
//! events, and the in-process feed of what was just stored.

pub mod live;
pub mod replay;
pub mod worker;
