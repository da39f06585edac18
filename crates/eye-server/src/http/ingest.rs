//! `POST /v1/events`: validate every event, append accepted events and rejections to the
//! queue in one durable publish, then answer with a verdict per event.

use std::borrow::Cow;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use eye_types::{EventError, EventResult, IngestResponse};
use serde_json::Value;

use super::AppState;
use super::api_error::ApiError;
use super::auth::{Authorized, IngestScope, Principal};
use super::body::{Refusal, read_events};
use crate::auth::keys;
use crate::ingest::validation::{
    MIN_CLOCK_CORRECTION, RejectCode, Rejection, Rules, parse_timestamp, protect_refused_body,
    validate_sent_event,
};
use crate::model::ids;
use crate::model::timestamp::{Micros, format_micros, now_micros};
use crate::model::{ErrorEntry, QueueMessage, truncate_utf8};
use crate::ops::metrics;

#[utoipa::path(
    post, path = "/v1/events", tag = "ingest",
    security(("bearer" = [])),
    request_body(
        content = eye_types::schema::IngestRequest, content_type = "application/json",
        description = "One event object, a JSON array of events (at most `max_batch_events`, 1,000 by default), or `{\"events\": [...]}`. May be gzip-compressed (`Content-Encoding: gzip`). Each event is judged on its own: one that breaks `Event` is rejected in `results` (`invalid_event` when it is not an object), and the others are still accepted."
    ),
    responses(
        (status = 202, description = "At least one event was accepted; one verdict per event", body = eye_types::IngestResponse),
        (status = 422, description = "Every event was rejected; one verdict per event (codes `invalid_event`, `missing_field`, `invalid_field`, `unknown_field`, `invalid_timestamp`, `timestamp_in_future`, `timestamp_too_old`, `unknown_event_type`, `schema_violation`)", body = eye_types::IngestResponse),
        (status = 400, description = "`malformed_json` (not one JSON document) or `invalid_body` (wrong shape, empty batch, broken gzip)", body = eye_types::ErrorBody),
        (status = 413, description = "`payload_too_large` (body over the limit, before or after gzip) or `too_many_events`", body = eye_types::ErrorBody),
        (status = 415, description = "`unsupported_media_type`: Content-Type not JSON, or Content-Encoding not gzip", body = eye_types::ErrorBody),
        (status = 408, description = "`body_timeout`: the body did not arrive within `body_timeout_secs`", body = eye_types::ErrorBody),
        (status = 429, description = "`rate_limited`: the application is over `rate_limit_events_per_second`; see `Retry-After`", body = eye_types::ErrorBody),
        super::openapi::KeyedRouteErrors,
    )
)]
pub async fn ingest(
    State(state): State<AppState>,
    Authorized(principal, _): Authorized<IngestScope>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let received_at = now_micros();
    let body = match read_events(&headers, body, &state.body_limits()).await {
        Ok(body) => body,
        Err(refusal) => return Err(record_refusal(&state, &principal, refusal, received_at).await),
    };
    let clock_offset = body.sent_at.map_or(0, |sent_at| received_at - sent_at);
    let candidates = body
        .events
        .iter()
        .map(|event| Candidate::Event {
            event,
            clock_offset,
        })
        .collect();
    // Read again only when an event is rejected, for the text of each as sent.
    let mut raw_events = None;
    let mut as_sent = |index: usize| {
        raw_events
            .get_or_insert_with(|| body.raw_events())
            .as_ref()
            .and_then(|raw| raw.get(index).map(|text| (*text).to_owned()))
    };
    let verdicts =
        judge_and_queue(&state, &principal, candidates, &mut as_sent, received_at).await?;
    let status = if verdicts.accepted > 0 {
        StatusCode::ACCEPTED
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, Json(verdicts)).into_response())
}

/// One event of a request, to be judged: an event object, or a message that could not even
/// be read as one (a Segment message without a type, say), already refused.
pub(super) enum Candidate<'a> {
    Event {
        event: &'a Value,
        /// `received_at - sent_at`, 0 when the client did not say when it sent the request.
        clock_offset: Micros,
    },
    Refused {
        rejection: Box<Rejection>,
        /// What to keep as its raw input.
        raw: String,
    },
}

/// Judges every candidate of one request from `principal`, queues the accepted events and the
/// rejections in one durable publish, counts them in the metrics, and gives the verdicts.
/// `as_sent` gives a rejected event's text as sent, by index, when there is one (else the
/// event re-serialised is kept).
pub(super) async fn judge_and_queue(
    state: &AppState,
    principal: &Principal,
    candidates: Vec<Candidate<'_>>,
    as_sent: &mut (dyn FnMut(usize) -> Option<String> + Send),
    received_at: Micros,
) -> Result<IngestResponse, ApiError> {
    if let Some(limiter) = &state.rate_limit {
        limiter.check(&principal.app, candidates.len())?;
    }
    let mut messages = Vec::with_capacity(candidates.len());
    let mut results = Vec::with_capacity(candidates.len());
    let mut accepted = 0;
    let rules = rules_for(state, &principal.app);
    let mut suppressed = 0;
    let max_bytes = state.config.max_raw_error_bytes;
    for (index, candidate) in candidates.into_iter().enumerate() {
        let (event, clock_offset) = match candidate {
            Candidate::Event {
                event,
                clock_offset,
            } => (event, clock_offset),
            Candidate::Refused { rejection, raw } => {
                results.push(EventResult::Rejected {
                    index,
                    error: event_error(&rejection),
                });
                let raw = raw_input(&raw, max_bytes);
                messages.push(QueueMessage::Error(error_entry(
                    principal,
                    *rejection,
                    raw,
                    received_at,
                )));
                continue;
            }
        };
        match validate_sent_event(event, received_at, clock_offset, &rules, &state.schemas) {
            Ok(valid) => {
                // From the client's own timestamp, which a retry repeats exactly, so that a
                // retried request answers with the id already stored.
                let client_timestamp = valid.original_timestamp.unwrap_or(valid.timestamp);
                let id = ids::event_id(&principal.app, valid.event_id.as_deref(), client_timestamp);
                results.push(EventResult::Accepted {
                    index,
                    id: id.to_string(),
                });
                accepted += 1;
                // An erasure asked for this session's events to be dropped: the client is
                // told `accepted`, so it does not retry, and nothing is kept.
                if state.suppressions.covers(&principal.app, &valid.session_id) {
                    suppressed += 1;
                    continue;
                }
                messages.push(QueueMessage::Event(valid.into_record(
                    id,
                    principal.app.clone(),
                    received_at,
                )));
            }
            Err(mut rejection) => {
                results.push(EventResult::Rejected {
                    index,
                    error: event_error(&rejection),
                });
                // With PII rules, the event as they left it: never the clear values as sent.
                // With its clock corrected, the event with the corrected timestamp, which a
                // replay (that knows no sent_at) judges as this request did.
                let corrected = corrected_event(event, clock_offset);
                let raw = if let Some(protected) = rejection.protected_raw.take() {
                    match serde_json::from_str::<Value>(&protected) {
                        Ok(protected) if corrected.is_some() => raw_input(
                            &corrected_event(&protected, clock_offset)
                                .unwrap_or(protected)
                                .to_string(),
                            max_bytes,
                        ),
                        _ => raw_input(&protected, max_bytes),
                    }
                } else if let Some(corrected) = corrected {
                    raw_input(&corrected.to_string(), max_bytes)
                } else {
                    // A body these events were parsed from always reads again; were it not
                    // to, the event re-serialised is the next best record.
                    match as_sent(index) {
                        Some(text) => raw_input(&text, max_bytes),
                        None => raw_input(&event.to_string(), max_bytes),
                    }
                };
                messages.push(QueueMessage::Error(error_entry(
                    principal,
                    *rejection,
                    raw,
                    received_at,
                )));
            }
        }
    }
    if !messages.is_empty() {
        state.queue()?.publish(messages).await?;
    }
    if suppressed > 0 {
        metrics::events_suppressed(suppressed);
    }
    let rejected_codes = results.iter().filter_map(|result| match result {
        EventResult::Rejected { error, .. } => Some(code_name(&error.code)),
        EventResult::Accepted { .. } => None,
    });
    metrics::events_judged(accepted, rejected_codes);
    let rejected = results.len() - accepted;
    Ok(IngestResponse {
        accepted,
        rejected,
        results,
    })
}

/// `event` with its timestamp corrected by `clock_offset`, when the correction applies to it
/// (an offset of a second or more, a timestamp that reads).
fn corrected_event(event: &Value, clock_offset: Micros) -> Option<Value> {
    if clock_offset.unsigned_abs() < MIN_CLOCK_CORRECTION {
        return None;
    }
    let sent = parse_timestamp(event.get("timestamp")?.as_str()?)?;
    let mut corrected = event.clone();
    corrected["timestamp"] = Value::String(format_micros(sent.saturating_add(clock_offset)));
    Some(corrected)
}

/// The rules for events of `app`: the deployment's, with the application's retention.
fn rules_for<'a>(state: &'a AppState, app: &str) -> Cow<'a, Rules> {
    match state.config.event_retention(app) {
        None => Cow::Borrowed(state.rules.as_ref()),
        retention => Cow::Owned(Rules {
            retention,
            ..state.rules.as_ref().clone()
        }),
    }
}

fn event_error(rejection: &Rejection) -> EventError {
    EventError {
        code: rejection.code.as_str().to_owned(),
        message: rejection.message.clone(),
        path: rejection.path.clone(),
    }
}

fn error_entry(
    principal: &Principal,
    rejection: Rejection,
    raw: String,
    received_at: Micros,
) -> ErrorEntry {
    ErrorEntry {
        path: rejection.path,
        category: rejection.category,
        name: rejection.name,
        session_id: rejection
            .session_id
            .map(|session| keys::redact(&session).into_owned()),
        schema_version: rejection.schema_version,
        ..ErrorEntry::new(
            ids::error_id(),
            principal.app.clone(),
            rejection.code.as_str().to_owned(),
            // Messages quote values of the event (`"..." is not of type "integer"`).
            keys::redact(&rejection.message).into_owned(),
            received_at,
            raw,
        )
    }
}

/// Keeps a refused body in the error store (best effort: the refusal is answered either
/// way), and gives back the error to answer with.
pub(super) async fn record_refusal(
    state: &AppState,
    principal: &Principal,
    refusal: Refusal,
    received_at: Micros,
) -> ApiError {
    let Refusal { error, raw } = refusal;
    metrics::request_refused(error.code);
    // A body that reads as JSON keeps no clear value a PII rule covers.
    let raw = match protect_refused_body(&raw, &state.schemas) {
        Some(protected) => raw_input(&protected, state.config.max_raw_error_bytes),
        None => raw_input(
            &String::from_utf8_lossy(&raw),
            state.config.max_raw_error_bytes,
        ),
    };
    let entry = ErrorEntry::new(
        ids::error_id(),
        principal.app.clone(),
        error.code.to_owned(),
        keys::redact(&error.message).into_owned(),
        received_at,
        raw,
    );
    let Ok(queue) = state.queue() else {
        return error;
    };
    if let Err(cause) = queue.publish(vec![QueueMessage::Error(entry)]).await {
        tracing::warn!(%cause, code = error.code, "could not record a refused request");
    }
    error
}

/// The raw input kept in the error store: `text` with anything shaped like an API key
/// replaced (see [`keys::redact`]), then cut to at most `max_bytes` on a character boundary.
fn raw_input(text: &str, max_bytes: usize) -> String {
    // A key across the cut is still whole in the part read (a key is 47 bytes).
    let redacted = keys::redact(truncate_utf8(text, max_bytes.saturating_add(64)));
    truncate_utf8(&redacted, max_bytes).to_owned()
}

/// The static name of a rejection code, for a bounded metric label.
fn code_name(code: &str) -> &'static str {
    RejectCode::ALL
        .iter()
        .map(|c| c.as_str())
        .find(|name| *name == code)
        .unwrap_or("other")
}
