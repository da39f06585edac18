//! The embedded store: SQLite in WAL mode in `eye.db`, one writer connection and a small
//! pool of readers, each call run on tokio's blocking pool.

mod admin;
pub(crate) mod erasure;
mod error_records;
pub(crate) mod events;
mod key_generation;
mod migrations;
pub(crate) mod retention;
mod rollups;
mod session_list;
pub(crate) mod session_repair;
mod settings;
pub(crate) mod wal_checkpoint;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, ErrorCode};

use super::lifecycle::{Cutoffs, Erasure, ErasureRequest, StoreUsage, Suppression};
use super::{
    BatchOutcome, CountQuery, CountRow, ErrorCounts, ErrorQuery, EventQuery, Interval,
    SessionListQuery, SessionSummary, Store, StoreError,
};
use crate::model::timestamp::Micros;
use crate::model::{
    ErrorEntry, EventRecord, KeyRecord, QueueMessage, SchemaFileDigest, SchemaRecord,
    SchemaVersion, Scope,
};
use key_generation::KeyGeneration;
use wal_checkpoint::Checkpointer;

/// Idle reader connections kept open.
const MAX_IDLE_READERS: usize = 8;
/// Page caches, in KiB (negative: SQLite's unit for a size rather than a page count).
const WRITER_CACHE_KIB: i64 = -65_536;
const READER_CACHE_KIB: i64 = -8_192;

pub struct SqliteStore {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    idle_readers: Arc<Mutex<Vec<Connection>>>,
    /// Key look-ups the key cache misses (the first request with a key, and every request
    /// after a key change): a warm indexed read of a few microseconds, done inline on this
    /// connection rather than through the blocking pool. WAL readers never wait for the
    /// writer.
    key_reader: Mutex<Connection>,
    key_generation: KeyGeneration,
    _checkpointer: Checkpointer,
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) the store in `dir/eye.db`.
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let path = dir.join("eye.db");
        let mut writer = open_connection(&path)?;
        // The writer walks every index on insert: it gets the big page cache.
        writer
            .pragma_update(None, "cache_size", WRITER_CACHE_KIB)
            .map_err(from_sqlite)?;
        // Erased and expired rows are overwritten with zeros where their page is written
        // anyway, rather than left readable in free space (`FAST`: no extra I/O).
        writer
            .pragma_update(None, "secure_delete", "FAST")
            .map_err(from_sqlite)?;
        migrations::run(&mut writer).map_err(from_sqlite)?;
        wal_checkpoint::bound_log(&writer, wal_checkpoint::STORE_LOG_PAGES).map_err(from_sqlite)?;
        let key_reader = Mutex::new(open_connection(&path)?);
        let key_generation =
            KeyGeneration::open(dir).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let checkpointer = Checkpointer::start(&path, "eye-store-checkpoint")
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(SqliteStore {
            _checkpointer: checkpointer,
            path,
            writer: Arc::new(Mutex::new(writer)),
            idle_readers: Arc::new(Mutex::new(Vec::new())),
            key_reader,
            key_generation,
        })
    }

    async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let idle = Arc::clone(&self.idle_readers);
        let path = self.path.clone();
        blocking(move || {
            let pooled = idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let connection = match pooled {
                Some(connection) => connection,
                None => open_connection(&path)?,
            };
            let result = work(&connection).map_err(from_sqlite);
            let mut idle = idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_IDLE_READERS {
                idle.push(connection);
            }
            result
        })
        .await
    }

    /// A write that changes keys, then the marker that tells key caches (in every process
    /// on this directory) to read keys again. Bumped even when the write failed: a spare
    /// bump costs one cache miss, a missing one would leave a revoked key working.
    async fn write_keys<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let outcome = self.write(work).await;
        if let Err(error) = self.key_generation.bump() {
            tracing::error!(%error, "could not mark a key change: running servers may answer from a stale key cache until they restart");
        }
        outcome
    }

    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let writer = Arc::clone(&self.writer);
        blocking(move || {
            let mut connection = writer.lock().unwrap_or_else(|p| p.into_inner());
            work(&mut connection).map_err(from_sqlite)
        })
        .await
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let connection = Connection::open(path).map_err(from_sqlite)?;
    let configure = || -> rusqlite::Result<()> {
        connection.busy_timeout(Duration::from_secs(5))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a worker batch is fsynced before its messages leave the queue, so even a
        // power cut cannot lose an event the queue no longer holds. One fsync per batch of
        // up to `worker_batch_size` events.
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        connection.pragma_update(None, "cache_size", READER_CACHE_KIB)?;
        // Checkpoints are the checkpoint thread's job, off the worker's commit path (the
        // writer finishes one only when the log grows long: see `wal_checkpoint`).
        connection.pragma_update(None, "wal_autocheckpoint", 0)?;
        Ok(())
    };
    configure().map_err(from_sqlite)?;
    Ok(connection)
}

fn from_sqlite(error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => StoreError::Unavailable("the disk is full".into()),
        _ => StoreError::Unavailable(error.to_string()),
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn write_batch(&self, messages: Arc<[QueueMessage]>) -> Result<BatchOutcome, StoreError> {
        self.write(move |connection| events::write_batch(connection, &messages))
            .await
    }

    async fn events(&self, query: EventQuery) -> Result<Vec<EventRecord>, StoreError> {
        self.read(move |connection| events::query(connection, &query))
            .await
    }

    async fn session(&self, session_id: &str) -> Result<Option<SessionSummary>, StoreError> {
        let session_id = session_id.to_owned();
        self.read(move |connection| events::session(connection, &session_id))
            .await
    }

    async fn errors(&self, query: ErrorQuery) -> Result<Vec<ErrorEntry>, StoreError> {
        self.read(move |connection| error_records::query(connection, &query))
            .await
    }

    async fn count_errors(&self, query: ErrorQuery) -> Result<u64, StoreError> {
        self.read(move |connection| error_records::count(connection, &query))
            .await
    }

    async fn mark_replayed(
        &self,
        replayed: Vec<(uuid::Uuid, uuid::Uuid)>,
        at: Micros,
    ) -> Result<(), StoreError> {
        self.write(move |connection| error_records::mark_replayed(connection, &replayed, at))
            .await
    }

    async fn error_counts(
        &self,
        from: Option<Micros>,
        to: Option<Micros>,
    ) -> Result<ErrorCounts, StoreError> {
        self.read(move |connection| error_records::counts(connection, from, to))
            .await
    }

    async fn event_counts(&self, query: CountQuery) -> Result<Vec<CountRow>, StoreError> {
        self.read(move |connection| rollups::counts(connection, &query))
            .await
    }

    async fn session_starts(
        &self,
        interval: Interval,
        from: Micros,
        to: Micros,
    ) -> Result<Vec<(Micros, u64)>, StoreError> {
        self.read(move |connection| rollups::session_starts(connection, interval, from, to))
            .await
    }

    async fn list_sessions(
        &self,
        query: SessionListQuery,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        self.read(move |connection| session_list::list(connection, &query))
            .await
    }

    async fn create_key(
        &self,
        app: &str,
        scopes: &[Scope],
        hash: [u8; 32],
    ) -> Result<KeyRecord, StoreError> {
        let (app, scopes) = (app.to_owned(), scopes.to_vec());
        self.write_keys(move |connection| admin::create_key(connection, &app, &scopes, hash))
            .await
    }

    async fn key_by_hash(&self, hash: [u8; 32]) -> Result<Option<KeyRecord>, StoreError> {
        let connection = self.key_reader.lock().unwrap_or_else(|p| p.into_inner());
        admin::key_by_hash(&connection, hash).map_err(from_sqlite)
    }

    fn key_generation(&self) -> Option<u64> {
        Some(self.key_generation.current())
    }

    async fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.read(admin::keys).await
    }

    async fn revoke_key(&self, id: &str) -> Result<KeyRecord, StoreError> {
        let (id, wanted) = (id.to_owned(), id.to_owned());
        self.write_keys(move |connection| admin::revoke_key(connection, &id))
            .await?
            .ok_or_else(|| super::not_found_key(&wanted))
    }

    async fn export_keys(&self) -> Result<Vec<(KeyRecord, [u8; 32])>, StoreError> {
        self.read(admin::export_keys).await
    }

    async fn import_key(&self, key: &KeyRecord, hash: [u8; 32]) -> Result<(), StoreError> {
        let key = key.clone();
        self.write_keys(move |connection| admin::import_key(connection, &key, hash))
            .await
    }

    async fn schema_history(&self) -> Result<Vec<SchemaVersion>, StoreError> {
        self.read(admin::schema_history).await
    }

    async fn import_schema_version(&self, version: &SchemaVersion) -> Result<(), StoreError> {
        let version = version.clone();
        self.write(move |connection| admin::import_schema_version(connection, &version))
            .await
    }

    async fn schema_file_digests(&self) -> Result<Vec<SchemaFileDigest>, StoreError> {
        self.read(admin::schema_file_digests).await
    }

    async fn record_schema_file_digest(&self, digest: &SchemaFileDigest) -> Result<(), StoreError> {
        let digest = digest.clone();
        self.write(move |connection| admin::record_schema_file_digest(connection, &digest))
            .await
    }

    async fn put_schema(
        &self,
        category: &str,
        name: &str,
        schema: &str,
    ) -> Result<(SchemaRecord, bool), StoreError> {
        let (category, name, schema) = (category.to_owned(), name.to_owned(), schema.to_owned());
        self.write(move |connection| admin::put_schema(connection, &category, &name, &schema))
            .await
    }

    async fn schemas(&self) -> Result<Vec<SchemaRecord>, StoreError> {
        self.read(admin::schemas).await
    }

    async fn schema(
        &self,
        category: &str,
        name: &str,
        version: Option<i64>,
    ) -> Result<Option<SchemaRecord>, StoreError> {
        let (category, name) = (category.to_owned(), name.to_owned());
        self.read(move |connection| admin::schema(connection, &category, &name, version))
            .await
    }

    async fn delete_schema(&self, category: &str, name: &str) -> Result<bool, StoreError> {
        let (category, name) = (category.to_owned(), name.to_owned());
        self.write(move |connection| admin::delete_schema(connection, &category, &name))
            .await
    }

    async fn check(&self) -> Result<(), StoreError> {
        self.read(|connection| connection.query_row("SELECT 1", [], |_| Ok(())))
            .await
    }

    async fn delete_expired_events(
        &self,
        cutoffs: &Cutoffs,
        limit: usize,
    ) -> Result<u64, StoreError> {
        let cutoffs = cutoffs.clone();
        self.write(move |connection| retention::delete_expired_events(connection, &cutoffs, limit))
            .await
    }

    async fn delete_expired_errors(
        &self,
        cutoffs: &Cutoffs,
        limit: usize,
    ) -> Result<u64, StoreError> {
        let cutoffs = cutoffs.clone();
        self.write(move |connection| retention::delete_expired_errors(connection, &cutoffs, limit))
            .await
    }

    async fn usage(&self) -> Result<StoreUsage, StoreError> {
        let path = self.path.clone();
        self.read(move |connection| retention::usage(connection, &path))
            .await
    }

    async fn create_erasure(
        &self,
        request: ErasureRequest,
        at: Micros,
    ) -> Result<Erasure, StoreError> {
        self.write(move |connection| erasure::create(connection, request, at))
            .await
    }

    async fn erasure(&self, id: &str) -> Result<Option<Erasure>, StoreError> {
        let id = id.to_owned();
        self.read(move |connection| erasure::get(connection, &id))
            .await
    }

    async fn erasures(&self, limit: usize) -> Result<Vec<Erasure>, StoreError> {
        self.read(move |connection| erasure::list(connection, limit))
            .await
    }

    async fn next_erasure(&self) -> Result<Option<Erasure>, StoreError> {
        self.write(|connection| erasure::next(connection)).await
    }

    async fn erase_step(&self, id: &str, limit: usize) -> Result<u64, StoreError> {
        let owned = id.to_owned();
        self.write(move |connection| erasure::step(connection, &owned, limit))
            .await?
            .ok_or_else(|| super::not_found_erasure(id))
    }

    async fn finish_erasure(
        &self,
        id: &str,
        at: Micros,
        failure: Option<String>,
    ) -> Result<Erasure, StoreError> {
        let owned = id.to_owned();
        self.write(move |connection| erasure::finish(connection, &owned, at, failure))
            .await?
            .ok_or_else(|| super::not_found_erasure(id))
    }

    async fn suppressions(&self) -> Result<Vec<Suppression>, StoreError> {
        self.read(erasure::suppressions).await
    }

    async fn pii_secret(&self) -> Result<Vec<u8>, StoreError> {
        if let Some(secret) = self.read(settings::pii_secret).await? {
            return Ok(secret);
        }
        self.write(|connection| settings::make_pii_secret(connection))
            .await
    }

    async fn stored_pii_secret(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(settings::pii_secret).await
    }

    async fn import_pii_secret(&self, secret: &[u8]) -> Result<bool, StoreError> {
        if secret.is_empty() {
            return Err(super::empty_pii_secret());
        }
        let secret = secret.to_vec();
        self.write(move |connection| settings::import_pii_secret(connection, &secret))
            .await
    }

    async fn export_erasures(
        &self,
        after: Option<(Micros, &str)>,
        limit: usize,
    ) -> Result<Vec<Erasure>, StoreError> {
        let after = after.map(|(at, id)| (at, id.to_owned()));
        self.read(move |connection| {
            let after = after.as_ref().map(|(at, id)| (*at, id.as_str()));
            erasure::export(connection, after, limit)
        })
        .await
    }

    async fn import_erasure(&self, job: &Erasure) -> Result<bool, StoreError> {
        let job = job.clone();
        self.write(move |connection| erasure::import(connection, &job))
            .await
    }
}

#[cfg(test)]
mod build_tests {
    /// `.cargo/config.toml` passes these to the bundled SQLite; a build that lost them
    /// (a moved config file, an overriding environment) would quietly sync and allocate
    /// more slowly.
    #[test]
    fn the_bundled_sqlite_has_the_settings_of_cargo_config() {
        let connection = rusqlite::Connection::open_in_memory().expect("open");
        let options: Vec<String> = connection
            .prepare("PRAGMA compile_options")
            .expect("prepare")
            .query_map([], |row| row.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert!(
            options.iter().any(|option| option == "DEFAULT_MEMSTATUS=0"),
            "{options:?}"
        );
    }
}
