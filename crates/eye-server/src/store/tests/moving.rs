//! What moving a deployment to another store (`eye migrate-data`) relies on, for both
//! stores: the PII secret is imported only where none is kept, and erasures are imported as
//! they were exported, with their suppressions, once.

use super::erasure::run;
use super::lifecycle::stored_events;
use super::{Harness, event, events_of};
use crate::store::{Erasure, ErasureRequest, ErasureStatus, StoreError, Suppression};

const MOVED: &[u8] = b"the secret of the store moved from, 32+ bytes";

pub(crate) async fn the_stored_pii_secret_is_read_without_making_one(harness: &dyn Harness) {
    let store = harness.store();
    assert_eq!(store.stored_pii_secret().await.expect("read"), None);
    assert_eq!(
        store.stored_pii_secret().await.expect("read again"),
        None,
        "reading made no secret"
    );
    let made = store.pii_secret().await.expect("make");
    assert_eq!(store.stored_pii_secret().await.expect("read"), Some(made));
}

pub(crate) async fn a_pii_secret_is_imported_only_where_none_is_kept(harness: &dyn Harness) {
    let store = harness.store();
    assert!(store.import_pii_secret(MOVED).await.expect("import"));
    assert_eq!(
        store.pii_secret().await.expect("secret"),
        MOVED,
        "hashes with the imported secret, no new one made"
    );
    assert!(
        store.import_pii_secret(MOVED).await.expect("again"),
        "the same secret again is fine"
    );
    let other = b"another deployment's secret, also 32+ bytes";
    assert!(
        !store.import_pii_secret(other).await.expect("another"),
        "a different secret is reported"
    );
    assert_eq!(
        harness
            .reopen()
            .await
            .stored_pii_secret()
            .await
            .expect("read"),
        Some(MOVED.to_vec()),
        "the secret kept is left as it was"
    );
    assert!(matches!(
        store.import_pii_secret(&[]).await,
        Err(StoreError::Rejected(_))
    ));
}

pub(crate) async fn a_store_with_its_own_secret_reports_an_import(harness: &dyn Harness) {
    let store = harness.store();
    let own = store.pii_secret().await.expect("make");
    assert!(!store.import_pii_secret(MOVED).await.expect("import"));
    assert!(store.import_pii_secret(&own).await.expect("its own"));
    assert_eq!(store.pii_secret().await.expect("secret"), own);
}

fn job(id: &str, requested_at: i64, sessions: &[&str], app: Option<&str>) -> Erasure {
    Erasure {
        id: id.into(),
        request: ErasureRequest {
            session_ids: sessions.iter().map(|s| s.to_string()).collect(),
            app: app.map(str::to_owned),
            suppress: false,
            requested_by: "key_00000000000000aa".into(),
        },
        status: ErasureStatus::Pending,
        requested_at,
        completed_at: None,
        events_deleted: 0,
        errors_deleted: 0,
        failure: None,
    }
}

/// What another store exported: two jobs done (requested at the same time, one of them
/// suppressing), one failed, one not yet run.
fn exported() -> Vec<Erasure> {
    let done = Erasure {
        status: ErasureStatus::Done,
        completed_at: Some(2_000),
        events_deleted: 5,
        errors_deleted: 2,
        ..job("era_00000000000000d1", 1_000, &["s-done"], None)
    };
    let mut suppressing = Erasure {
        status: ErasureStatus::Done,
        completed_at: Some(2_500),
        events_deleted: 3,
        ..job(
            "era_00000000000000d2",
            1_000,
            &["s-quiet", "s-hush"],
            Some("shop"),
        )
    };
    suppressing.request.suppress = true;
    suppressing.request.requested_by = "key_00000000000000bb".into();
    let failed = Erasure {
        status: ErasureStatus::Failed,
        completed_at: Some(3_500),
        failure: Some("the store was unavailable".into()),
        ..job("era_00000000000000f1", 3_000, &["s-fail"], None)
    };
    let pending = job("era_00000000000000p1", 4_000, &["s-later"], None);
    vec![done, suppressing, failed, pending]
}

pub(crate) async fn erasures_are_imported_as_exported_once(harness: &dyn Harness) {
    let store = harness.store();
    let jobs = exported();
    for job in jobs.iter().rev() {
        assert!(
            store.import_erasure(job).await.expect("import"),
            "{}",
            job.id
        );
    }
    for job in &jobs {
        assert_eq!(
            store.erasure(&job.id).await.expect("get").as_ref(),
            Some(job)
        );
        let changed = Erasure {
            events_deleted: 99,
            ..job.clone()
        };
        assert!(
            !store.import_erasure(&changed).await.expect("again"),
            "{} is there already",
            job.id
        );
        assert_eq!(
            store.erasure(&job.id).await.expect("get").as_ref(),
            Some(job)
        );
    }
    let first = store.export_erasures(None, 3).await.expect("export");
    assert_eq!(first, jobs[..3], "in the order requested, then by id");
    let last = &first[2];
    let rest = store
        .export_erasures(Some((last.requested_at, &last.id)), 3)
        .await
        .expect("export");
    assert_eq!(rest, jobs[3..]);
    let end = &rest[0];
    let none = store
        .export_erasures(Some((end.requested_at, &end.id)), 3)
        .await
        .expect("export");
    assert!(none.is_empty(), "{none:?}");
    assert_eq!(
        harness
            .reopen()
            .await
            .erasures(10)
            .await
            .expect("list")
            .len(),
        4
    );
}

pub(crate) async fn imported_suppressions_keep_their_sessions_out(harness: &dyn Harness) {
    let store = harness.store();
    for job in exported() {
        store.import_erasure(&job).await.expect("import");
    }
    let mut suppressions = store.suppressions().await.expect("suppressions");
    suppressions.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    let shop = Some("shop".to_owned());
    assert_eq!(
        suppressions,
        vec![
            Suppression {
                session_id: "s-hush".into(),
                app: shop.clone()
            },
            Suppression {
                session_id: "s-quiet".into(),
                app: shop
            },
        ]
    );
    let later = |app: &str| {
        let mut record = event(app, "s-quiet", "pageview", 10_000, None);
        record.received_at = 10_000;
        record
    };
    let (suppressed, other_app) = (later("shop"), later("blog"));
    let outcome = store
        .write_batch(events_of(&[suppressed.clone(), other_app]))
        .await
        .expect("write");
    assert_eq!(outcome.erased, vec![suppressed.id]);
    assert_eq!(outcome.stored, 1);
}

pub(crate) async fn an_imported_job_not_yet_run_is_run_here(harness: &dyn Harness) {
    let store = harness.store();
    // The copy stores the rows first, then the jobs.
    store
        .write_batch(events_of(&[
            event("shop", "s-later", "pageview", 10, None),
            event("blog", "s-later", "pageview", 20, None),
            event("shop", "s-keep", "pageview", 30, None),
        ]))
        .await
        .expect("write");
    for job in exported() {
        store.import_erasure(&job).await.expect("import");
    }
    assert_eq!(
        stored_events(&*store).await.len(),
        3,
        "importing a job erases nothing by itself"
    );
    let claimed = store.next_erasure().await.expect("next").expect("a job");
    assert_eq!(claimed.id, "era_00000000000000p1");
    let finished = run(&*store, &claimed.id, 10, 5_000).await;
    assert_eq!(
        (finished.status, finished.events_deleted),
        (ErasureStatus::Done, 2)
    );
    let left: Vec<String> = stored_events(&*store)
        .await
        .into_iter()
        .map(|e| e.session_id)
        .collect();
    assert_eq!(left, vec!["s-keep".to_owned()]);
    assert!(store.next_erasure().await.expect("next").is_none());
}
