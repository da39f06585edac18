//! Command-line values of time: the bounds of `--from`/`--to` (a date alone is its midnight
//! UTC) and durations such as `--retry-for 30s`.

use std::time::Duration;

/// A time bound as the server reads it. A date alone (`2026-12-01`) becomes that day's
/// midnight UTC; anything else goes to the server unchanged, which names what is wrong.
pub fn parse(value: &str) -> Result<String, String> {
    let trimmed = value.trim();
    let format = time::macros::format_description!("[year]-[month]-[day]");
    match time::Date::parse(trimmed, &format) {
        Ok(date) => Ok(format!("{date}T00:00:00Z")),
        Err(_) if is_date_shaped(trimmed) => Err(format!(
            "{trimmed:?} is not a calendar date (write YYYY-MM-DD)"
        )),
        Err(_) => Ok(trimmed.to_owned()),
    }
}

/// `2026-02-30` looks like a date and must not reach the server as a timestamp prefix.
fn is_date_shaped(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit())
}

/// `500ms`, `30s`, `2m`, or a number of seconds (`1.5`).
pub fn duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let (number, unit) = match value.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => value.split_at(at),
        None => (value, "s"),
    };
    let number: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{value:?} is not a duration: write e.g. 30s, 2m or 500ms"))?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(format!("{value:?}: the unit must be ms, s, m or h")),
    };
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| format!("{value:?} is not a duration of zero or more"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_alone_is_its_midnight_utc() {
        assert_eq!(parse("2026-12-01").as_deref(), Ok("2026-12-01T00:00:00Z"));
        assert!(parse("2026-02-30").is_err());
    }

    #[test]
    fn other_forms_pass_through_to_the_server() {
        for value in ["2026-12-01T10:00:00Z", "2021-01-01 09:15:27", "yesterday"] {
            assert_eq!(parse(value).as_deref(), Ok(value));
        }
    }

    #[test]
    fn durations_take_units_or_seconds() {
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(duration("soon").is_err());
        assert!(duration("-1").is_err());
        assert!(duration("3d").is_err());
    }
}
