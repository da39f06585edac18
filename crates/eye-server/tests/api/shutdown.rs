//! Shutdown with a live subscriber connected: its stream ends when shutdown begins, so the
//! server stops at once instead of waiting out the drain deadline (30 s) for it.

use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::helpers::spawn;

#[tokio::test]
async fn a_live_subscriber_ends_when_the_server_stops_and_does_not_hold_it() {
    let app = spawn().await;
    let mut live = app
        .request(Method::GET, "/v1/events/live", Some(&app.query_key))
        .send()
        .await
        .expect("subscribe");
    assert_eq!(live.status(), StatusCode::OK);
    let stopping = tokio::spawn(app.stop());
    // Ten seconds is a deadline on the condition, a third of the drain deadline that an
    // endless stream would otherwise hold the shutdown for.
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match live.chunk().await {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return,
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the live stream was still open 10 s after shutdown began"
    );
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("the server stopped within 10 s of its live stream ending")
        .expect("the stop task");
}
