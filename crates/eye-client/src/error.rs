//! What can go wrong: tracking refused locally, or a request the server or network failed.

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
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error body (`{"error": {"code", "message"}}`).
    #[error("{status}: {} ({})", .problem.message, .problem.code)]
    Api { status: u16, problem: ProblemDetail },
    #[error("request failed: {0}")]
    Transport(String),
    #[error("unexpected answer: {0}")]
    Decode(String),
    #[error("invalid client settings: {0}")]
    Settings(String),
}
