//! `eye send`: events from a file or standard input, in batches, each event with a stable
//! `event_id`, and a summary of what the server accepted and why it rejected the rest.

mod input;

use std::collections::BTreeMap;
use std::io::IsTerminal;

use eye_types::EventResult;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::cli::{Format, SendArgs};
use crate::output;
use crate::remote;
use input::{Input, Unreadable, parse_events, read_text};

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
    let Input { events, unreadable } = parse_events(&read_text(args.file.as_deref())?)?;
    anyhow::ensure!(
        !events.is_empty() || !unreadable.is_empty(),
        "the input holds no events"
    );
    let progress = std::io::stderr().is_terminal();
    let mut summary = Summary::default();
    let mut tally = Tally::new();
    let mut sent = 0;
    for chunk in events.chunks(usize::from(args.batch)) {
        let values: Vec<&RawValue> = chunk.iter().map(|(_, event)| event.as_ref()).collect();
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
    anyhow::ensure!(
        not_accepted == 0,
        "{} not accepted",
        output::count(not_accepted, "event")
    );
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
            let at = problem
                .path
                .as_deref()
                .map_or_else(String::new, |path| format!(" at {path}:"));
            let lines = if problem.count == 1 {
                format!("line {}", problem.first_line)
            } else {
                format!("first on line {}", problem.first_line)
            };
            println!(
                "      {} ×{at} {} ({lines})",
                problem.count, problem.message
            );
        }
    }
    for bad in summary.unreadable_lines.iter().take(10) {
        println!("  line {}: {}", bad.line, bad.problem);
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
