//! HTTP to The Eye: posting batches (`{"sent_at", "events"}`, gzip above a size) and
//! classifying the answer, and the GET requests of the query API.

use std::io::Write;
use std::time::Duration;

use eye_types::{ErrorBody, IngestResponse};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use serde::de::DeserializeOwned;

use crate::builder::Settings;
use crate::error::{ClientError, NetworkError};

/// What to do after one attempt to post a batch.
pub(crate) enum Answer {
    /// 202 or 422: a verdict per event.
    Verdicts(IngestResponse),
    /// Network error, timeout, 5xx, 408 or 429: try again, after `after` when the server said.
    Retry {
        after: Option<Duration>,
        problem: ClientError,
    },
    /// 413: the batch is too big; smaller ones may pass.
    TooLarge,
    /// Any other answer: retrying cannot help.
    Refused(String),
}

pub(crate) struct Transport {
    http: reqwest::Client,
    url: String,
    authorization: String,
    gzip_above_bytes: usize,
}

impl Transport {
    pub fn new(settings: &Settings) -> Result<Transport, ClientError> {
        // reqwest is built without a default TLS crypto provider: use ring (already the
        // process default if the application installed one).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .connect_timeout(settings.connect_timeout.min(settings.request_timeout))
            .user_agent(concat!("eye-client-rust/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Settings(e.to_string()))?;
        Ok(Transport {
            http,
            url: settings.url.clone(),
            authorization: format!("Bearer {}", settings.key),
            gzip_above_bytes: settings.gzip_above_bytes,
        })
    }

    /// Posts `events` (a JSON array) as one attempt, stamped with this attempt's `sent_at`.
    pub async fn post_events(&self, events: &[u8]) -> Answer {
        let body = batch_body(events, &crate::client::now_rfc3339());
        let mut request = self
            .http
            .post(format!("{}/v1/events", self.url))
            .header(AUTHORIZATION, &self.authorization)
            .header(CONTENT_TYPE, "application/json");
        let body = if body.len() > self.gzip_above_bytes {
            match gzip(&body) {
                Ok(compressed) => {
                    request = request.header(CONTENT_ENCODING, "gzip");
                    compressed
                }
                Err(_) => body,
            }
        } else {
            body
        };
        let response = match request.body(body).send().await {
            Ok(response) => response,
            Err(error) => {
                return Answer::Retry {
                    after: None,
                    problem: self.network_error(&error),
                };
            }
        };
        let status = response.status();
        let after = retry_after(&response);
        match status {
            StatusCode::ACCEPTED | StatusCode::UNPROCESSABLE_ENTITY => {
                match response.json::<IngestResponse>().await {
                    Ok(verdicts) => Answer::Verdicts(verdicts),
                    Err(error) => Answer::Retry {
                        after: None,
                        problem: ClientError::Decode(format!("unreadable answer: {error}")),
                    },
                }
            }
            StatusCode::PAYLOAD_TOO_LARGE => Answer::TooLarge,
            StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => Answer::Retry {
                after,
                problem: ClientError::Transport(describe(status, response).await),
            },
            status if status.is_server_error() => Answer::Retry {
                after,
                problem: ClientError::Transport(describe(status, response).await),
            },
            status => Answer::Refused(describe(status, response).await),
        }
    }

    /// One request of the query API; errors keep the server's code and message.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ClientError> {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .header(AUTHORIZATION, &self.authorization)
            .query(query)
            .send()
            .await
            .map_err(|e| self.network_error(&e))?;
        decode(response).await
    }
}

impl Transport {
    /// A request that got no answer, named by the base URL (never the key).
    fn network_error(&self, error: &reqwest::Error) -> ClientError {
        ClientError::Network(NetworkError::from_reqwest(&self.url, error))
    }

    /// Opens a long-lived GET (server-sent events): no overall timeout.
    pub async fn stream(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<reqwest::Response, ClientError> {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .header(AUTHORIZATION, &self.authorization)
            .query(query)
            .timeout(Duration::from_secs(365 * 24 * 3600))
            .send()
            .await
            .map_err(|e| self.network_error(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        Err(api_error(status, &bytes))
    }

    /// A JSON POST of the admin API; errors keep the server's code and message.
    pub async fn post_json<B: serde::Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .header(AUTHORIZATION, &self.authorization)
            .json(body)
            .send()
            .await
            .map_err(|e| self.network_error(&e))?;
        decode(response).await
    }
}

pub(crate) async fn decode<T: DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, ClientError> {
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| ClientError::Transport(e.to_string()))?;
    if status.is_success() {
        return serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()));
    }
    Err(api_error(status, &bytes))
}

/// The server's `{"error": {"code", "message"}}`, or the raw answer when it is not one.
fn api_error(status: StatusCode, bytes: &[u8]) -> ClientError {
    match serde_json::from_slice::<ErrorBody>(bytes) {
        Ok(body) => ClientError::Api {
            status: status.as_u16(),
            problem: body.error,
        },
        Err(_) => ClientError::Decode(format!("{status}: {}", String::from_utf8_lossy(bytes))),
    }
}

async fn describe(status: StatusCode, response: reqwest::Response) -> String {
    match response.json::<ErrorBody>().await {
        Ok(body) => format!("{status}: {} ({})", body.error.message, body.error.code),
        Err(_) => status.to_string(),
    }
}

/// `Retry-After` in seconds (the form The Eye sends); HTTP dates are ignored.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let seconds: u64 = response
        .headers()
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds.min(3600)))
}

/// `{"sent_at": ..., "events": [...]}`: `sent_at` is this client's clock when the request
/// leaves, so the server can correct every event's timestamp for a clock that is off (it
/// stores `received_at - (sent_at - timestamp)`). Made anew for every attempt: a retry is
/// sent later, and its events are that much older.
fn batch_body(events: &[u8], sent_at: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(events.len() + sent_at.len() + 32);
    body.extend_from_slice(br#"{"sent_at":""#);
    body.extend_from_slice(sent_at.as_bytes());
    body.extend_from_slice(br#"","events":"#);
    body.extend_from_slice(events);
    body.push(b'}');
    body
}

fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    encoder.write_all(body)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::batch_body;

    #[test]
    fn a_batch_travels_with_the_time_it_was_sent() {
        let body = batch_body(br#"[{"name":"n"}]"#, "2021-01-01T09:15:27.5Z");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(
            body,
            serde_json::json!({"sent_at": "2021-01-01T09:15:27.5Z", "events": [{"name": "n"}]})
        );
    }
}
