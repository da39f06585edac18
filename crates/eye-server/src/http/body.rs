//! Reading an ingest body: content type and encoding checks, the size limits (before and
//! after gzip), and the three accepted shapes (one event, an array, `{"events": [...]}`).

use std::io::Read;

use axum::body::Body;
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use flate2::read::MultiGzDecoder;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::api_error::ApiError;
use super::bounded_body::read_bounded;
use crate::ingest::json;
use crate::ingest::validation::parse_timestamp;
use crate::model::timestamp::Micros;

pub struct BodyLimits {
    pub max_body_bytes: usize,
    pub max_decompressed_bytes: usize,
    pub max_batch_events: usize,
    /// A body not fully received by then is refused with 408 (slow clients).
    pub body_timeout: std::time::Duration,
}

/// What was read of a body before it was refused, for the error store.
pub struct Refusal {
    pub error: ApiError,
    pub raw: Vec<u8>,
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        Refusal {
            error,
            raw: Vec::new(),
        }
    }
}

/// A request body's events, each still unvalidated, and the body they were parsed from
/// (decompressed), for the raw input of the rejected ones.
pub struct Events {
    pub events: Vec<Value>,
    /// The batch's `sent_at`: when the client sent it, by its own clock.
    pub sent_at: Option<Micros>,
    text: Vec<u8>,
    shape: Shape,
}

/// Which of the three accepted shapes a body has.
#[derive(Clone, Copy)]
enum Shape {
    One,
    Array,
    Batch,
}

impl Events {
    /// Each event's text exactly as sent (a slice of the decompressed body: key order,
    /// whitespace and escapes untouched), in order. `None` only if the body cannot be read
    /// again, which a body these events came from always can.
    pub fn raw_events(&self) -> Option<Vec<&str>> {
        #[derive(Deserialize)]
        struct Batch<'a> {
            #[serde(borrow)]
            events: Vec<&'a RawValue>,
        }
        let raw: Vec<&RawValue> = match self.shape {
            Shape::One => vec![serde_json::from_slice(&self.text).ok()?],
            Shape::Array => serde_json::from_slice(&self.text).ok()?,
            Shape::Batch => serde_json::from_slice::<Batch>(&self.text).ok()?.events,
        };
        (raw.len() == self.events.len()).then(|| raw.into_iter().map(RawValue::get).collect())
    }
}

/// The events of a request body, each still unvalidated.
pub async fn read_events(
    headers: &HeaderMap,
    body: Body,
    limits: &BodyLimits,
) -> Result<Events, Refusal> {
    check_content_type(headers, false)?;
    let gzipped = is_gzipped(headers)?;
    let bytes = read_within_timeout(body, limits).await?;
    parse_body(bytes, gzipped, limits)
}

/// A JSON body of the Segment-compatible routes, decompressed: `application/json` or, as
/// browsers send it to avoid a preflight, `text/plain`.
pub async fn read_json_text(
    headers: &HeaderMap,
    body: Body,
    limits: &BodyLimits,
) -> Result<Vec<u8>, Refusal> {
    check_content_type(headers, true)?;
    let gzipped = is_gzipped(headers)?;
    let bytes = read_within_timeout(body, limits).await?;
    if gzipped {
        gunzip(&bytes, limits.max_decompressed_bytes)
    } else {
        Ok(bytes)
    }
}

async fn read_within_timeout(body: Body, limits: &BodyLimits) -> Result<Vec<u8>, ApiError> {
    tokio::time::timeout(
        limits.body_timeout,
        read_bounded(body, limits.max_body_bytes, "send fewer events per request"),
    )
    .await
    .map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "the body did not arrive within {} s: send it at once",
                limits.body_timeout.as_secs()
            ),
        )
    })?
}

/// The events of a body already read (gzip-compressed when `gzipped`): decompression within
/// the cap, strict JSON, one of the three shapes, and the batch limit. Pure, for the fuzz
/// targets and property tests as much as for `read_events`.
pub fn events_from_bytes(
    bytes: Vec<u8>,
    gzipped: bool,
    limits: &BodyLimits,
) -> Result<Vec<Value>, Refusal> {
    parse_body(bytes, gzipped, limits).map(|parsed| parsed.events)
}

/// [`events_from_bytes`], keeping the decompressed body for [`Events::raw_events`].
pub fn parse_body(bytes: Vec<u8>, gzipped: bool, limits: &BodyLimits) -> Result<Events, Refusal> {
    if bytes.len() > limits.max_body_bytes {
        return Err(ApiError::payload_too_large(format!(
            "the body is over the limit of {} bytes: send fewer events per request",
            limits.max_body_bytes
        ))
        .into());
    }
    let bytes = if gzipped {
        gunzip(&bytes, limits.max_decompressed_bytes)?
    } else {
        bytes
    };
    let document = json::parse_strict(&bytes).map_err(|error| Refusal {
        error: ApiError::malformed_json(format!("the body is not valid JSON: {error}")),
        raw: bytes.clone(),
    })?;
    let (events, shape, sent_at) = into_events(document).map_err(|error| Refusal {
        error,
        raw: bytes.clone(),
    })?;
    if events.len() > limits.max_batch_events {
        return Err(Refusal {
            error: ApiError::too_many_events(format!(
                "the request holds {} events, over the limit of {}: split it",
                events.len(),
                limits.max_batch_events
            )),
            raw: bytes,
        });
    }
    Ok(Events {
        events,
        sent_at,
        text: bytes,
        shape,
    })
}

fn check_content_type(headers: &HeaderMap, text_plain_too: bool) -> Result<(), ApiError> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let is_json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if is_json || (text_plain_too && essence == "text/plain") {
        Ok(())
    } else {
        Err(ApiError::unsupported_media_type(format!(
            "Content-Type {essence:?} is not supported: send application/json"
        )))
    }
}

fn is_gzipped(headers: &HeaderMap) -> Result<bool, ApiError> {
    let Some(value) = headers.get(CONTENT_ENCODING) else {
        return Ok(false);
    };
    match value
        .to_str()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
        .as_str()
    {
        "" | "identity" => Ok(false),
        "gzip" | "x-gzip" => Ok(true),
        other => Err(ApiError::unsupported_media_type(format!(
            "Content-Encoding {other:?} is not supported: send gzip or no encoding"
        ))),
    }
}

fn gunzip(compressed: &[u8], max_bytes: usize) -> Result<Vec<u8>, Refusal> {
    let mut out = Vec::new();
    let read = MultiGzDecoder::new(compressed)
        .take(max_bytes as u64 + 1)
        .read_to_end(&mut out);
    if read.is_err() {
        return Err(ApiError::invalid_body("the body is not valid gzip").into());
    }
    if out.len() > max_bytes {
        return Err(ApiError::payload_too_large(format!(
            "the body is over the limit of {max_bytes} bytes once decompressed"
        ))
        .into());
    }
    Ok(out)
}

fn into_events(document: Value) -> Result<(Vec<Value>, Shape, Option<Micros>), ApiError> {
    let mut sent_at = None;
    let (events, shape) = match document {
        Value::Array(events) => (events, Shape::Array),
        Value::Object(mut object) if object.contains_key("events") => {
            if let Some(value) = object.remove("sent_at").filter(|value| !value.is_null()) {
                sent_at = Some(read_sent_at(&value)?);
            }
            let (1, Some(Value::Array(events))) = (object.len(), object.remove("events")) else {
                return Err(ApiError::invalid_body(
                    "a batch object must be exactly {\"events\": [...]}, with \"sent_at\" if you like",
                ));
            };
            (events, Shape::Batch)
        }
        event @ Value::Object(_) => (vec![event], Shape::One),
        _ => {
            return Err(ApiError::invalid_body(
                "send one event object, an array of events, or {\"events\": [...]}",
            ));
        }
    };
    if events.is_empty() {
        return Err(ApiError::invalid_body("the request holds no events"));
    }
    Ok((events, shape, sent_at))
}

/// A batch's `sent_at`.
fn read_sent_at(value: &Value) -> Result<Micros, ApiError> {
    value.as_str().and_then(parse_timestamp).ok_or_else(|| {
        ApiError::invalid_body(
            "`sent_at` must be the time the request was sent, as a timestamp string such as \"2021-01-01T09:15:27.243Z\""
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> BodyLimits {
        BodyLimits {
            max_body_bytes: 1 << 20,
            max_decompressed_bytes: 1 << 20,
            max_batch_events: 10,
            body_timeout: std::time::Duration::from_secs(1),
        }
    }

    fn raw_of(body: &str) -> Vec<String> {
        let parsed = parse_body(body.as_bytes().to_vec(), false, &limits())
            .unwrap_or_else(|refusal| panic!("{body}: {}", refusal.error.message));
        let raw = parsed.raw_events().expect("raw events");
        raw.into_iter().map(str::to_owned).collect()
    }

    #[test]
    fn each_event_is_kept_as_sent_in_every_shape() {
        let one = r#"{ "z": 1,  "a" : "\u00e9" }"#;
        let two = "{\"b\":[1, 2.50]}";
        assert_eq!(raw_of(&format!("\n {one} \n")), [one]);
        assert_eq!(raw_of(&format!("[ {one} ,\n{two}]")), [one, two]);
        assert_eq!(
            raw_of(&format!(r#"{{ "events" : [{one},{two} ] }}"#)),
            [one, two]
        );
        assert_eq!(raw_of(&format!(r#"{{"ev\u0065nts": [{two}]}}"#)), [two]);
        assert_eq!(raw_of("[1, \"x\"]"), ["1", "\"x\""]);
    }
}
