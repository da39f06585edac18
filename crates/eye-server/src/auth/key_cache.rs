//! Key look-ups cached, so that ingest does not ask the store on every request. Unknown
//! keys are cached too (a flood of bad keys costs the store nothing more), and the whole
//! cache is bounded. An answer is kept for the time limit, and only while the store's key
//! generation (when it keeps one: SQLite) is unchanged, so a revocation in any process is
//! seen by the next request. While the store cannot be reached, the last answer read
//! stands, so ingest keeps accepting events into the queue through a database outage.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::model::KeyRecord;
use crate::store::{Store, StoreError};

const MAX_ENTRIES: usize = 10_000;

/// A look-up's answer (`None`: no such key), when it was read, and the store's key
/// generation just before it was read.
type Entry = (Option<KeyRecord>, Instant, Option<u64>);

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
        // Read before the store: an answer read while a key changes is then filed under
        // the old generation and never served once the change is marked.
        let generation = store.key_generation();
        if let Some((key, fetched, read_under)) = self
            .entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&hash)
            && fetched.elapsed() < self.ttl
            && *read_under == generation
        {
            return Ok(key.clone());
        }
        let key = match store.key_by_hash(hash).await {
            Ok(key) => key,
            Err(error) => return self.last_known(hash).ok_or(error),
        };
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(hash, (key.clone(), Instant::now(), generation));
        Ok(key)
    }

    /// The answer last read for `hash`, however old: what stands while the store cannot be
    /// reached. A key cannot be revoked while its database is unreachable from everywhere;
    /// a node cut off alone keeps the state it last saw until it can read again.
    fn last_known(&self, hash: [u8; 32]) -> Option<Option<KeyRecord>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (key, _, _) = entries.get(&hash)?;
        tracing::debug!("the store is unreachable: answering from the last key look-up read");
        Some(key.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rusqlite::Connection;

    use super::KeyCache;
    use crate::auth::keys::digest;
    use crate::model::Scope;
    use crate::store::{SqliteStore, Store};

    /// A store in a fresh directory holding one ingest key for "shop", and that key's digest.
    async fn store_with_key() -> (tempfile::TempDir, SqliteStore, [u8; 32]) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path()).expect("store");
        let hash = digest("eye_secret");
        store
            .create_key("shop", &[Scope::Ingest], hash)
            .await
            .expect("create");
        (dir, store, hash)
    }

    fn raw(dir: &std::path::Path) -> Connection {
        Connection::open(dir.join("eye.db")).expect("open eye.db")
    }

    #[tokio::test]
    async fn answers_stand_until_any_process_changes_a_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = SqliteStore::open(dir.path()).expect("store");
        let hash = digest("eye_secret");
        let key = server
            .create_key("shop", &[Scope::Ingest], hash)
            .await
            .expect("create");
        let cache = KeyCache::new(Duration::MAX);
        let unknown = digest("eye_not_yet");
        assert!(
            cache
                .lookup(&server, unknown)
                .await
                .expect("look up")
                .is_none()
        );
        assert_eq!(
            cache.lookup(&server, hash).await.expect("look up"),
            Some(key.clone())
        );

        // A change that bypasses the store is not marked: the cached answer stands, which
        // shows the look-up is served from the cache.
        raw(dir.path())
            .execute("UPDATE api_keys SET created_at = 42", [])
            .expect("update");
        assert_eq!(
            cache.lookup(&server, hash).await.expect("look up"),
            Some(key.clone())
        );

        // `eye keys revoke` in another process: the next look-up sees it.
        let cli = SqliteStore::open(dir.path()).expect("second store");
        cli.revoke_key(&key.id).await.expect("revoke");
        let seen = cache.lookup(&server, hash).await.expect("look up");
        assert!(seen.expect("still known").revoked_at.is_some());

        // An unknown key created later is known at once, not refused from the cache.
        cli.create_key("blog", &[Scope::Ingest], unknown)
            .await
            .expect("create");
        let created = cache.lookup(&server, unknown).await.expect("look up");
        assert_eq!(created.map(|k| k.app), Some("blog".to_owned()));
    }

    #[tokio::test]
    async fn the_last_answer_stands_while_the_store_cannot_be_read() {
        let (dir, store, hash) = store_with_key().await;
        let cache = KeyCache::new(Duration::from_millis(1));
        assert!(cache.lookup(&store, hash).await.expect("look up").is_some());
        tokio::time::sleep(Duration::from_millis(5)).await;
        raw(dir.path())
            .execute_batch("DROP TABLE api_keys")
            .expect("break the store");
        assert!(store.key_by_hash(hash).await.is_err(), "the store fails");
        let stale = cache.lookup(&store, hash).await.expect("last known answer");
        assert_eq!(stale.map(|k| k.app), Some("shop".to_owned()));
        assert!(
            cache
                .lookup(&store, digest("eye_never_seen"))
                .await
                .is_err(),
            "nothing to fall back on: the error stands"
        );
    }

    #[tokio::test]
    async fn a_zero_time_limit_reads_the_store_every_time() {
        let (dir, store, hash) = store_with_key().await;
        let cache = KeyCache::new(Duration::ZERO);
        assert!(cache.lookup(&store, hash).await.expect("look up").is_some());
        raw(dir.path())
            .execute("UPDATE api_keys SET created_at = 42", [])
            .expect("update");
        let read = cache.lookup(&store, hash).await.expect("look up");
        assert_eq!(read.map(|k| k.created_at), Some(42));
    }
}
