//! Following `GET /v1/events/live`: server-sent events parsed into stored events.

use eye_types::StoredEvent;

use crate::error::ClientError;

/// Filters of the live stream.
#[derive(Debug, Clone, Default)]
pub struct LiveFilter {
    pub session_id: Option<String>,
    pub category: Option<String>,
    pub name: Option<String>,
    pub app: Option<String>,
}

impl LiveFilter {
    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        [
            ("session_id", &self.session_id),
            ("category", &self.category),
            ("name", &self.name),
            ("app", &self.app),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .collect()
    }
}

/// Events as the server stores them; `next` waits for the next one.
pub struct LiveStream {
    response: reqwest::Response,
    buffer: String,
}

impl LiveStream {
    pub(crate) fn new(response: reqwest::Response) -> LiveStream {
        LiveStream {
            response,
            buffer: String::new(),
        }
    }

    /// The next stored event, or `None` when the server closed the stream.
    pub async fn next(&mut self) -> Option<Result<StoredEvent, ClientError>> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse_frame(&frame) {
                    return Some(event);
                }
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(None) => return None,
                Err(error) => return Some(Err(ClientError::Transport(error.to_string()))),
            }
        }
    }
}

/// One SSE frame: `event: event` frames carry a stored event; comments and other kinds are
/// skipped.
fn parse_frame(frame: &str) -> Option<Result<StoredEvent, ClientError>> {
    let mut kind = "message";
    let mut data = String::new();
    for line in frame.lines() {
        if let Some(value) = line.strip_prefix("event:") {
            kind = value.trim();
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push_str(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    (kind == "event" && !data.is_empty())
        .then(|| serde_json::from_str(&data).map_err(|e| ClientError::Decode(e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::parse_frame;

    #[test]
    fn frames_carry_events_and_comments_are_skipped() {
        assert!(parse_frame(": keep-alive\n\n").is_none());
        assert!(parse_frame("event: lagged\ndata: 3\n\n").is_none());
        let frame = "event: event\ndata: {\"id\":\"1\",\"app\":\"a\",\"session_id\":\"s\",\"category\":\"c\",\"name\":\"n\",\"data\":{},\"timestamp\":\"t\",\"received_at\":\"r\",\"event_id\":null,\"schema_version\":null}\n\n";
        let event = parse_frame(frame).expect("an event").expect("valid");
        assert_eq!(event.session_id, "s");
    }
}
