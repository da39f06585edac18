//! The events of the lifecycle cycles: sessions, applications and timestamps chosen by the
//! cycle; sent to preload the store (a failed request is sent again with the same event ids,
//! so it is stored at most once), or alongside a sweep or an erasure by clients that keep
//! going through the kill and record when each request left and was answered.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::clients::{http_client, send};
use crate::ledger::{Answer, Ledger};

/// The two applications events come from: a session may have events of both.
pub const APPS: [&str; 2] = ["crash", "crash-b"];

/// The cycle in the ledger: a lifecycle cycle has a ledger of its own.
pub const CYCLE: usize = 1;

/// A timestamp in the form the server gives back (RFC 3339, UTC, µs), so that stored and
/// sent timestamps compare as text.
pub fn timestamp(at: OffsetDateTime) -> String {
    at.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    ))
    .unwrap_or_default()
}

/// Microseconds since the epoch, as the server counts `received_at`.
pub fn micros(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1000) as i64
}

/// `micros` as a timestamp.
pub fn at(micros: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .map(timestamp)
        .unwrap_or_default()
}

pub fn parse_micros(text: &str) -> Option<i64> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(micros)
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// One event of `session` from `app` at `at`; `rejected`: with a timestamp no server
/// accepts, so it goes to the error store with its session id.
pub fn event(
    session: &str,
    app: &str,
    at: OffsetDateTime,
    rejected: bool,
    rng: &mut StdRng,
) -> Value {
    let payload: String = (0..rng.random_range(8..48))
        .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
        .collect();
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let timestamp = if rejected {
        "not a time".to_owned()
    } else {
        timestamp(at)
    };
    json!({
        "session_id": session,
        "category": "lifecycle",
        "name": "step",
        "timestamp": timestamp,
        "event_id": format!("l{id}-{}", rng.random::<u32>()),
        // The application is in the data too, so that a stored event says which it was sent as.
        "data": {"app": app, "payload": payload},
    })
}

/// When a request left and when its answer came (µs since the epoch).
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub sent: i64,
    pub answered: i64,
}

/// Sends events to the ingest nodes, with one ingest key per application.
#[derive(Clone)]
pub struct Traffic {
    pub urls: Vec<String>,
    pub keys: HashMap<String, String>,
    pub ledger: Arc<Ledger>,
    pub timings: Arc<Mutex<HashMap<String, Timing>>>,
}

impl Traffic {
    /// Sends `events` as `app` once, records every answer; whether the request got one.
    async fn post(
        &self,
        client: &reqwest::Client,
        turn: usize,
        app: &str,
        events: &[Value],
    ) -> bool {
        let url = &self.urls[turn % self.urls.len()];
        let key = self.keys.get(app).map_or("", String::as_str);
        let sent = micros(OffsetDateTime::now_utc());
        let answers = send(client, url, key, events).await;
        let answered = micros(OffsetDateTime::now_utc());
        let mut timings = self.timings.lock().unwrap_or_else(|p| p.into_inner());
        for (index, event) in events.iter().enumerate() {
            let answer = answers
                .as_ref()
                .and_then(|a| a.get(index).copied())
                .unwrap_or(Answer::Failed);
            let id = event["event_id"].as_str().unwrap_or_default().to_owned();
            timings.insert(id, Timing { sent, answered });
            self.ledger.record(CYCLE, event.clone(), answer);
        }
        answers.is_some()
    }

    /// Sends every batch, `parallel` requests at a time, each until it is answered.
    pub async fn preload(
        &self,
        batches: Vec<(String, Vec<Value>)>,
        parallel: usize,
    ) -> anyhow::Result<()> {
        let queue = Arc::new(Mutex::new(VecDeque::from(batches)));
        let tasks: Vec<_> = (0..parallel)
            .map(|turn| {
                let (traffic, queue) = (self.clone(), Arc::clone(&queue));
                tokio::spawn(async move {
                    let client = http_client(Duration::from_secs(30));
                    loop {
                        let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                        let Some((app, events)) = next else {
                            return Ok(());
                        };
                        let mut attempt = 0;
                        while !traffic.post(&client, turn + attempt, &app, &events).await {
                            attempt += 1;
                            anyhow::ensure!(
                                attempt < 20,
                                "preloading: 20 requests in a row failed"
                            );
                            tokio::time::sleep(Duration::from_millis(250)).await;
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await??;
        }
        Ok(())
    }

    /// `clients` senders of the batches `make` gives, each waiting `pace` between requests
    /// (light traffic: the sweep yields the store's writer to the worker), until stopped.
    pub fn spawn<F>(&self, clients: usize, pace: Duration, seed: u64, make: F) -> Sending
    where
        F: Fn(&mut StdRng) -> (String, Vec<Value>) + Send + Sync + 'static,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let make = Arc::new(make);
        let tasks: Vec<_> = (0..clients)
            .map(|id| {
                let (traffic, make, stop) = (self.clone(), Arc::clone(&make), Arc::clone(&stop));
                tokio::spawn(async move {
                    let client = http_client(Duration::from_secs(5));
                    let mut rng = StdRng::seed_from_u64(seed ^ id as u64);
                    let mut turn = id;
                    while !stop.load(Ordering::Relaxed) {
                        let (app, events) = make(&mut rng);
                        turn += 1;
                        let answered = traffic.post(&client, turn, &app, &events).await;
                        // A node that is down is not hammered while it restarts.
                        let wait = if answered {
                            pace
                        } else {
                            pace.max(Duration::from_millis(20))
                        };
                        tokio::time::sleep(wait).await;
                    }
                })
            })
            .collect();
        Sending { stop, tasks }
    }

    pub fn timing(&self, event_id: &str) -> Option<Timing> {
        self.timings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(event_id)
            .copied()
    }
}

/// Clients sending until stopped.
pub struct Sending {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Sending {
    /// Stops every client after its request under way.
    pub async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// `events` grouped by application into batches of at most `size`, in a random order (so
/// that a session's events travel in many requests).
pub fn batches(
    mut events: Vec<(String, Value)>,
    size: usize,
    rng: &mut StdRng,
) -> Vec<(String, Vec<Value>)> {
    use rand::seq::SliceRandom;
    events.shuffle(rng);
    let mut by_app: HashMap<String, Vec<Value>> = HashMap::new();
    let mut batches = Vec::new();
    for (app, event) in events {
        let batch = by_app.entry(app.clone()).or_default();
        batch.push(event);
        if batch.len() == size {
            batches.push((app, std::mem::take(batch)));
        }
    }
    batches.extend(by_app.into_iter().filter(|(_, b)| !b.is_empty()));
    batches
}
