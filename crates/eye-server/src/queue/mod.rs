//! The durable queue between ingest and the pipeline worker: the `Queue` seam.
//!
//! Ingest publishes and answers only once the publish is durable; the worker receives,
//! writes to the store, then acknowledges. Delivery is at least once: a message not yet
//! acknowledged when a process dies is delivered again, and the store makes that harmless.

mod jetstream;
mod log;

pub use jetstream::{JetStreamQueue, JetStreamSettings};
pub use log::LogQueue;

use std::time::Duration;

use async_trait::async_trait;

use crate::model::QueueMessage;
use crate::model::timestamp::Micros;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the queue holds {depth} messages, at its bound of {max}: the worker is behind")]
    Full { depth: u64, max: u64 },
    #[error("the queue cannot be written or read: {0}")]
    Unavailable(String),
}

/// A received message; pass its `token` to [`Queue::ack`] once its effects are stored.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub token: u64,
    pub message: QueueMessage,
}

#[async_trait]
pub trait Queue: Send + Sync + 'static {
    /// Appends `messages`; returns only once they are durable (or with an error, in which
    /// case none of them is).
    async fn publish(&self, messages: Vec<QueueMessage>) -> Result<(), QueueError>;

    /// Up to `max` messages not yet delivered to this consumer, waiting up to `wait` for the
    /// first one. An empty answer means nothing arrived in time.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError>;

    /// Removes delivered messages for good.
    async fn ack(&self, tokens: Vec<u64>) -> Result<(), QueueError>;

    /// Messages published and not yet acknowledged.
    async fn depth(&self) -> Result<u64, QueueError>;
    /// Bytes the queue holds on disk (its files, or the stream's storage).
    async fn stored_bytes(&self) -> Result<u64, QueueError>;

    /// When the oldest message not yet acknowledged (delivered or not) came in, in
    /// microseconds since the epoch; `None` when every message is acknowledged. Its age is
    /// the processing lag, whether or not a worker is taking messages.
    async fn oldest_unacknowledged(&self) -> Result<Option<Micros>, QueueError>;
}

/// When a message came in: its receive time at ingest.
pub(crate) fn received_at(message: &QueueMessage) -> Micros {
    match message {
        QueueMessage::Event(event) => event.received_at,
        QueueMessage::Error(entry) => entry.received_at,
    }
}

#[cfg(test)]
mod tests;
