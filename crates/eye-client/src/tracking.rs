//! An event with more than `track`'s four fields: the user the application knows, a
//! `context`, a timestamp or an `event_id` of the caller's. Built by [`Client::event`].

use serde_json::Value;

use crate::client::{Client, now_rfc3339};
use crate::error::TrackError;
use eye_types::Event;

/// An event being put together; [`EventBuilder::track`] queues it as [`Client::track`] does.
///
/// ```no_run
/// # fn example(client: &eye_client::Client) -> Result<(), eye_client::TrackError> {
/// use serde_json::json;
/// client
///     .event("session-1", "page interaction", "pageview", json!({"host": "example.com", "path": "/"}))
///     .user_id("user-42")
///     .context(json!({"page": {"url": "https://example.com/"}, "locale": "en-GB"}))
///     .track()?;
/// # Ok(())
/// # }
/// ```
#[must_use = "the event is queued only by `track()`"]
pub struct EventBuilder<'a> {
    client: &'a Client,
    session_id: String,
    category: String,
    name: String,
    data: Value,
    timestamp: Option<String>,
    event_id: Option<String>,
    user_id: Option<String>,
    context: Option<Value>,
}

impl<'a> EventBuilder<'a> {
    pub(crate) fn new(
        client: &'a Client,
        session_id: String,
        category: String,
        name: String,
        data: Value,
    ) -> EventBuilder<'a> {
        EventBuilder {
            client,
            session_id,
            category,
            name,
            data,
            timestamp: None,
            event_id: None,
            user_id: None,
            context: None,
        }
    }

    /// The user the application knows (1 to 128 characters): `GET /v1/events?user_id=` and
    /// `GET /v1/sessions?user_id=` find this user's events and sessions.
    pub fn user_id(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    /// Where and how the event was sent (page, user agent, library, locale...): a JSON
    /// object of at most 8 KiB serialized. No schema judges it.
    pub fn context(mut self, context: Value) -> Self {
        self.context = Some(context);
        self
    }

    /// When the event happened, in a timestamp form The Eye reads (RFC 3339, or
    /// `2021-01-01 09:15:27.243860` as UTC); now when not given.
    pub fn timestamp(mut self, timestamp: impl Into<String>) -> Self {
        self.timestamp = Some(timestamp.into());
        self
    }

    /// The application's own id of the event (a fresh UUIDv7 when not given).
    pub fn event_id(mut self, event_id: impl Into<String>) -> Self {
        self.event_id = Some(event_id.into());
        self
    }

    /// Queues the event and returns its `event_id`; never waits on the network. Fails when
    /// `data` or `context` is not a JSON object, or as [`Client::track_event`] does.
    pub fn track(self) -> Result<String, TrackError> {
        let Value::Object(data) = self.data else {
            return Err(TrackError::DataNotAnObject);
        };
        let context = match self.context {
            None => None,
            Some(Value::Object(context)) => Some(context),
            Some(_) => return Err(TrackError::ContextNotAnObject),
        };
        self.client.track_event(Event {
            session_id: self.session_id,
            category: self.category,
            name: self.name,
            data,
            timestamp: self.timestamp.unwrap_or_else(now_rfc3339),
            event_id: self.event_id,
            user_id: self.user_id,
            context,
        })
    }
}
