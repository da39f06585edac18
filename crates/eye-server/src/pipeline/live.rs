//! The live feed: events as the worker stores them, fanned out in-process to subscribers
//! (`GET /v1/events/live`, the console's Live page, `eye tail`). A slow subscriber misses
//! events rather than slowing the worker.

use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::model::EventRecord;
use crate::model::timestamp::{Micros, now_micros};
use crate::store::ErasureRequest;

/// Events buffered per subscriber before the slowest one starts missing some.
const CAPACITY: usize = 4096;
/// How long an erasure is remembered here: far longer than an event stays buffered.
pub const FORGET_FOR: Micros = 3_600_000_000;

#[derive(Clone)]
pub struct LiveFeed {
    sender: broadcast::Sender<Arc<EventRecord>>,
    /// Recently finished erasures: events of their sessions received before they finished
    /// may still sit in a subscriber's buffer, and are not sent.
    forgotten: Arc<Mutex<Vec<Forgotten>>>,
    /// Cancelled when the server begins to shut down: subscribers' streams end then, so an
    /// open console page does not hold the shutdown until the drain deadline.
    closing: tokio_util::sync::CancellationToken,
}

struct Forgotten {
    id: String,
    session_ids: Vec<String>,
    app: Option<String>,
    completed_at: Micros,
}

impl Default for LiveFeed {
    fn default() -> Self {
        LiveFeed {
            sender: broadcast::channel(CAPACITY).0,
            forgotten: Arc::default(),
            closing: tokio_util::sync::CancellationToken::new(),
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

    /// Withholds from subscribers any buffered event of the erasure's sessions received
    /// before `completed_at`.
    /// Called on every node for each erasure finished lately (by whichever node ran it), so
    /// an erasure is remembered once, by `id`.
    pub fn forget(&self, id: &str, erasure: &ErasureRequest, completed_at: Micros) {
        let mut forgotten = self.forgotten.lock().unwrap_or_else(|p| p.into_inner());
        let now = now_micros();
        forgotten.retain(|f| f.completed_at > now - FORGET_FOR);
        if forgotten.iter().any(|f| f.id == id) || completed_at <= now - FORGET_FOR {
            return;
        }
        forgotten.push(Forgotten {
            id: id.to_owned(),
            session_ids: erasure.session_ids.clone(),
            app: erasure.app.clone(),
            completed_at,
        });
    }

    /// Whether a finished erasure covers `event`.
    pub fn is_forgotten(&self, event: &EventRecord) -> bool {
        let forgotten = self.forgotten.lock().unwrap_or_else(|p| p.into_inner());
        forgotten.iter().any(|f| {
            event.received_at <= f.completed_at
                && f.app.as_ref().is_none_or(|app| *app == event.app)
                && f.session_ids.contains(&event.session_id)
        })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<EventRecord>> {
        self.sender.subscribe()
    }

    /// Ends every subscriber's stream (shutdown has begun).
    pub fn close(&self) {
        self.closing.cancel();
    }

    /// Resolves once [`close`](Self::close) has been called.
    pub async fn closed(&self) {
        self.closing.cancelled().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(app: &str, session_id: &str, received_at: Micros) -> EventRecord {
        EventRecord {
            id: uuid::Uuid::nil(),
            app: app.into(),
            session_id: session_id.into(),
            category: "c".into(),
            name: "n".into(),
            data: "{}".into(),
            timestamp: received_at,
            received_at,
            event_id: None,
            schema_version: None,
            user_id: None,
            context: None,
            original_timestamp: None,
        }
    }

    #[test]
    fn buffered_events_of_an_erased_session_are_withheld() {
        let feed = LiveFeed::default();
        let done = now_micros();
        assert!(!feed.is_forgotten(&event("shop", "s1", done - 1)));
        feed.forget(
            "era_1",
            &ErasureRequest {
                session_ids: vec!["s1".into()],
                app: Some("shop".into()),
                suppress: false,
                requested_by: "key_1".into(),
            },
            done,
        );
        assert!(
            feed.is_forgotten(&event("shop", "s1", done - 1)),
            "received before: withheld"
        );
        assert!(
            !feed.is_forgotten(&event("shop", "s1", done + 1)),
            "received after: shown"
        );
        assert!(
            !feed.is_forgotten(&event("blog", "s1", done - 1)),
            "another application's"
        );
        assert!(
            !feed.is_forgotten(&event("shop", "s2", done - 1)),
            "another session"
        );
    }
}
