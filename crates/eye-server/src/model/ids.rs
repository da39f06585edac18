//! Event and error identifiers: UUIDv7, time-ordered so that index inserts stay local.

use sha2::{Digest, Sha256};
use uuid::{Builder, Uuid};

use crate::model::timestamp::Micros;

/// The id of an accepted event. With a client `event_id` it is derived from (application,
/// `event_id`, timestamp), so a retried request answers with the id already stored.
pub fn event_id(app: &str, client_event_id: Option<&str>, timestamp: Micros) -> Uuid {
    let Some(client_event_id) = client_event_id else {
        return Uuid::now_v7();
    };
    let digest = Sha256::new()
        .chain_update(app.as_bytes())
        .chain_update([0])
        .chain_update(client_event_id.as_bytes())
        .finalize();
    let mut random = [0u8; 10];
    random.copy_from_slice(&digest[..10]);
    let millis = (timestamp.max(0) / 1_000) as u64 & 0xFFFF_FFFF_FFFF;
    Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

/// The id of an error record.
pub fn error_id() -> Uuid {
    Uuid::now_v7()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_event_ids_give_stable_ids_per_application() {
        let first = event_id("shop", Some("abc"), 1_600_000_000_000_000);
        assert_eq!(first, event_id("shop", Some("abc"), 1_600_000_000_000_000));
        assert_ne!(first, event_id("blog", Some("abc"), 1_600_000_000_000_000));
        assert_ne!(first, event_id("shop", Some("abd"), 1_600_000_000_000_000));
        assert_eq!(first.get_version_num(), 7);
    }

    #[test]
    fn ids_without_client_key_are_unique() {
        assert_ne!(event_id("shop", None, 0), event_id("shop", None, 0));
    }
}
