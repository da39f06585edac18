//! The async client: `track` into the buffer, `flush`, `close`, counters, and the query API.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use eye_types::{
    ErasureInfo, ErasureList, ErasureRequest, ErrorPage, ErrorSummary, Event, EventPage,
    IngestResponse, ReplayRequest, ReplayResponse, SessionPage, Usage,
};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::buffer::{Buffer, Tracked};
use crate::builder::{ClientBuilder, RetryNotice, Settings};
use crate::error::{ClientError, TrackError};
use crate::live::{LiveFilter, LiveStream};
use crate::query::{ErrorFilter, EventFilter};
use crate::stats::{Counters, Stats};
use crate::tracking::EventBuilder;
use crate::transport::{Answer, Transport};
use crate::worker::{self, Shared};

/// A client of one Eye server with one key. Cheap to clone; clones share the buffer.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
    sender: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl Client {
    pub fn builder(url: &str, key: &str) -> ClientBuilder {
        ClientBuilder::new(url, key)
    }

    pub(crate) fn start(settings: Settings) -> Result<Client, ClientError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            ClientError::Settings(
                "build the client inside a tokio runtime (or use BlockingClient)".into(),
            )
        })?;
        let shared = Arc::new(Shared {
            buffer: Buffer::new(settings.buffer_events),
            counters: Counters::default(),
            transport: Transport::new(&settings)?,
            wake: Notify::new(),
            resolved: Notify::new(),
            unresolved: AtomicUsize::new(0),
            flush_requested: AtomicBool::new(false),
            settings,
        });
        let sender = runtime.spawn(worker::run(Arc::clone(&shared)));
        Ok(Client {
            shared,
            sender: Arc::new(Mutex::new(Some(sender))),
        })
    }

    /// Queues an event with `timestamp` now and a fresh `event_id`, which it returns. Never
    /// waits on the network; see [`crate::OverflowPolicy`] for a full buffer.
    pub fn track(
        &self,
        session_id: impl Into<String>,
        category: impl Into<String>,
        name: impl Into<String>,
        data: Value,
    ) -> Result<String, TrackError> {
        self.event(session_id, category, name, data).track()
    }

    /// An event to complete before queuing it: `.user_id(..)`, `.context(..)`,
    /// `.timestamp(..)`, `.event_id(..)`, then `.track()`.
    pub fn event(
        &self,
        session_id: impl Into<String>,
        category: impl Into<String>,
        name: impl Into<String>,
        data: Value,
    ) -> EventBuilder<'_> {
        EventBuilder::new(self, session_id.into(), category.into(), name.into(), data)
    }

    /// Queues a whole event; an `event_id` is added when it has none. Returns the event id.
    pub fn track_event(&self, mut event: Event) -> Result<String, TrackError> {
        let event_id = event
            .event_id
            .get_or_insert_with(|| uuid::Uuid::now_v7().to_string())
            .clone();
        let json = serde_json::to_string(&event).map_err(|_| TrackError::DataNotAnObject)?;
        self.shared.unresolved.fetch_add(1, Ordering::SeqCst);
        match self.shared.buffer.push(
            Tracked {
                event_id: event_id.clone(),
                json,
            },
            &self.shared.settings,
        ) {
            Ok(batch_due) => {
                if batch_due {
                    self.shared.wake.notify_one();
                }
                Ok(event_id)
            }
            Err(error) => {
                self.shared.unresolved.fetch_sub(1, Ordering::SeqCst);
                if error == TrackError::Dropped {
                    Counters::add(&self.shared.counters.dropped, 1);
                }
                Err(error)
            }
        }
    }

    /// Sends everything buffered now and waits until every event tracked so far is
    /// accepted, rejected or failed.
    pub async fn flush(&self) {
        loop {
            let resolved = self.shared.resolved.notified();
            tokio::pin!(resolved);
            resolved.as_mut().enable();
            if self.shared.unresolved.load(Ordering::SeqCst) == 0 {
                return;
            }
            self.shared.flush_requested.store(true, Ordering::SeqCst);
            self.shared.wake.notify_one();
            resolved.await;
        }
    }

    /// Flushes, then stops the background sender; `track` fails with `Closed` afterwards.
    pub async fn close(&self) {
        self.shared.buffer.close();
        self.shared.wake.notify_one();
        self.flush().await;
        let sender = self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(sender) = sender {
            self.shared.wake.notify_one();
            let _ = sender.await;
        }
    }

    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// Events waiting in the buffer (not counting a batch being sent).
    pub fn buffered(&self) -> usize {
        self.shared.buffer.len()
    }

    /// Sends `events` now, bypassing the buffer, with the same retries (bounded in total by
    /// [`ClientBuilder::retry_for`], each announced to [`ClientBuilder::on_retry`]); the
    /// answer has a verdict per event. For tools such as `eye send`.
    pub async fn send<T: serde::Serialize>(
        &self,
        events: &[T],
    ) -> Result<IngestResponse, ClientError> {
        let body = serde_json::to_vec(events).map_err(|e| ClientError::Decode(e.to_string()))?;
        let settings = &self.shared.settings;
        let started = tokio::time::Instant::now();
        let deadline = settings.retry_for.map(|total| started + total);
        let mut attempt = 0u32;
        loop {
            let (after, problem) = match self.shared.transport.post_events(&body).await {
                Answer::Verdicts(response) => return Ok(response),
                Answer::TooLarge => {
                    return Err(ClientError::Transport("413: the batch is too large".into()));
                }
                Answer::Refused(reason) => return Err(ClientError::Transport(reason)),
                Answer::Retry { after, problem } => (after, problem),
            };
            attempt += 1;
            let mut wait = after
                .unwrap_or_else(|| worker::backoff(settings, attempt - 1))
                .min(settings.backoff_max);
            let remaining =
                deadline.map(|d| d.saturating_duration_since(tokio::time::Instant::now()));
            if attempt > settings.max_retries || remaining.is_some_and(|r| r.is_zero()) {
                return Err(ClientError::GaveUp {
                    attempts: attempt,
                    seconds: started.elapsed().as_secs_f64(),
                    last: Box::new(problem),
                });
            }
            if let Some(remaining) = remaining {
                wait = wait.min(remaining);
            }
            if let Some(callback) = &settings.on_retry {
                callback(&RetryNotice {
                    attempt,
                    wait,
                    problem: &problem,
                });
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// One page of `GET /v1/events`.
    pub async fn events(&self, filter: &EventFilter) -> Result<EventPage, ClientError> {
        self.shared
            .transport
            .get("/v1/events", &filter.pairs())
            .await
    }

    /// One page of a session's events, with its summary.
    pub async fn session(
        &self,
        session_id: &str,
        limit: Option<usize>,
        cursor: Option<&str>,
    ) -> Result<SessionPage, ClientError> {
        if matches!(session_id, "." | "..") {
            // URLs remove dot segments, percent-encoded ones too: the request would reach
            // another route. The events query takes any session id.
            return Err(ClientError::Settings(format!(
                "the session id {session_id:?} cannot travel in a URL path: query its events \
                 with the session_id filter of `events` instead"
            )));
        }
        let mut query = Vec::new();
        query.extend(limit.map(|limit| ("limit", limit.to_string())));
        query.extend(cursor.map(|cursor| ("cursor", cursor.to_owned())));
        let path = format!("/v1/sessions/{}", encode_segment(session_id));
        self.shared.transport.get(&path, &query).await
    }

    /// One page of `GET /v1/errors`.
    pub async fn errors(&self, filter: &ErrorFilter) -> Result<ErrorPage, ClientError> {
        self.shared
            .transport
            .get("/v1/errors", &filter.pairs())
            .await
    }

    /// Follows `GET /v1/events/live`: events as the server's worker stores them.
    pub async fn live(&self, filter: &LiveFilter) -> Result<LiveStream, ClientError> {
        let response = self
            .shared
            .transport
            .stream("/v1/events/live", &filter.pairs())
            .await?;
        Ok(LiveStream::new(response))
    }

    /// `POST /v1/errors/replay` (admin key): re-validates matching errors against the schemas
    /// in force and stores those that pass (with `dry_run`, only counts).
    pub async fn replay_errors(
        &self,
        request: &ReplayRequest,
    ) -> Result<ReplayResponse, ClientError> {
        self.shared
            .transport
            .post_json("/v1/errors/replay", request)
            .await
    }

    pub async fn error_summary(
        &self,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<ErrorSummary, ClientError> {
        let mut query = Vec::new();
        query.extend(from.map(|from| ("from", from.to_owned())));
        query.extend(to.map(|to| ("to", to.to_owned())));
        self.shared
            .transport
            .get("/v1/errors/summary", &query)
            .await
    }

    /// `POST /v1/erasures` (admin key): forget every event and error record of these
    /// sessions. The answer is the job, `pending`; follow it with [`Client::erasure`].
    pub async fn request_erasure(
        &self,
        request: &ErasureRequest,
    ) -> Result<ErasureInfo, ClientError> {
        self.shared
            .transport
            .post_json("/v1/erasures", request)
            .await
    }

    /// `GET /v1/erasures/{id}` (admin key): one erasure and its progress.
    pub async fn erasure(&self, id: &str) -> Result<ErasureInfo, ClientError> {
        let path = format!("/v1/erasures/{}", encode_segment(id));
        self.shared.transport.get(&path, &[]).await
    }

    /// `GET /v1/erasures` (admin key): the most recent erasures, newest first.
    pub async fn erasures(&self, limit: Option<usize>) -> Result<ErasureList, ClientError> {
        let query: Vec<(&str, String)> = limit
            .map(|limit| ("limit", limit.to_string()))
            .into_iter()
            .collect();
        self.shared.transport.get("/v1/erasures", &query).await
    }

    /// `GET /v1/usage` (admin key): what the store and queue hold, and the retention in force.
    pub async fn usage(&self) -> Result<Usage, ClientError> {
        self.shared.transport.get("/v1/usage", &[]).await
    }

    /// For the queries written in other modules (`aggregates`).
    pub(crate) fn transport(&self) -> &Transport {
        &self.shared.transport
    }
}

/// Now, as RFC 3339 in UTC.
pub(crate) fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// Percent-encodes one path segment.
fn encode_segment(segment: &str) -> String {
    let mut encoded = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::encode_segment;

    #[test]
    fn a_segment_is_encoded_whole() {
        assert_eq!(encode_segment("a b/c.d"), "a%20b%2Fc.d");
    }
}
