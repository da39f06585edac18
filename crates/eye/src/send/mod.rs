//! `eye send`: events from a file or standard input, in batches, each event with a stable
//! `event_id`, and a summary of what the server accepted and why it rejected the rest.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};

use anyhow::Context;
use eye_types::EventResult;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::cli::{Format, SendArgs};
use crate::output;
use crate::remote;

/// One input line that could not be read as an event.
#[derive(Serialize)]
struct Unreadable {
    line: usize,
    problem: String,
}

/// The events of the input, each with its line (or array position), and the lines that
/// were not JSON.
struct Input {
    events: Vec<(usize, Value)>,
    unreadable: Vec<Unreadable>,
}

fn read_text(args: &SendArgs) -> anyhow::Result<String> {
    let mut text = String::new();
    match args.file.as_deref() {
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

/// Reads events: a JSON array, or one JSON object per line (blank lines skipped).
fn parse_events(text: &str) -> anyhow::Result<Input> {
    if text.trim_start().starts_with('[') {
        let events: Vec<Value> = serde_json::from_str(text)
            .context("the input starts with `[` but is not a JSON array")?;
        let events = (1..).zip(events).collect();
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
        match serde_json::from_str(text) {
            Ok(event) => events.push((line, event)),
            Err(error) => unreadable.push(Unreadable {
                line,
                problem: error.to_string(),
            }),
        }
    }
    Ok(Input { events, unreadable })
}

/// Gives an event without `event_id` one made from its position and content, so sending
/// the same input again is idempotent: the server stores an application's `event_id` once.
fn add_stable_event_id(position: usize, event: &mut Value) {
    let Value::Object(fields) = event else {
        return; // not an object: the server rejects it, with its reason
    };
    if fields.contains_key("event_id") {
        return;
    }
    let mut hasher = Sha256::new();
    hasher.update(position.to_string().as_bytes());
    hasher.update(b"\n");
    hasher.update(Value::Object(fields.clone()).to_string().as_bytes());
    let digest = hasher.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    fields.insert("event_id".into(), Value::String(format!("send-{hex}")));
}

/// What the server said of the events, grouped by code, then by distinct path and message.
#[derive(Default, Serialize)]
struct Summary {
    accepted: usize,
    rejected: usize,
    unreadable: usize,
    rejections: Vec<CodeGroup>,
    unreadable_lines: Vec<Unreadable>,
}

#[derive(Serialize)]
struct CodeGroup {
    code: String,
    count: usize,
    problems: Vec<Problem>,
}

#[derive(Serialize)]
struct Problem {
    path: Option<String>,
    message: String,
    count: usize,
    first_line: usize,
}

/// Rejections as they come: code → (path, message) → (count, first line).
type Tally = BTreeMap<String, BTreeMap<(Option<String>, String), (usize, usize)>>;

pub async fn send(args: SendArgs) -> anyhow::Result<()> {
    let client = remote::sending_client(&args.remote, args.retry_for)?;
    let Input {
        mut events,
        unreadable,
    } = parse_events(&read_text(&args)?)?;
    for (position, event) in &mut events {
        add_stable_event_id(*position, event);
    }
    let progress = std::io::stderr().is_terminal();
    let mut summary = Summary::default();
    let mut tally = Tally::new();
    let mut sent = 0;
    for chunk in events.chunks(usize::from(args.batch)) {
        let values: Vec<&Value> = chunk.iter().map(|(_, event)| event).collect();
        let response = client.send(&values).await.map_err(|error| {
            remote::explain(error).context(format!(
                "sending the events from line {} on ({sent} of {} sent before; sending the input again is safe: no event is stored twice)",
                chunk[0].0,
                events.len()
            ))
        })?;
        summary.accepted += response.accepted;
        summary.rejected += response.rejected;
        for result in response.results {
            if let EventResult::Rejected { index, error } = result {
                let line = chunk.get(index).map_or(0, |(line, _)| *line);
                let entry = tally
                    .entry(error.code)
                    .or_default()
                    .entry((error.path, error.message))
                    .or_insert((0, line));
                entry.0 += 1;
            }
        }
        sent += chunk.len();
        if progress {
            eprint!("\r{}", progress_bar(sent, events.len()));
        }
    }
    if progress {
        eprintln!();
    }
    summary.unreadable = unreadable.len();
    summary.unreadable_lines = unreadable;
    summary.rejections = group(tally);
    match output::resolve(args.format.format) {
        Format::Json => output::json_line(&summary)?,
        Format::Table => print_summary(&summary),
    }
    let not_accepted = summary.rejected + summary.unreadable;
    anyhow::ensure!(not_accepted == 0, "{not_accepted} events were not accepted");
    Ok(())
}

fn group(tally: Tally) -> Vec<CodeGroup> {
    let mut groups: Vec<CodeGroup> = tally
        .into_iter()
        .map(|(code, problems)| {
            let mut problems: Vec<Problem> = problems
                .into_iter()
                .map(|((path, message), (count, first_line))| Problem {
                    path,
                    message,
                    count,
                    first_line,
                })
                .collect();
            problems.sort_by(|a, b| b.count.cmp(&a.count).then(a.first_line.cmp(&b.first_line)));
            CodeGroup {
                count: problems.iter().map(|p| p.count).sum(),
                code,
                problems,
            }
        })
        .collect();
    groups.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.code.cmp(&b.code)));
    groups
}

fn print_summary(summary: &Summary) {
    println!(
        "accepted {}, rejected {}, unreadable {}",
        summary.accepted, summary.rejected, summary.unreadable
    );
    for group in &summary.rejections {
        println!("  {} × {}", group.count, group.code);
        for problem in &group.problems {
            let path = problem
                .path
                .as_deref()
                .map_or_else(String::new, |path| format!(" at {path}"));
            let lines = if problem.count == 1 {
                format!("line {}", problem.first_line)
            } else {
                format!("first on line {}", problem.first_line)
            };
            println!(
                "      {} ×{path}: {} ({lines})",
                problem.count, problem.message
            );
        }
    }
    for bad in summary.unreadable_lines.iter().take(10) {
        println!("  line {}: not JSON: {}", bad.line, bad.problem);
    }
    if summary.unreadable > 10 {
        println!(
            "  ... and {} more unreadable lines",
            summary.unreadable - 10
        );
    }
}

/// `[#############                 ]  45% 450/1000 events`
fn progress_bar(done: usize, total: usize) -> String {
    const WIDTH: usize = 30;
    let filled = (done * WIDTH)
        .checked_div(total)
        .unwrap_or(WIDTH)
        .min(WIDTH);
    let percent = (done * 100).checked_div(total).unwrap_or(100);
    format!(
        "[{}{}] {percent:>3}% {done}/{total} events",
        "#".repeat(filled),
        " ".repeat(WIDTH - filled)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_progress_bar_counts_events() {
        assert_eq!(
            progress_bar(0, 10),
            format!("[{}]   0% 0/10 events", " ".repeat(30))
        );
        assert_eq!(
            progress_bar(5, 10),
            format!("[{}{}]  50% 5/10 events", "#".repeat(15), " ".repeat(15))
        );
        assert_eq!(
            progress_bar(0, 0),
            format!("[{}] 100% 0/0 events", "#".repeat(30))
        );
    }

    #[test]
    fn event_ids_are_stable_for_content_and_position() {
        let event = json!({"session_id": "s", "category": "c", "name": "n", "data": {}});
        let with_id = |position, mut event: Value| {
            add_stable_event_id(position, &mut event);
            event["event_id"].as_str().expect("an event_id").to_owned()
        };
        let first = with_id(1, event.clone());
        assert_eq!(first, with_id(1, event.clone()), "same line, same id");
        assert_ne!(first, with_id(2, event.clone()), "another line");
        let mut changed = event.clone();
        changed["name"] = json!("m");
        assert_ne!(first, with_id(1, changed), "other content");
        assert!(first.len() <= 64);
        let given = json!({"event_id": "mine"});
        assert_eq!(with_id(1, given), "mine", "an id of the input is kept");
    }

    #[test]
    fn rejections_group_by_code_with_each_distinct_message() {
        let mut tally = Tally::new();
        let mut add = |code: &str, path: &str, message: &str, line| {
            let entry = tally
                .entry(code.to_owned())
                .or_default()
                .entry((Some(path.to_owned()), message.to_owned()))
                .or_insert((0, line));
            entry.0 += 1;
        };
        add(
            "schema_violation",
            "/data/element",
            "\"element\" is required",
            3,
        );
        add("schema_violation", "/data/path", "\"path\" is required", 4);
        add(
            "schema_violation",
            "/data/element",
            "\"element\" is required",
            9,
        );
        add("invalid_timestamp", "/timestamp", "not a date", 5);
        let groups = group(tally);
        assert_eq!(groups[0].code, "schema_violation");
        assert_eq!(groups[0].count, 3);
        let messages: Vec<(&str, usize, usize)> = groups[0]
            .problems
            .iter()
            .map(|p| (p.message.as_str(), p.count, p.first_line))
            .collect();
        assert_eq!(
            messages,
            [
                ("\"element\" is required", 2, 3),
                ("\"path\" is required", 1, 4)
            ]
        );
        assert_eq!(groups[1].code, "invalid_timestamp");
    }
}
