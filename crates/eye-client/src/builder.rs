//! Client settings, with documented defaults.

use std::sync::Arc;
use std::time::Duration;

use crate::client::Client;
use crate::error::ClientError;
use crate::worker::Rejected;

/// What `track` does when the buffer is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverflowPolicy {
    /// Refuse the new event (counted in `dropped`); `track` never waits. The default.
    DropNewest,
    /// Wait up to this long for room, then drop. Blocks the calling thread: use it from
    /// threads of your own, not from async tasks.
    Block(Duration),
}

pub(crate) type RejectedCallback = Arc<dyn Fn(Rejected) + Send + Sync>;

#[derive(Clone)]
pub(crate) struct Settings {
    pub url: String,
    pub key: String,
    pub flush_events: usize,
    pub flush_bytes: usize,
    pub flush_interval: Duration,
    pub gzip_above_bytes: usize,
    pub buffer_events: usize,
    pub overflow: OverflowPolicy,
    pub max_retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub request_timeout: Duration,
    pub on_rejected: Option<RejectedCallback>,
}

/// Builds a [`Client`]: `Client::builder(url, key).flush_events(200).build()`.
pub struct ClientBuilder {
    settings: Settings,
}

impl ClientBuilder {
    pub(crate) fn new(url: &str, key: &str) -> ClientBuilder {
        ClientBuilder {
            settings: Settings {
                url: url.trim_end_matches('/').to_owned(),
                key: key.to_owned(),
                flush_events: 100,
                flush_bytes: 512 * 1024,
                flush_interval: Duration::from_millis(1000),
                gzip_above_bytes: 4 * 1024,
                buffer_events: 10_000,
                overflow: OverflowPolicy::DropNewest,
                max_retries: 10,
                backoff_base: Duration::from_millis(200),
                backoff_max: Duration::from_secs(30),
                request_timeout: Duration::from_secs(10),
                on_rejected: None,
            },
        }
    }

    /// Send when this many events are buffered (default 100; the server takes up to 1,000).
    pub fn flush_events(mut self, events: usize) -> Self {
        self.settings.flush_events = events.clamp(1, 1000);
        self
    }

    /// Send when the buffered events reach this many bytes of JSON (default 512 KiB).
    pub fn flush_bytes(mut self, bytes: usize) -> Self {
        self.settings.flush_bytes = bytes.max(1);
        self
    }

    /// Send at least this often while anything is buffered (default 1 s).
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.settings.flush_interval = interval;
        self
    }

    /// Gzip request bodies larger than this (default 4 KiB).
    pub fn gzip_above_bytes(mut self, bytes: usize) -> Self {
        self.settings.gzip_above_bytes = bytes;
        self
    }

    /// Most events held in memory waiting to be sent (default 10,000).
    pub fn buffer_events(mut self, events: usize) -> Self {
        self.settings.buffer_events = events.max(1);
        self
    }

    pub fn overflow(mut self, policy: OverflowPolicy) -> Self {
        self.settings.overflow = policy;
        self
    }

    /// Retries of one batch before its events count as failed (default 10).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.settings.max_retries = retries;
        self
    }

    /// First and longest backoff between retries (defaults 200 ms and 30 s); each retry
    /// waits a random time up to `base * 2^attempt`, capped.
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.settings.backoff_base = base;
        self.settings.backoff_max = max.max(base);
        self
    }

    /// Timeout of one HTTP request (default 10 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.settings.request_timeout = timeout;
        self
    }

    /// Called (from the background task) for every event the server rejects.
    pub fn on_rejected(mut self, callback: impl Fn(Rejected) + Send + Sync + 'static) -> Self {
        self.settings.on_rejected = Some(Arc::new(callback));
        self
    }

    /// Starts the background sender; must be called inside a tokio runtime.
    pub fn build(self) -> Result<Client, ClientError> {
        Client::start(self.settings)
    }
}
