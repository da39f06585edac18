//! An ingest body, as sent: the first byte says whether it is gzip-compressed. Every body
//! must be refused or split into events, and every event judged against the example
//! schemas, without a panic.
#![no_main]

use std::time::Duration;

use eye_server::http::body::{BodyLimits, events_from_bytes};
use eye_server::ingest::validation::{CompiledSchema, Rules, SchemaRegistry, compile_schema, validate_event};
use libfuzzer_sys::fuzz_target;

const EXAMPLES: [&str; 3] = [
    include_str!("../../schemas/page-interaction.pageview.json"),
    include_str!("../../schemas/page-interaction.cta-click.json"),
    include_str!("../../schemas/form-interaction.submit.json"),
];

fn registry() -> SchemaRegistry {
    let registry = SchemaRegistry::default();
    for text in EXAMPLES {
        let file: serde_json::Value = serde_json::from_str(text).expect("example schema");
        let validator = compile_schema(&file["schema"]).expect("compiles");
        registry.insert(
            file["category"].as_str().expect("category"),
            file["name"].as_str().expect("name"),
            CompiledSchema::new(1, validator),
        );
    }
    registry
}

fuzz_target!(|input: &[u8]| {
    let Some((flag, body)) = input.split_first() else {
        return;
    };
    let limits = BodyLimits {
        max_body_bytes: 1024 * 1024,
        max_decompressed_bytes: 8 * 1024 * 1024,
        max_batch_events: 1000,
        body_timeout: Duration::from_secs(30),
    };
    let Ok(events) = events_from_bytes(body.to_vec(), flag & 1 == 1, &limits) else {
        return;
    };
    let rules = Rules {
        max_data_bytes: 32 * 1024,
        future_tolerance: Duration::from_secs(60),
        max_age: Some(Duration::from_secs(86_400 * 365)),
        reject_unknown_event_types: flag & 2 == 2,
        retention: None,
    };
    let registry = registry();
    for event in &events {
        let _ = validate_event(event, 1_700_000_000_000_000, &rules, &registry);
    }
});
