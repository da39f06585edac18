//! Concurrent clients: each posts batches of 1 to 20 events to the ingest nodes in turn
//! until told to stop, and writes every event with the answer it got into the ledger.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rand::SeedableRng;
use serde_json::Value;

use crate::ledger::{Answer, Ledger, event};

pub struct Load {
    pub ingest_urls: Vec<String>,
    pub key: String,
    pub ledger: Arc<Ledger>,
    pub stop: Arc<AtomicBool>,
}

pub fn http_client(timeout: Duration) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .unwrap_or_default()
}

impl Load {
    /// Runs `clients` senders for one cycle; returns when `stop` is set.
    pub async fn run(&self, cycle: usize, clients: usize, seed: u64) {
        let client = http_client(Duration::from_secs(5));
        let tasks: Vec<_> = (0..clients)
            .map(|id| {
                let (client, urls, key, ledger, stop) = (
                    client.clone(),
                    self.ingest_urls.clone(),
                    self.key.clone(),
                    Arc::clone(&self.ledger),
                    Arc::clone(&self.stop),
                );
                tokio::spawn(async move {
                    let mut rng = rand::rngs::StdRng::seed_from_u64(
                        seed ^ ((cycle as u64) << 32) ^ id as u64,
                    );
                    let mut sequence = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let size = rand::Rng::random_range(&mut rng, 1..=20);
                        let batch: Vec<Value> = (0..size)
                            .map(|_| {
                                sequence += 1;
                                event(cycle, id, sequence, &mut rng)
                            })
                            .collect();
                        let url = &urls[sequence as usize % urls.len()];
                        let answers = send(&client, url, &key, &batch).await;
                        let failed = answers.is_none();
                        for (index, event) in batch.into_iter().enumerate() {
                            let answer = answers
                                .as_ref()
                                .and_then(|a| a.get(index).copied())
                                .unwrap_or(Answer::Failed);
                            ledger.record(cycle, event, answer);
                        }
                        if failed {
                            // The node is down: do not spin while it restarts.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    }
}

/// The verdict of each event, or `None` when the request failed as a whole.
pub async fn send(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    batch: &[Value],
) -> Option<Vec<Answer>> {
    let response = client
        .post(format!("{url}/v1/events"))
        .bearer_auth(key)
        .json(batch)
        .send()
        .await
        .ok()?;
    if response.status() != 202 && response.status() != 422 {
        return None;
    }
    let body: Value = response.json().await.ok()?;
    body["results"]
        .as_array()?
        .iter()
        .map(|result| match result["status"].as_str() {
            Some("accepted") => Some(Answer::Accepted),
            Some("rejected") => Some(Answer::Rejected),
            _ => None,
        })
        .collect()
}
