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
pub(crate) type RetryCallback = Arc<dyn Fn(&RetryNotice<'_>) + Send + Sync>;

/// One retry of [`Client::send`], as passed to [`ClientBuilder::on_retry`].
#[derive(Debug)]
pub struct RetryNotice<'a> {
    /// The attempt that failed, from 1.
    pub attempt: u32,
    /// How long the client waits before the next attempt.
    pub wait: Duration,
    /// Why the attempt failed.
    pub problem: &'a ClientError,
}

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
    pub connect_timeout: Duration,
    pub retry_for: Option<Duration>,
    pub on_rejected: Option<RejectedCallback>,
    pub on_retry: Option<RetryCallback>,
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
                connect_timeout: Duration::from_secs(3),
                retry_for: None,
                on_rejected: None,
                on_retry: None,
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

    /// Timeout of opening a connection (default 3 s, at most the request timeout): an
    /// unreachable host is reported within it.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// Bounds the whole time [`Client::send`] spends retrying one batch, waits included
    /// (default: no bound but `max_retries`). No attempt starts after it.
    pub fn retry_for(mut self, total: Duration) -> Self {
        self.settings.retry_for = Some(total);
        self
    }

    /// Called before every retry of [`Client::send`], with why and how long it waits.
    pub fn on_retry(mut self, callback: impl Fn(&RetryNotice<'_>) + Send + Sync + 'static) -> Self {
        self.settings.on_retry = Some(Arc::new(callback));
        self
    }

    /// Called (from the background task) for every event the server rejects.
    pub fn on_rejected(mut self, callback: impl Fn(Rejected) + Send + Sync + 'static) -> Self {
        self.settings.on_rejected = Some(Arc::new(callback));
        self
    }

    /// Starts the background sender; must be called inside a tokio runtime. Refuses a URL
    /// that is not `http://` or `https://` with a host.
    pub fn build(self) -> Result<Client, ClientError> {
        check_url(&self.settings.url)?;
        Client::start(self.settings)
    }
}

/// The base URL must be absolute HTTP(S): `127.0.0.1:8000` alone would otherwise fail on
/// every request, long after the mistake.
pub fn check_url(url: &str) -> Result<(), ClientError> {
    // A key pasted where the URL goes must not be echoed into a terminal or a log.
    let shown = if url.starts_with("eye_") {
        "the value given (it looks like an API key, not a URL)".to_owned()
    } else {
        format!("`{url}`")
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        let example = if url.starts_with("eye_") || url.is_empty() {
            "http://127.0.0.1:8000".to_owned()
        } else {
            format!("http://{url}")
        };
        return Err(ClientError::Settings(format!(
            "{shown} has no scheme: write the server's URL with http:// or https://, e.g. {example}"
        )));
    };
    if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
        return Err(ClientError::Settings(format!(
            "{shown} is not an http:// or https:// URL"
        )));
    }
    match reqwest::Url::parse(url) {
        Ok(parsed) if parsed.host_str().is_none_or(|h| h.is_empty()) || rest.is_empty() => {
            Err(ClientError::Settings(format!("{shown} names no host")))
        }
        // A path is a reverse proxy's prefix; one that reaches into the API (`/v1`,
        // `/v1/events`) is the common mistake of giving a route, which the client adds.
        Ok(parsed)
            if parsed.path().trim_end_matches('/').contains("/v1") || parsed.query().is_some() =>
        {
            Err(ClientError::Settings(format!(
                "{shown} names a route or a query: give the server's base URL, e.g. {}://{} (the client adds /v1/...)",
                parsed.scheme(),
                &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())]
            )))
        }
        Ok(_) => Ok(()),
        Err(error) => Err(ClientError::Settings(format!(
            "{shown} is not a valid URL: {error}"
        ))),
    }
}
