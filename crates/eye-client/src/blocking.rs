//! A blocking wrapper for programs without an async runtime: it owns a small one.

use eye_types::{ErrorPage, Event, EventPage, EventStats, SessionInfo, SessionList, SessionPage};
use serde_json::Value;

use crate::aggregates::{SessionListQuery, StatsQuery};
use crate::builder::ClientBuilder;
use crate::client::Client;
use crate::error::{ClientError, TrackError};
use crate::query::{ErrorFilter, EventFilter};
use crate::stats::Stats;
use crate::tracking::EventBuilder;

/// Same behaviour as [`Client`], for synchronous code. `track` still never waits on the
/// network; `flush`, `close` and the queries block the calling thread.
pub struct BlockingClient {
    runtime: tokio::runtime::Runtime,
    client: Client,
}

impl BlockingClient {
    /// Builds the client from a configured builder, on a one-thread runtime of its own.
    pub fn new(builder: ClientBuilder) -> Result<BlockingClient, ClientError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("eye-client")
            .enable_all()
            .build()
            .map_err(|e| ClientError::Settings(e.to_string()))?;
        let client = {
            let _entered = runtime.enter();
            builder.build()?
        };
        Ok(BlockingClient { runtime, client })
    }

    pub fn track(
        &self,
        session_id: &str,
        category: &str,
        name: &str,
        data: Value,
    ) -> Result<String, TrackError> {
        self.client.track(session_id, category, name, data)
    }

    /// An event to complete (`.user_id(..)`, `.context(..)`...) before `.track()`, as
    /// [`Client::event`].
    pub fn event(
        &self,
        session_id: &str,
        category: &str,
        name: &str,
        data: Value,
    ) -> EventBuilder<'_> {
        self.client.event(session_id, category, name, data)
    }

    pub fn track_event(&self, event: Event) -> Result<String, TrackError> {
        self.client.track_event(event)
    }

    pub fn flush(&self) {
        self.runtime.block_on(self.client.flush());
    }

    /// Flushes and stops the sender.
    pub fn close(self) {
        self.runtime.block_on(self.client.close());
    }

    pub fn stats(&self) -> Stats {
        self.client.stats()
    }

    pub fn events(&self, filter: &EventFilter) -> Result<EventPage, ClientError> {
        self.runtime.block_on(self.client.events(filter))
    }

    pub fn session(&self, session_id: &str) -> Result<SessionPage, ClientError> {
        self.runtime
            .block_on(self.client.session(session_id, None, None))
    }

    pub fn errors(&self, filter: &ErrorFilter) -> Result<ErrorPage, ClientError> {
        self.runtime.block_on(self.client.errors(filter))
    }

    pub fn event_stats(&self, query: &StatsQuery) -> Result<EventStats, ClientError> {
        self.runtime.block_on(self.client.event_stats(query))
    }

    pub fn sessions(&self, query: &SessionListQuery) -> Result<SessionList, ClientError> {
        self.runtime.block_on(self.client.sessions(query))
    }

    pub fn all_sessions(&self, query: &SessionListQuery) -> Result<Vec<SessionInfo>, ClientError> {
        self.runtime.block_on(self.client.all_sessions(query))
    }
}
