//! Many concurrent requests with overlapping `event_id`s and shared sessions: each event is
//! stored exactly once and session counts stay exact.

use std::collections::HashMap;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{pageview, spawn};

const SESSIONS: usize = 5;
const UNIQUE_EVENTS: usize = 400;

fn event(n: usize) -> Value {
    let mut event = pageview(
        &format!("shared-{}", n % SESSIONS),
        &format!("2021-01-01 10:{:02}:{:02}.{n:06}", n / 60 % 60, n % 60),
    );
    event["event_id"] = json!(format!("evt-{n}"));
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_retries_store_each_event_exactly_once() {
    let app = Arc::new(spawn().await);
    // 16 clients; each sends overlapping windows of the same events, in batches of 25, twice.
    let clients: Vec<_> = (0..16)
        .map(|client| {
            let app = Arc::clone(&app);
            tokio::spawn(async move {
                let start = client * 20;
                let mine: Vec<Value> = (start..start + 100)
                    .map(|n| event(n % UNIQUE_EVENTS))
                    .collect();
                for _round in 0..2 {
                    for batch in mine.chunks(25) {
                        let response = app.ingest(&Value::Array(batch.to_vec())).await;
                        assert_eq!(response.status(), StatusCode::ACCEPTED);
                    }
                }
            })
        })
        .collect();
    for client in clients {
        client.await.expect("client");
    }
    app.drain().await;
    let stored = app.all_events("limit=1000").await;
    let mut copies: HashMap<String, usize> = HashMap::new();
    for event in &stored {
        *copies
            .entry(event["event_id"].as_str().expect("event_id").to_owned())
            .or_default() += 1;
    }
    let sent: std::collections::HashSet<usize> = (0..16)
        .flat_map(|c| (c * 20..c * 20 + 100).map(|n| n % UNIQUE_EVENTS))
        .collect();
    let sent = sent.len();
    assert_eq!(copies.len(), sent);
    assert!(copies.values().all(|&n| n == 1), "duplicates stored");
    for session in 0..SESSIONS {
        let (_, summary) = app.query(&format!("/v1/sessions/shared-{session}")).await;
        let expected = stored
            .iter()
            .filter(|e| e["session_id"] == format!("shared-{session}"))
            .count();
        assert_eq!(summary["event_count"], expected, "session {session}");
    }
}
