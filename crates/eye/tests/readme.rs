//! README.md's examples, run as written against the shipped schemas and defaults: the
//! walk-through's shell block with the real binary and curl, and the alert rules' TOML.
//! Editing an example without keeping it true breaks this test.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::EYE;
use serde_json::Value;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The fenced blocks of the README that follow `heading`, up to the next heading of its level.
fn blocks_under(heading: &str, language: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(repository().join("README.md")).expect("README.md");
    let start = readme
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README.md has no {heading:?}"));
    let level = heading.split(' ').next().unwrap_or("##");
    let section = &readme[start + heading.len() + 2..];
    let end = section
        .find(&format!("\n{level} "))
        .unwrap_or(section.len());
    let mut blocks = Vec::new();
    let mut rest = &section[..end];
    let fence = format!("```{language}\n");
    while let Some(at) = rest.find(&fence) {
        let body = &rest[at + fence.len()..];
        let close = body.find("```").expect("a closed block");
        // Indented blocks (inside a list) lose their indentation.
        let indent = rest[..at].rsplit('\n').next().map_or(0, str::len);
        let text: Vec<&str> = body[..close]
            .lines()
            .map(|line| line.get(indent..).unwrap_or(line.trim_start()))
            .collect();
        blocks.push(text.join("\n"));
        rest = &body[close + 3..];
    }
    blocks
}

/// A shell line that runs `condition` every 50 ms until it succeeds, and stops the script
/// with `failure` when it has not within 30 seconds.
fn wait_until(condition: &str, failure: &str) -> String {
    format!(
        "for try in $(seq 1 600); do {condition} && break; \
         [ \"$try\" = 600 ] && {{ echo '{failure} after 30 s' >&2; exit 1; }}; sleep 0.05; done"
    )
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// The outputs of the script's curl calls, in order (each followed by a marker line).
fn curl_outputs(stdout: &str) -> Vec<Value> {
    stdout
        .split("\n== curl done\n")
        .filter(|chunk| !chunk.trim().is_empty())
        .map(|chunk| {
            serde_json::from_str(chunk.trim())
                .unwrap_or_else(|e| panic!("a curl output is not JSON ({e}): {chunk}"))
        })
        .collect()
}

/// Runs `lines` with bash in `work`, where the shipped schemas are linked as `schemas`, with
/// `$EYE` the binary and `EYE_URL` set to `url` (no other `EYE_*` setting of this process);
/// fails with the output and `server.log` when the script fails. Returns standard output.
fn run_with_schemas(work: &Path, lines: &[String], url: Option<&str>, what: &str) -> String {
    std::os::unix::fs::symlink(repository().join("schemas"), work.join("schemas"))
        .expect("link the shipped schemas");
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(lines.join("\n"))
        .current_dir(work)
        .env("EYE", EYE)
        .env_remove("EYE_URL")
        .env_remove("EYE_DATA_DIR")
        .env_remove("EYE_CONFIG")
        .env_remove("EYE_KEY");
    if let Some(url) = url {
        command.env("EYE_URL", url);
    }
    let output = command.output().expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let log = std::fs::read_to_string(work.join("server.log")).unwrap_or_default();
    assert!(
        output.status.success(),
        "the {what} failed:\n{stdout}\n{}\nserver log:\n{log}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn the_walk_through_runs_as_written() {
    let script = blocks_under("## Walk-through", "sh")
        .into_iter()
        .next()
        .expect("the walk-through block");
    let work = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    // The block, with `cargo run ... --` as the built binary, the server started in the
    // background (it says: another terminal), and its address in place of the default.
    let mut lines = vec![
        "set -euo pipefail".to_owned(),
        "curl() { command curl --max-time 10 \"$@\"; printf '\\n== curl done\\n'; }".to_owned(),
    ];
    for line in script.lines() {
        let line = line
            .replace("cargo run -q -p eye --", "\"$EYE\"")
            .replace("cargo run --release -p eye --", "\"$EYE\"")
            .replace("localhost:8000", &address);
        if line.contains("\"$EYE\" serve") {
            lines.push(format!("{} --listen {address} 2>server.log &", line.trim()));
            lines.push("SERVER=$!; trap 'kill $SERVER' EXIT".to_owned());
            lines.push(wait_until(
                &format!("command curl -sf http://{address}/readyz >/dev/null"),
                "the server is not ready",
            ));
        } else if line.starts_with("# 4.") {
            // A person reads the answer before querying: by then the worker has stored it.
            lines.push(wait_until(
                &format!("command curl -s http://{address}/readyz | grep -q '\"queue_depth\":0'"),
                "the queue is not drained",
            ));
            lines.push(line);
        } else {
            lines.push(line);
        }
    }
    let stdout = run_with_schemas(work.path(), &lines, None, "walk-through");
    let answers = curl_outputs(&stdout);
    assert_eq!(answers.len(), 6, "six curl calls: {answers:#?}");

    // 3. One pageview accepted, the cta click without `element` rejected, as the README says.
    let sent = &answers[0];
    assert_eq!(
        (&sent["accepted"], &sent["rejected"]),
        (&Value::from(1), &Value::from(1)),
        "{sent}"
    );
    assert_eq!(sent["results"][1]["error"]["code"], "schema_violation");
    assert_eq!(sent["results"][1]["error"]["path"], "/data/element");
    assert_eq!(
        sent["results"][1]["error"]["message"],
        "\"element\" is a required property"
    );
    // 4. The queries answer with what was sent.
    assert_eq!(answers[1]["event_count"], 1, "{}", answers[1]);
    assert_eq!(
        answers[2]["events"][0]["name"], "pageview",
        "{}",
        answers[2]
    );
    assert_eq!(
        answers[3]["errors"][0]["code"], "schema_violation",
        "{}",
        answers[3]
    );
    assert_eq!(
        answers[4]["by_code"]["schema_violation"], 1,
        "{}",
        answers[4]
    );
    // 5. The schema change is a new version.
    assert_eq!(answers[5]["category"], "page interaction", "{}", answers[5]);
    assert_eq!(answers[5]["name"], "cta click");
}

#[test]
fn the_alert_rules_example_is_a_valid_configuration() {
    let rules = blocks_under("## Operations", "toml");
    assert_eq!(rules.len(), 1, "one TOML block under Operations");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("eye.toml");
    std::fs::write(&file, &rules[0]).expect("write");
    let config =
        eye_server::config::Config::load(Some(&file), eye_server::config::Overrides::default())
            .expect("the README's alert rules load");
    assert_eq!(config.alerts.len(), 2);
}

#[test]
fn the_data_keeping_examples_run_as_written() {
    let script = blocks_under(
        "## Keeping data: retention, erasure, PII rules, backups",
        "sh",
    )
    .into_iter()
    .next()
    .expect("the block of examples");
    let work = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let mut lines = vec![
        "set -euo pipefail".to_owned(),
        "curl() { command curl --max-time 10 \"$@\"; printf '\\n== curl done\\n'; }".to_owned(),
        "eye() { \"$EYE\" \"$@\"; }".to_owned(),
        // What the block assumes: a server on eye-data with an admin key, and session s-42's
        // events stored.
        "ADMIN_KEY=$(eye keys create --data-dir eye-data --app ops --scope admin 2>/dev/null)"
            .to_owned(),
        "INGEST_KEY=$(eye keys create --data-dir eye-data --app shop --scope ingest 2>/dev/null)"
            .to_owned(),
        // Not through the function: `$!` must be the server itself, for the trap to stop it.
        format!("\"$EYE\" serve --data-dir eye-data --listen {address} >/dev/null 2>server.log &"),
        "SERVER=$!; trap 'kill $SERVER' EXIT".to_owned(),
        wait_until(
            &format!("command curl -sf http://{address}/readyz >/dev/null"),
            "the server is not ready",
        ),
        format!(
            "command curl -sf -H \"Authorization: Bearer $INGEST_KEY\" -H 'Content-Type: application/json' \
             -d '[{{\"session_id\": \"s-42\", \"category\": \"page interaction\", \"name\": \"pageview\", \
             \"data\": {{\"host\": \"h\", \"path\": \"/\"}}, \"timestamp\": \"2021-01-01T09:15:27Z\"}}]' \
             http://{address}/v1/events >/dev/null"
        ),
        wait_until(
            &format!("command curl -s http://{address}/readyz | grep -q '\"queue_depth\":0'"),
            "the queue is not drained",
        ),
    ];
    for line in script.lines() {
        lines.push(line.replace("localhost:8000", &address));
    }
    let stdout = run_with_schemas(
        work.path(),
        &lines,
        Some(&format!("http://{address}")),
        "examples",
    );
    // Piped, the eye commands print JSON lines too: every JSON line in order.
    let answers: Vec<Value> = stdout
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(answers.len() >= 6, "{stdout}");
    let [usage, curl_usage, erased, requested, listed, ..] = &answers[..] else {
        panic!("{stdout}");
    };
    assert_eq!(usage["events"], 1, "eye usage: {usage}");
    assert_eq!(curl_usage["events"], 1, "{curl_usage}");
    assert_eq!(erased["status"], "done", "eye erase --wait: {erased}");
    assert_eq!(erased["events_deleted"], 1, "{erased}");
    assert_eq!(requested["status"], "pending", "{requested}");
    assert_eq!(requested["suppress"], true, "{requested}");
    assert_eq!(
        listed["session_ids"],
        serde_json::json!(["s-43"]),
        "newest first: {listed}"
    );
    let restored = work.path().join("eye-data-restored").join("eye.db");
    assert!(
        restored.is_file(),
        "eye restore made {}",
        restored.display()
    );
}

/// The start of a script for a section's examples: `curl` that fails on an error and marks
/// the end of each output, a query and an ingest key in `$QUERY` and `$INGEST`, and `eye
/// serve` on `address` with the shipped schemas, ready.
fn server_with_keys(address: &str) -> String {
    [
        "set -euo pipefail".to_owned(),
        "curl() { command curl --max-time 10 -f \"$@\"; printf '\\n== curl done\\n'; }".to_owned(),
        "QUERY=$(\"$EYE\" keys create --data-dir eye-data --app analytics --scope query 2>/dev/null)"
            .to_owned(),
        "INGEST=$(\"$EYE\" keys create --data-dir eye-data --app shop --scope ingest 2>/dev/null)"
            .to_owned(),
        format!(
            "\"$EYE\" serve --data-dir eye-data --schemas schemas --listen {address} >/dev/null 2>server.log &"
        ),
        "SERVER=$!; trap 'kill $SERVER' EXIT".to_owned(),
        wait_until(
            &format!("command curl -sf http://{address}/readyz >/dev/null"),
            "the server is not ready",
        ),
    ]
    .join("\n")
}

#[test]
fn the_query_api_examples_run_as_written() {
    let script = blocks_under("## Query API (query scope)", "sh")
        .into_iter()
        .next()
        .expect("the block of examples");
    let work = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let event = |session: &str, category: &str, name: &str, data: &str, at: &str| {
        format!(
            "{{\"session_id\": \"{session}\", \"category\": \"{category}\", \"name\": \"{name}\", \
             \"data\": {data}, \"timestamp\": \"{at}\"}}"
        )
    };
    let page = r#"{"host": "h", "path": "/"}"#;
    let events = [
        event(
            "a",
            "page interaction",
            "pageview",
            page,
            "2021-01-01T09:15:27Z",
        ),
        event(
            "a",
            "page interaction",
            "pageview",
            page,
            "2021-01-01T10:15:27Z",
        ),
        event(
            "b",
            "page interaction",
            "pageview",
            page,
            "2021-01-03T10:00:00Z",
        ),
        event(
            "b",
            "form interaction",
            "submit",
            r#"{"host": "h", "path": "/", "form": {"plan": "pro"}}"#,
            "2021-01-03T10:01:00Z",
        ),
    ]
    .join(", ");
    let mut lines = vec![
        server_with_keys(&address),
        format!(
            "command curl -sf -H \"Authorization: Bearer $INGEST\" -H 'Content-Type: application/json' \
             -d '[{events}]' http://{address}/v1/events | grep -q '\"rejected\":0'"
        ),
        wait_until(
            &format!("command curl -s http://{address}/readyz | grep -q '\"queue_depth\":0'"),
            "the queue is not drained",
        ),
    ];
    for line in script.lines() {
        lines.push(line.replace("localhost:8000", &address));
    }
    let stdout = run_with_schemas(work.path(), &lines, None, "examples");
    let [by_hour, sessions_by_day, submitted] = &curl_outputs(&stdout)[..] else {
        panic!("three answers expected:\n{stdout}");
    };
    assert_eq!(by_hour["total"], 2, "{by_hour}");
    assert_eq!(
        by_hour["series"][0]["key"],
        serde_json::json!({"category": "page interaction", "name": "pageview"})
    );
    assert_eq!(
        by_hour["series"][0]["points"].as_array().map(Vec::len),
        Some(24)
    );
    assert_eq!(by_hour["series"][0]["points"][9]["count"], 1, "{by_hour}");
    assert_eq!(sessions_by_day["total"], 2, "{sessions_by_day}");
    assert_eq!(sessions_by_day["series"][0]["points"][2]["count"], 1);
    assert_eq!(
        submitted["sessions"].as_array().map(|s| s
            .iter()
            .map(|s| s["session_id"].clone())
            .collect::<Vec<_>>()),
        Some(vec![serde_json::json!("b")]),
        "{submitted}"
    );
}

#[test]
fn the_segment_examples_run_as_written() {
    let script = blocks_under("## Segment-compatible ingest", "sh")
        .into_iter()
        .next()
        .expect("the block of examples");
    let work = tempfile::tempdir().expect("tempdir");
    let address = format!("127.0.0.1:{}", free_port());
    let mut lines = vec![server_with_keys(&address)];
    for line in script.lines() {
        // A reader types the query a moment after sending; the test waits for the store.
        if line.contains("/v1/events?") {
            lines.push(wait_until(
                &format!("command curl -s http://{address}/readyz | grep -q '\"queue_depth\":0'"),
                "the queue is not drained",
            ));
        }
        lines.push(line.replace("localhost:8000", &address));
    }
    let stdout = run_with_schemas(work.path(), &lines, None, "Segment examples");
    let [batch, single, events] = &curl_outputs(&stdout)[..] else {
        panic!("three answers expected:\n{stdout}");
    };
    assert_eq!(batch["success"], true, "{batch}");
    assert_eq!(
        (&batch["accepted"], &batch["rejected"]),
        (&6.into(), &0.into()),
        "{batch}"
    );
    assert_eq!(
        (&single["success"], &single["accepted"]),
        (&true.into(), &1.into()),
        "{single}"
    );
    let events = events["events"].as_array().expect("events");
    let found: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["category"].as_str().unwrap_or("?"),
                e["name"].as_str().unwrap_or("?"),
                e["event_id"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("page interaction", "cta click", "m-1"),
            ("identify", "identify", "m-4"),
            ("group", "group", "m-5"),
            ("alias", "alias", "m-6"),
            ("track", "signup", "m-7"),
        ],
        "the user's events: those sent with userId"
    );
    assert_eq!(events[0]["context"]["library"]["name"], "analytics-python");
    assert_eq!(
        events[0]["schema_version"], 1,
        "judged by the brief's schema"
    );
}
