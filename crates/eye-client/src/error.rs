//! What can go wrong: tracking refused locally, or a request the server or network failed.

use std::fmt;

use eye_types::ProblemDetail;

/// `track` could not take the event.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TrackError {
    #[error("the buffer is full: the event was dropped")]
    Dropped,
    #[error("the client is closed")]
    Closed,
    #[error("`data` must be a JSON object")]
    DataNotAnObject,
    #[error("`context` must be a JSON object")]
    ContextNotAnObject,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error body (`{"error": {"code", "message"}}`).
    #[error("{status}: {} ({})", .problem.message, .problem.code)]
    Api { status: u16, problem: ProblemDetail },
    /// The server could not be reached, or did not answer in time.
    #[error("{0}")]
    Network(NetworkError),
    /// Retries ran out; the last problem is kept.
    #[error("gave up after {attempts} attempt{} in {seconds:.1} s: {last}", if *.attempts == 1 { "" } else { "s" })]
    GaveUp {
        attempts: u32,
        seconds: f64,
        last: Box<ClientError>,
    },
    #[error("request failed: {0}")]
    Transport(String),
    #[error("unexpected answer: {0}")]
    Decode(String),
    #[error("invalid client settings: {0}")]
    Settings(String),
}

impl ClientError {
    /// The network problem behind this error, after retries too.
    pub fn network(&self) -> Option<&NetworkError> {
        match self {
            ClientError::Network(problem) => Some(problem),
            ClientError::GaveUp { last, .. } => last.network(),
            _ => None,
        }
    }
}

/// A request that got no HTTP answer: names the server's base URL (never the key).
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkError {
    pub url: String,
    pub kind: NetworkErrorKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NetworkErrorKind {
    /// Nothing listens at that address and port.
    ConnectionRefused,
    /// The host name does not resolve.
    HostNotFound,
    /// No connection, or no answer, within the timeout.
    TimedOut,
    /// Anything else, with the innermost cause.
    Other(String),
}

impl fmt::Display for NetworkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = &self.url;
        match &self.kind {
            NetworkErrorKind::ConnectionRefused => write!(f, "connection refused at {url}"),
            NetworkErrorKind::HostNotFound => write!(f, "the host of {url} does not resolve"),
            NetworkErrorKind::TimedOut => write!(f, "no answer from {url} in time"),
            NetworkErrorKind::Other(cause) => write!(f, "cannot reach {url}: {cause}"),
        }
    }
}

impl NetworkError {
    /// Classifies a failed request by walking its chain of causes.
    pub(crate) fn from_reqwest(url: &str, error: &reqwest::Error) -> NetworkError {
        let kind = if error.is_timeout() {
            NetworkErrorKind::TimedOut
        } else {
            kind_of(error)
        };
        NetworkError {
            url: url.to_owned(),
            kind,
        }
    }
}

fn kind_of(error: &(dyn std::error::Error + 'static)) -> NetworkErrorKind {
    let mut innermost = error.to_string();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    return NetworkErrorKind::ConnectionRefused;
                }
                std::io::ErrorKind::TimedOut => return NetworkErrorKind::TimedOut,
                _ => {}
            }
        }
        let text = current.to_string();
        // hyper-util's resolver error reads "dns error: ..."; its type is private.
        if text.starts_with("dns error") || text.contains("failed to lookup address") {
            return NetworkErrorKind::HostNotFound;
        }
        innermost = text;
        cause = current.source();
    }
    NetworkErrorKind::Other(innermost)
}
