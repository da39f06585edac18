//! `eye migrate-data` between two embedded stores (the PostgreSQL target is covered in
//! `cluster.rs`): a source that is not there, a repeated run, a checkpoint left by a killed
//! run whose target was then made again, and a target that cannot match its source.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Run, Server, create_key, drain, eye_command, finish};
use serde_json::json;

const EVENTS: usize = 600;

/// A data directory with keys, a schema change, `EVENTS` events and one error, written by a
/// real server that is stopped again.
async fn populated_store(dir: &Path) {
    let ingest = create_key(dir, "shop", "ingest");
    create_key(dir, "team", "query");
    let server = Server::start(dir, &[]);
    let events: Vec<_> = (0..EVENTS)
        .map(|n| json!({"session_id": format!("s{}", n % 20), "category": "page interaction", "name": "pageview",
                        "data": {"n": n}, "timestamp": format!("2021-01-01 09:{:02}:{:02}", n / 60 % 60, n % 60)}))
        .chain([json!({"session_id": "s", "category": "c", "name": "n", "data": {}, "timestamp": "2021-02-30 00:00:00"})])
        .collect();
    let http = common::http();
    let response = http
        .post(format!("{}/v1/events", server.base))
        .bearer_auth(&ingest)
        .json(&events)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 202);
    drain(&http, &server.base, Duration::from_secs(30)).await;
}

fn migrate(work: &Path, from: &Path, to: &Path, extra: &[&str]) -> Run {
    let (from, to) = (sqlite_url(from), sqlite_url(to));
    let args = [&["migrate-data", "--from", &from, "--to", &to][..], extra].concat();
    let mut command = eye_command(&args, &[]);
    command.current_dir(work);
    finish(command, None)
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.display())
}

fn checkpoints(work: &Path) -> Vec<String> {
    std::fs::read_dir(work)
        .expect("work dir")
        .map_while(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".eye-migrate-data-") && name.ends_with(".json"))
        .collect()
}

#[test]
fn a_source_that_is_not_an_eye_store_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("does-not-exist");
    let run = migrate(dir.path(), &missing, &dir.path().join("target"), &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&missing.display().to_string()) && run.stderr.contains("no Eye store"),
        "{}",
        run.stderr
    );
    assert!(
        !missing.exists(),
        "nothing was created at the mistyped source"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_store_twice_or_its_file_for_its_directory_is_refused() {
    let work = tempfile::tempdir().expect("tempdir");
    let source = work.path().join("source");
    create_key(&source, "shop", "ingest");
    let same = migrate(work.path(), &source, &source, &[]);
    assert_eq!(same.code, 1, "{}", same.stderr);
    assert!(same.stderr.contains("the same store"), "{}", same.stderr);
    let file = migrate(
        work.path(),
        &source.join("eye.db"),
        &work.path().join("t"),
        &[],
    );
    assert_eq!(file.code, 1, "{}", file.stderr);
    assert!(
        file.stderr.contains("give the data directory"),
        "{}",
        file.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_run_reports_copied_and_already_present_apart() {
    let work = tempfile::tempdir().expect("tempdir");
    let (source, target) = (work.path().join("source"), work.path().join("target"));
    populated_store(&source).await;
    let first = migrate(work.path(), &source, &target, &["--batch", "250"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        first.stderr.contains(&format!(
            "events (sessions rebuilt from them): {EVENTS} copied, 0 already present"
        )),
        "{}",
        first.stderr
    );
    assert!(
        first.stderr.contains("keys: 2 copied, 0 already present"),
        "{}",
        first.stderr
    );
    assert!(
        first.stderr.contains("errors: 1 copied, 0 already present"),
        "{}",
        first.stderr
    );
    assert!(
        first.stderr.contains(&format!(
            "done: source and target both hold 2 keys, 0 schema versions, {EVENTS} events, 1 errors"
        )),
        "{}",
        first.stderr
    );
    let again = migrate(work.path(), &source, &target, &["--batch", "250"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains(&format!(
            "events (sessions rebuilt from them): 0 copied, {EVENTS} already present"
        )),
        "{}",
        again.stderr
    );
    assert!(
        again.stderr.contains("errors: 0 copied, 1 already present"),
        "{}",
        again.stderr
    );
    assert!(
        checkpoints(work.path()).is_empty(),
        "a complete copy leaves no checkpoint"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_whose_target_was_made_again_is_not_trusted() {
    let work = tempfile::tempdir().expect("tempdir");
    let (source, target) = (work.path().join("source"), work.path().join("target"));
    populated_store(&source).await;
    // A run killed midway: one event per batch, killed once its checkpoint is on disk.
    let (from, to) = (sqlite_url(&source), sqlite_url(&target));
    let mut command = eye_command(
        &["migrate-data", "--from", &from, "--to", &to, "--batch", "1"],
        &[],
    );
    let mut child = command
        .current_dir(work.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(60);
    while checkpoints(work.path()).is_empty() {
        assert!(Instant::now() < deadline, "no checkpoint appeared");
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "the copy ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("kill");
    child.wait().expect("wait");
    assert_eq!(
        checkpoints(work.path()).len(),
        1,
        "the killed run left its checkpoint"
    );

    // The target is dropped and made again; the next run must not resume past its start.
    std::fs::remove_dir_all(&target).expect("drop the target");
    let run = migrate(work.path(), &source, &target, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("starting over"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("{EVENTS} events, 1 errors")),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_does_not_match_its_source_fails_with_the_difference() {
    let work = tempfile::tempdir().expect("tempdir");
    let (source, target) = (work.path().join("source"), work.path().join("target"));
    populated_store(&source).await;
    create_key(&target, "someone-else", "query");
    let run = migrate(work.path(), &source, &target, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("keys: 2 in the source, 3 in the target"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("done"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_errors_keep_their_replay_marks() {
    let work = tempfile::tempdir().expect("tempdir");
    let (source, target) = (work.path().join("source"), work.path().join("target"));
    let ingest = create_key(&source, "shop", "ingest");
    let admin = create_key(&source, "ops", "admin");
    {
        let server = Server::start(&source, &[]);
        let http = common::http();
        let schema_url = format!("{}/v1/schemas/c/n", server.base);
        let strict = json!({"type": "object", "required": ["element"]});
        let put = http
            .put(&schema_url)
            .bearer_auth(&admin)
            .json(&strict)
            .send()
            .await
            .expect("put");
        assert_eq!(put.status(), 201);
        let event = json!({"session_id": "s", "category": "c", "name": "n", "data": {}, "timestamp": "2021-01-01 09:00:00"});
        let sent = http
            .post(format!("{}/v1/events", server.base))
            .bearer_auth(&ingest)
            .json(&event)
            .send()
            .await
            .expect("send");
        assert_eq!(sent.status(), 422, "rejected by the schema");
        drain(&http, &server.base, Duration::from_secs(30)).await;
        let relaxed = http
            .put(&schema_url)
            .bearer_auth(&admin)
            .json(&json!({"type": "object"}))
            .send()
            .await
            .expect("put");
        assert_eq!(relaxed.status(), 200);
        let replayed: serde_json::Value = http
            .post(format!("{}/v1/errors/replay", server.base))
            .bearer_auth(&admin)
            .json(&json!({}))
            .send()
            .await
            .expect("replay")
            .json()
            .await
            .expect("json");
        assert_eq!(replayed["passed"], 1, "{replayed}");
    }
    let run = migrate(work.path(), &source, &target, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let store = eye_server::store::SqliteStore::open(&target).expect("target");
    let errors = eye_server::store::Store::errors(
        &store,
        eye_server::store::ErrorQuery {
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .expect("errors");
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].replayed_at.is_some() && errors[0].replayed_event_id.is_some(),
        "the replay mark moved with the error: {:?}",
        errors[0]
    );
}
