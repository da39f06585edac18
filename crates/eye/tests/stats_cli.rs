//! `eye stats` and `eye sessions` (the listing) against a running server: known events of
//! several types, sessions and applications in, the same counts out, as JSON and as tables;
//! and README's examples of both, run as written.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{EYE, Run, Server, create_key, json_lines};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, Time};

/// Longer than any wait here should take; each ends as soon as its condition holds.
const WAIT: Duration = Duration::from_secs(30);

const PAGEVIEW: (&str, &str) = ("page interaction", "pageview");
const CTA: (&str, &str) = ("page interaction", "cta click");
const SUBMIT: (&str, &str) = ("form interaction", "submit");

/// One event sent: application, session, type, and minutes after the start of the range.
struct Sent {
    app: &'static str,
    session: &'static str,
    event_type: (&'static str, &'static str),
    minute: i64,
}

const fn sent(
    app: &'static str,
    session: &'static str,
    event_type: (&'static str, &'static str),
    minute: i64,
) -> Sent {
    Sent {
        app,
        session,
        event_type,
        minute,
    }
}

/// Three hours of events. Type totals 7, 3 and 2 (so the series order is known); sessions
/// first seen in hour 0 (four) and hour 1 (one); `sa-1` and `sc-3` submit a form; `sa-1`
/// and `sb-2` have three events or more; `se-5` comes from both applications.
const EVENTS: &[Sent] = &[
    sent("shop", "sa-1", PAGEVIEW, 0),
    sent("shop", "sa-1", PAGEVIEW, 5),
    sent("shop", "sa-1", CTA, 10),
    sent("shop", "sa-1", SUBMIT, 70),
    sent("shop", "sb-2", PAGEVIEW, 65),
    sent("shop", "sb-2", CTA, 66),
    sent("shop", "sb-2", PAGEVIEW, 130),
    sent("blog", "sc-3", PAGEVIEW, 15),
    sent("blog", "sc-3", SUBMIT, 125),
    sent("blog", "sd-4", PAGEVIEW, 20),
    sent("shop", "se-5", PAGEVIEW, 30),
    sent("blog", "se-5", CTA, 140),
];

const HOURS: i64 = 3;

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).expect("format")
}

fn parse(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// The start of the range: an hour boundary three hours back, so every event is in the
/// past and within the last day.
fn range_start() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    let hour = now
        .replace_time(Time::from_hms(now.hour(), 0, 0).expect("time"))
        .replace_nanosecond(0)
        .expect("whole second");
    hour - time::Duration::hours(HOURS)
}

fn at(start: OffsetDateTime, minute: i64) -> OffsetDateTime {
    start + time::Duration::minutes(minute)
}

/// A server with `events` stored, sent with an ingest key of each application; the query
/// key to read them.
struct Stored {
    _dir: tempfile::TempDir,
    server: Server,
    query: String,
}

async fn store(events: &[Sent], start: OffsetDateTime) -> Stored {
    let dir = tempfile::tempdir().expect("tempdir");
    let apps: BTreeSet<&str> = events.iter().map(|e| e.app).collect();
    let keys: BTreeMap<&str, String> = apps
        .iter()
        .map(|app| (*app, create_key(dir.path(), app, "ingest")))
        .collect();
    let query = create_key(dir.path(), "analytics", "query");
    let server = Server::start(dir.path(), &[]);
    let http = common::http();
    for (app, key) in &keys {
        let batch: Vec<Value> = events
            .iter()
            .filter(|e| e.app == *app)
            .map(|e| {
                json!({
                    "session_id": e.session,
                    "category": e.event_type.0,
                    "name": e.event_type.1,
                    "data": {},
                    "timestamp": rfc3339(at(start, e.minute)),
                })
            })
            .collect();
        let response = http
            .post(format!("{}/v1/events", server.base))
            .bearer_auth(key)
            .json(&batch)
            .send()
            .await
            .expect("send");
        let status = response.status();
        let answer: Value = response.json().await.expect("json");
        assert_eq!(status, 202, "{answer}");
        assert_eq!(answer["accepted"], batch.len(), "{answer}");
    }
    wait_until_stored(&http, &server.base, &query, events.len()).await;
    Stored {
        _dir: dir,
        server,
        query,
    }
}

/// Waits until the store holds `expected` events, up to [`WAIT`].
async fn wait_until_stored(http: &reqwest::Client, base: &str, key: &str, expected: usize) {
    let deadline = Instant::now() + WAIT;
    loop {
        let stored = common::stored_events(http, base, key).await.len();
        if stored == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{stored} of {expected} events stored after {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Stored {
    fn eye(&self, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.extend(["--url", &self.server.base, "--key", &self.query]);
        common::run_with(&all, None, &[])
    }

    /// `eye` with `args`, which must succeed.
    fn ok(&self, args: &[&str]) -> String {
        let run = self.eye(args);
        assert_eq!(run.code, 0, "eye {args:?}: {}", run.stderr);
        run.stdout
    }

    /// `eye stats` with `args`, as JSON.
    fn stats(&self, args: &[&str]) -> Value {
        let mut all = vec!["stats", "--format", "json"];
        all.extend(args);
        let lines = json_lines(&self.ok(&all));
        assert_eq!(lines.len(), 1, "one JSON object: {lines:?}");
        lines.into_iter().next().expect("one")
    }

    /// The session ids `eye sessions` lists with `args`, in order (JSON lines).
    fn listed(&self, args: &[&str]) -> Vec<String> {
        let mut all = vec!["sessions", "--format", "json"];
        all.extend(args);
        json_lines(&self.ok(&all))
            .iter()
            .map(|s| s["session_id"].as_str().expect("session_id").to_owned())
            .collect()
    }
}

/// Each type's count per hour of the range, from what was sent.
fn expected_by_type() -> BTreeMap<(&'static str, &'static str), Vec<u64>> {
    let mut counts: BTreeMap<_, Vec<u64>> = BTreeMap::new();
    for event in EVENTS {
        let hours = counts
            .entry(event.event_type)
            .or_insert_with(|| vec![0; HOURS as usize]);
        hours[(event.minute / 60) as usize] += 1;
    }
    counts
}

fn counts(series: &Value) -> Vec<u64> {
    series["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| p["count"].as_u64().expect("count"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_what_was_sent() {
    let start = range_start();
    let stored = store(EVENTS, start).await;
    let (from, to) = (rfc3339(start), rfc3339(at(start, HOURS * 60)));

    let stats = stored.stats(&[
        "--from",
        &from,
        "--to",
        &to,
        "--interval",
        "hour",
        "--group-by",
        "category,name",
    ]);
    assert_eq!(stats["total"], EVENTS.len(), "{stats}");
    assert_eq!(
        (&stats["metric"], &stats["interval"]),
        (&json!("events"), &json!("hour"))
    );
    assert_eq!(parse(stats["from"].as_str().expect("from")), start);
    let series = stats["series"].as_array().expect("series");
    let expected = expected_by_type();
    assert_eq!(series.len(), expected.len(), "one series per type: {stats}");
    for one in series {
        let key = (
            one["key"]["category"].as_str().expect("category"),
            one["key"]["name"].as_str().expect("name"),
        );
        assert!(one["key"].get("app").is_none(), "not grouped by app: {one}");
        let hours = &expected[&key];
        assert_eq!(counts(one), *hours, "{key:?}: {one}");
        assert_eq!(one["total"], hours.iter().sum::<u64>(), "{one}");
        let buckets: Vec<OffsetDateTime> = one["points"]
            .as_array()
            .expect("points")
            .iter()
            .map(|p| parse(p["t"].as_str().expect("t")))
            .collect();
        let hour_starts: Vec<OffsetDateTime> = (0..HOURS).map(|h| at(start, h * 60)).collect();
        assert_eq!(buckets, hour_starts, "every bucket, in order: {one}");
    }
    let totals: Vec<u64> = series
        .iter()
        .map(|s| s["total"].as_u64().expect("total"))
        .collect();
    assert_eq!(totals, [7, 3, 2], "largest first: {stats}");

    // Piped, without --format: the same object.
    let piped = stored.ok(&[
        "stats",
        "--from",
        &from,
        "--to",
        &to,
        "--group-by",
        "category,name",
    ]);
    assert_eq!(json_lines(&piped), std::slice::from_ref(&stats));

    // The table: a row per hour with each series' count (in the JSON's order) and the total.
    let table = stored.ok(&[
        "stats",
        "--from",
        &from,
        "--to",
        &to,
        "--group-by",
        "category,name",
        "--format",
        "table",
    ]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with(&format!("{} events from", EVENTS.len())),
        "{table}"
    );
    assert!(
        lines[1].contains("page interaction / pageview") && lines[1].ends_with("TOTAL"),
        "{table}"
    );
    for hour in 0..HOURS as usize {
        let label = at(start, hour as i64 * 60);
        let label = format!(
            "{} {:02}:00",
            rfc3339(label).get(..10).expect("date"),
            label.hour()
        );
        let row = lines
            .iter()
            .find(|line| line.starts_with(&label))
            .unwrap_or_else(|| panic!("no row for {label}:\n{table}"));
        let mut cells: Vec<u64> = series.iter().map(|s| counts(s)[hour]).collect();
        cells.push(cells.iter().sum());
        let shown: Vec<u64> = row
            .split_whitespace()
            .skip(2)
            .map(|n| n.parse().expect("a count"))
            .collect();
        assert_eq!(shown, cells, "{row}\n{table}");
    }
    let total_row: Vec<&str> = lines.last().expect("rows").split_whitespace().collect();
    assert_eq!(total_row, ["total", "7", "3", "2", "12"], "{table}");

    // Sessions, by the hour of their first event.
    let sessions = stored.stats(&["--from", &from, "--to", &to, "--metric", "sessions"]);
    assert_eq!(sessions["total"], 5, "{sessions}");
    let only = &sessions["series"][0];
    assert_eq!(counts(only), [4, 1, 0], "{sessions}");
    assert_eq!(only["key"], json!({}), "nothing grouped: {sessions}");

    // Filters, grouping by application, minutes, and dates alone.
    let blog = stored.stats(&[
        "--from",
        &from,
        "--to",
        &to,
        "--app",
        "blog",
        "--group-by",
        "app",
    ]);
    assert_eq!(blog["total"], 4, "{blog}");
    assert_eq!(blog["series"][0]["key"], json!({"app": "blog"}), "{blog}");
    let quarter = rfc3339(at(start, 15));
    let minutes = stored.stats(&[
        "--from",
        &from,
        "--to",
        &quarter,
        "--interval",
        "minute",
        "--category",
        PAGEVIEW.0,
        "--name",
        PAGEVIEW.1,
    ]);
    let per_minute = counts(&minutes["series"][0]);
    assert_eq!(per_minute.len(), 15, "{minutes}");
    assert_eq!(
        (per_minute[0], per_minute[5], minutes["total"].clone()),
        (1, 1, json!(2)),
        "{minutes}"
    );
    let day = |offset: i64| (start + time::Duration::days(offset)).date().to_string();
    let days = stored.stats(&["--from", &day(0), "--to", &day(2), "--interval", "day"]);
    assert_eq!(days["total"], EVENTS.len(), "{days}");

    // Bad input is the server's message, with its code.
    let bad = stored.eye(&["stats", "--from", "not a time", "--to", &to]);
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("400") && bad.stderr.contains("invalid_parameter"),
        "{}",
        bad.stderr
    );
    assert!(
        bad.stderr.contains("from"),
        "names the parameter: {}",
        bad.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_listed_and_filtered() {
    let start = range_start();
    let stored = store(EVENTS, start).await;

    assert_eq!(
        stored.listed(&[]),
        ["se-5", "sb-2", "sc-3", "sa-1", "sd-4"],
        "newest last activity first"
    );
    assert_eq!(
        stored.listed(&["--order", "asc"]),
        ["sd-4", "sa-1", "sc-3", "sb-2", "se-5"]
    );
    let submitted: BTreeSet<String> = stored
        .listed(&["--has-event", "form interaction/submit"])
        .into_iter()
        .collect();
    let expected: BTreeSet<String> = EVENTS
        .iter()
        .filter(|e| e.event_type == SUBMIT)
        .map(|e| e.session.to_owned())
        .collect();
    assert_eq!(submitted, expected, "exactly the sessions with a submit");
    assert_eq!(stored.listed(&["--min-events", "3"]), ["sb-2", "sa-1"]);
    assert_eq!(
        stored.listed(&[
            "--has-event",
            "page interaction/cta click",
            "--min-events",
            "3"
        ]),
        ["sb-2", "sa-1"]
    );
    assert_eq!(stored.listed(&["--app", "blog"]), ["se-5", "sc-3", "sd-4"]);
    let late = rfc3339(at(start, 127));
    assert_eq!(
        stored.listed(&["--from", &late]),
        ["se-5", "sb-2"],
        "active from minute 127 on"
    );

    // Each line is the session's summary.
    let lines = json_lines(&stored.ok(&["sessions", "--format", "json"]));
    let both = &lines[0];
    assert_eq!(both["session_id"], "se-5", "{both}");
    assert_eq!(both["apps"], json!(["blog", "shop"]), "{both}");
    assert_eq!(both["event_count"], 2, "{both}");
    assert_eq!(
        parse(both["first_timestamp"].as_str().expect("first")),
        at(start, 30)
    );
    assert_eq!(
        parse(both["last_timestamp"].as_str().expect("last")),
        at(start, 140)
    );

    // --limit stops early and says how to go on; the cursor it gives continues.
    let first = stored.eye(&["sessions", "--format", "json", "--limit", "2"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(json_lines(&first.stdout).len(), 2);
    let cursor = first
        .stderr
        .split("--cursor ")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("no cursor given: {}", first.stderr));
    assert_eq!(
        stored.listed(&["--cursor", cursor]),
        ["sc-3", "sa-1", "sd-4"]
    );

    // The table: a row per session with its count.
    let table = stored.ok(&["sessions", "--format", "table", "--min-events", "3"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("SESSION"), "{table}");
    let rows: Vec<Vec<&str>> = lines[1..]
        .iter()
        .map(|line| line.split_whitespace().take(2).collect())
        .collect();
    assert_eq!(rows, [["sb-2", "3"], ["sa-1", "4"]], "{table}");

    // With an id: that session's events, as before; filters do not go with an id.
    let events = json_lines(&stored.ok(&["sessions", "sa-1", "--format", "json"]));
    assert_eq!(events.len(), 4);
    let refused = stored.eye(&["sessions", "sa-1", "--min-events", "2"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("--min-events"),
        "{}",
        refused.stderr
    );
    let wrong = stored.eye(&["sessions", "--has-event", "submit"]);
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);
    assert!(wrong.stderr.contains("CATEGORY/NAME"), "{}", wrong.stderr);
}

/// A port nothing listens on (it was free a moment ago).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[test]
fn an_unreachable_server_is_named_within_seconds() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    for args in [
        &["stats", "--from", "2021-01-01", "--to", "2021-01-02"][..],
        &["sessions", "--has-event", "form interaction/submit"][..],
    ] {
        let mut all = args.to_vec();
        all.extend(["--url", &url, "--key", "eye_unused"]);
        let started = Instant::now();
        let run = common::run_with(&all, None, &[]);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{args:?} took {:?}",
            started.elapsed()
        );
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(
            run.stderr.contains(&url) && run.stderr.contains("connection refused"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{}", run.stdout);
    }
}

/// The shell block of README.md's "## Clients" that shows `eye stats`, unindented.
fn readme_block() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let readme = std::fs::read_to_string(path).expect("README.md");
    let start = readme.find("\n## Clients\n").expect("a Clients section");
    let section = &readme[start + 1..];
    let section = &section[..section[3..]
        .find("\n## ")
        .map_or(section.len(), |end| end + 3)];
    let mut rest = section;
    while let Some(at) = rest.find("```sh\n") {
        let indent = rest[..at].rsplit('\n').next().map_or(0, str::len);
        let body = &rest[at + 6..];
        let close = body.find("```").expect("a closed block");
        if body[..close].contains("eye stats") {
            let lines: Vec<&str> = body[..close]
                .lines()
                .map(|line| line.get(indent..).unwrap_or(line.trim_start()))
                .collect();
            return lines.join("\n");
        }
        rest = &body[close + 3..];
    }
    panic!("no block with `eye stats` under ## Clients");
}

/// One day of the walk-through's kind of traffic, for README's examples.
fn readme_events() -> Vec<Value> {
    let event = |session: &str, (category, name): (&str, &str), at: &str| {
        json!({"session_id": session, "category": category, "name": name,
               "data": {}, "timestamp": format!("2021-01-01 {at}")})
    };
    let visitor = "e2085be5-9137-4e4e-80b5-f1ffddc25423";
    vec![
        event(visitor, PAGEVIEW, "09:15:27"),
        event(visitor, CTA, "09:15:40"),
        event(visitor, SUBMIT, "09:17:02"),
        event("s-browse", PAGEVIEW, "10:02:00"),
        event("s-browse", PAGEVIEW, "10:03:00"),
        event("s-quick", SUBMIT, "11:30:00"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_examples_run_as_written() {
    let script = readme_block();
    let dir = tempfile::tempdir().expect("tempdir");
    let ingest = create_key(dir.path(), "shop", "ingest");
    let query = create_key(dir.path(), "analytics", "query");
    let server = Server::start(dir.path(), &[]);
    let http = common::http();
    let events = readme_events();
    let response = http
        .post(format!("{}/v1/events", server.base))
        .bearer_auth(&ingest)
        .json(&events)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 202);
    wait_until_stored(&http, &server.base, &query, events.len()).await;

    let output = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -euo pipefail\neye() {{ \"$EYE\" \"$@\"; }}\n{script}"
        ))
        .current_dir(dir.path())
        .env("EYE", EYE)
        .env("EYE_URL", &server.base)
        .env("EYE_KEY", &query)
        .env_remove("EYE_CONFIG")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the examples failed:\n{script}\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answers = json_lines(&stdout);
    let [by_type, by_day, listed, session @ ..] = &answers[..] else {
        panic!("two stats objects, a listing and a session's events:\n{stdout}");
    };
    assert_eq!(by_type["total"], 6, "{by_type}");
    assert_eq!(
        by_type["series"].as_array().map(Vec::len),
        Some(3),
        "{by_type}"
    );
    assert_eq!(
        by_day["total"], 3,
        "three sessions begin that day: {by_day}"
    );
    assert_eq!(listed["session_id"], "e2085be5-9137-4e4e-80b5-f1ffddc25423");
    assert_eq!(listed["event_count"], 3, "{listed}");
    assert_eq!(session.len(), 3, "the session's events: {stdout}");
}
