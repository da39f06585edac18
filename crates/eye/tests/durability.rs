//! An acknowledged event is never lost: SIGKILL mid-ingestion, and a full disk.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::services::skipped;
use common::{Server, create_key, drain, stored_event_ids};
use serde_json::{Value, json};

fn batch(client: usize, round: usize, size: usize, payload: usize) -> Vec<Value> {
    (0..size)
        .map(|n| {
            json!({
                "session_id": format!("client-{client}"),
                "category": "page interaction",
                "name": "pageview",
                "data": {"host": "example.com", "path": "/", "pad": "x".repeat(payload)},
                "timestamp": "2021-01-01 09:15:27.243860",
                "event_id": format!("c{client}-r{round}-n{n}"),
            })
        })
        .collect()
}

/// Sends batches from `clients` tasks until `stop`, recording the event ids of every 202.
async fn load(
    base: String,
    key: String,
    clients: usize,
    payload: usize,
    acked: Arc<Mutex<HashSet<String>>>,
    max_rounds: usize,
) -> HashMap<u16, usize> {
    let client = common::http_with_timeout(Duration::from_secs(10));
    let tasks: Vec<_> = (0..clients)
        .map(|id| {
            let (client, base, key, acked) = (
                client.clone(),
                base.clone(),
                key.clone(),
                Arc::clone(&acked),
            );
            tokio::spawn(async move {
                let mut statuses: HashMap<u16, usize> = HashMap::new();
                for round in 0..max_rounds {
                    let events = batch(id, round, 10, payload);
                    let Ok(response) = client
                        .post(format!("{base}/v1/events"))
                        .bearer_auth(&key)
                        .json(&events)
                        .send()
                        .await
                    else {
                        break; // the server is gone
                    };
                    let status = response.status().as_u16();
                    *statuses.entry(status).or_default() += 1;
                    if status == 202 {
                        let mut acked = acked.lock().expect("lock");
                        acked.extend(
                            events
                                .iter()
                                .map(|e| e["event_id"].as_str().expect("id").to_owned()),
                        );
                    }
                }
                statuses
            })
        })
        .collect();
    let mut total = HashMap::new();
    for task in tasks {
        for (status, count) in task.await.expect("client") {
            *total.entry(status).or_default() += count;
        }
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_event_survives_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ingest = create_key(dir.path(), "shop", "ingest");
    let query = create_key(dir.path(), "team", "query");
    let server = Server::start(dir.path(), &[]);
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let sending = tokio::spawn(load(
        server.base.clone(),
        ingest,
        8,
        50,
        Arc::clone(&acked),
        10_000,
    ));
    for _ in 0..200 {
        if acked.lock().expect("lock").len() >= 2_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    server.signal(9);
    sending.await.expect("load");
    drop(server);
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.len() >= 100,
        "too few acknowledgements to prove anything: {}",
        acked.len()
    );

    let restarted = Server::start(dir.path(), &[]);
    let client = common::http();
    drain(&client, &restarted.base, Duration::from_secs(60)).await;
    let stored = stored_event_ids(&client, &restarted.base, &query).await;
    let unique: HashSet<String> = stored.iter().cloned().collect();
    assert_eq!(unique.len(), stored.len(), "an event was stored twice");
    let lost: Vec<&String> = acked.difference(&unique).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events lost, e.g. {:?}",
        lost.len(),
        lost.first()
    );
    println!(
        "acknowledged {}, stored {} (the rest were in flight at the kill)",
        acked.len(),
        stored.len()
    );
}

/// Mounts a small tmpfs; `None` where this machine does not allow it.
fn small_filesystem(dir: &std::path::Path, size: &str) -> Option<()> {
    let status = std::process::Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size}"),
            "tmpfs",
            dir.to_str()?,
        ])
        .status()
        .ok()?;
    status.success().then_some(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    if small_filesystem(dir.path(), "3m").is_none() {
        return skipped("cannot mount a tmpfs here (needs root)");
    }
    let mounted = dir.path().to_owned();
    let _unmount = Unmount(mounted.clone());
    let ingest = create_key(&mounted, "shop", "ingest");
    let query = create_key(&mounted, "team", "query");
    let server = Server::start(&mounted, &[]);
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let statuses = load(
        server.base.clone(),
        ingest,
        4,
        2_000,
        Arc::clone(&acked),
        150,
    )
    .await;
    assert!(
        statuses.get(&503).copied().unwrap_or(0) > 0,
        "the disk never filled: {statuses:?}"
    );
    assert!(
        statuses.keys().all(|s| *s == 202 || *s == 503),
        "{statuses:?}"
    );

    let grown = std::process::Command::new("mount")
        .args(["-o", "remount,size=256m", mounted.to_str().expect("utf-8")])
        .status()
        .expect("remount");
    assert!(grown.success());
    let client = common::http();
    drain(&client, &server.base, Duration::from_secs(60)).await;
    let stored: HashSet<String> = stored_event_ids(&client, &server.base, &query)
        .await
        .into_iter()
        .collect();
    let acked = acked.lock().expect("lock").clone();
    let lost = acked.difference(&stored).count();
    assert_eq!(lost, 0, "acknowledged events lost after the disk filled");
    let healthy = client
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .expect("readyz");
    assert_eq!(healthy.status(), 200);
}

struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}
