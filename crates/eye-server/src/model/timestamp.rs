//! Event timestamps: the accepted input forms, and the one output form (RFC 3339, UTC, µs).
//!
//! Internally a timestamp is an `i64` count of microseconds since the Unix epoch, UTC.

use time::format_description::BorrowedFormatItem;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Microseconds since 1970-01-01T00:00:00Z.
pub type Micros = i64;

/// The naive forms, read as UTC: `2021-01-01 09:15:27.243860` and `2021-01-01T09:15:27`.
const NAIVE: &[BorrowedFormatItem<'_>] = format_description!(
    "[year]-[month]-[day][first [ ][T]][hour]:[minute]:[second][optional [.[subsecond]]]"
);

const OUTPUT: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// Parses any accepted form; `None` for anything unparsable or impossible (`2021-02-30`),
/// and for instants outside years 0000-9999 in UTC, which the output form (RFC 3339) cannot
/// print in a way that parses back (`-2021-04-01 09:15:37`, found by the fuzzer).
pub fn parse(text: &str) -> Option<OffsetDateTime> {
    if fraction_digits(text) > 9 {
        return None;
    }
    let parsed = match OffsetDateTime::parse(text, &Rfc3339) {
        // `to_offset` panics when UTC falls outside the supported years (found by the fuzzer:
        // `9999-12-31T23:59:59.99999-15:29`); the checked form refuses instead.
        Ok(parsed) => parsed.checked_to_offset(UtcOffset::UTC)?,
        Err(_) => PrimitiveDateTime::parse(text, NAIVE).ok()?.assume_utc(),
    };
    (0..=9999).contains(&parsed.year()).then_some(parsed)
}

/// Digits after the seconds' decimal point (the parsers would silently take more than nine).
fn fraction_digits(text: &str) -> usize {
    text.split_once('.').map_or(0, |(_, rest)| {
        rest.bytes().take_while(u8::is_ascii_digit).count()
    })
}

/// Like [`parse`], for query parameters: a `+` in an offset that arrived unencoded in a URL
/// has been decoded to a space, so `2021-01-01T10:00:00 02:00` is read as `+02:00`.
pub fn parse_lenient(text: &str) -> Option<OffsetDateTime> {
    parse(text).or_else(|| {
        let (head, offset) = text.rsplit_once(' ')?;
        let looks_like_offset = offset.len() == 5 && offset.as_bytes()[2] == b':';
        looks_like_offset
            .then(|| parse(&format!("{head}+{offset}")))
            .flatten()
    })
}

pub fn to_micros(at: OffsetDateTime) -> Micros {
    // i128 nanoseconds over the supported years (±9999) divided down always fits in i64.
    (at.unix_timestamp_nanos() / 1_000) as Micros
}

pub fn from_micros(micros: Micros) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).ok()
}

/// RFC 3339 in UTC with exactly six fractional digits: `2021-01-01T09:15:27.243860Z`.
pub fn format_micros(micros: Micros) -> String {
    from_micros(micros)
        .and_then(|at| at.format(OUTPUT).ok())
        .unwrap_or_else(|| micros.to_string())
}

/// RFC 3339 in UTC to the second, for the starts of whole buckets: `2021-01-01T09:00:00Z`.
pub fn format_whole_seconds(micros: Micros) -> String {
    const WHOLE: &[BorrowedFormatItem<'_>] =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    from_micros(micros)
        .and_then(|at| at.format(WHOLE).ok())
        .unwrap_or_else(|| micros.to_string())
}

pub fn now_micros() -> Micros {
    to_micros(OffsetDateTime::now_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_years_the_output_form_can_print_are_accepted() {
        assert!(parse("-2021-04-01 09:15:37.24").is_none());
        assert!(parse("0000-01-01T00:30:00+01:00").is_none());
        let earliest = parse("0000-01-01T00:00:00Z").expect("year 0");
        assert_eq!(
            parse(&format_micros(to_micros(earliest))).map(to_micros),
            Some(to_micros(earliest))
        );
        assert!(parse("9999-12-31 23:59:59.999999").is_some());
        assert!(parse("9999-12-31T23:59:59.99999-15:29").is_none());
    }

    fn micros(text: &str) -> Micros {
        to_micros(parse(text).unwrap_or_else(|| panic!("{text} should parse")))
    }

    #[test]
    fn accepts_every_documented_form() {
        let expected = micros("2021-01-01T09:15:27.243860Z");
        for form in [
            "2021-01-01 09:15:27.243860",
            "2021-01-01T09:15:27.243860",
            "2021-01-01T11:15:27.243860+02:00",
            "2021-01-01T04:15:27.243860-05:00",
            "2021-01-01T09:15:27.243860000Z",
        ] {
            assert_eq!(micros(form), expected, "{form}");
        }
        assert_eq!(format_micros(expected), "2021-01-01T09:15:27.243860Z");
    }

    #[test]
    fn accepts_zero_to_nine_fraction_digits() {
        assert_eq!(
            format_micros(micros("2021-01-01 09:15:27")),
            "2021-01-01T09:15:27.000000Z"
        );
        assert_eq!(
            format_micros(micros("2021-01-01 09:15:27.5")),
            "2021-01-01T09:15:27.500000Z"
        );
        assert_eq!(
            format_micros(micros("2021-01-01T09:15:27.123456789Z")),
            "2021-01-01T09:15:27.123456Z"
        );
    }

    #[test]
    fn refuses_impossible_and_malformed_dates() {
        for bad in [
            "2021-02-30 09:15:27",
            "2021-13-01 00:00:00",
            "2021-01-01 25:00:00",
            "yesterday",
            "",
            "2021-01-01",
            "2021-01-01 09:15:27.1234567890",
            "2021-01-01 09:15:27 garbage",
        ] {
            assert!(parse(bad).is_none(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn lenient_form_repairs_a_decoded_plus() {
        assert_eq!(
            parse_lenient("2021-01-01T11:15:27 02:00").map(to_micros),
            Some(micros("2021-01-01T09:15:27Z"))
        );
        assert!(parse_lenient("2021-01-01T11:15:27 junk").is_none());
    }
}
