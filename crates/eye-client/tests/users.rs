//! The user and context of events through the SDK, the queries by user, and the send time
//! (`sent_at`) every request carries, stamped anew for each retry.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use eye_client::{BlockingClient, Client, EventFilter, SessionListQuery, TrackError};
use serde_json::{Value, json};
use support::{Fault, FaultProxy, drain, server};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn instant(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|_| panic!("not RFC 3339: {text:?}"))
}

fn sent_at(body: &Value) -> OffsetDateTime {
    instant(
        body["sent_at"]
            .as_str()
            .unwrap_or_else(|| panic!("no sent_at: {body}")),
    )
}

#[tokio::test]
async fn the_user_and_context_are_stored_and_find_the_users_events_and_sessions() {
    let server = server(|_| {}).await;
    let client = Client::builder(&server.url, &server.ingest_key)
        .build()
        .expect("client");
    let context = json!({"page": {"url": "https://shop.example/pricing"}, "locale": "en-GB"});
    let page = json!({"host": "shop.example", "path": "/pricing"});
    for (session, user) in [("s-a", "u-1"), ("s-b", "u-1"), ("s-c", "u-2")] {
        client
            .event(session, "page interaction", "pageview", page.clone())
            .user_id(user)
            .context(context.clone())
            .track()
            .expect("track");
    }
    client
        .event("s-d", "page interaction", "pageview", page.clone())
        .timestamp("2021-01-01 09:15:27.243860")
        .event_id("anonymous-1")
        .track()
        .expect("track");
    client.flush().await;
    assert_eq!(client.stats().accepted, 4, "{:?}", client.stats());
    drain(&server).await;

    let query = Client::builder(&server.url, &server.query_key)
        .build()
        .expect("client");
    let filter = EventFilter {
        user_id: Some("u-1".into()),
        ..EventFilter::default()
    };
    let events = query.events(&filter).await.expect("events").events;
    let sessions: BTreeSet<&str> = events.iter().map(|e| e.session_id.as_str()).collect();
    assert_eq!(sessions, BTreeSet::from(["s-a", "s-b"]));
    for event in &events {
        assert_eq!(event.user_id.as_deref(), Some("u-1"));
        assert_eq!(event.context.as_ref(), Some(&context));
    }

    let anonymous = EventFilter {
        session_id: Some("s-d".into()),
        ..EventFilter::default()
    };
    let stored = query.events(&anonymous).await.expect("events").events;
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].user_id.as_deref(), stored[0].context.as_ref()),
        (None, None)
    );
    assert_eq!(stored[0].event_id.as_deref(), Some("anonymous-1"));
    assert_eq!(
        stored[0].original_timestamp.as_deref(),
        Some("2021-01-01T09:15:27.243860Z")
    );

    let users_sessions = SessionListQuery {
        user_id: Some("u-1".into()),
        ..SessionListQuery::default()
    };
    let listed: BTreeSet<String> = query
        .all_sessions(&users_sessions)
        .await
        .expect("sessions")
        .into_iter()
        .map(|session| session.session_id)
        .collect();
    assert_eq!(listed, BTreeSet::from(["s-a".to_owned(), "s-b".to_owned()]));
}

#[tokio::test]
async fn data_and_context_must_be_objects() {
    let server = server(|_| {}).await;
    let client = Client::builder(&server.url, &server.ingest_key)
        .build()
        .expect("client");
    let refused = client
        .event("s", "c", "n", json!({}))
        .context(json!("en-GB"))
        .track();
    assert_eq!(refused, Err(TrackError::ContextNotAnObject));
    let refused = client.event("s", "c", "n", json!([1])).user_id("u").track();
    assert_eq!(refused, Err(TrackError::DataNotAnObject));
    assert_eq!(client.buffered(), 0, "nothing refused was queued");
}

#[tokio::test]
async fn every_attempt_says_when_it_was_sent() {
    let server = server(|_| {}).await;
    let proxy = FaultProxy::start(&server.url, vec![Fault::Status(503, None)]).await;
    let client = Client::builder(&proxy.url, &server.ingest_key)
        .backoff(Duration::from_millis(200), Duration::from_millis(200))
        .build()
        .expect("client");
    let tracked_at = OffsetDateTime::now_utc();
    let id = client
        .track(
            "s-sent",
            "page interaction",
            "pageview",
            json!({"host": "h", "path": "/"}),
        )
        .expect("track");
    client.flush().await;
    assert_eq!(client.stats().accepted, 1, "{:?}", client.stats());

    let bodies: Vec<Value> = proxy
        .requests()
        .iter()
        .map(|seen| serde_json::from_slice(&seen.body).expect("a JSON body"))
        .collect();
    assert_eq!(bodies.len(), 2, "the 503, then the retry");
    assert_eq!(bodies[0]["events"], bodies[1]["events"], "the same events");
    assert_eq!(bodies[0]["events"][0]["event_id"], json!(id));
    assert!(sent_at(&bodies[0]) >= tracked_at - Duration::from_millis(1));
    let apart = sent_at(&bodies[1]) - sent_at(&bodies[0]);
    assert!(
        apart >= Duration::from_millis(90),
        "the retry is stamped when it leaves, {apart} after the first attempt"
    );

    // `send` (what `eye send` uses) stamps its requests too.
    let direct = json!({"session_id": "s-sent", "category": "page interaction", "name": "pageview",
        "data": {"host": "h", "path": "/"}, "timestamp": "2021-01-01 09:15:27"});
    let answer = client.send(&[direct]).await.expect("send");
    assert_eq!(answer.accepted, 1, "{answer:?}");
    let last: Value =
        serde_json::from_slice(&proxy.requests().last().expect("a request").body).expect("JSON");
    assert!(sent_at(&last) > sent_at(&bodies[1]), "{last}");

    // This client's clock is the server's: the correction is the transit time only.
    drain(&server).await;
    let query = Client::builder(&server.url, &server.query_key)
        .build()
        .expect("client");
    let filter = EventFilter {
        session_id: Some("s-sent".into()),
        ..EventFilter::default()
    };
    let events = query.events(&filter).await.expect("events").events;
    let tracked = events
        .iter()
        .find(|e| e.event_id.as_deref() == Some(id.as_str()))
        .expect("the tracked event");
    let original = instant(tracked.original_timestamp.as_deref().expect("original"));
    let corrected = instant(&tracked.timestamp);
    assert!(
        (corrected - original).abs() < Duration::from_secs(2),
        "{original} corrected to {corrected}"
    );
}

#[test]
fn the_blocking_client_tracks_a_user_too() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime.block_on(server(|_| {}));
    let client =
        BlockingClient::new(Client::builder(&server.url, &server.ingest_key)).expect("client");
    client
        .event(
            "s-blocking",
            "page interaction",
            "pageview",
            json!({"host": "h", "path": "/"}),
        )
        .user_id("u-blocking")
        .track()
        .expect("track");
    client.flush();
    assert_eq!(client.stats().accepted, 1);
    client.close();
    drop(runtime);
}
