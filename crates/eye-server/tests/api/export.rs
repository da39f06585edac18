//! `GET /v1/events/export` and `GET /v1/errors/export`: every format compared row for row
//! with the paginated listing, filters, headers, refusals, and a client that goes away
//! mid-export costing the server nothing further.

use std::time::{Duration, Instant};

use parquet::basic::{LogicalType, TimeUnit};
use parquet::file::reader::{ChunkReader, FileReader, SerializedFileReader};
use parquet::record::Field;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestApp, expect_error, json_of, spawn, spawn_with};

const FORMATS: [&str; 3] = ["ndjson", "csv", "parquet"];

/// What each event field is, for comparing a CSV or Parquet cell with the JSON listing.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Timestamp,
    Integer,
    Json,
}

/// In the order of the files: columns added later come last.
const EVENT_COLUMNS: [(&str, Kind); 13] = [
    ("id", Kind::Text),
    ("app", Kind::Text),
    ("session_id", Kind::Text),
    ("category", Kind::Text),
    ("name", Kind::Text),
    ("timestamp", Kind::Timestamp),
    ("received_at", Kind::Timestamp),
    ("event_id", Kind::Text),
    ("schema_version", Kind::Integer),
    ("data", Kind::Json),
    ("user_id", Kind::Text),
    ("context", Kind::Json),
    ("original_timestamp", Kind::Timestamp),
];

const ERROR_COLUMNS: [(&str, Kind); 13] = [
    ("id", Kind::Text),
    ("code", Kind::Text),
    ("message", Kind::Text),
    ("path", Kind::Text),
    ("app", Kind::Text),
    ("received_at", Kind::Timestamp),
    ("category", Kind::Text),
    ("name", Kind::Text),
    ("session_id", Kind::Text),
    ("schema_version", Kind::Integer),
    ("raw", Kind::Text),
    ("replayed_at", Kind::Timestamp),
    ("replayed_event_id", Kind::Text),
];

/// Microseconds since the epoch of an RFC 3339 timestamp.
fn micros(text: &str) -> i64 {
    let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| panic!("not RFC 3339: {text:?}"));
    (at.unix_timestamp_nanos() / 1000) as i64
}

/// A listed value made comparable with a cell: timestamps as microseconds.
fn normalized(kind: Kind, value: &Value) -> Value {
    match (kind, value) {
        (_, Value::Null) => Value::Null,
        (Kind::Timestamp, Value::String(text)) => json!(micros(text)),
        _ => value.clone(),
    }
}

/// A CSV field read as the listing's value: empty is null (the CSV parser does not tell
/// `""` from an empty field, so empty texts of the listing are compared as null too).
fn csv_value(kind: Kind, text: &str) -> Value {
    if text.is_empty() {
        return Value::Null;
    }
    match kind {
        Kind::Text => json!(text),
        Kind::Timestamp => json!(micros(text)),
        Kind::Integer => json!(text.parse::<i64>().expect("an integer")),
        Kind::Json => serde_json::from_str(text).expect("a JSON column holds JSON"),
    }
}

fn parquet_value(kind: Kind, field: &Field) -> Value {
    match (kind, field) {
        (_, Field::Null) => Value::Null,
        (Kind::Json, Field::Str(text)) => {
            serde_json::from_str(text).expect("a JSON column holds JSON")
        }
        (Kind::Text, Field::Str(text)) => json!(text),
        (Kind::Timestamp, Field::TimestampMicros(at)) => json!(at),
        (Kind::Integer, Field::Long(value)) => json!(value),
        (kind, field) => panic!(
            "unexpected Parquet value {field:?} for a {}",
            match kind {
                Kind::Text => "text",
                Kind::Timestamp => "timestamp",
                Kind::Integer => "integer",
                Kind::Json => "JSON",
            }
        ),
    }
}

/// The listed records as rows of comparable values, in `columns` order.
fn listed_rows(records: &[Value], columns: &[(&str, Kind)]) -> Vec<Vec<Value>> {
    records
        .iter()
        .map(|record| {
            columns
                .iter()
                .map(|(name, kind)| normalized(*kind, &record[*name]))
                .collect()
        })
        .collect()
}

fn csv_rows(body: &[u8], columns: &[(&str, Kind)]) -> Vec<Vec<Value>> {
    let mut reader = csv::ReaderBuilder::new().from_reader(body);
    let header: Vec<String> = reader
        .headers()
        .expect("a header row")
        .iter()
        .map(str::to_owned)
        .collect();
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    assert_eq!(header, names, "the header row names every field");
    reader
        .records()
        .map(|record| {
            let record = record.expect("valid CSV");
            assert_eq!(record.len(), columns.len());
            record
                .iter()
                .zip(columns)
                .map(|(text, (_, kind))| csv_value(*kind, text))
                .collect()
        })
        .collect()
}

fn parquet_rows(body: impl ChunkReader + 'static, columns: &[(&str, Kind)]) -> Vec<Vec<Value>> {
    let reader = SerializedFileReader::new(body).expect("a Parquet file");
    let schema = reader.metadata().file_metadata().schema_descr();
    assert_eq!(schema.num_columns(), columns.len());
    for (index, (name, kind)) in columns.iter().enumerate() {
        let column = schema.column(index);
        assert_eq!(column.name(), *name);
        let logical = column.logical_type_ref().cloned();
        match kind {
            Kind::Text | Kind::Json => assert_eq!(logical, Some(LogicalType::String), "{name}"),
            Kind::Timestamp => assert_eq!(
                logical,
                Some(LogicalType::timestamp(true, TimeUnit::MICROS)),
                "{name}"
            ),
            Kind::Integer => assert_eq!(logical, None, "{name}"),
        }
    }
    reader
        .get_row_iter(None)
        .expect("rows")
        .map(|row| {
            let row = row.expect("a row");
            row.get_column_iter()
                .zip(columns)
                .map(|((name, field), (column, kind))| {
                    assert_eq!(name, column);
                    parquet_value(*kind, field)
                })
                .collect()
        })
        .collect()
}

/// Texts that are empty in the listing are empty fields in CSV, as nulls are.
fn csv_comparable(rows: Vec<Vec<Value>>) -> Vec<Vec<Value>> {
    rows.into_iter()
        .map(|row| {
            row.into_iter()
                .map(|value| match value {
                    Value::String(text) if text.is_empty() => Value::Null,
                    other => other,
                })
                .collect()
        })
        .collect()
}

struct Export {
    status: StatusCode,
    content_type: String,
    disposition: String,
    body: reqwest::Response,
}

async fn export(app: &TestApp, path: &str, key: &str) -> Export {
    let response = app
        .request(Method::GET, path, Some(key))
        .send()
        .await
        .expect("send");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    Export {
        status: response.status(),
        content_type: header("content-type"),
        disposition: header("content-disposition"),
        body: response,
    }
}

/// Exports `kind` (`events` or `errors`) with `filters` in every format and compares each
/// file row for row with `listed`.
async fn check_every_format(
    app: &TestApp,
    kind: &str,
    filters: &str,
    listed: &[Value],
    columns: &[(&str, Kind)],
) {
    let expected = listed_rows(listed, columns);
    for format in FORMATS {
        let path = format!("/v1/{kind}/export?{filters}&format={format}");
        let answer = export(app, &path, &app.query_key).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert_eq!(
            answer.disposition,
            format!("attachment; filename=\"{kind}.{format}\""),
            "{path}"
        );
        let content_type = match format {
            "ndjson" => "application/x-ndjson",
            "csv" => "text/csv",
            _ => "application/vnd.apache.parquet",
        };
        assert!(
            answer.content_type.starts_with(content_type),
            "{path}: {}",
            answer.content_type
        );
        let body = answer.body.bytes().await.expect("the whole body");
        match format {
            "ndjson" => {
                let text = std::str::from_utf8(&body).expect("UTF-8");
                let lines: Vec<Value> = text
                    .lines()
                    .map(|line| serde_json::from_str(line).expect("a JSON line"))
                    .collect();
                assert!(text.is_empty() || text.ends_with('\n'), "{path}");
                assert_eq!(lines, listed, "{path}: the listing's records, in its order");
            }
            "csv" => assert_eq!(
                csv_rows(&body, columns),
                csv_comparable(expected.clone()),
                "{path}"
            ),
            _ => assert_eq!(parquet_rows(body, columns), expected, "{path}"),
        }
    }
}

/// Every error record matching `filters`, oldest first, following `next_cursor`.
async fn all_errors(app: &TestApp, filters: &str) -> Vec<Value> {
    let mut errors = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = app
            .query(&format!(
                "/v1/errors?{filters}&order=asc&limit=1000&cursor={cursor}"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        errors.extend(page["errors"].as_array().expect("errors").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => return errors,
        }
    }
}

const TYPES: [(&str, &str); 3] = [
    ("page interaction", "pageview"),
    ("page interaction", "cta click"),
    ("form interaction", "submit"),
];

/// Events of several sessions and types, some sharing a timestamp (ordered by id then),
/// some with an `event_id`, a `user_id` or a `context`, their data and context full of what
/// CSV must quote.
fn varied_events(count: usize) -> Vec<Value> {
    (0..count)
        .map(|i| {
            let (category, name) = TYPES[i % TYPES.len()];
            let mut event = json!({
                "session_id": format!("s-{}", i % 5),
                "category": category,
                "name": name,
                "data": {
                    "n": i,
                    "text": format!("comma, \"quote\"\nnew line {i}"),
                    "unicode": "é 漢字 \u{2028}",
                    "nested": {"list": [1, 2.5, null, true]},
                },
                // Seconds repeat every 50 events: ties are broken by id.
                "timestamp": format!("2021-01-01T00:{:02}:{:02}.{:06}Z", (i / 60) % 6, i % 50, i % 7),
            });
            if i % 3 == 0 {
                event["event_id"] = json!(format!("client-{i}"));
            }
            if i % 4 != 0 {
                event["user_id"] = json!(format!("u-{}", i % 4));
            }
            if i % 2 == 0 {
                event["context"] = json!({
                    "page": {"url": format!("https://shop.example/p?i={i}&q=\"x,y\"")},
                    "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
                });
            }
            event
        })
        .collect()
}

#[tokio::test]
async fn an_event_export_in_every_format_is_the_listing_row_for_row() {
    let app = spawn().await;
    // One type with a schema, so that `schema_version` holds values and nulls.
    let schema = app
        .request(
            Method::PUT,
            "/v1/schemas/page%20interaction/cta%20click",
            Some(&app.admin_key),
        )
        .json(&json!({"type": "object"}))
        .send()
        .await
        .expect("send");
    assert!(schema.status().is_success(), "{}", schema.status());
    let events = varied_events(300);
    for batch in events.chunks(100) {
        let (status, body) = json_of(app.ingest(&json!(batch)).await).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["accepted"], 100, "{body}");
    }
    app.drain().await;

    for filters in [
        "",
        "session_id=s-1",
        "category=page%20interaction&name=cta%20click",
        "app=shop&from=2021-01-01T00:01:00Z&to=2021-01-01T00:03:00Z",
        "user_id=u-1",
        "user_id=u-2&category=form%20interaction",
        "session_id=nobody",
    ] {
        let listed = app.all_events(&format!("{filters}&limit=1000")).await;
        match filters {
            "" => assert_eq!(listed.len(), 300),
            "session_id=nobody" => assert!(listed.is_empty()),
            _ => assert!(!listed.is_empty() && listed.len() < 300, "{filters}"),
        }
        check_every_format(&app, "events", filters, &listed, &EVENT_COLUMNS).await;
    }
    let all = app.all_events("limit=1000").await;
    let versions: Vec<&Value> = all.iter().map(|event| &event["schema_version"]).collect();
    assert!(versions.iter().any(|v| v.is_i64()) && versions.iter().any(|v| v.is_null()));
    for field in ["user_id", "context"] {
        let values: Vec<&Value> = all.iter().map(|event| &event[field]).collect();
        assert!(
            values.iter().any(|v| v.is_null()) && values.iter().any(|v| !v.is_null()),
            "{field} holds values and nulls"
        );
    }
    let by_user = app.all_events("user_id=u-1&limit=1000").await;
    assert_eq!(by_user.len(), 75, "every fourth event");
}

#[tokio::test]
async fn a_corrected_timestamp_is_exported_with_the_one_the_client_sent() {
    let app = spawn().await;
    // The client's clock is an hour ahead: it says it sent the events an hour from now.
    let clock = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let rfc3339 = |at: time::OffsetDateTime| {
        at.format(&time::format_description::well_known::Rfc3339)
            .expect("format")
    };
    let events: Vec<Value> = (0..5)
        .map(|i| {
            json!({
                "session_id": "s-skewed",
                "category": "page interaction",
                "name": "pageview",
                "data": {"host": "h", "path": "/"},
                "timestamp": rfc3339(clock - time::Duration::minutes(i)),
                "user_id": "u-skewed",
            })
        })
        .collect();
    let body = json!({"sent_at": rfc3339(clock), "events": events});
    let (status, answer) = json_of(app.ingest(&body).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    app.drain().await;

    let listed = app.all_events("user_id=u-skewed&limit=1000").await;
    assert_eq!(listed.len(), 5);
    for event in &listed {
        let sent = micros(event["original_timestamp"].as_str().expect("original"));
        let stored = micros(event["timestamp"].as_str().expect("timestamp"));
        let moved = sent - stored;
        assert!(
            (3_500_000_000..3_700_000_000).contains(&moved),
            "moved back by the client's hour: {moved} µs"
        );
    }
    check_every_format(&app, "events", "user_id=u-skewed", &listed, &EVENT_COLUMNS).await;
}

#[tokio::test]
async fn an_error_export_in_every_format_is_the_listing_oldest_first() {
    let app = spawn().await;
    let mut batch: Vec<Value> = Vec::new();
    for i in 0..60 {
        let mut event = crate::helpers::pageview(&format!("s-{}", i % 4), "2021-01-01 09:00:00");
        match i % 3 {
            0 => {
                event.as_object_mut().expect("object").remove("name");
            }
            1 => event["sesion_id"] = json!("typo, \"quoted\""),
            _ => event["timestamp"] = json!("2021-02-30 00:00:00"),
        }
        batch.push(event);
    }
    let (status, body) = json_of(app.ingest(&json!(batch)).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // A body refused whole: an error record with no event type.
    let refused = app
        .ingest_raw(b"{\"not json".to_vec(), "application/json")
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    app.drain().await;

    for filters in ["", "code=missing_field", "code=nothing_like_this"] {
        let listed = all_errors(&app, filters).await;
        match filters {
            "" => assert_eq!(listed.len(), 61),
            "code=missing_field" => assert_eq!(listed.len(), 20),
            _ => assert!(listed.is_empty()),
        }
        check_every_format(&app, "errors", filters, &listed, &ERROR_COLUMNS).await;
    }
}

#[tokio::test]
async fn bad_parameters_are_refused_naming_them() {
    let app = spawn().await;
    for (path, parameter) in [
        ("/v1/events/export?format=xml", "format"),
        ("/v1/events/export?format=CSV", "format"),
        ("/v1/events/export?format=", "format"),
        ("/v1/events/export?format=csv&format=csv", "format"),
        ("/v1/events/export?limit=10", "limit"),
        ("/v1/events/export?cursor=abc", "cursor"),
        ("/v1/events/export?order=desc", "order"),
        ("/v1/events/export?code=schema_violation", "code"),
        ("/v1/events/export?from=yesterday", "from"),
        ("/v1/events/export?session_id=", "session_id"),
        ("/v1/errors/export?format=json", "format"),
        ("/v1/errors/export?order=asc", "order"),
        ("/v1/errors/export?session_id=s1", "session_id"),
        ("/v1/errors/export?to=2021-13-01", "to"),
        ("/v1/events/export?from=2021-01-02&to=2021-01-01", "to"),
        ("/v1/errors/export?from=2021-01-02&to=2021-01-02", "to"),
    ] {
        let response = app
            .request(Method::GET, path, Some(&app.query_key))
            .send()
            .await
            .expect("send");
        let body = expect_error(response, StatusCode::BAD_REQUEST, "invalid_parameter").await;
        let message = body["error"]["message"].as_str().expect("message");
        assert!(message.contains(parameter), "{path}: {message}");
        if parameter == "format" && !path.ends_with("&format=csv") {
            assert!(
                message.contains("ndjson")
                    && message.contains("csv")
                    && message.contains("parquet"),
                "{path}: says what is allowed: {message}"
            );
        }
    }
}

#[tokio::test]
async fn exports_need_a_query_key() {
    let app = spawn().await;
    for path in ["/v1/events/export", "/v1/errors/export?format=csv"] {
        let none = app
            .request(Method::GET, path, None)
            .send()
            .await
            .expect("send");
        expect_error(none, StatusCode::UNAUTHORIZED, "unauthorized").await;
        for key in [&app.ingest_key, &app.admin_key] {
            let response = app
                .request(Method::GET, path, Some(key))
                .send()
                .await
                .expect("send");
            expect_error(response, StatusCode::FORBIDDEN, "forbidden").await;
        }
        let allowed = export(&app, path, &app.query_key).await;
        assert_eq!(allowed.status, StatusCode::OK, "{path}");
    }
}

/// The value of the `/metrics` sample whose name and labels contain every part of `parts`.
async fn sample(app: &TestApp, name: &str, labels: &[&str]) -> f64 {
    let text = app
        .request(Method::GET, "/metrics", None)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find(|line| {
            let series = line.rsplit_once(' ').map_or("", |(series, _)| series);
            (series == name || series.starts_with(&format!("{name}{{")))
                && labels.iter().all(|label| series.contains(label))
        })
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

const LARGE: usize = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_export_outlives_the_answer_deadline_and_a_client_gone_stops_it() {
    // The answer deadline is one second; the export below takes longer to read.
    let app = spawn_with(|config| config.request_timeout_secs = 1).await;
    let filler = "x".repeat(1000);
    for start in (0..LARGE).step_by(500) {
        let batch: Vec<Value> = (start..start + 500)
            .map(|i| {
                json!({
                    "session_id": format!("s-{}", i % 97),
                    "category": "page interaction",
                    "name": "pageview",
                    "data": {"i": i, "filler": filler},
                    "timestamp": format!("2021-01-01T{:02}:{:02}:{:02}Z", i / 3600, (i / 60) % 60, i % 60),
                })
            })
            .collect();
        let response = app.ingest(&json!(batch)).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    app.drain().await;

    // Read slowly, past the deadline: the export is whole, and counted.
    let csv_rows = ["kind=\"events\"", "format=\"csv\""];
    let csv_before = sample(&app, "eye_export_rows_total", &csv_rows).await;
    let mut slow = export(&app, "/v1/events/export?format=csv", &app.query_key).await;
    assert_eq!(slow.status, StatusCode::OK);
    let mut body = slow
        .body
        .chunk()
        .await
        .expect("first chunk")
        .expect("bytes")
        .to_vec();
    assert!(
        body.starts_with(b"id,app,session_id,"),
        "the header row comes first"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    while let Some(chunk) = slow.body.chunk().await.expect("the rest, uncut") {
        body.extend_from_slice(&chunk);
    }
    let ids: std::collections::HashSet<&[u8]> = body
        .split(|b| *b == b'\n')
        .skip(1)
        .filter(|line| !line.is_empty())
        .map(|line| line.split(|b| *b == b',').next().unwrap_or_default())
        .collect();
    assert_eq!(ids.len(), LARGE, "every event once, across many pages");
    let counted = sample(&app, "eye_export_rows_total", &csv_rows).await - csv_before;
    assert!(counted >= LARGE as f64, "{counted} rows counted");

    // A raw client that reads a little, then goes away.
    let ndjson_rows = ["kind=\"events\"", "format=\"ndjson\""];
    let rows_before = sample(&app, "eye_export_rows_total", &ndjson_rows).await;
    let address = app
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .set_recv_buffer_size(4096)
        .expect("small receive buffer");
    let mut stream = socket.connect(address).await.expect("connect");
    let request = format!(
        "GET /v1/events/export?format=ndjson HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {}\r\n\r\n",
        app.query_key
    );
    stream.write_all(request.as_bytes()).await.expect("request");
    let mut read = vec![0u8; 16 * 1024];
    let mut got = 0;
    while got < read.len() {
        let n = stream.read(&mut read[got..]).await.expect("read");
        assert!(n > 0, "the server closed early");
        got += n;
    }
    assert!(
        read.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&read[..64])
    );
    assert!(
        sample(&app, "eye_exports_in_progress", &[]).await >= 1.0,
        "the export is counted while it runs"
    );
    // A client that stops reading holds the producer back: it does not run ahead of it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stalled = sample(&app, "eye_export_rows_total", &ndjson_rows).await - rows_before;
    assert!(
        stalled < (LARGE / 2) as f64,
        "{stalled} rows encoded for a client that read 16 KiB"
    );

    // Three more clients that stop reading fill the node's export slots: a fifth export is
    // refused at once, 429 with a code and a time to retry, not queued behind them.
    let mut stalled_clients = Vec::new();
    for _ in 1..eye_server_export_slots() {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("small buffer");
        let mut other = socket.connect(address).await.expect("connect");
        other.write_all(request.as_bytes()).await.expect("request");
        let mut head = [0u8; 12];
        other.read_exact(&mut head).await.expect("answer");
        assert_eq!(&head, b"HTTP/1.1 200");
        stalled_clients.push(other);
    }
    let refused = app
        .request(Method::GET, "/v1/events/export", Some(&app.query_key))
        .send()
        .await
        .expect("send");
    assert!(refused.headers().contains_key("retry-after"));
    expect_error(refused, StatusCode::TOO_MANY_REQUESTS, "too_many_exports").await;
    drop(stalled_clients);
    drop(stream);

    let deadline = Instant::now() + Duration::from_secs(10);
    while sample(&app, "eye_exports_in_progress", &[]).await > 0.0 {
        assert!(
            Instant::now() < deadline,
            "the export still runs 10 s after its client went away"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let exported = sample(&app, "eye_export_rows_total", &ndjson_rows).await - rows_before;
    eprintln!("rows exported before the producer stopped: {exported}");
    assert!(
        exported > 0.0 && exported < LARGE as f64,
        "the producer stopped early: {exported} of {LARGE} rows"
    );
    // The slots are free again.
    let again = export(
        &app,
        "/v1/events/export?format=ndjson&to=2021-01-01T00:00:10Z",
        &app.query_key,
    )
    .await;
    assert_eq!(again.status, StatusCode::OK);
}

/// The exports one node streams at once (the server's `MAX_CONCURRENT_EXPORTS`).
fn eye_server_export_slots() -> usize {
    4
}
