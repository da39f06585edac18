//! Property tests (proptest, stable toolchain): round trips of what the server parses and
//! prints, that no input makes the parsers or the validator panic, and that keyset
//! pagination visits every matching event exactly once, in order, while inserts go on.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use eye_server::http::body::{BodyLimits, events_from_bytes, parse_body};
use eye_server::http::cursor;
use eye_server::http::params::Params;
use eye_server::ingest::json;
use eye_server::ingest::validation::{Rules, SchemaRegistry, validate_event};
use eye_server::model::{EventRecord, QueueMessage};
use eye_server::model::{ids, timestamp};
use eye_server::store::{EventQuery, Order, Position, SqliteStore, Store};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Any JSON document: scalars, strings with any characters, arrays and objects, 4 deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Objects that look like events: the envelope's fields, each of any JSON type or a
/// plausible value, some missing, sometimes an extra field.
fn event_like() -> impl Strategy<Value = Value> {
    let field = |plausible: BoxedStrategy<Value>| prop_oneof![3 => plausible.prop_map(Some), 1 => any_json().prop_map(Some), 1 => Just(None)];
    (
        field("[a-z0-9-]{1,20}".prop_map(Value::String).boxed()),
        field(
            prop_oneof![Just("page interaction"), Just("form interaction")]
                .prop_map(Value::from)
                .boxed(),
        ),
        field(
            prop_oneof![Just("pageview"), Just("cta click"), Just("submit")]
                .prop_map(Value::from)
                .boxed(),
        ),
        field(
            prop_oneof![
                Just("2021-01-01 09:15:27.243860"),
                Just("2021-01-01T09:15:27Z"),
                Just("2999-01-01T00:00:00Z"),
                Just("not a time"),
            ]
            .prop_map(Value::from)
            .boxed(),
        ),
        field(any_json().prop_filter("object", Value::is_object).boxed()),
        proptest::option::of(any_json()),
    )
        .prop_map(|(session, category, name, timestamp, data, extra)| {
            let mut event = Map::new();
            for (key, value) in [
                ("session_id", session),
                ("category", category),
                ("name", name),
                ("timestamp", timestamp),
                ("data", data),
                ("surprise", extra),
            ] {
                if let Some(value) = value {
                    event.insert(key.to_owned(), value);
                }
            }
            Value::Object(event)
        })
}

fn rules() -> Rules {
    Rules {
        max_data_bytes: 32 * 1024,
        future_tolerance: Duration::from_secs(60),
        max_age: None,
        reject_unknown_event_types: false,
        retention: None,
    }
}

fn limits() -> BodyLimits {
    BodyLimits {
        max_body_bytes: 64 * 1024,
        max_decompressed_bytes: 256 * 1024,
        max_batch_events: 100,
        body_timeout: Duration::from_secs(1),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn timestamps_print_and_parse_back_to_the_same_microsecond(
        micros in -62_167_219_200_000_000i64..=253_402_300_799_999_999i64
    ) {
        let printed = timestamp::format_micros(micros);
        let parsed = timestamp::parse(&printed).map(timestamp::to_micros);
        prop_assert_eq!(parsed, Some(micros), "{}", printed);
    }

    #[test]
    fn cursors_decode_to_the_position_they_encode(at in any::<i64>(), id in any::<u128>()) {
        let position = Position { at, id: uuid::Uuid::from_u128(id) };
        prop_assert_eq!(cursor::decode(&cursor::encode(position)), Some(position));
    }

    #[test]
    fn any_cursor_text_decodes_or_is_refused_without_panicking(text in ".{0,200}") {
        let _ = cursor::decode(&text);
    }

    #[test]
    fn json_documents_survive_strict_parsing_unchanged(value in any_json()) {
        let bytes = serde_json::to_vec(&value).expect("serialize");
        prop_assert_eq!(json::parse_strict(&bytes).expect("strict parse"), value);
    }

    #[test]
    fn any_body_bytes_are_judged_without_panicking(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        gzipped in any::<bool>(),
    ) {
        let _ = events_from_bytes(bytes, gzipped, &limits());
    }

    #[test]
    fn any_json_body_is_judged_without_panicking(value in any_json()) {
        let bytes = serde_json::to_vec(&value).expect("serialize");
        if let Ok(events) = events_from_bytes(bytes, false, &limits()) {
            prop_assert!(!events.is_empty() && events.len() <= 100);
        }
    }

    /// The text kept for each event of a body (the error store's raw input) is that event:
    /// whatever the layout, it parses back to the very value that was judged.
    #[test]
    fn each_event_of_a_body_is_kept_as_its_own_text(value in any_json(), pretty in any::<bool>()) {
        let bytes = if pretty {
            serde_json::to_vec_pretty(&value).expect("serialize")
        } else {
            serde_json::to_vec(&value).expect("serialize")
        };
        if let Ok(parsed) = parse_body(bytes, false, &limits()) {
            let raw = parsed.raw_events().expect("a parsed body reads again");
            prop_assert_eq!(raw.len(), parsed.events.len());
            for (text, event) in raw.iter().zip(&parsed.events) {
                prop_assert_eq!(&json::parse_strict(text.as_bytes()).expect("parses"), event);
            }
        }
    }

    #[test]
    fn validation_never_panics_and_accepts_only_complete_envelopes(event in event_like()) {
        let registry = SchemaRegistry::default();
        if let Ok(valid) = validate_event(&event, timestamp::now_micros(), &rules(), &registry) {
            prop_assert_eq!(event["session_id"].as_str(), Some(valid.session_id.as_str()));
            prop_assert_eq!(event["category"].as_str(), Some(valid.category.as_str()));
            prop_assert!(event.get("surprise").is_none());
        }
    }

    #[test]
    fn any_query_string_is_parsed_or_refused_without_panicking(raw in ".{0,200}") {
        let allowed = ["limit", "cursor", "from", "to", "order", "category", "session_id"];
        if let Ok(params) = Params::parse(Some(&raw), &allowed) {
            let _ = params.limit();
            let _ = params.cursor();
            let _ = params.time("from");
            let _ = params.order(Order::Asc);
            let _ = params.identifier("category");
        }
    }
}

fn record(session: u8, category: u8, at: i64, sequence: u64) -> EventRecord {
    let event_id = format!("e{sequence}");
    EventRecord {
        id: ids::event_id("app", Some(&event_id), at),
        app: "app".into(),
        session_id: format!("s{session}"),
        category: format!("c{category}"),
        name: "n".into(),
        data: "{}".into(),
        timestamp: at,
        received_at: at,
        event_id: Some(event_id),
        schema_version: None,
        user_id: None,
        context: None,
        original_timestamp: None,
    }
}

fn position(event: &EventRecord) -> Position {
    Position {
        at: event.timestamp,
        id: event.id,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn pagination_visits_every_matching_event_once_in_order_under_concurrent_inserts(
        // Few distinct timestamps, so many events tie and the id must break the tie.
        existing in prop::collection::vec((0u8..3, 0u8..2, 0i64..40), 1..300),
        inserted in prop::collection::vec((0u8..3, 0u8..2, 0i64..40), 0..200),
        limit in 1usize..40,
        descending in any::<bool>(),
        only_category in proptest::option::of(0u8..2),
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let dir = tempfile::tempdir().expect("dir");
            let store = Arc::new(SqliteStore::open(dir.path()).expect("store"));
            let base = 1_700_000_000_000_000i64;
            let before: Vec<EventRecord> = existing
                .iter()
                .enumerate()
                .map(|(i, (s, c, t))| record(*s, *c, base + t * 1_000_000, i as u64))
                .collect();
            let batch: Arc<[QueueMessage]> = before.iter().cloned().map(QueueMessage::Event).collect();
            store.write_batch(batch).await.expect("write");
            let writer = Arc::clone(&store);
            let offset = existing.len() as u64;
            let concurrent = tokio::spawn(async move {
                for (i, (s, c, t)) in inserted.iter().enumerate() {
                    let event = record(*s, *c, base + t * 1_000_000, offset + i as u64);
                    let _ = writer.write_batch(Arc::from([QueueMessage::Event(event)])).await;
                    tokio::task::yield_now().await;
                }
            });
            let category = only_category.map(|c| format!("c{c}"));
            let order = if descending { Order::Desc } else { Order::Asc };
            let mut visited: Vec<EventRecord> = Vec::new();
            let mut after = None;
            for _ in 0..10_000 {
                let rows = store
                    .events(EventQuery {
                        category: category.clone(),
                        order,
                        after,
                        limit: limit + 1,
                        ..EventQuery::default()
                    })
                    .await
                    .expect("page");
                let (page, next) = cursor::page(rows, limit, position);
                visited.extend(page);
                match next {
                    Some(next) => after = Some(cursor::decode(&next).expect("our cursor")),
                    None => break,
                }
            }
            concurrent.await.expect("inserts");
            let keys: Vec<(i64, uuid::Uuid)> = visited.iter().map(|e| (e.timestamp, e.id)).collect();
            let mut sorted = keys.clone();
            sorted.sort();
            if descending {
                sorted.reverse();
            }
            assert_eq!(keys, sorted, "pages out of order");
            let unique: HashSet<_> = keys.iter().collect();
            assert_eq!(unique.len(), keys.len(), "an event was visited twice");
            let seen: HashSet<uuid::Uuid> = visited.iter().map(|e| e.id).collect();
            for event in &before {
                let matches = category.as_ref().is_none_or(|c| *c == event.category);
                assert_eq!(seen.contains(&event.id), matches, "{event:?}");
            }
            assert!(visited.iter().all(|e| category.as_ref().is_none_or(|c| *c == e.category)));
        });
    }
}
