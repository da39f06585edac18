//! The command-line client: `eye send`, `events`, `sessions`, `errors` and `tail`, through
//! the Rust SDK against a running server.

use std::collections::{BTreeMap, HashSet};
use std::io::{IsTerminal, Read};
use std::time::Duration;

use anyhow::Context;
use eye_client::{Client, ErrorFilter, EventFilter};
use eye_types::EventResult;
use serde_json::Value;

use crate::cli::{
    ErrorsAction, ErrorsArgs, EventFilters, EventsArgs, Format, Remote, ReplayArgs, SendArgs,
    SessionArgs, TailArgs,
};
use crate::output::{self, ERROR_HEADER, EVENT_HEADER, error_row, event_row, json_line};

fn client(remote: &Remote) -> anyhow::Result<Client> {
    let key = remote
        .key
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("give an API key with --key or EYE_KEY"))?;
    Ok(Client::builder(&remote.url, key).build()?)
}

/// One input line that could not be read as an event.
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

/// Reads events: a JSON array, or one JSON object per line (blank lines skipped).
fn read_events(args: &SendArgs) -> anyhow::Result<Input> {
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
    if text.trim_start().starts_with('[') {
        let events: Vec<Value> = serde_json::from_str(&text)
            .context("the input starts with `[` but is not a JSON array")?;
        let events = events
            .into_iter()
            .enumerate()
            .map(|(i, e)| (i + 1, e))
            .collect();
        return Ok(Input {
            events,
            unreadable: Vec::new(),
        });
    }
    let (mut events, mut unreadable) = (Vec::new(), Vec::new());
    for (index, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        match serde_json::from_str(line) {
            Ok(event) => events.push((index + 1, event)),
            Err(error) => unreadable.push(Unreadable {
                line: index + 1,
                problem: error.to_string(),
            }),
        }
    }
    Ok(Input { events, unreadable })
}

pub async fn send(args: SendArgs) -> anyhow::Result<()> {
    let client = client(&args.remote)?;
    let Input { events, unreadable } = read_events(&args)?;
    let progress = std::io::stderr().is_terminal();
    let (mut accepted, mut rejected) = (0usize, 0usize);
    let mut reasons: BTreeMap<(String, String), (usize, String, usize)> = BTreeMap::new();
    for (done, chunk) in events.chunks(args.batch.clamp(1, 1000)).enumerate() {
        let values: Vec<&Value> = chunk.iter().map(|(_, event)| event).collect();
        let response = client
            .send(&values)
            .await
            .with_context(|| format!("sending events from line {}", chunk[0].0))?;
        accepted += response.accepted;
        rejected += response.rejected;
        for result in response.results {
            if let EventResult::Rejected { index, error } = result {
                let line = chunk.get(index).map_or(0, |(line, _)| *line);
                let key = (error.code.clone(), error.path.clone().unwrap_or_default());
                let entry = reasons.entry(key).or_insert((0, error.message, line));
                entry.0 += 1;
            }
        }
        if progress {
            let sent = (done * args.batch + chunk.len()).min(events.len());
            eprint!("\r{}", progress_bar(sent, events.len()));
        }
    }
    if progress {
        eprintln!();
    }
    println!(
        "accepted {accepted}, rejected {rejected}, unreadable {}",
        unreadable.len()
    );
    for ((code, path), (count, message, line)) in &reasons {
        let path = if path.is_empty() {
            String::new()
        } else {
            format!(" at {path}")
        };
        println!("  {count} × {code}{path}: {message} (first on line {line})");
    }
    for bad in unreadable.iter().take(10) {
        println!("  line {}: not JSON: {}", bad.line, bad.problem);
    }
    anyhow::ensure!(
        rejected == 0 && unreadable.is_empty(),
        "{} events were not accepted",
        rejected + unreadable.len()
    );
    Ok(())
}

/// `[#############                 ]  45% 450/1000`
fn progress_bar(done: usize, total: usize) -> String {
    const WIDTH: usize = 30;
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
    let percent = (done * 100).checked_div(total).unwrap_or(100);
    format!(
        "[{}{}] {percent:>3}% {done}/{total}",
        "#".repeat(filled),
        " ".repeat(WIDTH - filled)
    )
}

fn event_filter(filters: &EventFilters) -> EventFilter {
    EventFilter {
        session_id: filters.session_id.clone(),
        category: filters.category.clone(),
        name: filters.name.clone(),
        app: filters.app.clone(),
        from: filters.from.clone(),
        to: filters.to.clone(),
        ..EventFilter::default()
    }
}

pub async fn events(args: EventsArgs) -> anyhow::Result<()> {
    let client = client(&args.remote)?;
    let mut filter = event_filter(&args.filters);
    filter.order = args.desc.then(|| "desc".to_owned());
    let printer = Printer::new(args.format, EVENT_HEADER);
    let mut shown = 0;
    while shown < args.limit {
        filter.limit = Some((args.limit - shown).min(1000));
        let page = client.events(&filter).await?;
        shown += printer.print(&page.events, event_row)?;
        let Some(cursor) = page.next_cursor else {
            break;
        };
        filter.cursor = Some(cursor);
    }
    Ok(())
}

/// Prints rows as a table (after a header) or as JSON lines.
struct Printer {
    format: Format,
}

impl Printer {
    fn new(format: Option<Format>, header: &str) -> Printer {
        let format = output::resolve(format);
        if format == Format::Table {
            println!("{header}");
        }
        Printer { format }
    }

    /// Prints `items`; returns how many.
    fn print<T: serde::Serialize>(
        &self,
        items: &[T],
        row: fn(&T) -> String,
    ) -> anyhow::Result<usize> {
        for item in items {
            match self.format {
                Format::Table => println!("{}", row(item)),
                Format::Json => json_line(item)?,
            }
        }
        Ok(items.len())
    }
}

pub async fn sessions(args: SessionArgs) -> anyhow::Result<()> {
    let client = client(&args.remote)?;
    let mut page = client
        .session(&args.session_id, Some(args.limit.min(1000)), None)
        .await?;
    while page.events.len() < args.limit {
        let Some(cursor) = page.next_cursor.take() else {
            break;
        };
        let next = client
            .session(
                &args.session_id,
                Some((args.limit - page.events.len()).min(1000)),
                Some(&cursor),
            )
            .await?;
        page.events.extend(next.events);
        page.next_cursor = next.next_cursor;
    }
    match output::resolve(args.format) {
        Format::Json => json_line(&page)?,
        Format::Table => {
            println!(
                "session {}: {} events from {} to {}, apps {}",
                page.session_id,
                page.event_count,
                page.first_timestamp,
                page.last_timestamp,
                page.apps.join(", ")
            );
            println!("{EVENT_HEADER}");
            for event in &page.events {
                println!("{}", event_row(event));
            }
        }
    }
    Ok(())
}

pub async fn errors(args: ErrorsArgs) -> anyhow::Result<()> {
    if let Some(ErrorsAction::Replay(replay)) = args.action {
        return replay_errors(replay).await;
    }
    let client = client(&args.remote)?;
    let filters = args.filters;
    let mut filter = ErrorFilter {
        code: filters.code,
        app: filters.app,
        category: filters.category,
        name: filters.name,
        from: filters.from,
        to: filters.to,
        ..ErrorFilter::default()
    };
    let printer = Printer::new(args.format, ERROR_HEADER);
    let mut shown = 0;
    while shown < args.limit {
        filter.limit = Some((args.limit - shown).min(1000));
        let page = client.errors(&filter).await?;
        shown += printer.print(&page.errors, error_row)?;
        let Some(cursor) = page.next_cursor else {
            break;
        };
        filter.cursor = Some(cursor);
    }
    Ok(())
}

async fn replay_errors(args: ReplayArgs) -> anyhow::Result<()> {
    let client = client(&args.remote)?;
    let filters = args.filters;
    let request = eye_client::ReplayRequest {
        code: filters.code,
        app: filters.app,
        category: filters.category,
        name: filters.name,
        from: filters.from,
        to: filters.to,
        dry_run: args.dry_run,
    };
    let outcome = client.replay_errors(&request).await?;
    if output::resolve(args.format) == Format::Json {
        return json_line(&outcome);
    }
    let verb = if outcome.dry_run {
        "would store"
    } else {
        "stored"
    };
    println!(
        "matched {}, {verb} {}, still failing {}",
        outcome.matched, outcome.passed, outcome.still_failing
    );
    for row in &outcome.by_event_type {
        let event_type = match (&row.category, &row.name) {
            (Some(category), Some(name)) => format!("{category} / {name}"),
            _ => "(refused request bodies)".to_owned(),
        };
        println!(
            "  {event_type}: matched {}, passed {}, still failing {}",
            row.matched, row.passed, row.still_failing
        );
    }
    Ok(())
}

/// Events arriving this long after their own timestamp are still shown.
const LATE_ARRIVAL: time::Duration = time::Duration::seconds(30);

/// Follows new events through the live stream (or, with `--poll`, by asking for recent ones).
pub async fn tail(args: TailArgs) -> anyhow::Result<()> {
    if args.poll {
        return tail_by_polling(args).await;
    }
    let client = client(&args.remote)?;
    let format = output::resolve(args.format);
    let filter = eye_client::LiveFilter {
        session_id: args.filters.session_id.clone(),
        category: args.filters.category.clone(),
        name: args.filters.name.clone(),
        app: args.filters.app.clone(),
    };
    let mut stream = client.live(&filter).await?;
    if format == Format::Table {
        println!("{EVENT_HEADER}");
    }
    let mut printed = 0;
    while let Some(event) = stream.next().await {
        let event = event?;
        match format {
            Format::Table => println!("{}", event_row(&event)),
            Format::Json => json_line(&event)?,
        }
        printed += 1;
        if args.max_events.is_some_and(|max| printed >= max) {
            break;
        }
    }
    Ok(())
}

/// Asks, every interval, for events whose timestamp is recent enough, and prints the ones
/// not seen yet.
async fn tail_by_polling(args: TailArgs) -> anyhow::Result<()> {
    let client = client(&args.remote)?;
    let format = output::resolve(args.format);
    if format == Format::Table {
        println!("{EVENT_HEADER}");
    }
    let mut since = time::OffsetDateTime::now_utc() - LATE_ARRIVAL;
    let mut seen: HashSet<String> = HashSet::new();
    let mut printed = 0;
    loop {
        let mut filter = event_filter(&args.filters);
        filter.from = Some(since.format(&time::format_description::well_known::Rfc3339)?);
        filter.limit = Some(1000);
        let mut newest = since;
        loop {
            let page = client.events(&filter).await?;
            for event in page.events {
                if !seen.insert(event.id.clone()) {
                    continue;
                }
                if let Ok(at) = time::OffsetDateTime::parse(
                    &event.timestamp,
                    &time::format_description::well_known::Rfc3339,
                ) {
                    newest = newest.max(at);
                }
                match format {
                    Format::Table => println!("{}", event_row(&event)),
                    Format::Json => json_line(&event)?,
                }
                printed += 1;
                if args.max_events.is_some_and(|max| printed >= max) {
                    return Ok(());
                }
            }
            let Some(cursor) = page.next_cursor else {
                break;
            };
            filter.cursor = Some(cursor);
        }
        // Keep a window behind the newest event for late arrivals; forget older ids.
        since = since.max(newest - LATE_ARRIVAL);
        if seen.len() > 100_000 {
            seen.clear();
        }
        tokio::time::sleep(Duration::from_millis(args.interval_ms.max(50))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::progress_bar;

    #[test]
    fn the_progress_bar_fills_with_the_count() {
        assert_eq!(
            progress_bar(0, 10),
            format!("[{}]   0% 0/10", " ".repeat(30))
        );
        assert_eq!(
            progress_bar(5, 10),
            format!("[{}{}]  50% 5/10", "#".repeat(15), " ".repeat(15))
        );
        assert_eq!(progress_bar(0, 0), format!("[{}] 100% 0/0", "#".repeat(30)));
    }
}
