//! Tracks a few events and prints the counters.
//!
//! `cargo run -p eye-client --example track -- http://127.0.0.1:8000 "$INGEST_KEY"`

use eye_client::{Client, Stats};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(key)) = (args.next(), args.next()) else {
        eprintln!("usage: track URL INGEST_KEY");
        std::process::exit(2);
    };
    let (session, stats) = track_the_brief_events(&url, &key).await?;
    println!("session {session}: {stats:?}");
    Ok(())
}

/// The brief's three events in one session; returns the session id and the counters.
pub async fn track_the_brief_events(
    url: &str,
    key: &str,
) -> Result<(String, Stats), Box<dyn std::error::Error>> {
    let client = Client::builder(url, key)
        .on_rejected(|rejected| {
            eprintln!("rejected {}: {}", rejected.event_id, rejected.error.message)
        })
        .build()?;
    let session = uuid_like();
    client.track(
        &session,
        "page interaction",
        "pageview",
        json!({"host": "www.example.com", "path": "/"}),
    )?;
    client.track(
        &session,
        "page interaction",
        "cta click",
        json!({"host": "www.example.com", "path": "/", "element": "chat bubble"}),
    )?;
    client.track(
        &session,
        "form interaction",
        "submit",
        json!({"host": "www.example.com", "path": "/", "form": {"first_name": "John"}}),
    )?;
    client.close().await;
    Ok((session, client.stats()))
}

fn uuid_like() -> String {
    format!("example-{}", std::process::id())
}
