//! Opaque pagination cursors: the keyset position of a page's last item, base64url-encoded.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use crate::store::Position;

const MAX_CURSOR_CHARS: usize = 128;

pub fn encode(position: Position) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{}", position.at, position.id.simple()))
}

pub fn decode(text: &str) -> Option<Position> {
    if text.len() > MAX_CURSOR_CHARS {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let (at, id) = text.split_once('.')?;
    Some(Position {
        at: at.parse().ok()?,
        id: Uuid::try_parse(id).ok()?,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let position = Position {
            at: -42,
            id: Uuid::now_v7(),
        };
        assert_eq!(decode(&encode(position)), Some(position));
        for garbage in [
            "",
            "abc",
            "' OR 1=1 --",
            "../../etc/passwd",
            &"A".repeat(10_000),
        ] {
            assert_eq!(decode(garbage), None, "{garbage}");
        }
    }
}
