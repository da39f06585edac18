//! The `eye` command line: help, key management, graceful shutdown.

mod common;

use common::{Server, create_key, eye, get_json};
use serde_json::json;

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["keys", "--help"],
        vec!["keys", "create", "--help"],
        vec!["keys", "list", "--help"],
        vec!["keys", "revoke", "--help"],
        vec!["migrate", "--help"],
        vec!["migrate-data", "--help"],
        vec!["healthcheck", "--help"],
    ] {
        let mut full = args.clone();
        full.insert(0, "eye");
        let output = eye(&args);
        assert!(output.status.success(), "{full:?}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("Usage"),
            "{full:?}"
        );
    }
}

#[test]
fn keys_create_prints_only_the_key_and_list_never_shows_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = create_key(dir.path(), "shop", "ingest");
    assert!(
        key.starts_with("eye_") && !key.contains(char::is_whitespace),
        "{key:?}"
    );
    let list = eye(&[
        "keys",
        "list",
        "--data-dir",
        dir.path().to_str().expect("utf-8"),
    ]);
    let table = String::from_utf8_lossy(&list.stdout);
    assert!(
        table.contains("shop") && table.contains("ingest"),
        "{table}"
    );
    assert!(!table.contains(&key));
    let refused = eye(&[
        "keys",
        "create",
        "--app",
        "shop",
        "--scope",
        "root",
        "--data-dir",
        dir.path().to_str().expect("utf-8"),
    ]);
    assert!(!refused.status.success());
    assert!(refused.stdout.is_empty());
    let files = std::fs::read_dir(dir.path()).expect("dir");
    for file in files {
        let bytes = std::fs::read(file.expect("entry").path()).expect("read");
        assert!(
            !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
            "key stored in clear"
        );
    }
}

#[tokio::test]
async fn keys_work_while_the_server_runs_and_revocation_is_immediate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let key = create_key(dir.path(), "shop", "ingest");
    let client = common::http();
    let send = || {
        client
            .post(format!("{}/v1/events", server.base))
            .bearer_auth(&key)
            .json(&json!({"session_id": "s", "category": "c", "name": "n", "data": {}, "timestamp": "2021-01-01 00:00:00"}))
            .send()
    };
    assert_eq!(send().await.expect("send").status(), 202);
    let list = eye(&[
        "keys",
        "list",
        "--json",
        "--data-dir",
        dir.path().to_str().expect("utf-8"),
    ]);
    let listed: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json line");
    let id = listed["id"].as_str().expect("id");
    let revoke = eye(&[
        "keys",
        "revoke",
        id,
        "--data-dir",
        dir.path().to_str().expect("utf-8"),
    ]);
    assert!(revoke.status.success());
    assert_eq!(send().await.expect("send").status(), 401);
}

#[tokio::test]
async fn sigterm_finishes_drains_and_exits_zero() {
    // Few enough that the drain (at most five seconds) stores them all on a slow machine
    // (about 0.1 s per batch of 100 was seen under CI load), many enough that the worker
    // has not stored them by the time the signal comes.
    const EVENTS: usize = 1000;
    let dir = tempfile::tempdir().expect("tempdir");
    let ingest = create_key(dir.path(), "shop", "ingest");
    let query = create_key(dir.path(), "team", "query");
    let client = common::http();
    // An ingest node, which runs no worker, fills the queue.
    let filling = Server::start(dir.path(), &["--role", "ingest"]);
    for chunk in 0..EVENTS / 1000 {
        let events: Vec<_> = (0..1000)
            .map(|n| json!({"session_id": "s", "category": "c", "name": "n", "data": {"n": n}, "timestamp": "2021-01-01 00:00:00", "event_id": format!("e{chunk}-{n}")}))
            .collect();
        let response = client
            .post(format!("{}/v1/events", filling.base))
            .bearer_auth(&ingest)
            .json(&events)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 202);
    }
    let (status, log) = filling.stop();
    assert!(status.success(), "exit status {status:?}:\n{log}");

    // SIGTERM as soon as the server answers (from then on it handles the signal; before
    // its first answer the signal may still kill it): its worker, storing batches of 100
    // some milliseconds apart, has most of the queue still to store, which the drain must do.
    let server = Server::start_with(dir.path(), &[], &[("EYE_WORKER_BATCH_SIZE", "100")]);
    let health = client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let (status, log) = server.stop();
    assert!(status.success(), "exit status {status:?}:\n{log}");
    assert!(log.contains("draining the queue"), "{log}");

    // A query node runs no worker: what it finds, the drain stored before the exit.
    let stored = Server::start(dir.path(), &["--role", "query"]);
    let (_, session) = get_json(&client, &format!("{}/v1/sessions/s", stored.base), &query).await;
    assert_eq!(
        session["event_count"], EVENTS,
        "events stored before the exit"
    );
}

#[test]
fn settings_come_from_environment_and_config_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let from_env = dir.path().join("from-env");
    let output = std::process::Command::new(common::EYE)
        .args(["keys", "create", "--app", "shop", "--scope", "ingest"])
        .env("EYE_DATA_DIR", &from_env)
        .output()
        .expect("run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(from_env.join("eye.db").exists());

    let from_file = dir.path().join("from-file");
    let config = dir.path().join("eye.toml");
    std::fs::write(
        &config,
        format!("data_dir = {:?}\n", from_file.to_str().expect("utf-8")),
    )
    .expect("write");
    let output = eye(&[
        "keys",
        "create",
        "--app",
        "shop",
        "--scope",
        "query",
        "--config",
        config.to_str().expect("utf-8"),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(from_file.join("eye.db").exists());
}

#[test]
fn healthcheck_succeeds_only_against_a_healthy_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let addr = server.base.trim_start_matches("http://").to_owned();
    assert!(eye(&["healthcheck", "--addr", &addr]).status.success());
    assert!(
        eye(&["healthcheck", "--addr", &addr, "--path", "/readyz"])
            .status
            .success()
    );
    assert!(
        !eye(&["healthcheck", "--addr", &addr, "--path", "/nowhere"])
            .status
            .success()
    );
    drop(server);
    assert!(!eye(&["healthcheck", "--addr", &addr]).status.success());
}
