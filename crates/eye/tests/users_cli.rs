//! Users from the command line: `eye events --user`, `eye sessions --user`, `eye tail
//! --user`, the USER column of event tables, and the send time (`sent_at`) `eye send` puts
//! on every request.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use common::{KeyedServer, drain, json_lines, post_events, run, spawn_tail, tail_sessions};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const WAIT: Duration = Duration::from_secs(30);

fn event(session: &str, user: Option<&str>, second: u32) -> Value {
    let mut event = json!({
        "session_id": session,
        "category": "page interaction",
        "name": "pageview",
        "data": {"host": "h", "path": "/"},
        "timestamp": format!("2021-01-01 09:00:{second:02}"),
    });
    if let Some(user) = user {
        event["user_id"] = json!(user);
        event["context"] = json!({"locale": "en-GB", "page": {"url": "https://h/"}});
    }
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_and_sessions_of_one_user() {
    let KeyedServer {
        url, ingest, query, ..
    } = &KeyedServer::start();
    let lines: Vec<String> = [
        event("s1", Some("u-1"), 1),
        event("s1", Some("u-1"), 2),
        event("s2", Some("u-1"), 3),
        event("s3", Some("u-2"), 4),
        event("s4", None, 5),
    ]
    .iter()
    .map(Value::to_string)
    .collect();
    let (code, stdout, stderr) = run(
        &["send", "--url", url, "--key", ingest],
        Some(&lines.join("\n")),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    drain(&common::http(), url, Duration::from_secs(10)).await;

    let (code, stdout, stderr) = run(
        &[
            "events", "--url", url, "--key", query, "--user", "u-1", "--format", "json",
        ],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    let events = json_lines(&stdout);
    let sessions: Vec<&str> = events
        .iter()
        .map(|e| e["session_id"].as_str().expect("session"))
        .collect();
    assert_eq!(sessions, ["s1", "s1", "s2"], "{stdout}");
    assert!(
        events
            .iter()
            .all(|e| e["user_id"] == "u-1" && e["context"]["locale"] == "en-GB"),
        "{stdout}"
    );

    // A table shows each event's user, `-` for none.
    let (_, stdout, _) = run(
        &["events", "--url", url, "--key", query, "--format", "table"],
        None,
    );
    let table: Vec<&str> = stdout.lines().collect();
    assert!(table[0].contains(" USER "), "{stdout}");
    let user_at = table[0].find("USER").expect("USER");
    let users: Vec<&str> = table[1..]
        .iter()
        .map(|line| line[user_at..].split(' ').next().expect("a cell"))
        .collect();
    assert_eq!(users, ["u-1", "u-1", "u-1", "u-2", "-"], "{stdout}");

    let (code, stdout, stderr) = run(
        &[
            "sessions", "--url", url, "--key", query, "--user", "u-1", "--format", "json",
        ],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    let listed: Vec<String> = json_lines(&stdout)
        .iter()
        .map(|s| s["session_id"].as_str().expect("session").to_owned())
        .collect();
    assert_eq!(listed, ["s2", "s1"], "latest activity first: {stdout}");

    let (code, _, stderr) = run(
        &[
            "sessions", "s1", "--url", url, "--key", query, "--user", "u-1",
        ],
        None,
    );
    assert_eq!(
        code, 2,
        "a session id and --user do not go together: {stderr}"
    );
    assert!(stderr.contains("--user"), "{stderr}");

    let (code, _, stderr) = run(
        &[
            "export", "--url", url, "--key", query, "--errors", "--user", "u-1",
        ],
        None,
    );
    assert_ne!(code, 0);
    assert!(stderr.contains("--user"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_follows_only_the_users_events() {
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
        &["--user", "u-live", "--max-events", "2", "--format", "json"],
    );
    server.wait_for_line(
        &["method=GET", "route=/v1/events/live ", "status=200"],
        WAIT,
    );
    let now = OffsetDateTime::now_utc().format(&Rfc3339).expect("format");
    let events = [Some("u-live"), Some("someone else"), None, Some("u-live")]
        .into_iter()
        .enumerate()
        .map(|(n, user)| {
            let mut body = event(&format!("t{n}"), user, 0);
            body["timestamp"] = json!(now);
            body
        });
    post_events(url, ingest, events).await;
    assert_eq!(tail_sessions(tail, WAIT).await, ["t0", "t3"]);
}

/// A stand-in for the server: takes one request, answers that its one event was accepted,
/// and hands back the request's body.
fn one_request_listener() -> (String, std::thread::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("head");
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().expect("a length");
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).expect("body");
        let answer = r#"{"accepted":1,"rejected":0,"results":[{"status":"accepted","index":0,"id":"00000000-0000-0000-0000-000000000000"}]}"#;
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
            answer.len()
        )
        .expect("answer");
        body
    });
    (url, handle)
}

#[test]
fn send_says_when_it_sent_each_request() {
    let (url, request) = one_request_listener();
    let before = OffsetDateTime::now_utc();
    let line = event("s-sent", Some("u-1"), 0).to_string();
    let (code, stdout, stderr) = run(&["send", "--url", &url, "--key", "eye_key"], Some(&line));
    let after = OffsetDateTime::now_utc();
    assert_eq!(code, 0, "{stdout}{stderr}");
    let body: Value = serde_json::from_slice(&request.join().expect("listener")).expect("JSON");
    let sent_at = OffsetDateTime::parse(body["sent_at"].as_str().expect("sent_at"), &Rfc3339)
        .expect("RFC 3339");
    assert!(before <= sent_at && sent_at <= after, "{body}");
    let events = body["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{body}");
    assert_eq!(events[0]["user_id"], "u-1");
    assert!(
        events[0]["event_id"].is_string(),
        "given a stable id: {body}"
    );
}

#[test]
fn the_help_says_what_the_user_filters_do() {
    for command in ["events", "sessions", "tail", "export"] {
        let (code, stdout, _) = run(&[command, "--help"], None);
        assert_eq!(code, 0);
        assert!(
            stdout.contains("--user <USER_ID>") && stdout.contains("user_id"),
            "eye {command} --help:\n{stdout}"
        );
    }
}
