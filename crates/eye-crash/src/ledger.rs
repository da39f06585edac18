//! What the clients sent and what they were told, event by event: the truth the stored data
//! is checked against.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Value, json};

/// What the server said about one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 202 with an `accepted` verdict: it must be stored exactly once, intact.
    Accepted,
    /// A `rejected` verdict: it must be in the error store, and never stored as an event.
    Rejected,
    /// The request failed or timed out: stored once or not at all.
    Failed,
}

#[derive(Clone)]
pub struct Sent {
    pub cycle: usize,
    pub event: Value,
    pub answer: Answer,
}

#[derive(Default)]
pub struct Ledger {
    events: Mutex<HashMap<String, Sent>>,
}

impl Ledger {
    pub fn record(&self, cycle: usize, event: Value, answer: Answer) {
        let id = event["event_id"].as_str().unwrap_or_default().to_owned();
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        events.insert(
            id,
            Sent {
                cycle,
                event,
                answer,
            },
        );
    }

    /// Runs `f` over every sent event.
    pub fn with<T>(&self, f: impl FnOnce(&HashMap<String, Sent>) -> T) -> T {
        f(&self.events.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The `sequence`-th event of a client in a cycle. About one in ten is invalid (no
/// `session_id`), so rejections are exercised too; the payload is random so a corrupted
/// or mixed-up row cannot pass the comparison.
pub fn event(cycle: usize, client: usize, sequence: u64, rng: &mut impl rand::Rng) -> Value {
    let event_id = format!("k{cycle}-{client}-{sequence}-{}", rng.random::<u32>());
    let payload: String = (0..rng.random_range(8..64))
        .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
        .collect();
    let mut event = json!({
        "session_id": format!("crash-{cycle}-{client}-{}", sequence / 10),
        "category": "page interaction",
        "name": "pageview",
        "timestamp": "2021-01-01 09:15:27.243860",
        "event_id": event_id,
        "data": {"host": "crash.example", "path": "/", "payload": payload, "n": sequence},
    });
    if rng.random_range(0..10) == 0
        && let Some(object) = event.as_object_mut()
    {
        object.remove("session_id");
    }
    event
}
