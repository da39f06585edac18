//! Timestamps in every accepted form: parsing never panics, and whatever parses prints in
//! the canonical form and parses back to the same microsecond.
#![no_main]

use eye_server::model::timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    for parsed in [timestamp::parse(input), timestamp::parse_lenient(input)] {
        let Some(at) = parsed else { continue };
        let micros = timestamp::to_micros(at);
        let printed = timestamp::format_micros(micros);
        let again = timestamp::parse(&printed).map(timestamp::to_micros);
        assert_eq!(again, Some(micros), "{input:?} printed as {printed:?}");
    }
});
