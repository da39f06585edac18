//! What `eye send` reads: JSON lines, one JSON array, or one `{"events": [...]}` body (a
//! `sent_at` beside it is left out), each event kept as the text it was written in (so the
//! error store holds the input's own bytes), with a stable `event_id` added in front when it
//! has none.

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// One input line that could not be read as JSON.
#[derive(Serialize)]
pub struct Unreadable {
    pub line: usize,
    pub problem: String,
}

/// The events of the input, each with its line (or position in the array), and the lines
/// that were not JSON.
pub struct Input {
    pub events: Vec<(usize, Box<RawValue>)>,
    pub unreadable: Vec<Unreadable>,
}

/// The file's text, or standard input's when `file` is absent or `-`.
pub fn read_text(file: Option<&Path>) -> anyhow::Result<String> {
    let mut text = String::new();
    match file {
        Some(path) if path.as_os_str() != "-" => {
            text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
        }
        _ => {
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading standard input")?;
        }
    }
    Ok(text)
}

/// The body shape `POST /v1/events` also takes. A `sent_at` in it (a request an SDK sent,
/// kept) is read and left out: it was that client's clock when it sent, long ago, and `eye
/// send` says when it sends itself.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsBody {
    events: Vec<Box<RawValue>>,
    #[serde(default, rename = "sent_at")]
    _sent_at: Option<serde::de::IgnoredAny>,
}

/// Reads events: a JSON array, an `{"events": [...]}` object, or one JSON object per line
/// (blank lines skipped). Every event gets its stable `event_id`.
pub fn parse_events(text: &str) -> anyhow::Result<Input> {
    let start = text.trim_start();
    let whole: Option<Vec<Box<RawValue>>> = if start.starts_with('[') {
        Some(
            serde_json::from_str(text)
                .context("the input starts with `[` but is not a JSON array")?,
        )
    } else {
        serde_json::from_str::<EventsBody>(text)
            .ok()
            .map(|body| body.events)
    };
    if let Some(events) = whole {
        let events = (1..)
            .zip(events)
            .map(|(position, raw)| Ok((position, with_event_id(position, raw.get())?)))
            .collect::<anyhow::Result<_>>()?;
        return Ok(Input {
            events,
            unreadable: Vec::new(),
        });
    }
    let (mut events, mut unreadable) = (Vec::new(), Vec::new());
    for (line, text) in (1..).zip(text.lines()) {
        if text.trim().is_empty() {
            continue;
        }
        match with_event_id(line, text.trim()) {
            Ok(event) => events.push((line, event)),
            Err(error) => unreadable.push(Unreadable {
                line,
                problem: error.to_string(),
            }),
        }
    }
    Ok(Input { events, unreadable })
}

/// `text` as it is, or, for an object without `event_id`, with one made from its position
/// and content put first: sending the same input again is then idempotent, since the
/// server stores an application's `event_id` once.
fn with_event_id(position: usize, text: &str) -> anyhow::Result<Box<RawValue>> {
    let value: Value = serde_json::from_str(text).map_err(|error| {
        anyhow::anyhow!(
            "not JSON (column {}: {})",
            error.column(),
            first_clause(&error.to_string())
        )
    })?;
    let Value::Object(fields) = &value else {
        // Not an object: the server rejects it, with its reason.
        return Ok(RawValue::from_string(text.to_owned())?);
    };
    if fields.contains_key("event_id") {
        return Ok(RawValue::from_string(text.to_owned())?);
    }
    let id = stable_event_id(position, &value);
    let inside = text.trim_start().strip_prefix('{').unwrap_or(text);
    let separator = if inside.trim_start().starts_with('}') {
        ""
    } else {
        ","
    };
    Ok(RawValue::from_string(format!(
        r#"{{"event_id":"{id}"{separator}{inside}"#
    ))?)
}

fn stable_event_id(position: usize, event: &Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(position.to_string().as_bytes());
    hasher.update(b"\n");
    hasher.update(event.to_string().as_bytes());
    let digest = hasher.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("send-{hex}")
}

/// serde_json's message without its " at line L column C" tail (the line is the input's).
fn first_clause(message: &str) -> &str {
    message.split(" at line ").next().unwrap_or(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_of(position: usize, text: &str) -> String {
        let raw = with_event_id(position, text).expect("JSON");
        let value: Value = serde_json::from_str(raw.get()).expect("still JSON");
        value["event_id"].as_str().expect("an event_id").to_owned()
    }

    #[test]
    fn event_ids_are_stable_for_content_and_position() {
        let event = r#"{"session_id": "s", "category": "c", "name": "n", "data": {}}"#;
        let first = id_of(1, event);
        assert_eq!(first, id_of(1, event), "same line, same id");
        assert_eq!(first, id_of(1, &event.replace(", ", ",")), "spacing aside");
        assert_ne!(first, id_of(2, event), "another line");
        assert_ne!(
            first,
            id_of(1, &event.replace("\"n\"", "\"m\"")),
            "other content"
        );
        assert!(first.len() <= 64);
        assert_eq!(
            id_of(1, r#"{"event_id": "mine"}"#),
            "mine",
            "an id of the input is kept"
        );
    }

    #[test]
    fn the_text_as_written_is_kept_after_the_added_id() {
        let text = r#"{ "b": 1,  "a": "\u00e9" }"#;
        let sent = with_event_id(3, text).expect("JSON");
        let (head, tail) = sent.get().split_once(',').expect("an id in front");
        assert!(head.starts_with(r#"{"event_id":"send-"#), "{head}");
        assert_eq!(tail, r#" "b": 1,  "a": "\u00e9" }"#);
        assert!(with_event_id(1, "{}").expect("JSON").get().ends_with("\"}"));
    }

    #[test]
    fn every_input_shape_is_read() {
        let lines = "{\"a\": 1}\n\n{oops\n[1]\n";
        let input = parse_events(lines).expect("lines");
        assert_eq!(input.events.len(), 2);
        assert_eq!(input.unreadable[0].line, 3);
        assert!(
            input.unreadable[0]
                .problem
                .starts_with("not JSON (column 2:"),
            "{}",
            input.unreadable[0].problem
        );
        let array = parse_events("[{\"a\": 1}, {\"b\": 2}]").expect("array");
        assert_eq!(array.events.iter().map(|e| e.0).collect::<Vec<_>>(), [1, 2]);
        let body = parse_events("{\"events\": [{\"a\": 1}]}").expect("body");
        assert_eq!(body.events.len(), 1);
        assert!(body.events[0].1.get().contains("\"a\": 1"));
        let sent = r#"{"sent_at": "2021-01-01T09:00:00Z", "events": [{"a": 1}, {"b": 2}]}"#;
        let body = parse_events(sent).expect("a body an SDK sent");
        assert_eq!(body.events.len(), 2);
        assert!(body.unreadable.is_empty());
    }
}
