//! `eye export` against a running server: files in each format, the error store, and an
//! unreachable server named at once.

mod common;

use std::time::{Duration, Instant};

use common::{Server, create_key, drain, http, json_lines, run_with, stored_events};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use serde_json::{Value, json};

const EVENTS: usize = 1500;

fn events() -> Value {
    (0..EVENTS)
        .map(|i| {
            json!({
                "session_id": format!("s-{}", i % 7),
                "category": "page interaction",
                "name": if i % 2 == 0 { "pageview" } else { "cta click" },
                "data": {"i": i, "path": format!("/p/{i}")},
                "timestamp": format!("2021-01-01T10:{:02}:{:02}.{:06}Z", (i / 60) % 60, i % 60, i),
            })
        })
        .collect()
}

/// Sends [`events`] in batches the server takes.
async fn ingest_all(client: &reqwest::Client, base: &str, key: &str) {
    for batch in events().as_array().expect("array").chunks(500) {
        let response = client
            .post(format!("{base}/v1/events"))
            .bearer_auth(key)
            .json(batch)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 202);
    }
}

/// Ids in file order from CSV (the first field of each record after the header).
fn csv_ids(text: &str) -> Vec<String> {
    let mut lines = text.lines();
    let header = lines.next().expect("a header row");
    assert!(header.starts_with("id,"), "{header}");
    lines
        .map(|line| line.split(',').next().unwrap_or_default().to_owned())
        .collect()
}

fn parquet_ids(path: &std::path::Path) -> Vec<String> {
    let file = std::fs::File::open(path).expect("the Parquet file");
    let reader = SerializedFileReader::new(file).expect("a Parquet file");
    reader
        .get_row_iter(None)
        .expect("rows")
        .map(|row| match row.expect("a row").get_column_iter().next() {
            Some((name, Field::Str(id))) if name == "id" => id.clone(),
            other => panic!("the first column is not the id: {other:?}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_each_format_to_a_file_or_standard_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ingest = create_key(dir.path(), "shop", "ingest");
    let query = create_key(dir.path(), "team", "query");
    let server = Server::start(dir.path(), &[]);
    let url = server.base.clone();
    let client = http();
    ingest_all(&client, &url, &ingest).await;
    let rejected = json!([{"session_id": "s", "category": "c", "data": {}, "timestamp": "2021-01-01 00:00:00"}]);
    let response = client
        .post(format!("{url}/v1/events"))
        .bearer_auth(&ingest)
        .json(&rejected)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 422);
    drain(&client, &url, Duration::from_secs(30)).await;
    let stored = stored_events(&client, &url, &query).await;
    assert_eq!(stored.len(), EVENTS);
    let ids: Vec<String> = stored
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_owned())
        .collect();
    let remote = ["--url", url.as_str(), "--key", query.as_str()];

    let csv = dir.path().join("events.csv");
    let out = csv.to_str().expect("utf-8");
    let run = run_with(
        &[&["export", "--format", "csv", "--out", out], &remote[..]].concat(),
        None,
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.is_empty(),
        "no progress when standard error is not a terminal: {}",
        run.stderr
    );
    assert_eq!(csv_ids(&std::fs::read_to_string(&csv).expect("read")), ids);
    assert!(!dir.path().join("events.csv.partial").exists());

    let parquet = dir.path().join("events.parquet");
    let out = parquet.to_str().expect("utf-8");
    let run = run_with(
        &[
            &[
                "export",
                "--format",
                "parquet",
                "--out",
                out,
                "--session-id",
                "s-3",
            ],
            &remote[..],
        ]
        .concat(),
        None,
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let session: Vec<String> = stored
        .iter()
        .filter(|e| e["session_id"] == "s-3")
        .map(|e| e["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(parquet_ids(&parquet), session, "filters apply");

    // Standard output, the default format: the listing's records, line for line.
    for out in [&[][..], &["--out", "-"][..]] {
        let run = run_with(&[&["export"], out, &remote[..]].concat(), None, &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(json_lines(&run.stdout), stored);
    }

    let errors = dir.path().join("errors.csv");
    let out = errors.to_str().expect("utf-8");
    let run = run_with(
        &[
            &[
                "export",
                "--errors",
                "--code",
                "missing_field",
                "--format",
                "csv",
                "--out",
                out,
            ],
            &remote[..],
        ]
        .concat(),
        None,
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&errors).expect("read");
    assert!(
        text.starts_with("id,code,message,path,app,received_at,"),
        "{text}"
    );
    assert_eq!(csv_ids(&text).len(), 1, "{text}");
    assert!(text.contains(",missing_field,"), "{text}");

    let run = run_with(
        &[&["export", "--errors", "--session-id", "s"], &remote[..]].concat(),
        None,
        &[],
    );
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("--session-id"), "{}", run.stderr);
    let run = run_with(
        &[&["export", "--format", "xml"], &remote[..]].concat(),
        None,
        &[],
    );
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("parquet"),
        "says what is allowed: {}",
        run.stderr
    );
    server.stop();
}

#[test]
fn an_unreachable_server_is_named_within_seconds() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("events.parquet");
    let started = Instant::now();
    let run = run_with(
        &[
            "export",
            "--format",
            "parquet",
            "--out",
            out.to_str().expect("utf-8"),
            "--url",
            &url,
            "--key",
            "eye_x",
        ],
        None,
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        run.stderr.contains(&url) && run.stderr.contains("connection refused"),
        "{}",
        run.stderr
    );
    assert!(!out.exists(), "no file for a failed export");
}

/// The fenced `sh` block under README.md's `### Export`.
fn readme_example() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let section = &readme[readme.find("\n### Export\n").expect("an Export section")..];
    let body = &section[section.find("```sh\n").expect("an example") + 6..];
    body[..body.find("```").expect("a closed block")].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_export_example_runs_as_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ingest = create_key(dir.path(), "shop", "ingest");
    let query = create_key(dir.path(), "team", "query");
    let server = Server::start(dir.path(), &[]);
    let client = http();
    ingest_all(&client, &server.base, &ingest).await;
    let response = client
        .post(format!("{}/v1/events", server.base))
        .bearer_auth(&ingest)
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 400);
    drain(&client, &server.base, Duration::from_secs(30)).await;
    let address = server.base.trim_start_matches("http://").to_owned();
    let script = format!(
        "set -euo pipefail\ncurl() {{ command curl --max-time 30 -f \"$@\"; }}\neye() {{ \"$EYE\" \"$@\"; }}\n{}",
        readme_example().replace("localhost:8000", &address)
    );
    let output = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir.path())
        .env("EYE", common::EYE)
        .env("EYE_URL", &server.base)
        .env("QUERY", &query)
        .env_remove("EYE_KEY")
        .output()
        .expect("bash runs");
    assert!(
        output.status.success(),
        "the example failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let pageviews = parquet_ids(&dir.path().join("pageviews.parquet"));
    assert_eq!(pageviews.len(), EVENTS / 2, "January's pageviews");
    assert_eq!(
        parquet_ids(&dir.path().join("events.parquet")).len(),
        EVENTS
    );
    let errors = std::fs::read_to_string(dir.path().join("errors.csv")).expect("errors.csv");
    assert_eq!(csv_ids(&errors).len(), 1, "{errors}");
    server.stop();
}
