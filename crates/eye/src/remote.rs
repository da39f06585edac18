//! The command-line client: `eye events`, `sessions`, `errors` and `tail` through the Rust
//! SDK against a running server, and the client set-up and error wording `eye send` shares.

use std::collections::HashSet;
use std::time::Duration;

use eye_client::{Client, ClientError, ErrorFilter, EventFilter, NetworkErrorKind};

use crate::cli::{
    ErrorsAction, ErrorsArgs, EventFilters, EventsArgs, Format, Remote, ReplayArgs, SessionArgs,
    TailArgs,
};
use crate::output::{self, ERROR_COLUMNS, EVENT_COLUMNS, error_cells, event_cells, json_line};

/// A client for the query commands: the URL checked, the key required.
pub fn query_client(remote: &Remote) -> anyhow::Result<Client> {
    build(remote, Client::builder(&remote.url, key(remote)?))
}

/// A client for `eye send`: retries until `retry_for` has passed, each one announced on
/// standard error.
pub fn sending_client(remote: &Remote, retry_for: Duration) -> anyhow::Result<Client> {
    let builder = Client::builder(&remote.url, key(remote)?)
        .retry_for(retry_for)
        .max_retries(u32::MAX)
        .backoff(Duration::from_millis(200), Duration::from_secs(5))
        .on_retry(|notice| {
            eprintln!(
                "{} (attempt {}); retrying in {:.1} s",
                hint(notice.problem),
                notice.attempt,
                notice.wait.as_secs_f64()
            );
        });
    build(remote, builder)
}

fn key(remote: &Remote) -> anyhow::Result<&str> {
    remote
        .key
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("give an API key with --key or EYE_KEY"))
}

fn build(remote: &Remote, builder: eye_client::ClientBuilder) -> anyhow::Result<Client> {
    eye_client::check_url(&remote.url).map_err(|error| match error {
        ClientError::Settings(problem) => anyhow::anyhow!("--url: {problem}"),
        other => anyhow::Error::new(other),
    })?;
    Ok(builder.build()?)
}

/// The error, worded for the person at the terminal: what to check when the server cannot
/// be reached.
pub fn explain(error: ClientError) -> anyhow::Error {
    anyhow::anyhow!(hint(&error))
}

fn hint(error: &ClientError) -> String {
    match error.network().map(|network| &network.kind) {
        Some(NetworkErrorKind::ConnectionRefused) => {
            format!("{error} — is `eye serve` running? (--url or EYE_URL)")
        }
        Some(NetworkErrorKind::HostNotFound) => {
            format!("{error} — check the host name in --url or EYE_URL")
        }
        _ => error.to_string(),
    }
}

fn event_filter(filters: &EventFilters) -> EventFilter {
    EventFilter {
        session_id: filters.session_id.clone(),
        user_id: filters.user.clone(),
        category: filters.category.clone(),
        name: filters.name.clone(),
        app: filters.app.clone(),
        from: filters.from.clone(),
        to: filters.to.clone(),
        ..EventFilter::default()
    }
}

/// How a listing is printed: its format, and for a table its columns and cells.
pub struct Listing<T> {
    pub what: &'static str,
    pub format: Format,
    pub columns: &'static output::Columns,
    pub cells: fn(&T) -> Vec<String>,
}

impl<T: serde::Serialize> Listing<T> {
    /// Follows pages from `cursor` until `limit` items, printing JSON lines as they come or
    /// one table at the end; when more match, standard error says how to see them.
    pub async fn print(
        &self,
        limit: usize,
        mut cursor: Option<String>,
        mut fetch: impl AsyncFnMut(usize, Option<String>) -> anyhow::Result<(Vec<T>, Option<String>)>,
    ) -> anyhow::Result<()> {
        let mut rows = Vec::new();
        let mut shown = 0;
        let mut more = None;
        while shown < limit {
            let (items, next) = fetch((limit - shown).min(1000), cursor.take()).await?;
            shown += items.len();
            for item in &items {
                match self.format {
                    Format::Json => json_line(item)?,
                    Format::Table => rows.push((self.cells)(item)),
                }
            }
            let Some(next) = next else {
                break;
            };
            if shown >= limit {
                more = Some(next);
                break;
            }
            cursor = Some(next);
        }
        print_table(self.format, self.columns, &rows);
        if let Some(cursor) = more {
            eprintln!(
                "more {} match: add `--cursor {cursor}` for the next ones, or raise --limit",
                self.what
            );
        }
        Ok(())
    }
}

pub async fn events(args: EventsArgs) -> anyhow::Result<()> {
    let client = query_client(&args.remote)?;
    let mut filter = event_filter(&args.filters);
    filter.order = args.desc.then(|| "desc".to_owned());
    let listing = Listing {
        what: "events",
        format: output::resolve(args.format.format),
        columns: &EVENT_COLUMNS,
        cells: event_cells,
    };
    listing
        .print(args.limit, args.cursor, async |limit, cursor| {
            filter.limit = Some(limit);
            filter.cursor = cursor;
            let page = client.events(&filter).await.map_err(explain)?;
            Ok((page.events, page.next_cursor))
        })
        .await
}

fn print_table(format: Format, columns: &output::Columns, rows: &[Vec<String>]) {
    if format == Format::Table {
        for line in columns.render(rows) {
            println!("{line}");
        }
    }
}

/// A session's events: the same lines as `eye events`; its summary goes first in a table
/// and to standard error with JSON lines, which hold events only. Without a session id, the
/// listing of sessions (`session_list`).
pub async fn sessions(args: SessionArgs) -> anyhow::Result<()> {
    let Some(session_id) = args.session_id.as_deref() else {
        return crate::session_list::list(args).await;
    };
    let client = query_client(&args.remote)?;
    let limit = args.limit.unwrap_or(1000);
    let mut page = client
        .session(session_id, Some(limit.clamp(1, 1000)), None)
        .await
        .map_err(explain)?;
    while page.events.len() < limit {
        let Some(cursor) = page.next_cursor.take() else {
            break;
        };
        let next = client
            .session(
                session_id,
                Some((limit - page.events.len()).min(1000)),
                Some(&cursor),
            )
            .await
            .map_err(explain)?;
        page.events.extend(next.events);
        page.next_cursor = next.next_cursor;
    }
    let summary = format!(
        "session {}: {} from {} to {}, apps {}",
        page.session_id,
        output::count(page.event_count as usize, "event"),
        page.first_timestamp,
        page.last_timestamp,
        page.apps.join(", ")
    );
    match output::resolve(args.format.format) {
        Format::Json => {
            eprintln!("{summary}");
            for event in &page.events {
                json_line(event)?;
            }
        }
        Format::Table => {
            println!("{summary}");
            let rows: Vec<Vec<String>> = page.events.iter().map(event_cells).collect();
            print_table(Format::Table, &EVENT_COLUMNS, &rows);
        }
    }
    if page.next_cursor.is_some() {
        eprintln!(
            "the session has more than {}: raise --limit to see them",
            output::count(page.events.len(), "event")
        );
    }
    Ok(())
}

pub async fn errors(args: ErrorsArgs) -> anyhow::Result<()> {
    if let Some(ErrorsAction::Replay(replay)) = args.action {
        return replay_errors(replay).await;
    }
    let client = query_client(&args.remote)?;
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
    let listing = Listing {
        what: "errors",
        format: output::resolve(args.format.format),
        columns: &ERROR_COLUMNS,
        cells: error_cells,
    };
    listing
        .print(args.limit, args.cursor, async |limit, cursor| {
            filter.limit = Some(limit);
            filter.cursor = cursor;
            let page = client.errors(&filter).await.map_err(explain)?;
            Ok((page.errors, page.next_cursor))
        })
        .await
}

async fn replay_errors(args: ReplayArgs) -> anyhow::Result<()> {
    let client = query_client(&args.remote)?;
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
    let outcome = client.replay_errors(&request).await.map_err(explain)?;
    if output::resolve(args.format.format) == Format::Json {
        return json_line(&outcome);
    }
    for line in replay_lines(&outcome) {
        println!("{line}");
    }
    Ok(())
}

/// The replay's outcome in words: what was stored (or would be, in a dry run), per type.
fn replay_lines(outcome: &eye_client::ReplayResponse) -> Vec<String> {
    let verb = if outcome.dry_run {
        "would store"
    } else {
        "stored"
    };
    let mut lines = vec![format!(
        "matched {}, {verb} {}, still failing {}",
        outcome.matched, outcome.passed, outcome.still_failing
    )];
    for row in &outcome.by_event_type {
        let event_type = match (&row.category, &row.name) {
            (None, None) => "(no event type: refused request bodies)".to_owned(),
            (category, name) => format!(
                "{} / {}",
                category.as_deref().unwrap_or("(no category)"),
                name.as_deref().unwrap_or("(no name)")
            ),
        };
        lines.push(format!(
            "  {event_type}: matched {}, {verb} {}, still failing {}",
            row.matched, row.passed, row.still_failing
        ));
    }
    lines
}

/// Events arriving this long after their own timestamp are still shown.
const LATE_ARRIVAL: time::Duration = time::Duration::seconds(30);

/// Follows new events through the live stream (or, with `--poll`, by asking for recent ones).
pub async fn tail(args: TailArgs) -> anyhow::Result<()> {
    if args.poll {
        return tail_by_polling(args).await;
    }
    let client = query_client(&args.remote)?;
    let format = output::resolve(args.format.format);
    let filter = eye_client::LiveFilter {
        session_id: args.filters.session_id.clone(),
        category: args.filters.category.clone(),
        name: args.filters.name.clone(),
        app: args.filters.app.clone(),
    };
    let mut stream = client.live(&filter).await.map_err(explain)?;
    if format == Format::Table {
        println!("{}", EVENT_COLUMNS.header());
    }
    let mut printed = 0;
    while let Some(event) = stream.next().await {
        let event = event.map_err(explain)?;
        // The live stream has no user filter: the events of other users are skipped here.
        if args.filters.user.is_some() && event.user_id != args.filters.user {
            continue;
        }
        print_followed(format, &event)?;
        printed += 1;
        if args.max_events.is_some_and(|max| printed >= max) {
            break;
        }
    }
    Ok(())
}

fn print_followed(format: Format, event: &eye_types::StoredEvent) -> anyhow::Result<()> {
    match format {
        Format::Table => println!("{}", EVENT_COLUMNS.row(&event_cells(event))),
        Format::Json => json_line(event)?,
    }
    Ok(())
}

/// Asks, every interval, for events whose timestamp is recent enough, and prints the ones
/// not seen yet.
async fn tail_by_polling(args: TailArgs) -> anyhow::Result<()> {
    let client = query_client(&args.remote)?;
    let format = output::resolve(args.format.format);
    if format == Format::Table {
        println!("{}", EVENT_COLUMNS.header());
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
            let page = client.events(&filter).await.map_err(explain)?;
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
                print_followed(format, &event)?;
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
    use super::*;
    use eye_client::ReplayResponse;
    use eye_types::ReplayTypeCount;

    fn row(category: Option<&str>, name: Option<&str>) -> ReplayTypeCount {
        ReplayTypeCount {
            category: category.map(str::to_owned),
            name: name.map(str::to_owned),
            matched: 3,
            passed: 2,
            still_failing: 1,
        }
    }

    #[test]
    fn replay_labels_say_what_was_done_for_each_kind_of_row() {
        let outcome = |dry_run| ReplayResponse {
            matched: 9,
            passed: 6,
            still_failing: 3,
            dry_run,
            by_event_type: vec![
                row(Some("page interaction"), Some("cta click")),
                row(Some("page interaction"), None),
                row(None, None),
            ],
        };
        assert_eq!(
            replay_lines(&outcome(true)),
            [
                "matched 9, would store 6, still failing 3",
                "  page interaction / cta click: matched 3, would store 2, still failing 1",
                "  page interaction / (no name): matched 3, would store 2, still failing 1",
                "  (no event type: refused request bodies): matched 3, would store 2, still failing 1",
            ]
        );
        assert!(replay_lines(&outcome(false))[1].contains("stored 2"));
    }

    #[test]
    fn an_unreachable_server_is_named_with_what_to_check() {
        let refused = ClientError::Network(eye_client::NetworkError {
            url: "http://127.0.0.1:8000".into(),
            kind: NetworkErrorKind::ConnectionRefused,
        });
        assert_eq!(
            hint(&refused),
            "connection refused at http://127.0.0.1:8000 — is `eye serve` running? (--url or EYE_URL)"
        );
    }
}
