//! Segment's HTTP tracking API (`POST /v1/batch`, `/v1/track`, `/v1/page`...), so that an
//! application using a Segment-style SDK switches to The Eye by changing its host and key.
//!
//! Each message becomes a native event ([`mapping`]) and is judged, queued and answered like
//! one ([`super::ingest::judge_and_queue`]). The SDKs retry every answer but a 200, so a body
//! that was understood is always answered 200 `{"success": true}`, with each message's
//! verdict beside it; errors carry `code` and `message` at the top level, where they read them
//! ([`top_level_error`]).

mod credentials;
mod kept;
pub mod mapping;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use eye_types::{ErrorBody, SegmentErrorBody, SegmentResponse};
use serde_json::Value;

use super::AppState;
use super::api_error::ApiError;
use super::auth::Principal;
use super::body::{Refusal, read_json_text};
use super::ingest::{Candidate, judge_and_queue, record_refusal};
use crate::ingest::json;
use crate::model::timestamp::{Micros, now_micros};
use mapping::{BatchDefaults, MessageType, map_message};

/// The error answers of these routes: The Eye's error body, with its `code` and `message`
/// copied to the top level, where the SDKs read them (RudderStack's retries an error body
/// without them as if the network had failed). A layer over the whole router, so that an
/// error from outside the handler (405, a timeout) has them too.
pub async fn top_level_errors(request: Request, next: Next) -> Response {
    let segment_route = is_segment_path(request.uri().path());
    let response = next.run(request).await;
    if segment_route {
        with_top_level_error(response).await
    } else {
        response
    }
}

fn is_segment_path(path: &str) -> bool {
    path == "/v1/batch"
        || SINGLE_MESSAGE_ROUTES
            .iter()
            .any(|(long, short)| path == *long || path == *short)
}

async fn with_top_level_error(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Error bodies are a few hundred bytes; anything larger is not one of them.
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let Ok(ErrorBody { error }) = serde_json::from_slice::<ErrorBody>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let body = SegmentErrorBody {
        code: error.code.clone(),
        message: error.message.clone(),
        error,
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    if status == StatusCode::UNAUTHORIZED {
        // The SDKs send the key as Basic credentials.
        parts.headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"eye\", Bearer"),
        );
    }
    let bytes = serde_json::to_vec(&body).expect("an error body serializes");
    Response::from_parts(parts, Body::from(bytes))
}

#[utoipa::path(
    post, path = "/v1/batch", tag = "segment",
    security(("bearer" = []), ("basic" = []), ()),
    request_body(
        content = eye_types::schema::SegmentBatch, content_type = "application/json",
        description = "Segment's batch: `{\"batch\": [message, ...], \"sentAt\"?, \"context\"?, \"writeKey\"?}`. Each message has a `type` (track, page, screen, identify, group, alias). `text/plain` holding JSON and `Content-Encoding: gzip` are accepted too."
    ),
    responses(
        (status = 200, description = "The body was understood: each message's verdict in `results` (rejected messages are in the error store)", body = eye_types::SegmentResponse),
        (status = 400, description = "`malformed_json` or `invalid_body`", body = eye_types::SegmentErrorBody),
        (status = 401, description = "`unauthorized`: no key, or an unknown or revoked one", body = eye_types::SegmentErrorBody),
        (status = 403, description = "`forbidden`: the key lacks the ingest scope", body = eye_types::SegmentErrorBody),
        (status = 413, description = "`payload_too_large` or `too_many_events`", body = eye_types::SegmentErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = eye_types::SegmentErrorBody),
        (status = 429, description = "`rate_limited`; see `Retry-After`", body = eye_types::SegmentErrorBody),
        (status = 503, description = "`unavailable`; see `Retry-After`", body = eye_types::SegmentErrorBody),
    )
)]
pub async fn batch(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    answer(&state, &headers, body, None).await
}

macro_rules! single_message_route {
    ($name:ident, $kind:expr, $path:literal, $short:literal) => {
        #[doc = concat!("`POST ", $path, "` (and `", $short, "`): one message of this type.")]
        #[utoipa::path(
            post, path = $path, tag = "segment",
            security(("bearer" = []), ("basic" = []), ()),
            request_body(
                content = eye_types::schema::SegmentMessage, content_type = "application/json",
                description = concat!("One Segment message; its type is the route's (`", $short, "` is the same route). `writeKey` may be in the body.")
            ),
            responses(
                (status = 200, description = "The body was understood: the message's verdict in `results`", body = eye_types::SegmentResponse),
                (status = 400, description = "`malformed_json` or `invalid_body`", body = eye_types::SegmentErrorBody),
                (status = 401, description = "`unauthorized`: no key, or an unknown or revoked one", body = eye_types::SegmentErrorBody),
                (status = 403, description = "`forbidden`: the key lacks the ingest scope", body = eye_types::SegmentErrorBody),
                (status = 413, description = "`payload_too_large`", body = eye_types::SegmentErrorBody),
                (status = 415, description = "`unsupported_media_type`", body = eye_types::SegmentErrorBody),
                (status = 429, description = "`rate_limited`; see `Retry-After`", body = eye_types::SegmentErrorBody),
                (status = 503, description = "`unavailable`; see `Retry-After`", body = eye_types::SegmentErrorBody),
            )
        )]
        pub async fn $name(
            State(state): State<AppState>,
            headers: HeaderMap,
            body: Body,
        ) -> Response {
            answer(&state, &headers, body, Some($kind)).await
        }
    };
}

single_message_route!(track, MessageType::Track, "/v1/track", "/v1/t");
single_message_route!(page, MessageType::Page, "/v1/page", "/v1/p");
single_message_route!(screen, MessageType::Screen, "/v1/screen", "/v1/s");
single_message_route!(identify, MessageType::Identify, "/v1/identify", "/v1/i");
single_message_route!(group, MessageType::Group, "/v1/group", "/v1/g");
single_message_route!(alias, MessageType::Alias, "/v1/alias", "/v1/a");

/// `(long, short)` paths of every single-message route.
pub const SINGLE_MESSAGE_ROUTES: [(&str, &str); 6] = [
    ("/v1/track", "/v1/t"),
    ("/v1/page", "/v1/p"),
    ("/v1/screen", "/v1/s"),
    ("/v1/identify", "/v1/i"),
    ("/v1/group", "/v1/g"),
    ("/v1/alias", "/v1/a"),
];

async fn answer(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    route_type: Option<MessageType>,
) -> Response {
    match serve(state, headers, body, route_type).await {
        Ok(verdicts) => (StatusCode::OK, Json(verdicts)).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn serve(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    route_type: Option<MessageType>,
) -> Result<SegmentResponse, ApiError> {
    let received_at = now_micros();
    // A key in a header is checked before the body is read; one in the body, after.
    let from_header = credentials::from_headers(headers)?;
    let principal = match from_header {
        Some(secret) => Some(credentials::ingest_principal(&secret, state).await?),
        None => None,
    };
    let limits = state.body_limits();
    let bytes = match read_json_text(headers, body, &limits).await {
        Ok(bytes) => bytes,
        Err(refusal) => return Err(refused(state, principal.as_ref(), refusal, received_at).await),
    };
    let document = match json::parse_strict(&bytes) {
        Ok(document) => document,
        // Without a key in a header, an empty body has no key either.
        Err(_) if principal.is_none() && bytes.iter().all(u8::is_ascii_whitespace) => {
            return Err(credentials::missing());
        }
        Err(error) => {
            let refusal = Refusal {
                error: ApiError::malformed_json(format!("the body is not valid JSON: {error}")),
                raw: bytes,
            };
            return Err(refused(state, principal.as_ref(), refusal, received_at).await);
        }
    };
    let principal = match principal {
        Some(principal) => principal,
        None => {
            let secret = credentials::from_body(&document)?;
            credentials::ingest_principal(&secret, state).await?
        }
    };
    let messages = match messages_of(&document, route_type, limits.max_batch_events) {
        Ok(messages) => messages,
        Err(error) => {
            let raw = kept::kept_body(&document, route_type, &state.schemas).into_bytes();
            let refusal = Refusal { error, raw };
            return Err(record_refusal(state, &principal, refusal, received_at).await);
        }
    };
    let defaults = BatchDefaults {
        sent_at: document.get("sentAt"),
        context: document.get("context").and_then(Value::as_object),
    };
    let mapped: Vec<_> = messages
        .iter()
        .map(|message| map_message(message, route_type, &defaults, received_at))
        .collect();
    let candidates = mapped
        .iter()
        .zip(&messages)
        .map(|(mapped, message)| match mapped {
            Ok(mapped) => Candidate::Event {
                event: &mapped.event,
                clock_offset: mapped.clock_offset,
            },
            Err(rejection) => Candidate::Refused {
                rejection: rejection.clone(),
                raw: kept::kept_message(message, route_type, &state.schemas),
            },
        })
        .collect();
    // A rejected message is kept as the event it became (so a replay judges it as one), and
    // its path points into that event.
    let verdicts =
        judge_and_queue(state, &principal, candidates, &mut |_| None, received_at).await?;
    Ok(SegmentResponse {
        success: true,
        accepted: verdicts.accepted,
        rejected: verdicts.rejected,
        results: verdicts.results,
    })
}

/// The messages of a body: a batch's `batch`, or the one message of a single-message route.
fn messages_of(
    document: &Value,
    route_type: Option<MessageType>,
    max_messages: usize,
) -> Result<Vec<Value>, ApiError> {
    let Some(object) = document.as_object() else {
        return Err(ApiError::invalid_body(
            "the body must be a JSON object: a message, or {\"batch\": [...]} on /v1/batch",
        ));
    };
    if route_type.is_some() {
        return Ok(vec![document.clone()]);
    }
    if !matches!(
        object.get("context"),
        None | Some(Value::Null | Value::Object(_))
    ) {
        return Err(ApiError::invalid_body(
            "the batch's `context` must be a JSON object",
        ));
    }
    let messages = match object.get("batch") {
        Some(Value::Array(messages)) => messages,
        Some(_) => {
            return Err(ApiError::invalid_body(
                "`batch` must be an array of messages",
            ));
        }
        None => {
            return Err(ApiError::invalid_body(
                "the body of /v1/batch must be {\"batch\": [message, ...]}",
            ));
        }
    };
    if messages.len() > max_messages {
        return Err(ApiError::too_many_events(format!(
            "the batch holds {} messages, over the limit of {max_messages}: split it",
            messages.len()
        )));
    }
    Ok(messages.clone())
}

/// A refused body: kept in the error store when the key is known (a body with the key inside
/// it cannot be attributed), answered either way.
async fn refused(
    state: &AppState,
    principal: Option<&Principal>,
    refusal: Refusal,
    received_at: Micros,
) -> ApiError {
    match principal {
        Some(principal) => record_refusal(state, principal, refusal, received_at).await,
        None => refusal.error,
    }
}
