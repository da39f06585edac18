//! `eye erase`, `eye erasures` and `eye usage` against a running server.

mod common;

use std::time::{Duration, Instant};

use common::{Server, create_key, drain, http, json_lines, run_with};
use serde_json::Value;

fn run(args: &[&str]) -> (i32, String, String) {
    let run = run_with(args, None, &[]);
    (run.code, run.stdout, run.stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erase_forgets_sessions_and_usage_reports_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ingest = create_key(dir.path(), "shop", "ingest");
    let admin = create_key(dir.path(), "ops", "admin");
    let server = Server::start(dir.path(), &[]);
    let url = server.base.clone();
    let client = http();
    let events = serde_json::json!([
        {"session_id": "s-erase", "category": "page interaction", "name": "pageview",
         "data": {"host": "h", "path": "/"}, "timestamp": "2021-01-01T09:00:00Z"},
        {"session_id": "s-erase", "category": "page interaction", "name": "pageview",
         "data": {"host": "h", "path": "/b"}, "timestamp": "2021-01-01T09:00:01Z"},
        {"session_id": "s-stay", "category": "page interaction", "name": "pageview",
         "data": {"host": "h", "path": "/"}, "timestamp": "2021-01-01T09:00:02Z"},
    ]);
    let response = client
        .post(format!("{url}/v1/events"))
        .bearer_auth(&ingest)
        .json(&events)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 202);
    drain(&client, &url, Duration::from_secs(30)).await;

    let (code, stdout, stderr) =
        run(&["usage", "--url", &url, "--key", &admin, "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let usage = &json_lines(&stdout)[0];
    assert_eq!(usage["events"], 3, "{usage}");
    assert_eq!(usage["retention"]["retention_days"], Value::Null, "{usage}");
    let (code, stdout, _) = run(&["usage", "--url", &url, "--key", &admin, "--format", "table"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("events     3"), "{stdout}");
    assert!(stdout.contains("retention  events forever"), "{stdout}");

    let started = Instant::now();
    let (code, stdout, stderr) = run(&[
        "erase",
        "--url",
        &url,
        "--key",
        &admin,
        "--session-id",
        "s-erase",
        "--wait",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(60));
    let job = &json_lines(&stdout)[0];
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["events_deleted"], 2, "{job}");
    let id = job["id"].as_str().expect("id");

    let (code, stdout, _) = run(&[
        "erasures", "--url", &url, "--key", &admin, "--format", "table",
    ]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("ID"), "{stdout}");
    assert!(stdout.contains(id) && stdout.contains("done"), "{stdout}");
    let (code, stdout, _) = run(&[
        "erasures", id, "--url", &url, "--key", &admin, "--format", "json",
    ]);
    assert_eq!(code, 0);
    assert_eq!(json_lines(&stdout)[0]["id"], id);

    let (code, stdout, _) = run(&["usage", "--url", &url, "--key", &admin, "--format", "json"]);
    assert_eq!(code, 0);
    assert_eq!(json_lines(&stdout)[0]["events"], 1, "only s-stay is left");

    // An unknown erasure, a key without the admin scope, no session: each says so.
    let (code, _, stderr) = run(&["erasures", "era_nosuch", "--url", &url, "--key", &admin]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no erasure has the id"), "{stderr}");
    let (code, _, stderr) = run(&[
        "erase",
        "--url",
        &url,
        "--key",
        &ingest,
        "--session-id",
        "s",
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("admin"), "{stderr}");
    let (code, _, stderr) = run(&["erase", "--url", &url, "--key", &admin]);
    assert_eq!(code, 2, "clap refuses a missing --session-id: {stderr}");
}

#[test]
fn erase_names_a_server_it_cannot_reach() {
    let started = Instant::now();
    let (code, _, stderr) = run(&[
        "erase",
        "--url",
        "http://127.0.0.1:9",
        "--key",
        "eye_x",
        "--session-id",
        "s",
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("http://127.0.0.1:9"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "said so within seconds"
    );
}
