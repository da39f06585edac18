//! PII rules keep clear values off the disk and out of the log: after events carrying unique
//! markers in a `hash` and a `redact` field are accepted and rejected (a violation elsewhere,
//! one on each PII field, one in the envelope) by `eye serve` with every log level on, no
//! file of the data directory and no log line holds a marker.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Server, create_key, drain, get_json};
use serde_json::{Value, json};

const HASHED: &str = "hash-marker-6c0f2a9e";
const REDACTED: &str = "redact-marker-b83d41f7";
const DROPPED: &str = "drop-marker-0e95c3d2";

const SCHEMA_FILE: &str = r#"{
  "category": "form interaction",
  "name": "submit",
  "schema": {
    "type": "object",
    "required": ["host", "form"],
    "properties": {
      "host": {"type": "string"},
      "form": {"type": "object", "properties": {
        "first_name": {"type": "string", "maxLength": 64, "x-eye-pii": "hash"},
        "last_name": {"type": "string", "x-eye-pii": "redact"},
        "email": {"x-eye-pii": "drop"}
      }}
    }
  }
}"#;

fn files_holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)
        .expect("read dir")
        .map_while(Result::ok)
    {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_holding(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            found.push(path.display().to_string());
        }
    }
    found
}

fn submit(session: &str, data: Value) -> Value {
    json!({"session_id": session, "category": "form interaction", "name": "submit",
           "data": data, "timestamp": "2021-01-01 09:15:27.243860"})
}

fn form(first_name: Value, last_name: Value) -> Value {
    json!({"first_name": first_name, "last_name": last_name, "email": DROPPED})
}

fn is_hash(value: &Value) -> bool {
    value
        .as_str()
        .and_then(|text| text.strip_prefix("hmac-sha256:"))
        .is_some_and(|hex| {
            hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_data_file_and_no_log_line_holds_a_clear_pii_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let schemas = dir.path().join("schemas");
    std::fs::create_dir(&schemas).expect("schema dir");
    std::fs::write(schemas.join("submit.json"), SCHEMA_FILE).expect("schema file");
    let ingest = create_key(&data, "shop", "ingest");
    let query = create_key(&data, "team", "query");
    let server = Server::start_with(
        &data,
        &["--schemas", schemas.to_str().expect("utf-8")],
        &[("RUST_LOG", "trace")],
    );
    let base = server.base.clone();
    let client = common::http();
    let mut envelope_refused = submit(
        "s-rejected",
        json!({"host": "h",
        "form": form(json!(HASHED), json!(REDACTED))}),
    );
    envelope_refused["timestamp"] = json!("not a time");
    let events = json!([
        submit(
            "s-accepted",
            json!({"host": "h", "form": form(json!(HASHED), json!(REDACTED))})
        ),
        submit(
            "s-accepted",
            json!({"host": "h", "form": {"first_name": HASHED}})
        ),
        // A violation elsewhere in the event.
        submit(
            "s-rejected",
            json!({"form": form(json!(HASHED), json!(REDACTED))})
        ),
        // A violation on each PII field, quoting the value.
        submit(
            "s-rejected",
            json!({"host": "h", "form": form(json!([HASHED]), json!(REDACTED))})
        ),
        submit(
            "s-rejected",
            json!({"host": "h",
            "form": form(json!(format!("{HASHED}{}", "-".repeat(64))), json!(REDACTED))})
        ),
        submit(
            "s-rejected",
            json!({"host": "h", "form": form(json!(HASHED), json!({"x": REDACTED}))})
        ),
        envelope_refused,
    ]);
    let response = client
        .post(format!("{base}/v1/events"))
        .bearer_auth(&ingest)
        .json(&events)
        .send()
        .await
        .expect("ingest");
    assert_eq!(response.status(), 202);
    let answer = response.text().await.expect("answer");
    let verdict: Value = serde_json::from_str(&answer).expect("json");
    assert_eq!(
        (&verdict["accepted"], &verdict["rejected"]),
        (&json!(2), &json!(5)),
        "{verdict}"
    );

    drain(&client, &base, Duration::from_secs(30)).await;
    let stored = common::stored_events(&client, &base, &query).await;
    assert_eq!(stored.len(), 2, "{stored:?}");
    let (status, errors) = get_json(&client, &format!("{base}/v1/errors?limit=100"), &query).await;
    assert_eq!(status, 200, "{errors}");
    assert_eq!(
        errors["errors"].as_array().map(Vec::len),
        Some(5),
        "{errors}"
    );
    let (_, log) = server.stop();
    assert!(
        log.contains(" TRACE ") || log.contains(" DEBUG "),
        "verbose logging was on"
    );

    let forms: Vec<&Value> = stored.iter().map(|event| &event["data"]["form"]).collect();
    let full = forms
        .iter()
        .find(|form| form.get("last_name").is_some())
        .expect("the event with every field");
    assert!(is_hash(&full["first_name"]), "{full}");
    assert_eq!(full["last_name"], "[redacted]");
    assert!(
        full.get("email").is_none(),
        "a dropped field is gone: {full}"
    );
    assert_eq!(
        forms[0]["first_name"], forms[1]["first_name"],
        "equal values, equal hashes"
    );

    for marker in [HASHED, REDACTED, DROPPED] {
        assert!(
            !answer.contains(marker),
            "the answer holds {marker}: {answer}"
        );
        assert!(
            !errors.to_string().contains(marker),
            "the error store holds {marker}"
        );
        let files = files_holding(&data, marker.as_bytes());
        assert!(files.is_empty(), "data files hold {marker}: {files:?}");
        assert!(!log.contains(marker), "the log holds {marker}");
    }
}
