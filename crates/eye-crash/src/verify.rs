//! The check: everything stored, read back through the query API, against the ledger.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::clients::http_client;
use crate::ledger::{Answer, Ledger, Sent};

/// The figures of one cycle (or of the whole run).
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub sent: usize,
    pub acknowledged: usize,
    pub lost: usize,
    pub duplicated: usize,
    pub corrupted: usize,
    pub phantom: usize,
    pub failed_stored: usize,
    pub failed_not_stored: usize,
    pub rejected: usize,
    pub rejected_missing: usize,
}

impl Tally {
    /// Whether a promise was broken.
    pub fn broken(&self) -> bool {
        self.lost + self.duplicated + self.corrupted + self.phantom + self.rejected_missing > 0
    }

    pub fn add(&mut self, other: &Tally) {
        self.sent += other.sent;
        self.acknowledged += other.acknowledged;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.corrupted += other.corrupted;
        self.phantom += other.phantom;
        self.failed_stored += other.failed_stored;
        self.failed_not_stored += other.failed_not_stored;
        self.rejected += other.rejected;
        self.rejected_missing += other.rejected_missing;
    }
}

/// Every item of a paginated listing (`events` or `errors`).
pub async fn all(base: &str, path: &str, field: &str, key: &str) -> anyhow::Result<Vec<Value>> {
    let client = http_client(std::time::Duration::from_secs(60));
    let mut items = Vec::new();
    let mut cursor = String::new();
    loop {
        let response = client
            .get(format!("{base}{path}?limit=1000&cursor={cursor}"))
            .bearer_auth(key)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        let page: Value = response.json().await?;
        items.extend(page[field].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => return Ok(items),
        }
    }
}

/// Tallies per cycle (index 0: stored rows no client ever sent), from what the query API
/// returns.
pub async fn check(
    base: &str,
    key: &str,
    ledger: &Ledger,
    cycles: usize,
) -> anyhow::Result<Vec<Tally>> {
    let stored = all(base, "/v1/events", "events", key).await?;
    let errors = all(base, "/v1/errors", "errors", key).await?;
    counts_match(base, key, &stored).await?;
    Ok(ledger.with(|sent| tally(sent, &stored, &errors, cycles)))
}

/// The counts over time (kept beside the events by the transactions that store them) equal
/// the stored events, and the sessions started equal their distinct sessions: whatever
/// the crashes, redeliveries and concurrent workers, each stored event counts once. Every
/// event of the harness is timestamped on 2021-01-01.
async fn counts_match(base: &str, key: &str, stored: &[Value]) -> anyhow::Result<()> {
    let client = http_client(std::time::Duration::from_secs(60));
    let total = |metric: &'static str| {
        let request = client
            .get(format!(
                "{base}/v1/stats/events?from=2021-01-01&to=2021-01-02&interval=day&metric={metric}"
            ))
            .bearer_auth(key);
        async move {
            let response = request.send().await?;
            anyhow::ensure!(
                response.status().is_success(),
                "stats: {}",
                response.status()
            );
            let body: Value = response.json().await?;
            body["total"]
                .as_u64()
                .ok_or_else(|| anyhow::anyhow!("stats without a total: {body}"))
        }
    };
    let sessions: HashSet<&str> = stored
        .iter()
        .filter_map(|e| e["session_id"].as_str())
        .collect();
    let (events, started) = (total("events").await?, total("sessions").await?);
    anyhow::ensure!(
        (events, started) == (stored.len() as u64, sessions.len() as u64),
        "the counts disagree with the stored events: {events} events and {started} sessions \
         counted, {} events and {} sessions stored",
        stored.len(),
        sessions.len()
    );
    Ok(())
}

/// Compares the stored events and errors with what was sent and answered.
pub fn tally(
    sent: &HashMap<String, Sent>,
    stored: &[Value],
    errors: &[Value],
    cycles: usize,
) -> Vec<Tally> {
    let mut copies: HashMap<String, Vec<&Value>> = HashMap::new();
    for event in stored {
        let id = event["event_id"].as_str().unwrap_or_default().to_owned();
        copies.entry(id).or_default().push(event);
    }
    let in_error_store: HashSet<String> = errors
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e["raw"].as_str()?).ok())
        .filter_map(|raw| Some(raw["event_id"].as_str()?.to_owned()))
        .collect();
    let mut tallies = vec![Tally::default(); cycles + 1];
    for (id, record) in sent {
        let tally = &mut tallies[record.cycle.min(cycles)];
        tally.sent += 1;
        let found = copies.get(id).map_or(&[][..], Vec::as_slice);
        if found.len() > 1 {
            tally.duplicated += found.len() - 1;
        }
        if found.iter().any(|stored| !intact(stored, &record.event)) {
            tally.corrupted += 1;
        }
        match record.answer {
            Answer::Accepted => {
                tally.acknowledged += 1;
                if found.is_empty() {
                    tally.lost += 1;
                }
            }
            Answer::Rejected => {
                tally.rejected += 1;
                if !in_error_store.contains(id) {
                    tally.rejected_missing += 1;
                }
                // A rejected event stored as an event is something never accepted.
                tally.phantom += found.len();
            }
            Answer::Failed if found.is_empty() => tally.failed_not_stored += 1,
            Answer::Failed => tally.failed_stored += 1,
        }
    }
    for (id, found) in &copies {
        if !sent.contains_key(id) {
            tallies[0].phantom += found.len();
        }
    }
    tallies
}

/// The stored event says what was sent: same session, type and data.
fn intact(stored: &Value, sent: &Value) -> bool {
    stored["session_id"] == sent["session_id"]
        && stored["category"] == sent["category"]
        && stored["name"] == sent["name"]
        && stored["data"] == sent["data"]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sent(cycle: usize, id: &str, answer: Answer) -> (String, Sent) {
        let event = json!({"event_id": id, "session_id": "s", "category": "c", "name": "n",
                           "data": {"payload": id}});
        (
            id.to_owned(),
            Sent {
                cycle,
                event,
                answer,
            },
        )
    }

    fn stored(id: &str, payload: &str) -> Value {
        json!({"event_id": id, "session_id": "s", "category": "c", "name": "n",
               "data": {"payload": payload}})
    }

    #[test]
    fn every_broken_promise_is_counted() {
        let ledger: HashMap<String, Sent> = [
            sent(1, "kept", Answer::Accepted),
            sent(1, "lost", Answer::Accepted),
            sent(1, "twice", Answer::Accepted),
            sent(2, "altered", Answer::Accepted),
            sent(2, "refused", Answer::Rejected),
            sent(2, "refused-unrecorded", Answer::Rejected),
            sent(2, "timed-out-stored", Answer::Failed),
            sent(2, "timed-out-gone", Answer::Failed),
        ]
        .into_iter()
        .collect();
        let rows = [
            stored("kept", "kept"),
            stored("twice", "twice"),
            stored("twice", "twice"),
            stored("altered", "something else"),
            stored("timed-out-stored", "timed-out-stored"),
            stored("never-sent", "x"),
        ];
        let errors = [json!({"raw": "{\"event_id\": \"refused\"}"})];
        let tallies = tally(&ledger, &rows, &errors, 2);
        assert_eq!(tallies[0].phantom, 1);
        assert_eq!(
            (
                tallies[1].acknowledged,
                tallies[1].lost,
                tallies[1].duplicated
            ),
            (3, 1, 1)
        );
        assert_eq!(tallies[2].corrupted, 1);
        assert_eq!((tallies[2].rejected, tallies[2].rejected_missing), (2, 1));
        assert_eq!(
            (tallies[2].failed_stored, tallies[2].failed_not_stored),
            (1, 1)
        );
        assert!(tallies[1].broken() && tallies[2].broken() && tallies[0].broken());
    }

    #[test]
    fn a_clean_run_breaks_nothing() {
        let ledger: HashMap<String, Sent> =
            [sent(1, "a", Answer::Accepted), sent(1, "b", Answer::Failed)]
                .into_iter()
                .collect();
        let tallies = tally(&ledger, &[stored("a", "a")], &[], 1);
        assert!(tallies.iter().all(|t| !t.broken()));
        assert_eq!(tallies[1].failed_not_stored, 1);
    }
}
