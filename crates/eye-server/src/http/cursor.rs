//! Opaque pagination cursors: the keyset position of a page's last item, as 48 lowercase
//! hexadecimal digits (the timestamp's 64 bits, then the id's 128). Every string of that
//! shape is a position, so the OpenAPI document's pattern is exactly what is accepted.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Object, Schema, Type};
use utoipa::{PartialSchema, ToSchema};
use uuid::Uuid;

use crate::store::{Position, SessionPosition};

/// A cursor, or the empty string for the first page.
pub const CURSOR_PATTERN: &str = "^(?:[0-9a-f]{48})?$";

pub fn encode(position: Position) -> String {
    format!(
        "{:016x}{:032x}",
        position.at.cast_unsigned(),
        position.id.as_u128()
    )
}

pub fn decode(text: &str) -> Option<Position> {
    let lower_hex = |byte: u8| matches!(byte, b'0'..=b'9' | b'a'..=b'f');
    if text.len() != 48 || !text.bytes().all(lower_hex) {
        return None;
    }
    let (at, id) = text.split_at(16);
    Some(Position {
        at: u64::from_str_radix(at, 16).ok()?.cast_signed(),
        id: Uuid::from_u128(u128::from_str_radix(id, 16).ok()?),
    })
}

/// `cursor` as the OpenAPI document states it.
pub struct Cursor;

impl PartialSchema for Cursor {
    fn schema() -> RefOr<Schema> {
        Object::builder()
            .schema_type(Type::String)
            .pattern(Some(CURSOR_PATTERN))
            .description(Some(
                "`next_cursor` of the previous page, unchanged; empty for the first page",
            ))
            .into()
    }
}

impl ToSchema for Cursor {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Cursor")
    }
}

/// Cuts the store's answer (up to `limit + 1` rows: one more than a page means another page
/// follows) to a page, and the cursor of the next page from the last row's position.
pub fn page<T>(
    mut rows: Vec<T>,
    limit: usize,
    position: impl Fn(&T) -> Position,
) -> (Vec<T>, Option<String>) {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more {
        rows.last().map(|last| encode(position(last)))
    } else {
        None
    };
    (rows, next)
}

/// A session-list cursor, or the empty string for the first page: the last session's last
/// activity (16 hexadecimal digits) then its id's UTF-8 bytes in hexadecimal.
pub const SESSION_CURSOR_PATTERN: &str = "^(?:[0-9a-f]{16}(?:[0-9a-f]{2})+)?$";

pub fn encode_session(position: &SessionPosition) -> String {
    let mut text = format!("{:016x}", position.last_ts.cast_unsigned());
    for byte in position.session_id.as_bytes() {
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

pub fn decode_session(text: &str) -> Option<SessionPosition> {
    let lower_hex = |byte: u8| matches!(byte, b'0'..=b'9' | b'a'..=b'f');
    if text.len() <= 16 || !text.len().is_multiple_of(2) || !text.bytes().all(lower_hex) {
        return None;
    }
    let (at, id) = text.split_at(16);
    let bytes = (0..id.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&id[i..i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    let last_ts = u64::from_str_radix(at, 16).ok()?.cast_signed();
    // Only instants a session can have: the stores read others differently.
    crate::model::timestamp::from_micros(last_ts)?;
    Some(SessionPosition {
        last_ts,
        session_id: String::from_utf8(bytes).ok()?,
    })
}

/// `cursor` of `GET /v1/sessions` as the OpenAPI document states it.
pub struct SessionCursor;

impl PartialSchema for SessionCursor {
    fn schema() -> RefOr<Schema> {
        Object::builder()
            .schema_type(Type::String)
            .pattern(Some(SESSION_CURSOR_PATTERN))
            .description(Some(
                "`next_cursor` of the previous page, unchanged; empty for the first page",
            ))
            .into()
    }
}

impl ToSchema for SessionCursor {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("SessionCursor")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        for at in [-42, 0, i64::MIN, i64::MAX] {
            let position = Position {
                at,
                id: Uuid::now_v7(),
            };
            let cursor = encode(position);
            assert_eq!(cursor.len(), 48, "{cursor}");
            assert_eq!(decode(&cursor), Some(position));
        }
        for garbage in [
            "",
            "abc",
            "' OR 1=1 --",
            "../../etc/passwd",
            &"a".repeat(47),
            &"a".repeat(49),
            &"A".repeat(48),
            &format!("+{}", "0".repeat(47)),
            &"A".repeat(10_000),
        ] {
            assert_eq!(decode(garbage), None, "{garbage}");
        }
    }

    #[test]
    fn session_cursors_round_trip_and_refuse_garbage() {
        for (last_ts, session_id) in [
            (0, "a"),
            (-5, "sess/ü 1"),
            (253_402_300_799_999_999, "x".repeat(200).as_str()),
        ] {
            let position = SessionPosition {
                last_ts,
                session_id: session_id.to_owned(),
            };
            let cursor = encode_session(&position);
            assert!(regex_free_match(&cursor), "{cursor}");
            assert_eq!(decode_session(&cursor), Some(position));
        }
        for garbage in [
            "",
            "abc",
            &"0".repeat(16),
            &"0".repeat(17),
            &format!("{}ff", "0".repeat(16)),
            &format!("7fffffffffffffff{}", "73"),
            &"A".repeat(20),
        ] {
            assert_eq!(decode_session(garbage), None, "{garbage}");
        }
    }

    /// The shape of `SESSION_CURSOR_PATTERN`, checked by hand.
    fn regex_free_match(text: &str) -> bool {
        text.len() > 16
            && text.len().is_multiple_of(2)
            && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }
}
