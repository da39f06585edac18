//! The checks of a lifecycle cycle through the query API: what had to go is gone, the rest
//! is stored exactly once and intact (the ledger check of `verify`), and every session's
//! summary says what its remaining events say.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::clients::http_client;
use crate::ledger::{Answer, Sent};
use crate::verify::{self, Tally};

/// Everything stored, read through the query API.
pub struct Stored {
    pub events: Vec<Value>,
    pub errors: Vec<Value>,
}

pub async fn read(base: &str, key: &str) -> anyhow::Result<Stored> {
    Ok(Stored {
        events: verify::all(base, "/v1/events", "events", key).await?,
        errors: verify::all(base, "/v1/errors", "errors", key).await?,
    })
}

/// What a sent event must have become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// As answered: acknowledged stored once, rejected in the error store.
    Answered,
    /// Deleted (expired or erased): checked by the `must_go` rules, not here.
    Gone,
    /// Either stored once or not at all (an event an erasure may or may not have covered).
    Either,
}

/// The verdict on what is stored.
#[derive(Debug, Default)]
pub struct Verdict {
    pub tally: Tally,
    /// Stored events and error records that should have gone.
    pub not_gone: usize,
    pub examples: Vec<String>,
    /// A few acknowledged events that are not stored (ids), for the message.
    pub lost: Vec<String>,
}

/// Stored rows that had to go (an event whose sent record is `Gone`, or for which
/// `event_must_go` holds; an error record for which `error_must_go` holds) are counted as
/// not gone; the rest is checked against the ledger, each sent event as `expect` says.
pub fn judge(
    sent: &HashMap<String, Sent>,
    stored: &Stored,
    expect: impl Fn(&str, &Sent) -> Expect,
    event_must_go: impl Fn(&Value) -> bool,
    error_must_go: impl Fn(&Value) -> bool,
) -> Verdict {
    let mut expected = HashMap::new();
    let mut gone = HashSet::new();
    for (id, record) in sent {
        let mut record = record.clone();
        match expect(id, &record) {
            Expect::Gone => {
                gone.insert(id.as_str());
                continue;
            }
            Expect::Either => record.answer = Answer::Failed,
            Expect::Answered => {}
        }
        expected.insert(id.clone(), record);
    }
    let mut verdict = Verdict::default();
    let mut kept = Vec::with_capacity(stored.events.len());
    for event in &stored.events {
        if gone.contains(event["event_id"].as_str().unwrap_or_default()) || event_must_go(event) {
            verdict.not_gone("event", event);
        } else {
            kept.push(event.clone());
        }
    }
    for error in stored.errors.iter().filter(|e| error_must_go(e)) {
        verdict.not_gone("error record", error);
    }
    for tally in verify::tally(&expected, &kept, &stored.errors, 1) {
        verdict.tally.add(&tally);
    }
    let present: HashSet<&str> = kept.iter().filter_map(|e| e["event_id"].as_str()).collect();
    verdict.lost = expected
        .iter()
        .filter(|(id, r)| r.answer == Answer::Accepted && !present.contains(id.as_str()))
        .map(|(id, _)| id.clone())
        .take(5)
        .collect();
    verdict
}

impl Verdict {
    fn not_gone(&mut self, what: &str, row: &Value) {
        self.not_gone += 1;
        if self.examples.len() < 5 {
            self.examples.push(format!(
                "{what} of session {} (app {}, received {})",
                row["session_id"], row["app"], row["received_at"]
            ));
        }
    }

    pub fn broken(&self) -> bool {
        self.not_gone > 0 || self.tally.broken()
    }
}

/// A session's summary as its events say it.
#[derive(Debug, PartialEq, Eq)]
struct Summary {
    first: String,
    last: String,
    count: u64,
    apps: BTreeSet<String>,
}

fn summaries_of(events: &[Value]) -> HashMap<String, Summary> {
    let mut summaries: HashMap<String, Summary> = HashMap::new();
    for event in events {
        let (Some(session), Some(at), Some(app)) = (
            event["session_id"].as_str(),
            event["timestamp"].as_str(),
            event["app"].as_str(),
        ) else {
            continue;
        };
        let summary = summaries
            .entry(session.to_owned())
            .or_insert_with(|| Summary {
                first: at.to_owned(),
                last: at.to_owned(),
                count: 0,
                apps: BTreeSet::new(),
            });
        summary.first = summary.first.as_str().min(at).to_owned();
        summary.last = summary.last.as_str().max(at).to_owned();
        summary.count += 1;
        summary.apps.insert(app.to_owned());
    }
    summaries
}

/// Sessions whose `GET /v1/sessions/{id}` disagrees with `events` (all that is stored):
/// a summary other than its events say, or one answered although no event is left, or a 404
/// although some are. Returns how many, with a few described.
pub async fn summaries(
    base: &str,
    key: &str,
    sessions: BTreeSet<String>,
    events: &[Value],
) -> anyhow::Result<(usize, Vec<String>)> {
    let expected = Arc::new(summaries_of(events));
    let mut all = sessions;
    all.extend(expected.keys().cloned());
    let queue = Arc::new(Mutex::new(all.into_iter().collect::<VecDeque<_>>()));
    let wrong = Arc::new(Mutex::new(Vec::new()));
    let client = http_client(Duration::from_secs(30));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (queue, wrong, expected) = (
                Arc::clone(&queue),
                Arc::clone(&wrong),
                Arc::clone(&expected),
            );
            let (client, base, key) = (client.clone(), base.to_owned(), key.to_owned());
            tokio::spawn(async move {
                loop {
                    let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                    let Some(session) = next else {
                        return anyhow::Ok(());
                    };
                    let response = client
                        .get(format!("{base}/v1/sessions/{session}?limit=1"))
                        .bearer_auth(&key)
                        .send()
                        .await?;
                    let status = response.status().as_u16();
                    let body: Value = response.json().await.unwrap_or_default();
                    if let Some(problem) = disagreement(expected.get(&session), status, &body) {
                        wrong
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(format!("session {session}: {problem}"));
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let wrong = std::mem::take(&mut *wrong.lock().unwrap_or_else(|p| p.into_inner()));
    Ok((wrong.len(), wrong.into_iter().take(5).collect()))
}

fn disagreement(expected: Option<&Summary>, status: u16, body: &Value) -> Option<String> {
    let Some(expected) = expected else {
        return (status != 404)
            .then(|| format!("no event is left but it answers {status}: {body}"));
    };
    if status != 200 {
        return Some(format!(
            "{} events are left but it answers {status}",
            expected.count
        ));
    }
    let apps = body["apps"]
        .as_array()
        .map(|apps| {
            apps.iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let summary = Summary {
        first: body["first_timestamp"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        last: body["last_timestamp"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        count: body["event_count"].as_u64().unwrap_or_default(),
        apps,
    };
    (summary != *expected).then(|| format!("summary {summary:?}, its events say {expected:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored(session: &str, at: &str, app: &str) -> Value {
        json!({"session_id": session, "timestamp": at, "app": app})
    }

    fn sent(id: &str, session: &str, answer: Answer) -> (String, Sent) {
        let event = json!({"event_id": id, "session_id": session, "category": "c", "name": "n",
                           "data": {"payload": id}});
        let record = Sent {
            cycle: 1,
            event,
            answer,
        };
        (id.to_owned(), record)
    }

    fn row(id: &str, session: &str) -> Value {
        json!({"event_id": id, "session_id": session, "category": "c", "name": "n",
               "data": {"payload": id}, "app": "a", "received_at": "t"})
    }

    #[test]
    fn what_had_to_go_must_be_gone_and_the_rest_stored_once() {
        let ledger: HashMap<String, Sent> = [
            sent("kept", "s", Answer::Accepted),
            sent("lost", "s", Answer::Accepted),
            sent("erased", "gone", Answer::Accepted),
            sent("erased-but-stored", "gone", Answer::Accepted),
            sent("maybe", "late", Answer::Accepted),
        ]
        .into_iter()
        .collect();
        let stored = Stored {
            events: vec![
                row("kept", "s"),
                row("erased-but-stored", "gone"),
                row("stray", "gone"),
            ],
            errors: vec![json!({"session_id": "gone", "app": "a", "received_at": "t"})],
        };
        let verdict = judge(
            &ledger,
            &stored,
            |_, record| match record.event["session_id"].as_str() {
                Some("gone") => Expect::Gone,
                Some("late") => Expect::Either,
                _ => Expect::Answered,
            },
            |event| event["event_id"] == "stray",
            |error| error["session_id"] == "gone",
        );
        // Stored though gone by the ledger, stored though the rule says it must go, and the
        // error record.
        assert_eq!(verdict.not_gone, 3);
        assert_eq!((verdict.tally.acknowledged, verdict.tally.lost), (2, 1));
        assert_eq!(verdict.tally.failed_not_stored, 1);
        assert_eq!(verdict.tally.phantom, 0);
        assert!(verdict.broken());
    }

    #[test]
    fn a_summary_must_match_its_events_and_an_empty_session_must_be_gone() {
        let events = [
            stored("s", "2026-01-02T00:00:00.000000Z", "a"),
            stored("s", "2026-01-01T00:00:00.000000Z", "b"),
        ];
        let summaries = summaries_of(&events);
        let good = json!({"first_timestamp": "2026-01-01T00:00:00.000000Z",
                          "last_timestamp": "2026-01-02T00:00:00.000000Z",
                          "event_count": 2, "apps": ["a", "b"]});
        assert_eq!(disagreement(summaries.get("s"), 200, &good), None);
        let mut counted_twice = good.clone();
        counted_twice["event_count"] = json!(3);
        assert!(disagreement(summaries.get("s"), 200, &counted_twice).is_some());
        let mut stale_app = good;
        stale_app["apps"] = json!(["a"]);
        assert!(disagreement(summaries.get("s"), 200, &stale_app).is_some());
        assert!(disagreement(summaries.get("s"), 404, &Value::Null).is_some());
        assert_eq!(disagreement(None, 404, &Value::Null), None);
        assert!(disagreement(None, 200, &json!({})).is_some());
    }
}
