//! `eye migrate-data` between two embedded stores (the PostgreSQL target is covered in
//! `cluster.rs`): a source that is not there, a repeated run, a checkpoint left by a killed
//! run whose target was then made again, and a target that cannot match its source. And from
//! an embedded store to PostgreSQL, what a store keeps besides rows: the PII secret (a
//! target that hashes with another one is refused), erasure records and suppressions.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::services::Schema;
use common::{Run, Server, create_key, drain, eye_command, finish, get_json};
use eye_server::store::{ErasureRequest, PostgresStore, SqliteStore, Store};
use serde_json::{Value, json};

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

/// A schema whose `first_name` is hashed.
fn hashing_schema() -> Value {
    json!({"type": "object", "properties": {"first_name": {"type": "string", "x-eye-pii": "hash"}}})
}

fn submit(session: &str, first_name: &str) -> Value {
    json!({"session_id": session, "category": "form interaction", "name": "submit",
           "data": {"first_name": first_name}, "timestamp": "2021-01-01 09:00:00"})
}

fn pageview(session: &str, second: u32) -> Value {
    json!({"session_id": session, "category": "page interaction", "name": "pageview",
           "data": {}, "timestamp": format!("2021-01-01 10:00:{second:02}")})
}

async fn send(server: &Server, key: &str, events: &Value) -> Value {
    let response = common::http()
        .post(format!("{}/v1/events", server.base))
        .bearer_auth(key)
        .json(events)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 202);
    response.json().await.expect("json")
}

async fn session_events(server: &Server, key: &str, session: &str) -> Vec<Value> {
    let url = format!("{}/v1/events?session_id={session}&limit=100", server.base);
    let (status, page) = get_json(&common::http(), &url, key).await;
    assert_eq!(status, 200, "{page}");
    page["events"].as_array().expect("events").clone()
}

/// The erasure `id` once it is done, asked for every 50 ms up to `limit`.
async fn done_erasure(server: &Server, admin: &str, id: &str, limit: Duration) -> Value {
    let url = format!("{}/v1/erasures/{id}", server.base);
    let deadline = Instant::now() + limit;
    loop {
        let (status, job) = get_json(&common::http(), &url, admin).await;
        assert_eq!(status, 200, "{job}");
        match job["status"].as_str() {
            Some("done") => return job,
            Some("pending" | "running") => {}
            other => panic!("erasure {id} ended {other:?}: {job}"),
        }
        assert!(
            Instant::now() < deadline,
            "not done within {limit:?}: {job}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn migrate_to(work: &Path, from: &Path, to: &str) -> Run {
    let from = sqlite_url(from);
    let mut command = eye_command(&["migrate-data", "--from", &from, "--to", to], &[]);
    command.current_dir(work);
    finish(command, None)
}

/// After moving to PostgreSQL, a value sent to the new deployment hashes as it did before
/// the move; erasure records are there with their counts and who asked; a suppressed session
/// stays suppressed; and a job the source had not run yet is run by the target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashes_erasures_and_suppressions_move_to_postgres() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let work = tempfile::tempdir().expect("tempdir");
    let source = work.path().join("source");
    let ingest = create_key(&source, "shop", "ingest");
    let query = create_key(&source, "team", "query");
    let admin = create_key(&source, "ops", "admin");
    let (hashed_before, erased_before) = {
        let server = Server::start(&source, &[]);
        let http = common::http();
        let put = http
            .put(format!(
                "{}/v1/schemas/form%20interaction/submit",
                server.base
            ))
            .bearer_auth(&admin)
            .json(&hashing_schema())
            .send()
            .await
            .expect("put");
        assert_eq!(put.status(), 201);
        let events = json!([
            submit("s-hashed", "Ada"),
            pageview("s-gone", 1),
            pageview("s-gone", 2),
            pageview("s-pending", 3),
            pageview("s-pending", 4),
            pageview("s-keep", 5),
        ]);
        send(&server, &ingest, &events).await;
        drain(&http, &server.base, Duration::from_secs(30)).await;
        let stored = session_events(&server, &query, "s-hashed").await;
        let hashed = stored[0]["data"]["first_name"].clone();
        assert!(
            hashed
                .as_str()
                .is_some_and(|h| h.starts_with("hmac-sha256:")),
            "{stored:?}"
        );
        let erase = json!({"session_ids": ["s-gone"], "suppress": true});
        let (status, job): (u16, Value) = {
            let response = http
                .post(format!("{}/v1/erasures", server.base))
                .bearer_auth(&admin)
                .json(&erase)
                .send()
                .await
                .expect("erase");
            (
                response.status().as_u16(),
                response.json().await.expect("json"),
            )
        };
        assert_eq!(status, 202, "{job}");
        let id = job["id"].as_str().expect("id");
        let done = done_erasure(&server, &admin, id, Duration::from_secs(30)).await;
        assert_eq!(done["events_deleted"], 2, "{done}");
        server.stop();
        (hashed, done)
    };
    // A job asked for while no node ran: still pending when the copy is made.
    let pending = {
        let store = SqliteStore::open(&source).expect("source");
        let request = ErasureRequest {
            session_ids: vec!["s-pending".into()],
            app: None,
            suppress: false,
            requested_by: "key_00000000000000ff".into(),
        };
        store
            .create_erasure(request, 1_700_000_000_000_000)
            .await
            .expect("create")
    };

    let url = schema.url(None);
    let run = migrate_to(work.path(), &source, &url);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for line in [
        "PII secret: copied",
        "erasures (with their suppressed sessions): 2 copied, 0 already present",
        "4 events, 0 errors, 2 erasures, 1 suppressed sessions",
    ] {
        assert!(run.stderr.contains(line), "{line:?} in:\n{}", run.stderr);
    }
    let target = PostgresStore::connect(&url, None, 1).await.expect("target");
    let source_secret = SqliteStore::open(&source)
        .expect("source")
        .stored_pii_secret()
        .await
        .expect("source secret");
    assert!(source_secret.is_some());
    assert_eq!(
        target.stored_pii_secret().await.expect("target secret"),
        source_secret
    );

    let moved = tempfile::tempdir().expect("tempdir");
    let server = Server::start(moved.path(), &["--store", &url]);
    let answer = send(
        &server,
        &ingest,
        &json!([
            submit("s-hashed-after", "Ada"),
            pageview("s-gone", 6),
            pageview("s-after", 7)
        ]),
    )
    .await;
    assert_eq!(answer["accepted"], 3, "{answer}");
    drain(&common::http(), &server.base, Duration::from_secs(30)).await;
    let after = session_events(&server, &query, "s-hashed-after").await;
    assert_eq!(
        after[0]["data"]["first_name"], hashed_before,
        "the same value hashes alike before and after the move"
    );
    assert_eq!(session_events(&server, &query, "s-after").await.len(), 1);
    assert!(
        session_events(&server, &query, "s-gone").await.is_empty(),
        "the suppressed session stays suppressed"
    );
    let erased_id = erased_before["id"].as_str().expect("id");
    let (status, erased_after) = get_json(
        &common::http(),
        &format!("{}/v1/erasures/{erased_id}", server.base),
        &admin,
    )
    .await;
    assert_eq!(status, 200, "{erased_after}");
    assert_eq!(
        erased_after, erased_before,
        "the record moved as it was: who asked, when, what it removed"
    );
    assert!(
        erased_after["requested_by"]
            .as_str()
            .is_some_and(|by| by.starts_with("key_")),
        "{erased_after}"
    );
    let ran = done_erasure(&server, &admin, &pending.id, Duration::from_secs(30)).await;
    assert_eq!(ran["events_deleted"], 2, "{ran}");
    assert_eq!(ran["requested_by"], "key_00000000000000ff", "{ran}");
    assert!(
        session_events(&server, &query, "s-pending")
            .await
            .is_empty()
    );
    assert_eq!(session_events(&server, &query, "s-keep").await.len(), 1);
}

/// A target that already hashes with a secret of its own is refused before anything is
/// copied, with what to do; once its secret is deleted as the message says, the copy runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_with_another_pii_secret_is_refused() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let work = tempfile::tempdir().expect("tempdir");
    let source = work.path().join("source");
    create_key(&source, "shop", "ingest");
    let source_secret = SqliteStore::open(&source)
        .expect("source")
        .pii_secret()
        .await
        .expect("source secret");
    let url = schema.url(None);
    let target = PostgresStore::connect(&url, None, 1).await.expect("target");
    let own = target.pii_secret().await.expect("target secret");
    assert_ne!(own, source_secret);

    let run = migrate_to(work.path(), &source, &url);
    assert_eq!(run.code, 1, "{}", run.stderr);
    for part in [
        "already hashes `x-eye-pii: hash` fields with another PII secret",
        "Nothing was copied",
        "empty target",
        "DELETE FROM settings WHERE name = 'pii_secret'",
        "`pii_secret` in their configuration",
    ] {
        assert!(run.stderr.contains(part), "{part:?} in:\n{}", run.stderr);
    }
    assert!(target.export_keys().await.expect("keys").is_empty());
    assert_eq!(target.stored_pii_secret().await.expect("secret"), Some(own));

    let (client, connection) =
        tokio_postgres::connect(&common::services::postgres_url(), tokio_postgres::NoTls)
            .await
            .expect("connect");
    tokio::spawn(connection);
    client
        .execute(
            &format!(
                "DELETE FROM {}.settings WHERE name = 'pii_secret'",
                schema.name
            ),
            &[],
        )
        .await
        .expect("delete the target's secret");
    let run = migrate_to(work.path(), &source, &url);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("PII secret: copied"), "{}", run.stderr);
    assert_eq!(
        target.stored_pii_secret().await.expect("secret"),
        Some(source_secret)
    );
}
