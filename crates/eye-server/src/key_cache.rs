//! Key look-ups cached for a short time, so that ingest nodes do not ask the store on every
//! request. Unknown keys are cached too (a flood of bad keys costs the store nothing more),
//! and the whole cache is bounded. While the store cannot be reached, the last answer read
//! stands, so ingest keeps accepting events into the queue through a database outage.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::model::KeyRecord;
use crate::store::{Store, StoreError};

const MAX_ENTRIES: usize = 10_000;

/// A look-up's answer (`None`: no such key) and when it was read.
type Entry = (Option<KeyRecord>, Instant);

pub struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

impl KeyCache {
    /// A zero `ttl` disables caching: every look-up reads the store.
    pub fn new(ttl: Duration) -> KeyCache {
        KeyCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub async fn lookup(
        &self,
        store: &dyn Store,
        hash: [u8; 32],
    ) -> Result<Option<KeyRecord>, StoreError> {
        if self.ttl.is_zero() {
            return store.key_by_hash(hash).await;
        }
        if let Some((key, fetched)) = self
            .entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&hash)
            && fetched.elapsed() < self.ttl
        {
            return Ok(key.clone());
        }
        let key = store.key_by_hash(hash).await?;
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(hash, (key.clone(), Instant::now()));
        Ok(key)
    }
}
