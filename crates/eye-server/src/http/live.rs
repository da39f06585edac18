//! `GET /v1/events/live`: server-sent events, one `event` per stored event matching the
//! filters. Browsers read it with `fetch` (so the key travels in the header, not the URL).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use eye_types::schema::Identifier;
use futures_util::Stream;
use futures_util::stream;
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use super::api_error::ApiError;
use super::auth::{Authorized, QueryScope};
use super::params::Params;
use super::query::stored_event;
use crate::model::EventRecord;

struct Filters {
    session_id: Option<String>,
    category: Option<String>,
    name: Option<String>,
    app: Option<String>,
}

impl Filters {
    fn matches(&self, event: &EventRecord) -> bool {
        let equal =
            |filter: &Option<String>, value: &str| filter.as_deref().is_none_or(|f| f == value);
        equal(&self.session_id, &event.session_id)
            && equal(&self.category, &event.category)
            && equal(&self.name, &event.name)
            && equal(&self.app, &event.app)
    }
}

pub(crate) const LIVE_PARAMS: &[&str] = &["session_id", "category", "name", "app"];

#[utoipa::path(
    get, path = "/v1/events/live", tag = "query",
    security(("bearer" = [])),
    params(
        ("session_id" = Option<Identifier>, Query, description = "Only this session"),
        ("category" = Option<Identifier>, Query, description = "Only this category"),
        ("name" = Option<Identifier>, Query, description = "Only this event name"),
        ("app" = Option<Identifier>, Query, description = "Only this application"),
    ),
    responses(
        (status = 200, description = "`text/event-stream`: an `event` message per stored event (data: a StoredEvent), a comment every 15 s", content_type = "text/event-stream", body = String),
        (status = 400, description = "`invalid_parameter`", body = eye_types::ErrorBody),
        super::openapi::KeyedRouteErrors,
    )
)]
pub async fn live(
    State(state): State<AppState>,
    _: Authorized<QueryScope>,
    RawQuery(raw): RawQuery,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let params = Params::parse(raw.as_deref(), LIVE_PARAMS)?;
    let filters = Filters {
        session_id: params.identifier("session_id")?,
        category: params.identifier("category")?,
        name: params.identifier("name")?,
        app: params.identifier("app")?,
    };
    let receiver = state.live.subscribe();
    let feed = state.live.clone();
    let events = stream::unfold((receiver, filters), move |(mut receiver, filters)| {
        let feed = feed.clone();
        async move {
            loop {
                let received = tokio::select! {
                    () = feed.closed() => return None,
                    received = receiver.recv() => received,
                };
                match received {
                    Ok(event) if filters.matches(&event) && !feed.is_forgotten(&event) => {
                        let json = serde_json::to_string(&stored_event((*event).clone()))
                            .unwrap_or_default();
                        return Some((
                            Ok(SseEvent::default().event("event").data(json)),
                            (receiver, filters),
                        ));
                    }
                    Ok(_) => continue,
                    Err(RecvError::Lagged(missed)) => {
                        let note = SseEvent::default().event("lagged").data(missed.to_string());
                        return Some((Ok(note), (receiver, filters)));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
