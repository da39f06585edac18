//! `eye send`, `events`, `sessions`, `errors` and `tail` against a running server.

mod common;

use std::time::Duration;

use common::{
    KeyedServer, create_key, drain, json_lines, post_events, run, spawn_tail, tail_sessions,
};
use serde_json::Value;

/// Longer than any wait here should take; each ends as soon as its condition holds.
const WAIT: Duration = Duration::from_secs(30);

fn event(session: &str, name: &str, timestamp: &str) -> String {
    format!(
        r#"{{"session_id": "{session}", "category": "page interaction", "name": "{name}", "data": {{"host": "h", "path": "/"}}, "timestamp": "{timestamp}"}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_then_query_from_the_command_line() {
    let KeyedServer {
        url,
        ingest,
        query,
        dir,
        ..
    } = &KeyedServer::start();

    let file = dir.path().join("events.jsonl");
    let lines = [
        event("s1", "pageview", "2021-01-01 09:00:00"),
        event("s1", "cta click", "2021-01-01 09:00:01"),
        String::new(),
        event("s2", "pageview", "2021-01-01 09:00:02"),
        event("s2", "pageview", "2021-02-30 09:00:03"),
        "{not json".to_owned(),
    ];
    std::fs::write(&file, lines.join("\n")).expect("write");
    let (code, stdout, _) = run(
        &[
            "send",
            file.to_str().expect("utf-8"),
            "--url",
            url,
            "--key",
            ingest,
            "--format",
            "table",
        ],
        None,
    );
    assert_eq!(
        code, 1,
        "rejections make the exit status non-zero:\n{stdout}"
    );
    assert!(
        stdout.contains("accepted 3, rejected 1, unreadable 1"),
        "{stdout}"
    );
    assert!(stdout.contains("1 × invalid_timestamp"), "{stdout}");
    assert!(stdout.contains("1 × at /timestamp: "), "{stdout}");
    assert!(stdout.contains("(line 5)"), "{stdout}");
    assert!(stdout.contains("line 6: not JSON"), "{stdout}");

    let array = format!(
        "[{}, {}]",
        event("s3", "pageview", "2021-01-01 10:00:00"),
        event("s3", "submit", "2021-01-01 10:00:01")
    );
    let (code, stdout, _) = run(&["send", "--url", url, "--key", ingest], Some(&array));
    assert_eq!(code, 0, "{stdout}");
    let summary = &json_lines(&stdout)[0];
    assert_eq!(
        (&summary["accepted"], &summary["rejected"]),
        (&Value::from(2), &Value::from(0)),
        "piped, the summary is a JSON line: {stdout}"
    );
    drain(&common::http(), url, Duration::from_secs(10)).await;

    let (code, stdout, stderr) = run(
        &["events", "--url", url, "--key", query, "--format", "json"],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    let events = json_lines(&stdout);
    assert_eq!(events.len(), 5);
    assert!(
        events
            .iter()
            .all(|e| e["id"].is_string() && e["app"] == "shop")
    );

    let (_, stdout, _) = run(
        &[
            "events",
            "--url",
            url,
            "--key",
            query,
            "--session-id",
            "s1",
            "--format",
            "table",
        ],
        None,
    );
    assert!(stdout.starts_with("TIMESTAMP"), "{stdout}");
    assert_eq!(
        stdout.lines().count(),
        3,
        "header and two events:\n{stdout}"
    );

    let (_, stdout, _) = run(
        &[
            "events", "--url", url, "--key", query, "--desc", "--limit", "2", "--format", "json",
        ],
        None,
    );
    let newest = json_lines(&stdout);
    assert_eq!(newest.len(), 2);
    // `eye send` says when it sent (`sent_at`): the server moves the timestamp by the
    // transit time (this machine's clock is the server's) and keeps the one in the file.
    assert_eq!(
        newest[0]["original_timestamp"],
        "2021-01-01T10:00:01.000000Z"
    );
    let stored = newest[0]["timestamp"].as_str().expect("timestamp");
    assert!(stored.starts_with("2021-01-01T10:00:0"), "{stored}");

    let (_, stdout, stderr) = run(
        &[
            "sessions", "s3", "--url", url, "--key", query, "--format", "json",
        ],
        None,
    );
    let session = json_lines(&stdout);
    assert_eq!(session.len(), 2, "one JSON line per event: {stdout}");
    assert!(
        session
            .iter()
            .all(|e| e["session_id"] == "s3" && e["id"].is_string())
    );
    assert!(stderr.contains("session s3: 2 events"), "{stderr}");

    let (_, stdout, _) = run(
        &["errors", "--url", url, "--key", query, "--format", "json"],
        None,
    );
    let errors = json_lines(&stdout);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["code"], "invalid_timestamp");

    let admin = create_key(dir.path(), "ops", "admin");
    let (code, stdout, stderr) = run(
        &[
            "errors",
            "replay",
            "--url",
            url,
            "--key",
            &admin,
            "--dry-run",
            "--format",
            "table",
        ],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("matched 1, would store 0, still failing 1"),
        "{stdout}"
    );
    let (_, stdout, _) = run(
        &[
            "errors", "replay", "--url", url, "--key", &admin, "--format", "json",
        ],
        None,
    );
    assert_eq!(json_lines(&stdout)[0]["still_failing"], 1);

    let with_env = common::run_with(
        &["events", "--format", "json"],
        None,
        &[("EYE_URL", url), ("EYE_KEY", query)],
    );
    assert_eq!(json_lines(&with_env.stdout).len(), 5, "EYE_URL and EYE_KEY");

    let (code, _, stderr) = run(
        &[
            "events",
            "--url",
            url,
            "--key",
            "eye_wrong",
            "--format",
            "json",
        ],
        None,
    );
    assert_ne!(code, 0);
    assert!(stderr.contains("unauthorized"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_follows_the_live_stream() {
    tail_follows_new_events(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_can_poll_instead() {
    tail_follows_new_events(&["--poll", "--interval-ms", "100"]).await;
}

async fn tail_follows_new_events(mode: &[&str]) {
    let KeyedServer {
        server,
        url,
        ingest,
        query,
        ..
    } = &KeyedServer::start();
    let tail = spawn_tail(
        url,
        query,
        &[
            &["--max-events", "3", "--format", "json", "--name", "live"],
            mode,
        ]
        .concat(),
    );
    // Events stored before the tail is listening are not followed: wait for its first
    // request (the access log writes the line once the answer has started, so the live
    // stream has subscribed; a poll looks back far enough for events sent afterwards).
    let route = if mode.contains(&"--poll") {
        "route=/v1/events "
    } else {
        "route=/v1/events/live "
    };
    server.wait_for_line(&["method=GET", route, "status=200"], WAIT);
    let now = || {
        time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .expect("format")
    };
    let events = (0..4).map(|n| {
        let name = if n == 1 { "other" } else { "live" };
        serde_json::from_str::<Value>(&event(&format!("t{n}"), name, &now())).expect("json")
    });
    post_events(url, ingest, events).await;
    assert_eq!(tail_sessions(tail, WAIT).await, ["t0", "t2", "t3"]);
}
