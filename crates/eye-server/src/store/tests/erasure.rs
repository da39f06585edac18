//! Erasure behaviours of both stores: jobs, their steps and counts, and batches that meet
//! an erased or suppressed session.

use std::sync::Arc;

use super::lifecycle::{stored_events, summary};
use super::{Harness, error, event, events_of};
use crate::auth::keys::redact;
use crate::model::{ErrorEntry, QueueMessage};
use crate::store::{
    Erasure, ErasureRequest, ErasureStatus, ErrorQuery, Store, StoreError, Suppression,
};

fn request(sessions: &[&str], app: Option<&str>, suppress: bool) -> ErasureRequest {
    ErasureRequest {
        session_ids: sessions.iter().map(|s| s.to_string()).collect(),
        app: app.map(str::to_owned),
        suppress,
        requested_by: "key_0123456789abcdef".into(),
    }
}

fn session_error(app: &str, session: &str, received_at: i64) -> ErrorEntry {
    let mut entry = error("schema_violation", received_at, Some("pageview"));
    entry.app = app.into();
    entry.session_id = Some(redact(session).into_owned());
    entry
}

fn errors_of(entries: &[ErrorEntry]) -> Arc<[QueueMessage]> {
    entries.iter().cloned().map(QueueMessage::Error).collect()
}

async fn all_errors(store: &dyn Store) -> Vec<ErrorEntry> {
    store
        .errors(ErrorQuery {
            limit: 1_000,
            ..ErrorQuery::default()
        })
        .await
        .expect("errors")
}

/// Runs job `id` as the erasure worker does, in steps of at most `limit` rows, and
/// finishes it at `at`.
/// When the tests' erasures finish: in the future, because a store never records a job
/// finished earlier than the moment it marks it (see `finish_erasure`).
pub(super) const DONE_AT: i64 = 4_102_444_800_000_000;

pub(super) async fn run(store: &dyn Store, id: &str, limit: usize, at: i64) -> Erasure {
    for _ in 0..1_000 {
        let deleted = store.erase_step(id, limit).await.expect("step");
        assert!(
            deleted <= limit as u64,
            "{deleted} rows in a step of {limit}"
        );
        if deleted == 0 {
            return store.finish_erasure(id, at, None).await.expect("finish");
        }
    }
    panic!("erasure {id} never finished");
}

pub(crate) async fn an_erasure_removes_its_sessions_and_counts_exactly(harness: &dyn Harness) {
    let store = harness.store();
    store
        .write_batch(events_of(&[
            event("shop", "s1", "pageview", 10, Some("k1")),
            event("shop", "s1", "pageview", 20, None),
            event("blog", "s1", "pageview", 30, None),
            event("shop", "s2", "pageview", 40, None),
            event("shop", "keep", "pageview", 50, None),
        ]))
        .await
        .expect("write");
    let no_session = error("malformed_json", 7, None);
    store
        .write_batch(errors_of(&[
            session_error("shop", "s1", 5),
            session_error("blog", "s2", 6),
            session_error("shop", "keep", 8),
            no_session.clone(),
        ]))
        .await
        .expect("write errors");
    let created = store
        .create_erasure(request(&["s1", "s2"], None, false), 1_000)
        .await
        .expect("create");
    assert_eq!(created.status, ErasureStatus::Pending);
    assert!(created.id.starts_with("era_"), "{}", created.id);
    assert_eq!(
        store.erasure(&created.id).await.expect("get"),
        Some(created.clone())
    );

    let done = run(&*store, &created.id, 2, DONE_AT).await;
    assert_eq!(done.status, ErasureStatus::Done);
    assert_eq!(done.completed_at, Some(DONE_AT));
    assert_eq!((done.events_deleted, done.errors_deleted), (4, 2));
    assert_eq!(done.request, created.request);
    assert_eq!(summary(&*store, "s1").await, None);
    assert_eq!(summary(&*store, "s2").await, None);
    assert_eq!(summary(&*store, "keep").await.map(|s| s.0), Some(1));
    let left: Vec<String> = stored_events(&*store)
        .await
        .into_iter()
        .map(|e| e.session_id)
        .collect();
    assert_eq!(left, vec!["keep".to_owned()]);
    let errors: Vec<Option<String>> = all_errors(&*store)
        .await
        .into_iter()
        .map(|e| e.session_id)
        .collect();
    assert_eq!(errors.len(), 2);
    assert!(
        errors.contains(&None) && errors.contains(&Some("keep".into())),
        "{errors:?}"
    );

    // A finished job stays as it finished.
    assert_eq!(store.erase_step(&created.id, 10).await.expect("step"), 0);
    let again = store
        .finish_erasure(&created.id, 3_000, Some("late".into()))
        .await
        .expect("finish again");
    assert_eq!(again, done);
    // The key of an erased event is free again.
    let outcome = store
        .write_batch(events_of(&[event(
            "shop",
            "s9",
            "pageview",
            60,
            Some("k1"),
        )]))
        .await
        .expect("write");
    assert_eq!(outcome.stored, 1);
}

pub(crate) async fn an_erasure_for_one_app_keeps_the_others(harness: &dyn Harness) {
    let store = harness.store();
    store
        .write_batch(events_of(&[
            event("shop", "s1", "pageview", 10, None),
            event("blog", "s1", "pageview", 20, None),
            event("blog", "s1", "pageview", 30, None),
            event("shop", "s1", "pageview", 40, None),
        ]))
        .await
        .expect("write");
    store
        .write_batch(errors_of(&[
            session_error("shop", "s1", 5),
            session_error("blog", "s1", 6),
        ]))
        .await
        .expect("write errors");
    let job = store
        .create_erasure(request(&["s1"], Some("shop"), false), 1_000)
        .await
        .expect("create");
    let done = run(&*store, &job.id, 1, DONE_AT).await;
    assert_eq!((done.events_deleted, done.errors_deleted), (2, 1));
    assert_eq!(
        summary(&*store, "s1").await,
        Some((2, 20, 30, vec!["blog".to_owned()]))
    );
    assert!(stored_events(&*store).await.iter().all(|e| e.app == "blog"));
    let errors = all_errors(&*store).await;
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].app, "blog");
}

pub(crate) async fn an_erasure_of_unknown_sessions_is_done_with_nothing(harness: &dyn Harness) {
    let store = harness.store();
    store
        .write_batch(events_of(&[event("shop", "s1", "pageview", 10, None)]))
        .await
        .expect("write");
    let job = store
        .create_erasure(request(&["nobody"], None, false), 1_000)
        .await
        .expect("create");
    let claimed = store.next_erasure().await.expect("next").expect("a job");
    assert_eq!(
        (claimed.id.as_str(), claimed.status),
        (job.id.as_str(), ErasureStatus::Running)
    );
    assert_eq!(store.erase_step(&job.id, 10).await.expect("step"), 0);
    let done = store
        .finish_erasure(&job.id, DONE_AT, None)
        .await
        .expect("finish");
    assert_eq!(done.status, ErasureStatus::Done);
    assert_eq!((done.events_deleted, done.errors_deleted), (0, 0));
    assert!(store.next_erasure().await.expect("next").is_none());
    assert_eq!(stored_events(&*store).await.len(), 1);
    assert!(matches!(
        store.erase_step("era_missing", 10).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.finish_erasure("era_missing", 1, None).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.erasure("era_missing").await.expect("get"), None);
    let failed = store
        .create_erasure(request(&["s1"], None, false), 3_000)
        .await
        .expect("create");
    let failed = store
        .finish_erasure(&failed.id, 4_000, Some("the store was unavailable".into()))
        .await
        .expect("fail");
    assert_eq!(failed.status, ErasureStatus::Failed);
    assert_eq!(failed.failure.as_deref(), Some("the store was unavailable"));
}

/// Error records keep their session id redacted; the erasure of the id as sent removes them.
pub(crate) async fn error_records_are_erased_by_their_redacted_session(harness: &dyn Harness) {
    let store = harness.store();
    let session = format!("visitor-eye_{}", "A".repeat(43));
    let entry = session_error("shop", &session, 5);
    assert_ne!(entry.session_id.as_deref(), Some(session.as_str()));
    store.write_batch(errors_of(&[entry])).await.expect("write");
    let job = store
        .create_erasure(request(&[&session], None, false), 1_000)
        .await
        .expect("create");
    let done = run(&*store, &job.id, 10, DONE_AT).await;
    assert_eq!(done.errors_deleted, 1);
    assert!(all_errors(&*store).await.is_empty());
    // A new error record of the session, received while the job ran, is left out too.
    let late = session_error("shop", &session, 1_500);
    let outcome = store
        .write_batch(errors_of(std::slice::from_ref(&late)))
        .await
        .expect("write");
    assert_eq!((outcome.errors, outcome.erased), (0, vec![late.id]));
}

pub(crate) async fn erasures_are_claimed_oldest_first_and_listed_newest_first(
    harness: &dyn Harness,
) {
    let store = harness.store();
    let mut ids = Vec::new();
    for (n, session) in ["a", "b", "c"].iter().enumerate() {
        let job = store
            .create_erasure(request(&[session], None, false), 1_000 + n as i64)
            .await
            .expect("create");
        ids.push(job.id);
    }
    let listed: Vec<String> = store
        .erasures(2)
        .await
        .expect("list")
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(listed, vec![ids[2].clone(), ids[1].clone()]);
    let first = store.next_erasure().await.expect("next").expect("job");
    assert_eq!(first.id, ids[0]);
    // A running job left by a stopped process is claimed again until it finishes.
    let again = store.next_erasure().await.expect("next").expect("job");
    assert_eq!(again.id, ids[0]);
    // A time before the store marks the job is not recorded: batches that saw it running
    // until then left out messages received until then.
    let before = crate::model::timestamp::now_micros();
    let finished = store
        .finish_erasure(&ids[0], 5_000, None)
        .await
        .expect("finish");
    assert!(
        finished.completed_at.is_some_and(|at| at >= before),
        "{finished:?}"
    );
    let second = store.next_erasure().await.expect("next").expect("job");
    assert_eq!(
        (second.id.as_str(), second.status),
        (ids[1].as_str(), ErasureStatus::Running)
    );
}

pub(crate) async fn a_batch_skips_sessions_under_erasure(harness: &dyn Harness) {
    let store = harness.store();
    let job = store
        .create_erasure(request(&["s1"], None, false), 1_000)
        .await
        .expect("create");
    let covered = event("shop", "s1", "pageview", 100, Some("c1"));
    let other = event("shop", "s2", "pageview", 100, None);
    let covered_error = session_error("blog", "s1", 105);
    let mut batch: Vec<QueueMessage> = events_of(&[covered.clone(), other.clone()]).to_vec();
    batch.push(QueueMessage::Error(covered_error.clone()));
    let batch: Arc<[QueueMessage]> = batch.into();
    let outcome = store.write_batch(Arc::clone(&batch)).await.expect("write");
    assert_eq!(
        (outcome.stored, outcome.duplicates, outcome.errors),
        (1, 0, 0)
    );
    assert_eq!(outcome.erased, vec![covered.id, covered_error.id]);
    assert_eq!(summary(&*store, "s1").await, None);
    assert!(all_errors(&*store).await.is_empty());

    run(&*store, &job.id, 10, DONE_AT).await;
    // Redelivered, or received before the job finished: still left out.
    let outcome = store.write_batch(batch).await.expect("redelivery");
    assert_eq!(outcome.erased, vec![covered.id, covered_error.id]);
    assert_eq!(outcome.duplicates, 1);
    let mut at_the_end = event("shop", "s1", "pageview", 1_900, None);
    at_the_end.received_at = DONE_AT;
    let mut after = event("shop", "s1", "pageview", 1_950, Some("c1"));
    after.received_at = DONE_AT + 1;
    let outcome = store
        .write_batch(events_of(&[at_the_end.clone(), after.clone()]))
        .await
        .expect("write");
    assert_eq!(outcome.erased, vec![at_the_end.id]);
    assert_eq!(outcome.stored, 1);
    assert_eq!(
        summary(&*store, "s1").await,
        Some((1, 1_950, 1_950, vec!["shop".to_owned()]))
    );
}

pub(crate) async fn suppressed_sessions_stay_out(harness: &dyn Harness) {
    let store = harness.store();
    let shop_only = store
        .create_erasure(request(&["s1"], Some("shop"), true), 1_000)
        .await
        .expect("create");
    let everywhere = store
        .create_erasure(request(&["s3"], None, true), 1_000)
        .await
        .expect("create");
    let mut suppressions = store.suppressions().await.expect("suppressions");
    suppressions.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    assert_eq!(
        suppressions,
        vec![
            Suppression {
                session_id: "s1".into(),
                app: Some("shop".into())
            },
            Suppression {
                session_id: "s3".into(),
                app: None
            },
        ]
    );
    run(&*store, &shop_only.id, 10, DONE_AT).await;
    run(&*store, &everywhere.id, 10, DONE_AT).await;
    let later = |app: &str, session: &str| {
        let mut record = event(app, session, "pageview", DONE_AT + 3_000, None);
        record.received_at = DONE_AT + 3_000;
        record
    };
    let (s1_shop, s1_blog, s3_blog, s2_shop) = (
        later("shop", "s1"),
        later("blog", "s1"),
        later("blog", "s3"),
        later("shop", "s2"),
    );
    let s3_error = session_error("news", "s3", DONE_AT + 3_000);
    let mut batch: Vec<QueueMessage> =
        events_of(&[s1_shop.clone(), s1_blog, s3_blog.clone(), s2_shop]).to_vec();
    batch.push(QueueMessage::Error(s3_error.clone()));
    let outcome = store.write_batch(batch.into()).await.expect("write");
    assert_eq!(outcome.erased, vec![s1_shop.id, s3_blog.id, s3_error.id]);
    assert_eq!((outcome.stored, outcome.errors), (2, 0));
    assert_eq!(
        summary(&*store, "s1").await.map(|s| s.3),
        Some(vec!["blog".to_owned()])
    );
    assert_eq!(summary(&*store, "s3").await, None);
    // Another store on the database knows them too.
    assert_eq!(
        harness
            .reopen()
            .await
            .suppressions()
            .await
            .expect("list")
            .len(),
        2
    );
}
