//! The live feed: events as the worker stores them, fanned out in-process to subscribers
//! (`GET /v1/events/live`, the console's Live page, `eye tail`). A slow subscriber misses
//! events rather than slowing the worker.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::model::EventRecord;

/// Events buffered per subscriber before the slowest one starts missing some.
const CAPACITY: usize = 4096;

#[derive(Clone)]
pub struct LiveFeed {
    sender: broadcast::Sender<Arc<EventRecord>>,
}

impl Default for LiveFeed {
    fn default() -> Self {
        LiveFeed {
            sender: broadcast::channel(CAPACITY).0,
        }
    }
}

impl LiveFeed {
    pub fn publish(&self, event: EventRecord) {
        // No subscriber is not an error: the feed is best effort by design.
        let _ = self.sender.send(Arc::new(event));
    }

    /// Whether anyone is listening: publishing costs a clone per event, skipped when not.
    pub fn has_subscribers(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<EventRecord>> {
        self.sender.subscribe()
    }
}
