//! What a new user meets in the first hour with the command line: a server that cannot be
//! reached, a file sent twice, the wrong data directory, a key revoked twice, piped output,
//! long ids in tables, and ordinary failures with `RUST_BACKTRACE` set.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Run, Server, create_key, drain, json_lines, run_with};
use serde_json::Value;

fn run(args: &[&str]) -> Run {
    run_with(args, None, &[])
}

fn path(dir: &Path) -> &str {
    dir.to_str().expect("utf-8 path")
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn event(session: &str, name: &str, data: &str, timestamp: &str) -> String {
    format!(
        r#"{{"session_id": "{session}", "category": "page interaction", "name": "{name}", "data": {data}, "timestamp": "{timestamp}"}}"#
    )
}

const ONE_EVENT: &str = r#"{"session_id": "s", "category": "c", "name": "n", "data": {}, "timestamp": "2021-01-01 00:00:00"}"#;

#[test]
fn a_url_without_a_scheme_is_refused_with_what_to_write() {
    let sent = run_with(
        &["send", "--url", "127.0.0.1:8000", "--key", "eye_x"],
        Some(ONE_EVENT),
        &[],
    );
    assert_eq!(sent.code, 1, "{}", sent.stderr);
    assert!(
        sent.stderr.contains("has no scheme") && sent.stderr.contains("http://127.0.0.1:8000"),
        "{}",
        sent.stderr
    );
    assert!(
        !sent.stderr.contains("retrying"),
        "refused before any request: {}",
        sent.stderr
    );

    let key_as_url = run_with(
        &["events", "--url", "eye_secretvalue", "--key", "eye_x"],
        None,
        &[],
    );
    assert_eq!(key_as_url.code, 1);
    assert!(
        !key_as_url.stderr.contains("eye_secretvalue"),
        "a key given as the URL is not echoed: {}",
        key_as_url.stderr
    );
}

#[test]
fn an_unreachable_server_is_named_each_retry_shown_and_the_wait_bounded() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let sent = run_with(
        &["send", "--url", &url, "--key", "eye_x", "--retry-for", "1s"],
        Some(ONE_EVENT),
        &[],
    );
    assert_eq!(sent.code, 1, "{}", sent.stderr);
    let refused = format!("connection refused at {url}");
    assert!(sent.stderr.contains(&refused), "{}", sent.stderr);
    assert!(
        sent.stderr.contains("is `eye serve` running?"),
        "{}",
        sent.stderr
    );
    let retries = sent
        .stderr
        .lines()
        .filter(|l| l.contains("retrying in"))
        .count();
    assert!(retries >= 2, "each retry is shown: {}", sent.stderr);
    assert!(sent.stderr.contains("gave up after"), "{}", sent.stderr);

    let queried = run(&["events", "--url", &url, "--key", "eye_x"]);
    assert_eq!(queried.code, 1);
    assert!(queried.stderr.contains(&refused), "{}", queried.stderr);
}

#[test]
fn a_host_that_does_not_resolve_is_named() {
    let url = "http://no-such-host.invalid:8000";
    let sent = run_with(
        &["send", "--url", url, "--key", "eye_x", "--retry-for", "0s"],
        Some(ONE_EVENT),
        &[],
    );
    assert_eq!(sent.code, 1, "{}", sent.stderr);
    assert!(
        sent.stderr
            .contains(&format!("the host of {url} does not resolve")),
        "{}",
        sent.stderr
    );
}

#[test]
fn a_batch_of_zero_is_refused() {
    let sent = run_with(
        &["send", "--batch", "0", "--key", "eye_x"],
        Some(ONE_EVENT),
        &[],
    );
    assert_ne!(sent.code, 0);
    assert!(sent.stderr.contains("--batch"), "{}", sent.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_the_same_file_twice_stores_each_event_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ingest = create_key(dir.path(), "shop", "ingest");
    let query = create_key(dir.path(), "team", "query");
    let server = Server::start(dir.path(), &[]);
    let file = dir.path().join("events.jsonl");
    let same = event(
        "twice",
        "pageview",
        r#"{"path": "/"}"#,
        "2021-01-01 09:00:00",
    );
    let other = event(
        "twice",
        "pageview",
        r#"{"path": "/b"}"#,
        "2021-01-01 09:00:01",
    );
    // The same line twice is two events: the position is part of the id.
    std::fs::write(&file, [same.clone(), same, other].join("\n")).expect("write");
    for _ in 0..2 {
        let sent = run(&["send", path(&file), "--url", &server.base, "--key", &ingest]);
        assert_eq!(sent.code, 0, "{}{}", sent.stdout, sent.stderr);
        assert_eq!(
            json_lines(&sent.stdout)[0]["accepted"],
            3,
            "{}",
            sent.stdout
        );
    }
    let http = common::http();
    drain(&http, &server.base, Duration::from_secs(10)).await;
    let stored = common::stored_events(&http, &server.base, &query).await;
    assert_eq!(stored.len(), 3, "{stored:?}");
    let ids: std::collections::HashSet<&str> = stored
        .iter()
        .map(|e| e["event_id"].as_str().expect("every event has an event_id"))
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|id| id.starts_with("send-")), "{ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejections_are_grouped_by_code_with_every_distinct_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ingest = create_key(dir.path(), "shop", "ingest");
    let schemas = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas");
    let server = Server::start(dir.path(), &["--schemas", schemas]);
    let lines = [
        event(
            "g",
            "cta click",
            r#"{"host": "h", "path": "/"}"#,
            "2021-01-01 09:00:00",
        ),
        event("g", "pageview", r#"{"host": "h"}"#, "2021-01-01 09:00:01"),
        event(
            "g",
            "cta click",
            r#"{"host": "h", "path": "/"}"#,
            "2021-01-01 09:00:02",
        ),
        event(
            "g",
            "pageview",
            r#"{"host": "h", "path": "/"}"#,
            "2021-01-01 09:00:03",
        ),
    ];
    let input = lines.join("\n");
    let args = ["send", "--url", &server.base, "--key", &ingest, "--format"];
    let piped = run_with(&[&args[..], &["json"]].concat(), Some(&input), &[]);
    assert_eq!(piped.code, 1, "{}", piped.stderr);
    let summary = &json_lines(&piped.stdout)[0];
    assert_eq!(summary["accepted"], 1);
    assert_eq!(summary["rejected"], 3);
    let groups = summary["rejections"].as_array().expect("rejections");
    assert_eq!(groups.len(), 1, "{summary}");
    assert_eq!(groups[0]["code"], "schema_violation");
    assert_eq!(groups[0]["count"], 3);
    let problems: Vec<(String, u64, u64)> = groups[0]["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| {
            (
                p["path"].as_str().expect("path").to_owned(),
                p["count"].as_u64().expect("count"),
                p["first_line"].as_u64().expect("line"),
            )
        })
        .collect();
    assert_eq!(
        problems,
        [
            ("/data/element".to_owned(), 2, 1),
            ("/data/path".to_owned(), 1, 2)
        ]
    );

    let table = run_with(&[&args[..], &["table"]].concat(), Some(&input), &[]);
    let messages: Vec<&Value> = groups[0]["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| &p["message"])
        .collect();
    assert_ne!(messages[0], messages[1]);
    for message in messages {
        let message = message.as_str().expect("message");
        assert!(
            table.stdout.contains(message),
            "{message} in:\n{}",
            table.stdout
        );
    }
}

#[test]
fn admin_commands_name_their_store_and_refuse_one_that_is_not_there() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-dir");
    let listed = run(&["keys", "list", "--data-dir", path(&missing)]);
    assert_eq!(listed.code, 1);
    assert!(
        listed.stderr.contains(path(&missing)) && listed.stderr.contains("does not exist"),
        "{}",
        listed.stderr
    );
    assert!(!missing.exists(), "no directory was created");

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let listed = run(&["keys", "list", "--data-dir", path(&empty)]);
    assert_eq!(listed.code, 1);
    assert!(
        listed.stderr.contains("found no store"),
        "{}",
        listed.stderr
    );
    assert!(!empty.join("eye.db").exists());

    let data = dir.path().join("data");
    let created = run(&[
        "keys",
        "create",
        "--app",
        "shop",
        "--scope",
        "ingest",
        "--data-dir",
        path(&data),
    ]);
    assert_eq!(created.code, 0, "{}", created.stderr);
    assert!(
        created.stderr.contains("creating the data directory")
            && created.stderr.contains(path(&data)),
        "{}",
        created.stderr
    );
    let listed = run(&["keys", "list", "--data-dir", path(&data)]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let store_line = format!("store: {}", data.join("eye.db").display());
    assert_eq!(listed.stderr.trim(), store_line, "one line names the store");
    assert_eq!(
        json_lines(&listed.stdout)[0]["app"],
        "shop",
        "piped: JSON lines"
    );
}

#[test]
fn revoking_twice_or_an_unknown_key_fails_and_a_secret_is_never_echoed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = path(dir.path());
    let secret = create_key(dir.path(), "shop", "ingest");
    let revoked = run(&["keys", "revoke", &secret, "--data-dir", data]);
    assert_eq!(revoked.code, 0, "{}", revoked.stderr);
    assert!(
        revoked.stderr.contains("revoked key key_"),
        "{}",
        revoked.stderr
    );
    let again = run(&["keys", "revoke", &secret, "--data-dir", data]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("already revoked"), "{}", again.stderr);
    let unknown_secret = "eye_thisIsNotAKeyOfThisStoreButLooksLikeOne0000";
    let unknown = run(&["keys", "revoke", unknown_secret, "--data-dir", data]);
    assert_eq!(unknown.code, 1);
    assert!(unknown.stderr.contains("no key"), "{}", unknown.stderr);
    let unknown_id = run(&["keys", "revoke", "key_0123456789abcdef", "--data-dir", data]);
    assert_eq!(unknown_id.code, 1);
    assert!(
        unknown_id.stderr.contains("key_0123456789abcdef"),
        "{}",
        unknown_id.stderr
    );
    let pasted = run(&[
        "keys",
        "revoke",
        &format!(" Bearer '{unknown_secret}' "),
        "--data-dir",
        data,
    ]);
    assert_eq!(pasted.code, 1);
    assert!(
        pasted
            .stderr
            .contains("no key of this store has the secret"),
        "{}",
        pasted.stderr
    );
    let inside = run(&[
        "keys",
        "revoke",
        &format!("x{unknown_secret}"),
        "--data-dir",
        data,
    ]);
    assert_eq!(inside.code, 1);
    for output in [&revoked, &again, &unknown, &pasted, &inside] {
        let all = format!("{}{}", output.stdout, output.stderr);
        assert!(
            !all.contains(&secret) && !all.contains(unknown_secret),
            "{all}"
        );
    }
}

#[test]
fn ordinary_failures_print_their_message_without_a_backtrace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing");
    let failed = run_with(
        &["keys", "list", "--data-dir", path(&missing)],
        None,
        &[("RUST_BACKTRACE", "1")],
    );
    assert_eq!(failed.code, 1);
    assert!(failed.stderr.starts_with("error: "), "{}", failed.stderr);
    assert_eq!(failed.stderr.lines().count(), 1, "{}", failed.stderr);
    assert!(
        !failed.stderr.to_lowercase().contains("backtrace"),
        "{}",
        failed.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_all_accepted_is_reported_without_a_backtrace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ingest = create_key(dir.path(), "shop", "ingest");
    let server = Server::start(dir.path(), &[]);
    let bad = r#"{"session_id": "s", "category": "c", "name": "n", "data": {}, "timestamp": "2021-02-30 00:00:00"}"#;
    let sent = run_with(
        &["send", "--url", &server.base, "--key", &ingest],
        Some(bad),
        &[("RUST_BACKTRACE", "1")],
    );
    assert_eq!(sent.code, 1);
    assert_eq!(sent.stderr.trim(), "error: 1 event not accepted");
}

#[test]
fn healthcheck_takes_a_url_or_host_and_port() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let host_port = server.base.trim_start_matches("http://").to_owned();
    for addr in [server.base.clone(), format!("{}/", server.base), host_port] {
        let checked = run(&["healthcheck", "--addr", &addr]);
        assert_eq!(checked.code, 0, "{addr}: {}", checked.stderr);
    }
    let readyz = run(&["healthcheck", "--addr", &format!("{}/readyz", server.base)]);
    assert_eq!(readyz.code, 0, "{}", readyz.stderr);
    let missing = run(&["healthcheck", "--addr", &format!("{}/nowhere", server.base)]);
    assert_eq!(missing.code, 1, "a URL's path is asked: {}", missing.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piped_output_is_json_lines_ids_are_never_cut_and_more_pages_are_announced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ingest = create_key(dir.path(), "shop", "ingest");
    let query = create_key(dir.path(), "team", "query");
    let server = Server::start(dir.path(), &[]);
    let long_session = "session-with-a-rather-long-identifier-0123456789-abcdefghij";
    let input = [
        event(long_session, "pageview", "{}", "2021-01-01 23:59:59"),
        event(long_session, "pageview", "{}", "2021-01-02 00:00:00"),
        event(long_session, "pageview", "{}", "2021-01-02 10:00:00"),
    ]
    .join("\n");
    let sent = run_with(
        &["send", "--url", &server.base, "--key", &ingest],
        Some(&input),
        &[],
    );
    assert_eq!(sent.code, 0, "{}", sent.stderr);
    drain(&common::http(), &server.base, Duration::from_secs(10)).await;
    let remote = ["--url", server.base.as_str(), "--key", query.as_str()];

    let events = run(&[&["events", "--session-id", long_session][..], &remote].concat());
    let session = run(&[&["sessions", long_session][..], &remote].concat());
    let (events, session) = (json_lines(&events.stdout), json_lines(&session.stdout));
    assert_eq!(events.len(), 3);
    assert_eq!(session, events, "the same records, one per line");

    let table = run(&[&["events", "--format", "table"][..], &remote].concat());
    assert_eq!(
        table.stdout.matches(long_session).count(),
        3,
        "{}",
        table.stdout
    );
    let table = run(&[
        &["sessions", long_session, "--format", "table"][..],
        &remote,
    ]
    .concat());
    // The summary line, the header, then one row per event, each with the whole id.
    let rows: Vec<&str> = table.stdout.lines().skip(2).collect();
    assert_eq!(rows.len(), 3, "{}", table.stdout);
    assert!(
        rows.iter().all(|row| row.contains(long_session)),
        "{}",
        table.stdout
    );

    let first = run(&[&["events", "--limit", "1"][..], &remote].concat());
    assert_eq!(json_lines(&first.stdout).len(), 1);
    let cursor = first
        .stderr
        .split("--cursor ")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("more pages are announced: {}", first.stderr));
    let rest = run(&[&["events", "--cursor", cursor][..], &remote].concat());
    let rest = json_lines(&rest.stdout);
    assert_eq!(rest.len(), 2);
    assert_ne!(rest[0]["id"], json_lines(&first.stdout)[0]["id"]);
    let all = run(&[&["events"][..], &remote].concat());
    assert!(!all.stderr.contains("more events"), "{}", all.stderr);

    let from_date = run(&[&["events", "--from", "2021-01-02"][..], &remote].concat());
    // As the file has them: `eye send` says when it sent, so the stored timestamps moved by
    // the transit time.
    let timestamps: Vec<Value> = json_lines(&from_date.stdout)
        .iter()
        .map(|e| e["original_timestamp"].clone())
        .collect();
    assert_eq!(
        timestamps,
        ["2021-01-02T00:00:00.000000Z", "2021-01-02T10:00:00.000000Z"],
        "a date alone is its midnight UTC"
    );
}

#[test]
fn send_help_says_how_event_ids_make_resending_safe() {
    let help = run(&["send", "--help"]);
    assert_eq!(help.code, 0);
    assert!(
        help.stdout.contains("`event_id`") && help.stdout.contains("stores nothing twice"),
        "{}",
        help.stdout
    );
    assert!(help.stdout.contains("--retry-for"), "{}", help.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_keeps_each_event_as_written_and_reads_every_body_shape() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ingest = create_key(dir.path(), "shop", "ingest");
    let query = create_key(dir.path(), "team", "query");
    let server = Server::start(dir.path(), &[]);
    let remote = ["--url", server.base.as_str(), "--key", ingest.as_str()];
    // Key order, spacing and escapes as the file has them; an unknown field to be rejected.
    let line = r#"{"session_id": "..",  "name": "n", "category": "c", "data": {"é": "\u00e9"}, "timestamp": "2021-01-01 09:00:00", "extra": 1}"#;
    let sent = run_with(&[&["send"][..], &remote].concat(), Some(line), &[]);
    assert_eq!(sent.code, 1, "{}", sent.stderr);
    let body = format!(
        r#"{{"events": [{}]}}"#,
        r#"{"session_id": "..", "category": "c", "name": "n", "data": {}, "timestamp": "2021-01-01 09:00:01"}"#
    );
    let sent = run_with(&[&["send"][..], &remote].concat(), Some(&body), &[]);
    assert_eq!(
        sent.code, 0,
        "an events body is read as one: {}",
        sent.stderr
    );
    let empty = run_with(&[&["send"][..], &remote].concat(), Some("\n\n"), &[]);
    assert_eq!(empty.code, 1);
    assert!(empty.stderr.contains("no events"), "{}", empty.stderr);
    drain(&common::http(), &server.base, Duration::from_secs(10)).await;

    let reader = ["--url", server.base.as_str(), "--key", query.as_str()];
    let errors = json_lines(&run(&[&["errors"][..], &reader].concat()).stdout);
    let raw = errors[0]["raw"].as_str().expect("raw");
    let (head, as_written) = raw.split_once(',').expect("an event_id in front");
    assert!(head.starts_with(r#"{"event_id":"send-"#), "{raw}");
    assert_eq!(as_written, &line[1..], "the rest is the line as written");
    // A session named `..` cannot be a URL path segment: the CLI says where to look.
    let session = run(&[&["sessions", ".."][..], &reader].concat());
    assert_eq!(session.code, 1);
    assert!(
        session.stderr.contains("session_id filter"),
        "{}",
        session.stderr
    );
    let events = run(&[&["events", "--session-id", ".."][..], &reader].concat());
    assert_eq!(json_lines(&events.stdout).len(), 1, "{}", events.stderr);
    let zero = run(&[&["events", "--limit", "0"][..], &reader].concat());
    assert_ne!(zero.code, 0, "a limit of 0 is refused");
}
