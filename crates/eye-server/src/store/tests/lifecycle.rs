//! Retention, usage and the PII secret: behaviours of both stores (what is particular to
//! each is in `lifecycle_backends.rs`).

use std::sync::Arc;

use super::{Harness, error, event, events_of};
use crate::model::{EventRecord, QueueMessage};
use crate::store::{Cutoffs, ErrorQuery, EventQuery, Store};

/// Cut-offs with one default for every application.
pub(super) fn before(cutoff: i64) -> Cutoffs {
    Cutoffs {
        default: Some(cutoff),
        per_app: Vec::new(),
    }
}

/// Calls `delete_expired_events` until it answers 0; every answer, the 0 included.
pub(super) async fn sweep(store: &dyn Store, cutoffs: &Cutoffs, limit: usize) -> Vec<u64> {
    let mut answers = Vec::new();
    loop {
        let deleted = store
            .delete_expired_events(cutoffs, limit)
            .await
            .expect("delete expired events");
        answers.push(deleted);
        if deleted == 0 {
            return answers;
        }
        assert!(answers.len() < 1_000, "the sweep never ends: {answers:?}");
    }
}

pub(super) async fn stored_events(store: &dyn Store) -> Vec<EventRecord> {
    store
        .events(EventQuery {
            limit: 10_000,
            ..EventQuery::default()
        })
        .await
        .expect("events")
}

/// (count, first, last, apps) of a session's summary.
pub(super) async fn summary(
    store: &dyn Store,
    session: &str,
) -> Option<(u64, i64, i64, Vec<String>)> {
    store
        .session(session)
        .await
        .expect("session")
        .map(|s| (s.event_count, s.first_timestamp, s.last_timestamp, s.apps))
}

pub(super) fn apps(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| name.to_string()).collect()
}

pub(crate) async fn a_partly_expired_session_keeps_an_exact_summary(harness: &dyn Harness) {
    let store = harness.store();
    store
        .write_batch(events_of(&[
            event("shop", "s1", "pageview", 10, None),
            event("blog", "s1", "pageview", 20, None),
            event("shop", "s1", "pageview", 30, None),
            event("shop", "s1", "cta click", 40, None),
        ]))
        .await
        .expect("write");
    assert_eq!(sweep(&*store, &before(25), 100).await, vec![2, 0]);
    assert_eq!(
        summary(&*store, "s1").await,
        Some((2, 30, 40, apps(&["shop"]))),
        "the blog event went, and with it the session's link to blog"
    );
    let left: Vec<i64> = stored_events(&*store)
        .await
        .iter()
        .map(|e| e.timestamp)
        .collect();
    assert_eq!(left, vec![30, 40]);
}

pub(crate) async fn a_wholly_expired_session_loses_its_summary(harness: &dyn Harness) {
    let store = harness.store();
    store
        .write_batch(events_of(&[
            event("shop", "old", "pageview", 5, None),
            event("blog", "old", "pageview", 8, None),
            event("shop", "new", "pageview", 50, None),
        ]))
        .await
        .expect("write");
    assert_eq!(sweep(&*store, &before(25), 100).await, vec![2, 0]);
    assert_eq!(summary(&*store, "old").await, None);
    assert_eq!(
        summary(&*store, "new").await,
        Some((1, 50, 50, apps(&["shop"])))
    );
    // A new event of the forgotten session starts a summary of its own.
    store
        .write_batch(events_of(&[event("shop", "old", "pageview", 60, None)]))
        .await
        .expect("write");
    assert_eq!(
        summary(&*store, "old").await,
        Some((1, 60, 60, apps(&["shop"])))
    );
}

pub(crate) async fn each_application_expires_at_its_own_cutoff(harness: &dyn Harness) {
    let store = harness.store();
    let mut records = Vec::new();
    for app in ["shop", "blog", "news"] {
        for ts in [10, 60, 120] {
            records.push(event(app, &format!("{app}-session"), "pageview", ts, None));
        }
    }
    store.write_batch(events_of(&records)).await.expect("write");
    let cutoffs = Cutoffs {
        default: Some(50),
        per_app: vec![("shop".into(), Some(100)), ("blog".into(), None)],
    };
    assert_eq!(sweep(&*store, &cutoffs, 100).await, vec![3, 0]);
    let mut left: Vec<(String, i64)> = stored_events(&*store)
        .await
        .into_iter()
        .map(|e| (e.app, e.timestamp))
        .collect();
    left.sort();
    let expected: Vec<(String, i64)> = [
        ("blog", 10),
        ("blog", 60),
        ("blog", 120),
        ("news", 60),
        ("news", 120),
        ("shop", 120),
    ]
    .iter()
    .map(|(app, ts)| (app.to_string(), *ts))
    .collect();
    assert_eq!(left, expected);
    assert_eq!(
        summary(&*store, "shop-session").await,
        Some((1, 120, 120, apps(&["shop"])))
    );
    assert_eq!(
        summary(&*store, "blog-session").await,
        Some((3, 10, 120, apps(&["blog"])))
    );
}

/// An event's deduplication key goes with it: the same `event_id` is new again.
pub(crate) async fn an_expired_event_id_can_be_stored_again(harness: &dyn Harness) {
    let store = harness.store();
    let first = event("shop", "s1", "pageview", 10, Some("e-1"));
    store
        .write_batch(events_of(std::slice::from_ref(&first)))
        .await
        .expect("write");
    assert_eq!(sweep(&*store, &before(20), 100).await, vec![1, 0]);
    // Another millisecond, so another id: only the key is shared.
    let again = event("shop", "s1", "pageview", 5_000, Some("e-1"));
    assert_ne!(first.id, again.id);
    let outcome = store
        .write_batch(events_of(&[again]))
        .await
        .expect("write again");
    assert_eq!((outcome.stored, outcome.duplicates), (1, 0));
    assert_eq!(
        summary(&*store, "s1").await,
        Some((1, 5_000, 5_000, apps(&["shop"])))
    );
}

pub(crate) async fn expired_errors_go_and_hourly_counts_stay(harness: &dyn Harness) {
    let store = harness.store();
    let mut entries = vec![
        error("schema_violation", 100, Some("pageview")),
        error("schema_violation", 200, Some("pageview")),
        error("malformed_json", 300, None),
    ];
    let mut kept = error("schema_violation", 100, Some("pageview"));
    kept.app = "blog".into();
    entries.push(kept.clone());
    let batch: Arc<[QueueMessage]> = entries.iter().cloned().map(QueueMessage::Error).collect();
    store.write_batch(batch).await.expect("write");
    let counts_before = store.error_counts(None, None).await.expect("counts");
    let cutoffs = Cutoffs {
        default: Some(250),
        per_app: vec![("blog".into(), None)],
    };
    assert_eq!(
        store
            .delete_expired_errors(&cutoffs, 100)
            .await
            .expect("delete"),
        2
    );
    assert_eq!(
        store
            .delete_expired_errors(&cutoffs, 100)
            .await
            .expect("delete"),
        0
    );
    let left = store
        .errors(ErrorQuery {
            limit: 10,
            ..ErrorQuery::default()
        })
        .await
        .expect("errors");
    let mut ids: Vec<_> = left.iter().map(|e| e.id).collect();
    ids.sort();
    let mut expected = vec![entries[2].id, kept.id];
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(
        store.error_counts(None, None).await.expect("counts"),
        counts_before,
        "the hourly counts hold no personal data and stay"
    );
}

pub(crate) async fn expiry_respects_the_limit_and_keeps_summaries_exact(harness: &dyn Harness) {
    let store = harness.store();
    let records: Vec<EventRecord> = (0..25)
        .map(|n| event("shop", &format!("s{}", n % 3), "pageview", 1_000 + n, None))
        .collect();
    store.write_batch(events_of(&records)).await.expect("write");
    let cutoffs = before(2_000);
    let mut answers = Vec::new();
    loop {
        let deleted = store
            .delete_expired_events(&cutoffs, 10)
            .await
            .expect("delete");
        answers.push(deleted);
        // After every call, each summary agrees with the events left.
        let left = stored_events(&*store).await;
        for session in ["s0", "s1", "s2"] {
            let mine: Vec<i64> = left
                .iter()
                .filter(|e| e.session_id == session)
                .map(|e| e.timestamp)
                .collect();
            let expected = mine.first().map(|first| {
                (
                    mine.len() as u64,
                    *first,
                    *mine.last().unwrap_or(first),
                    apps(&["shop"]),
                )
            });
            assert_eq!(
                summary(&*store, session).await,
                expected,
                "after {answers:?}"
            );
        }
        if deleted == 0 {
            break;
        }
    }
    assert_eq!(answers, vec![10, 10, 5, 0]);

    let errors: Arc<[QueueMessage]> = (0..25)
        .map(|n| QueueMessage::Error(error("schema_violation", 1_000 + n, None)))
        .collect();
    store.write_batch(errors).await.expect("write errors");
    let mut answers = Vec::new();
    loop {
        let deleted = store
            .delete_expired_errors(&cutoffs, 10)
            .await
            .expect("delete errors");
        answers.push(deleted);
        if deleted == 0 {
            break;
        }
    }
    assert_eq!(answers, vec![10, 10, 5, 0]);
}

pub(crate) async fn usage_counts_what_is_stored(harness: &dyn Harness) {
    let store = harness.store();
    let empty = store.usage().await.expect("usage");
    assert_eq!((empty.events, empty.errors), (0, 0));
    assert_eq!((empty.oldest_event, empty.newest_event), (None, None));
    store
        .write_batch(events_of(&[
            event("shop", "s1", "pageview", 300, None),
            event("shop", "s1", "pageview", 100, None),
            event("blog", "s2", "pageview", 200, None),
        ]))
        .await
        .expect("write");
    let errors: Arc<[QueueMessage]> =
        vec![QueueMessage::Error(error("malformed_json", 5, None))].into();
    store.write_batch(errors).await.expect("write errors");
    let usage = store.usage().await.expect("usage");
    assert_eq!((usage.events, usage.errors), (3, 1));
    assert_eq!(
        (usage.oldest_event, usage.newest_event),
        (Some(100), Some(300))
    );
    assert!(usage.bytes > 0, "{usage:?}");
}

pub(crate) async fn the_pii_secret_is_made_once_and_shared(harness: &dyn Harness) {
    let store = harness.store();
    let secret = store.pii_secret().await.expect("secret");
    assert_eq!(secret.len(), 32);
    assert_ne!(secret, vec![0; 32]);
    assert_eq!(store.pii_secret().await.expect("again"), secret);
    let other = harness.reopen().await;
    assert_eq!(
        other.pii_secret().await.expect("from another store"),
        secret,
        "every node of a deployment hashes alike"
    );
}
