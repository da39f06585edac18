//! What both stores share about erasures: the job ids, how a job's sessions are kept (a JSON
//! array), and which messages of a batch an erasure covers, so `write_batch` skips them.
//!
//! A message is covered when its session is one an erasure names (and its application the
//! job's, if the job names one), and the erasure either is not finished, or finished at or
//! after the message was received (it would have erased the message, had it been stored in
//! time), or suppresses the session. A `failed` job counts as finished at its `completed_at`.
//! Error records keep their session id redacted (`auth::keys::redact`), so they are matched
//! against both forms of each erased id.

use std::collections::{BTreeSet, HashSet};

use rand::RngCore;
use uuid::Uuid;

use crate::auth::keys::redact;
use crate::model::QueueMessage;
use crate::model::timestamp::Micros;
use crate::store::lifecycle::ErasureStatus;

/// A fresh erasure id: `era_` and 64 random bits in hex, like key ids.
pub fn new_erasure_id() -> String {
    format!("era_{:016x}", rand::rng().next_u64())
}

/// The column form of a job's session ids.
pub fn encode_sessions(session_ids: &[String]) -> String {
    serde_json::Value::from(session_ids.to_vec()).to_string()
}

pub fn decode_sessions(text: &str) -> Result<Vec<String>, serde_json::Error> {
    serde_json::from_str(text)
}

/// The session ids error records of `session_ids` may carry: each as given and redacted.
pub fn error_session_forms(session_ids: &[String]) -> Vec<String> {
    let mut forms: BTreeSet<String> = session_ids.iter().cloned().collect();
    forms.extend(session_ids.iter().map(|id| redact(id).into_owned()));
    forms.into_iter().collect()
}

/// Whether a job in `status` still covers every message of its sessions, however recent.
pub fn unfinished(status: ErasureStatus) -> bool {
    matches!(status, ErasureStatus::Pending | ErasureStatus::Running)
}

/// One erasure or suppression as a batch sees it.
struct Cover {
    /// Session ids as events carry them.
    sessions: HashSet<String>,
    /// Session ids as error records may carry them (as given and redacted).
    error_sessions: HashSet<String>,
    app: Option<String>,
    /// Messages received up to this time are covered; `None`: every message.
    until: Option<Micros>,
}

/// The erasures and suppressions that matter to one batch.
#[derive(Default)]
pub struct Guard {
    covers: Vec<Cover>,
}

impl Guard {
    /// Adds the sessions of one erasure or suppression.
    pub fn add(&mut self, session_ids: Vec<String>, app: Option<String>, until: Option<Micros>) {
        let error_sessions = error_session_forms(&session_ids).into_iter().collect();
        self.covers.push(Cover {
            sessions: session_ids.into_iter().collect(),
            error_sessions,
            app,
            until,
        });
    }

    /// The id of `message` when an erasure covers it, else `None`.
    pub fn covered(&self, message: &QueueMessage) -> Option<Uuid> {
        let (id, session, app, received_at, is_error) = match message {
            QueueMessage::Event(event) => (
                event.id,
                event.session_id.as_str(),
                event.app.as_str(),
                event.received_at,
                false,
            ),
            QueueMessage::Error(entry) => (
                entry.id,
                entry.session_id.as_deref()?,
                entry.app.as_str(),
                entry.received_at,
                true,
            ),
        };
        let covers = |cover: &Cover| {
            let sessions = if is_error {
                &cover.error_sessions
            } else {
                &cover.sessions
            };
            sessions.contains(session)
                && cover.app.as_deref().is_none_or(|only| only == app)
                && cover.until.is_none_or(|until| received_at <= until)
        };
        self.covers.iter().any(covers).then_some(id)
    }
}

/// The sessions of a batch, as the store looks them up: events' and error records' apart
/// (the latter are redacted), each once; and the earliest receive time in the batch.
#[derive(Default)]
pub struct BatchSessions<'a> {
    pub events: BTreeSet<&'a str>,
    pub errors: BTreeSet<&'a str>,
    pub oldest: Option<Micros>,
}

impl<'a> BatchSessions<'a> {
    pub fn of(messages: &'a [QueueMessage]) -> BatchSessions<'a> {
        let mut sessions = BatchSessions::default();
        for message in messages {
            let received_at = match message {
                QueueMessage::Event(event) => {
                    sessions.events.insert(&event.session_id);
                    event.received_at
                }
                QueueMessage::Error(entry) => {
                    if let Some(session) = &entry.session_id {
                        sessions.errors.insert(session);
                    }
                    entry.received_at
                }
            };
            sessions.oldest = Some(sessions.oldest.map_or(received_at, |o| o.min(received_at)));
        }
        sessions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ErrorEntry, EventRecord};

    fn event(session: &str, app: &str, received_at: Micros) -> QueueMessage {
        QueueMessage::Event(EventRecord {
            id: Uuid::now_v7(),
            app: app.into(),
            session_id: session.into(),
            category: "c".into(),
            name: "n".into(),
            data: "{}".into(),
            timestamp: received_at,
            received_at,
            event_id: None,
            schema_version: None,
            user_id: None,
            context: None,
            original_timestamp: None,
        })
    }

    fn error(session: Option<&str>, received_at: Micros) -> QueueMessage {
        let mut entry = ErrorEntry {
            id: Uuid::now_v7(),
            app: "shop".into(),
            code: "schema_violation".into(),
            message: "bad".into(),
            path: None,
            received_at,
            category: None,
            name: None,
            session_id: None,
            schema_version: None,
            raw: "{}".into(),
            replayed_at: None,
            replayed_event_id: None,
        };
        entry.session_id = session.map(|s| redact(s).into_owned());
        QueueMessage::Error(entry)
    }

    #[test]
    fn covers_by_session_app_and_time() {
        let mut guard = Guard::default();
        guard.add(vec!["s1".into()], None, None);
        guard.add(vec!["s2".into()], Some("shop".into()), Some(100));
        assert!(guard.covered(&event("s1", "blog", 1_000)).is_some());
        assert!(guard.covered(&event("s2", "shop", 100)).is_some());
        assert!(
            guard.covered(&event("s2", "shop", 101)).is_none(),
            "received after"
        );
        assert!(
            guard.covered(&event("s2", "blog", 50)).is_none(),
            "other app"
        );
        assert!(guard.covered(&event("s3", "shop", 50)).is_none());
        assert!(guard.covered(&error(Some("s1"), 5)).is_some());
        assert!(guard.covered(&error(None, 5)).is_none());
    }

    #[test]
    fn error_records_match_the_redacted_form() {
        let secret = format!("eye_{}", "a".repeat(43));
        let mut guard = Guard::default();
        guard.add(vec![format!("visitor-{secret}")], None, None);
        assert!(
            guard
                .covered(&error(Some(&format!("visitor-{secret}")), 1))
                .is_some()
        );
        assert!(
            guard
                .covered(&event("visitor-eye_[redacted]", "shop", 1))
                .is_none()
        );
    }

    #[test]
    fn ids_and_sessions_round_trip() {
        let id = new_erasure_id();
        assert!(id.starts_with("era_") && id.len() == 20, "{id}");
        assert_ne!(id, new_erasure_id());
        let sessions = vec!["a\"b".to_owned(), "c".to_owned()];
        assert_eq!(
            decode_sessions(&encode_sessions(&sessions)).expect("decode"),
            sessions
        );
    }
}
