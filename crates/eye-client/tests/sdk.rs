//! The Rust SDK against the real server, and against injected faults.

mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eye_client::{BlockingClient, Client, Event, OverflowPolicy, TrackError};
use serde_json::json;
use support::{Fault, FaultProxy, drain, server, stored_event_ids};

fn pageview(client: &Client, session: &str) -> String {
    client
        .track(
            session,
            "page interaction",
            "pageview",
            json!({"host": "example.com", "path": "/"}),
        )
        .expect("track")
}

#[tokio::test]
async fn tracked_events_are_batched_sent_and_counted() {
    let server = server(|_| {}).await;
    let client = Client::builder(&server.url, &server.ingest_key)
        .flush_events(7)
        .build()
        .expect("client");
    let ids: HashSet<String> = (0..50)
        .map(|n| pageview(&client, &format!("s{}", n % 3)))
        .collect();
    assert_eq!(ids.len(), 50, "every event gets its own event_id");
    client.flush().await;
    let stats = client.stats();
    assert_eq!(
        (
            stats.sent,
            stats.accepted,
            stats.rejected,
            stats.failed,
            stats.dropped
        ),
        (50, 50, 0, 0, 0)
    );
    drain(&server).await;
    let stored: HashSet<String> = stored_event_ids(&server).await.into_iter().collect();
    assert_eq!(stored, ids);
    client.close().await;
    assert_eq!(
        client.track("s", "c", "n", json!({})),
        Err(TrackError::Closed)
    );
}

#[tokio::test]
async fn the_interval_sends_without_a_flush() {
    let server = server(|_| {}).await;
    let client = Client::builder(&server.url, &server.ingest_key)
        .flush_interval(Duration::from_millis(50))
        .build()
        .expect("client");
    pageview(&client, "s");
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.stats().accepted == 0 {
        assert!(Instant::now() < deadline, "never sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn rejected_events_go_to_the_callback_and_are_not_retried() {
    let server = server(|_| {}).await;
    let rejected = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&rejected);
    let client = Client::builder(&server.url, &server.ingest_key)
        .on_rejected(move |r| seen.lock().expect("lock").push(r))
        .build()
        .expect("client");
    let bad = Event {
        session_id: "s".into(),
        category: "c".into(),
        name: "n".into(),
        data: serde_json::Map::new(),
        timestamp: "2021-02-30 10:00:00".into(),
        event_id: None,
        user_id: None,
        context: None,
    };
    let bad_id = client.track_event(bad).expect("track");
    pageview(&client, "s");
    client.flush().await;
    let stats = client.stats();
    assert_eq!((stats.accepted, stats.rejected, stats.retried), (1, 1, 0));
    let rejected = rejected.lock().expect("lock").clone();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].event_id, bad_id);
    assert_eq!(rejected[0].error.code, "invalid_timestamp");
    assert_eq!(rejected[0].error.path.as_deref(), Some("/timestamp"));
}

#[tokio::test]
async fn retries_honour_retry_after_back_off_and_never_duplicate() {
    let server = server(|_| {}).await;
    let faults = vec![
        Fault::Status(429, Some(1)),
        Fault::Status(503, None),
        Fault::Reset,
        Fault::ForwardThenHang,
    ];
    let proxy = FaultProxy::start(&server.url, faults).await;
    let client = Client::builder(&proxy.url, &server.ingest_key)
        .backoff(Duration::from_millis(50), Duration::from_millis(200))
        .request_timeout(Duration::from_millis(1500))
        .build()
        .expect("client");
    let ids: HashSet<String> = (0..20)
        .map(|n| pageview(&client, &format!("s{n}")))
        .collect();
    client.flush().await;
    let stats = client.stats();
    assert_eq!((stats.accepted, stats.failed), (20, 0), "{stats:?}");
    assert_eq!(
        stats.retried, 80,
        "four failed attempts of the one batch of 20"
    );

    let requests = proxy.requests();
    assert_eq!(requests.len(), 5);
    let after_429 = requests[1].at.duration_since(requests[0].at);
    assert!(
        after_429 >= Duration::from_millis(950),
        "Retry-After: 1 honoured, waited {after_429:?}"
    );

    // The hung request reached the server, and so did its retry: stored once all the same.
    drain(&server).await;
    let stored = stored_event_ids(&server).await;
    assert_eq!(stored.len(), 20, "no duplicates");
    assert_eq!(stored.into_iter().collect::<HashSet<_>>(), ids);
}

#[tokio::test]
async fn other_client_errors_are_not_retried() {
    let server = server(|_| {}).await;
    let proxy = FaultProxy::start(&server.url, vec![]).await;
    let client = Client::builder(&proxy.url, "eye_not_a_real_key")
        .build()
        .expect("client");
    pageview(&client, "s");
    client.flush().await;
    let stats = client.stats();
    assert_eq!((stats.failed, stats.retried, stats.accepted), (1, 0, 0));
    assert_eq!(proxy.requests().len(), 1, "a 401 is never retried");
}

#[tokio::test]
async fn oversized_batches_are_split() {
    let server = server(|config| config.max_batch_events = 10).await;
    let client = Client::builder(&server.url, &server.ingest_key)
        .flush_events(64)
        .build()
        .expect("client");
    for n in 0..64 {
        pageview(&client, &format!("s{n}"));
    }
    client.flush().await;
    assert_eq!(client.stats().accepted, 64);
}

#[tokio::test]
async fn large_bodies_are_gzipped() {
    let server = server(|_| {}).await;
    let proxy = FaultProxy::start(&server.url, vec![]).await;
    let client = Client::builder(&proxy.url, &server.ingest_key)
        .gzip_above_bytes(1024)
        .build()
        .expect("client");
    pageview(&client, "small");
    client.flush().await;
    for n in 0..40 {
        pageview(&client, &format!("big-{n}"));
    }
    client.flush().await;
    assert_eq!(client.stats().accepted, 41);
    let heads: Vec<bool> = proxy
        .requests()
        .iter()
        .map(|r| {
            r.head
                .to_ascii_lowercase()
                .contains("content-encoding: gzip")
        })
        .collect();
    assert_eq!(heads, vec![false, true]);
}

#[tokio::test]
async fn memory_stays_bounded_when_the_server_is_away() {
    let proxy = FaultProxy::start(
        "127.0.0.1:9",
        (0..1000).map(|_| Fault::Status(503, Some(60))).collect(),
    )
    .await;
    let client = Client::builder(&proxy.url, "eye_key")
        .buffer_events(10)
        .flush_events(5)
        .build()
        .expect("client");
    let outcomes: Vec<_> = (0..100)
        .map(|n| client.track(format!("s{n}"), "c", "n", json!({})))
        .collect();
    let dropped = outcomes
        .iter()
        .filter(|o| **o == Err(TrackError::Dropped))
        .count();
    assert!(dropped >= 85, "dropped {dropped}");
    assert!(client.buffered() <= 10);
    assert_eq!(client.stats().dropped, dropped as u64);

    let blocking = Client::builder(&proxy.url, "eye_key")
        .buffer_events(1)
        .flush_interval(Duration::from_secs(3600))
        .overflow(OverflowPolicy::Block(Duration::from_millis(100)))
        .build()
        .expect("client");
    blocking
        .track("s", "c", "n", json!({}))
        .expect("room for one");
    let started = Instant::now();
    assert_eq!(
        blocking.track("s", "c", "n", json!({})),
        Err(TrackError::Dropped)
    );
    assert!(
        started.elapsed() >= Duration::from_millis(90),
        "waited for room before dropping"
    );
}

#[test]
fn the_blocking_client_works_without_a_runtime() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime.block_on(server(|_| {}));
    let client =
        BlockingClient::new(Client::builder(&server.url, &server.ingest_key)).expect("client");
    client
        .track(
            "s-blocking",
            "page interaction",
            "pageview",
            json!({"host": "h", "path": "/"}),
        )
        .expect("track");
    client.flush();
    assert_eq!(client.stats().accepted, 1);
    client.close();
    drop(runtime);
}
