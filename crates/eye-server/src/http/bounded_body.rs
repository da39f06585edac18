//! Reading a request body up to a limit, and refusing a larger one so that the client hears
//! the refusal. Answering 413 while the client is still sending makes the server close a
//! socket with unread bytes in it, which TCP turns into a reset: most clients then report a
//! broken connection instead of the 413 (and the SDKs retry it). So past the limit the rest
//! of the body is read and dropped, within a bound of bytes and time, before the answer.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use http_body_util::BodyExt;

use super::api_error::ApiError;

/// How much more than the limit is read and dropped so the 413 arrives intact. A body larger
/// still is cut off (its client sees a closed connection, as from any server).
const DRAIN_BYTES: usize = 64 * 1024 * 1024;

/// How long the dropping may take.
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// The limit of the admin routes' JSON bodies (keys, schemas, erasures, replays).
pub const ADMIN_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The body, whole, if it is at most `max_bytes`; else `payload_too_large` (once the rest
/// is drained); `invalid_body` if it could not be read. `advice` ends the 413's message.
pub async fn read_bounded(body: Body, max_bytes: usize, advice: &str) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::payload_too_large(format!(
            "the body is over the limit of {max_bytes} bytes: {advice}"
        ))
    };
    let mut body = body;
    let mut kept = Vec::new();
    loop {
        match body.frame().await {
            None => return Ok(kept),
            Some(Err(error)) => {
                return Err(ApiError::invalid_body(format!(
                    "the body could not be read: {error}"
                )));
            }
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                if kept.len() + data.len() > max_bytes {
                    drain(body, kept.len() + data.len()).await;
                    return Err(too_large());
                }
                kept.extend_from_slice(&data);
            }
        }
    }
}

/// Reads and drops the rest of `body`, up to [`DRAIN_BYTES`] and [`DRAIN_TIME`].
async fn drain(mut body: Body, already: usize) {
    let dropping = async {
        let mut read = already;
        while read <= DRAIN_BYTES {
            match body.frame().await {
                Some(Ok(frame)) => read += frame.data_ref().map_or(0, |data| data.len()),
                Some(Err(_)) | None => return,
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, dropping).await;
}

/// An admin route's body: at most [`ADMIN_BODY_LIMIT`] bytes, refused as [`read_bounded`]
/// refuses.
pub struct AdminBody(pub Vec<u8>);

impl<S: Send + Sync> FromRequest<S> for AdminBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        read_bounded(
            request.into_body(),
            ADMIN_BODY_LIMIT,
            "send a smaller request",
        )
        .await
        .map(AdminBody)
    }
}
