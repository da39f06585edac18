//! The timestamp forms the API documents, read into microseconds. The parser underneath
//! (`model::timestamp`) takes a few more that no client means to send: any character between
//! date and time in the RFC 3339 form, a sign before a naive year, a leap second, an offset
//! in years 0000 and 9999 (where it may or may not move the instant out of the years a
//! timestamp prints in). Refusing those keeps what is accepted exactly what the OpenAPI
//! document's pattern (`eye_types::schema::timestamp_pattern`) states.

use crate::model::timestamp::{self, Micros};

/// A timestamp of a JSON body: an event's, a replay filter's.
pub fn parse_timestamp(text: &str) -> Option<Micros> {
    documented_form(text)
        .then(|| timestamp::parse(text))
        .flatten()
        .map(timestamp::to_micros)
}

/// A timestamp of a query string: as [`parse_timestamp`], where the `+` of an offset sent
/// unencoded has become a space; or a date alone (`2021-01-01`), its midnight UTC.
pub fn parse_query_timestamp(text: &str) -> Option<Micros> {
    if text.len() == 10 && text.as_bytes()[0].is_ascii_digit() && text.as_bytes()[4] == b'-' {
        return timestamp::parse(&format!("{text}T00:00:00Z")).map(timestamp::to_micros);
    }
    documented_form(text)
        .then(|| timestamp::parse_lenient(text))
        .flatten()
        .map(timestamp::to_micros)
}

/// Four digits of year first (no sign), `T`, `t` or a space after the date, seconds 00-59,
/// UTC in years 0000 and 9999; the parser checks the rest. Every form it accepts has ASCII
/// at these positions.
fn documented_form(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.first().is_some_and(u8::is_ascii_digit)
        && matches!(bytes.get(10), Some(b'T' | b't' | b' '))
        && bytes.get(17..19) != Some(b"60".as_slice())
        && (!(text.starts_with("0000") || text.starts_with("9999")) || in_utc(text))
}

/// Whatever follows the seconds and their fraction is nothing, `Z` or a zero offset.
fn in_utc(text: &str) -> bool {
    let offset = text
        .get(19..)
        .unwrap_or_default()
        .trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    matches!(offset, "" | "Z" | "z") || offset.get(1..) == Some("00:00")
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use eye_types::schema::{query_timestamp_pattern, timestamp_pattern};
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    /// Near-misses of every part: signs, separators, impossible dates and times, leap
    /// seconds, fractions, offsets, the edge years.
    const CANDIDATES: &str = concat!(
        "[+-]?(0000|9999|0001|9998|2000|2100|2024|2021|[0-9]{4})-(0[0-9]|1[0-3]|02)-",
        "(0[0-9]|[12][0-9]|3[0-2])[Tt x](0[0-9]|1[0-9]|2[0-5]):[0-6][0-9]:([0-5][0-9]|60|61)",
        "(\\.[0-9]{0,10})?([Zz]|[+ -](0[0-9]|1[0-9]|2[0-5]):(00|[0-6][0-9]))?"
    );

    /// The documented patterns, as a JSON Schema validator (ECMA-262 regex rules) reads them.
    static DOCUMENTED: LazyLock<[jsonschema::Validator; 2]> = LazyLock::new(|| {
        [timestamp_pattern(), query_timestamp_pattern()].map(|pattern| {
            jsonschema::validator_for(&json!({"type": "string", "pattern": pattern}))
                .expect("the pattern compiles")
        })
    });

    /// (body form, query form): documented, and read.
    fn verdicts(text: &str) -> [(bool, bool); 2] {
        let [body, query] = &*DOCUMENTED;
        [
            (body.is_valid(&json!(text)), parse_timestamp(text).is_some()),
            (
                query.is_valid(&json!(text)),
                parse_query_timestamp(text).is_some(),
            ),
        ]
    }

    /// Dates alone, with their near-misses.
    const DATES: &str = "[+-]?(0000|9999|0001|2000|2100|2024|2021|[0-9]{4})-(0[0-9]|1[0-3]|02)-(0[0-9]|[12][0-9]|3[0-2])[Z ]?";

    proptest! {
        #[test]
        fn the_documented_pattern_is_exactly_what_is_read(text in CANDIDATES) {
            for (documented, read) in verdicts(&text) {
                prop_assert_eq!(documented, read);
            }
        }

        #[test]
        fn a_date_alone_is_documented_and_read_in_queries_only(text in DATES) {
            for (documented, read) in verdicts(&text) {
                prop_assert_eq!(documented, read);
            }
        }
    }

    #[test]
    fn a_date_alone_is_its_midnight_in_queries() {
        assert_eq!(
            parse_query_timestamp("2021-01-01"),
            parse_query_timestamp("2021-01-01T00:00:00Z")
        );
        assert_eq!(verdicts("2024-02-29"), [(false, false), (true, true)]);
        assert_eq!(verdicts("2021-02-29"), [(false, false); 2]);
    }

    #[test]
    fn only_the_documented_forms_are_read() {
        for good in [
            "2021-01-01T09:15:27Z",
            "2021-01-01t09:15:27z",
            "2021-01-01 09:15:27+02:00",
            "2021-01-01 09:15:27.123456789",
            "2021-01-01T09:15:27",
            "2021-06-30T23:59:59.999999Z",
            "0000-01-01T00:00:00-00:00",
            "9999-12-31 23:59:59.999999",
        ] {
            assert_eq!(verdicts(good), [(true, true); 2], "{good}");
        }
        for bad in [
            "2021-01-01x09:15:27Z",
            "2021-01-01\u{0}09:15:27Z",
            "+2021-01-01 09:15:27",
            "-0000-01-01 09:15:27",
            "2021-06-30T23:59:60Z",
            "2021-01-01t09:15:27",
            "0000-01-01T00:30:00+01:00",
            "0000-06-01T00:30:00+01:00",
            "9999-12-31T23:59:59-15:29",
        ] {
            assert_eq!(verdicts(bad), [(false, false); 2], "{bad:?}");
        }
        let unencoded_plus = "2021-01-01T11:15:27 02:00";
        assert_eq!(verdicts(unencoded_plus), [(false, false), (true, true)]);
    }
}
