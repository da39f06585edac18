//! The schema path: an administrator's schema (the input up to the first NUL byte) is
//! compiled or refused, then the rest of the input is judged against it. Neither may panic;
//! remote `$ref`s are refused at compile time.
#![no_main]

use eye_server::ingest::validation::{CompiledSchema, compile_schema};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let mut parts = input.splitn(2, |b| *b == 0);
    let (Some(schema), Some(data)) = (parts.next(), parts.next()) else {
        return;
    };
    let (Ok(schema), Ok(data)) = (
        serde_json::from_slice::<serde_json::Value>(schema),
        serde_json::from_slice::<serde_json::Value>(data),
    ) else {
        return;
    };
    if let Ok(validator) = compile_schema(&schema) {
        let _ = CompiledSchema::new(1, validator).first_violation(&data);
    }
});
