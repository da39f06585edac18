//! The bounded buffer between `track` and the background sender.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::builder::{OverflowPolicy, Settings};
use crate::error::TrackError;

/// One event, serialized once at `track` time.
pub(crate) struct Tracked {
    pub event_id: String,
    pub json: String,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Tracked>,
    bytes: usize,
    closed: bool,
}

pub(crate) struct Buffer {
    state: Mutex<State>,
    room: Condvar,
    capacity: usize,
}

impl Buffer {
    pub fn new(capacity: usize) -> Buffer {
        Buffer {
            state: Mutex::new(State::default()),
            room: Condvar::new(),
            capacity,
        }
    }

    /// Adds an event; returns whether a batch is now due by size.
    pub fn push(&self, tracked: Tracked, settings: &Settings) -> Result<bool, TrackError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let OverflowPolicy::Block(timeout) = settings.overflow {
            let (waited, _) = self
                .room
                .wait_timeout_while(state, timeout, |s| {
                    !s.closed && s.queue.len() >= self.capacity
                })
                .unwrap_or_else(|p| p.into_inner());
            state = waited;
        }
        if state.closed {
            return Err(TrackError::Closed);
        }
        if state.queue.len() >= self.capacity {
            return Err(TrackError::Dropped);
        }
        state.bytes += tracked.json.len();
        state.queue.push_back(tracked);
        Ok(state.queue.len() >= settings.flush_events || state.bytes >= settings.flush_bytes)
    }

    /// Takes the next batch: up to `flush_events` events and about `flush_bytes` bytes.
    pub fn take_batch(&self, settings: &Settings) -> Vec<Tracked> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut batch = Vec::new();
        let mut bytes = 0;
        while batch.len() < settings.flush_events {
            let Some(next) = state.queue.front() else {
                break;
            };
            if !batch.is_empty() && bytes + next.json.len() > settings.flush_bytes {
                break;
            }
            bytes += next.json.len();
            if let Some(next) = state.queue.pop_front() {
                batch.push(next);
            }
        }
        state.bytes -= bytes.min(state.bytes);
        self.room.notify_all();
        batch
    }

    pub fn len(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .queue
            .len()
    }

    /// Whether a batch is due by size.
    pub fn full_batch_ready(&self, settings: &Settings) -> bool {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.queue.len() >= settings.flush_events || state.bytes >= settings.flush_bytes
    }

    pub fn close(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        self.room.notify_all();
    }

    pub fn is_closed(&self) -> bool {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).closed
    }
}

/// `Duration` helper: the wait until `interval` has passed since `since`.
pub(crate) fn remaining(interval: Duration, since: std::time::Instant) -> Duration {
    interval.saturating_sub(since.elapsed())
}
