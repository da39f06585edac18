//! The scale-out store: PostgreSQL through a connection pool. Events are partitioned by
//! month of their timestamp; every write is idempotent and safe under concurrent workers.

mod admin;
mod erasure;
mod error_records;
mod events;
mod migrations;
mod partitions;
mod retention;
mod rollups;
mod server;
mod session_list;
mod session_repair;
mod settings;
mod sql;

use std::sync::Arc;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

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
use partitions::Partitions;

/// Months of partitions created ahead of the current one at start-up.
const MONTHS_AHEAD: usize = 3;

pub struct PostgresStore {
    pool: Pool,
    partitions: Arc<Partitions>,
    server: server::Server,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db`, libpq parameters allowed), with the
    /// given `search_path` schema when one is named, and migrates.
    pub async fn connect(
        url: &str,
        schema: Option<&str>,
        pool_size: usize,
    ) -> Result<PostgresStore, StoreError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Unavailable(format!("invalid PostgreSQL URL: {e}")))?;
        if let Some(schema) = schema {
            config.options(format!("-c search_path={schema}"));
        }
        config.connect_timeout(std::time::Duration::from_secs(5));
        let server = server::Server::of(&config);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let store = PostgresStore {
            pool,
            partitions: Arc::new(Partitions::default()),
            server,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies pending migrations and creates the partitions ahead; returns how many
    /// migrations ran.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let mut client = self.client().await?;
        let applied = migrations::run(&mut client).await.map_err(from_postgres)?;
        self.partitions
            .ensure_ahead(&mut client, MONTHS_AHEAD)
            .await
            .map_err(from_postgres)?;
        Ok(applied)
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|error| self.server.explain(error))
    }
}

/// Data and integrity errors are the batch's fault and will fail again; everything else
/// (connection lost, server down, deadlock, serialization) is worth retrying.
fn from_postgres(error: tokio_postgres::Error) -> StoreError {
    let Some(db) = error.as_db_error() else {
        return StoreError::Unavailable(format!("PostgreSQL: {error}"));
    };
    let class = &db.code().code()[..2];
    if matches!(class, "22" | "23" | "42") {
        StoreError::Rejected(format!("PostgreSQL refused the data: {}", db.message()))
    } else {
        StoreError::Unavailable(format!("PostgreSQL: {}", db.message()))
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn write_batch(&self, messages: Arc<[QueueMessage]>) -> Result<BatchOutcome, StoreError> {
        let mut client = self.client().await?;
        let months: Vec<(i32, u8)> = messages
            .iter()
            .filter_map(|m| match m {
                QueueMessage::Event(event) => Some(partitions::month_of(event.timestamp)),
                QueueMessage::Error(_) => None,
            })
            .collect();
        self.partitions
            .ensure(&mut client, months.iter().copied())
            .await
            .map_err(from_postgres)?;
        match events::write_batch(&mut client, &messages).await {
            // Retention (maybe on another node) dropped a month this process knew: make it
            // again, once.
            Err(error) if partitions::is_missing_partition(&error) => {
                self.partitions.forget(months.iter().copied());
                self.partitions
                    .ensure(&mut client, months)
                    .await
                    .map_err(from_postgres)?;
                events::write_batch(&mut client, &messages)
                    .await
                    .map_err(from_postgres)
            }
            outcome => outcome.map_err(from_postgres),
        }
    }

    async fn events(&self, query: EventQuery) -> Result<Vec<EventRecord>, StoreError> {
        events::query(&self.client().await?, &query)
            .await
            .map_err(from_postgres)
    }

    async fn session(&self, session_id: &str) -> Result<Option<SessionSummary>, StoreError> {
        events::session(&self.client().await?, session_id)
            .await
            .map_err(from_postgres)
    }

    async fn errors(&self, query: ErrorQuery) -> Result<Vec<ErrorEntry>, StoreError> {
        error_records::query(&self.client().await?, &query)
            .await
            .map_err(from_postgres)
    }

    async fn count_errors(&self, query: ErrorQuery) -> Result<u64, StoreError> {
        error_records::count(&self.client().await?, &query)
            .await
            .map_err(from_postgres)
    }

    async fn mark_replayed(
        &self,
        replayed: Vec<(uuid::Uuid, uuid::Uuid)>,
        at: Micros,
    ) -> Result<(), StoreError> {
        error_records::mark_replayed(&self.client().await?, &replayed, at)
            .await
            .map_err(from_postgres)
    }

    async fn error_counts(
        &self,
        from: Option<Micros>,
        to: Option<Micros>,
    ) -> Result<ErrorCounts, StoreError> {
        error_records::counts(&self.client().await?, from, to)
            .await
            .map_err(from_postgres)
    }

    async fn event_counts(&self, query: CountQuery) -> Result<Vec<CountRow>, StoreError> {
        rollups::counts(&self.client().await?, &query)
            .await
            .map_err(from_postgres)
    }

    async fn session_starts(
        &self,
        interval: Interval,
        from: Micros,
        to: Micros,
    ) -> Result<Vec<(Micros, u64)>, StoreError> {
        rollups::session_starts(&self.client().await?, interval, from, to)
            .await
            .map_err(from_postgres)
    }

    async fn list_sessions(
        &self,
        query: SessionListQuery,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        session_list::list(&self.client().await?, &query)
            .await
            .map_err(from_postgres)
    }

    async fn create_key(
        &self,
        app: &str,
        scopes: &[Scope],
        hash: [u8; 32],
    ) -> Result<KeyRecord, StoreError> {
        admin::create_key(&mut self.client().await?, app, scopes, hash)
            .await
            .map_err(from_postgres)
    }

    async fn key_by_hash(&self, hash: [u8; 32]) -> Result<Option<KeyRecord>, StoreError> {
        admin::key_by_hash(&self.client().await?, hash)
            .await
            .map_err(from_postgres)
    }

    async fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        admin::keys(&self.client().await?)
            .await
            .map_err(from_postgres)
    }

    async fn revoke_key(&self, id: &str) -> Result<KeyRecord, StoreError> {
        admin::revoke_key(&self.client().await?, id)
            .await
            .map_err(from_postgres)?
            .ok_or_else(|| super::not_found_key(id))
    }

    async fn export_keys(&self) -> Result<Vec<(KeyRecord, [u8; 32])>, StoreError> {
        admin::export_keys(&self.client().await?)
            .await
            .map_err(from_postgres)
    }

    async fn import_key(&self, key: &KeyRecord, hash: [u8; 32]) -> Result<(), StoreError> {
        admin::import_key(&mut self.client().await?, key, hash)
            .await
            .map_err(from_postgres)
    }

    async fn put_schema(
        &self,
        category: &str,
        name: &str,
        schema: &str,
    ) -> Result<(SchemaRecord, bool), StoreError> {
        admin::put_schema(&mut self.client().await?, category, name, schema)
            .await
            .map_err(from_postgres)
    }

    async fn schemas(&self) -> Result<Vec<SchemaRecord>, StoreError> {
        admin::schemas(&self.client().await?)
            .await
            .map_err(from_postgres)
    }

    async fn schema(
        &self,
        category: &str,
        name: &str,
        version: Option<i64>,
    ) -> Result<Option<SchemaRecord>, StoreError> {
        admin::schema(&self.client().await?, category, name, version)
            .await
            .map_err(from_postgres)
    }

    async fn delete_schema(&self, category: &str, name: &str) -> Result<bool, StoreError> {
        admin::delete_schema(&mut self.client().await?, category, name)
            .await
            .map_err(from_postgres)
    }

    async fn schema_history(&self) -> Result<Vec<SchemaVersion>, StoreError> {
        admin::schema_history(&self.client().await?)
            .await
            .map_err(from_postgres)
    }

    async fn import_schema_version(&self, version: &SchemaVersion) -> Result<(), StoreError> {
        admin::import_schema_version(&self.client().await?, version)
            .await
            .map_err(from_postgres)
    }

    async fn schema_file_digests(&self) -> Result<Vec<SchemaFileDigest>, StoreError> {
        admin::schema_file_digests(&self.client().await?)
            .await
            .map_err(from_postgres)
    }

    async fn record_schema_file_digest(&self, digest: &SchemaFileDigest) -> Result<(), StoreError> {
        admin::record_schema_file_digest(&self.client().await?, digest)
            .await
            .map_err(from_postgres)
    }

    async fn check(&self) -> Result<(), StoreError> {
        self.client()
            .await?
            .query_one("SELECT 1", &[])
            .await
            .map(|_| ())
            .map_err(from_postgres)
    }

    async fn delete_expired_events(
        &self,
        cutoffs: &Cutoffs,
        limit: usize,
    ) -> Result<u64, StoreError> {
        let mut client = self.client().await?;
        retention::delete_expired_events(&mut client, &self.partitions, cutoffs, limit)
            .await
            .map_err(from_postgres)
    }

    async fn delete_expired_errors(
        &self,
        cutoffs: &Cutoffs,
        limit: usize,
    ) -> Result<u64, StoreError> {
        retention::delete_expired_errors(&mut self.client().await?, cutoffs, limit)
            .await
            .map_err(from_postgres)
    }

    async fn usage(&self) -> Result<StoreUsage, StoreError> {
        retention::usage(&self.client().await?)
            .await
            .map_err(from_postgres)
    }

    async fn create_erasure(
        &self,
        request: ErasureRequest,
        at: Micros,
    ) -> Result<Erasure, StoreError> {
        erasure::create(&mut self.client().await?, request, at)
            .await
            .map_err(from_postgres)
    }

    async fn erasure(&self, id: &str) -> Result<Option<Erasure>, StoreError> {
        erasure::get(&self.client().await?, id)
            .await
            .map_err(from_postgres)
    }

    async fn erasures(&self, limit: usize) -> Result<Vec<Erasure>, StoreError> {
        erasure::list(&self.client().await?, limit)
            .await
            .map_err(from_postgres)
    }

    async fn next_erasure(&self) -> Result<Option<Erasure>, StoreError> {
        erasure::next(&self.client().await?)
            .await
            .map_err(from_postgres)
    }

    async fn erase_step(&self, id: &str, limit: usize) -> Result<u64, StoreError> {
        erasure::step(&mut self.client().await?, id, limit)
            .await
            .map_err(from_postgres)?
            .ok_or_else(|| super::not_found_erasure(id))
    }

    async fn finish_erasure(
        &self,
        id: &str,
        at: Micros,
        failure: Option<String>,
    ) -> Result<Erasure, StoreError> {
        erasure::finish(&mut self.client().await?, id, at, failure)
            .await
            .map_err(from_postgres)?
            .ok_or_else(|| super::not_found_erasure(id))
    }

    async fn suppressions(&self) -> Result<Vec<Suppression>, StoreError> {
        erasure::suppressions(&self.client().await?)
            .await
            .map_err(from_postgres)
    }

    async fn pii_secret(&self) -> Result<Vec<u8>, StoreError> {
        settings::pii_secret(&self.client().await?)
            .await
            .map_err(from_postgres)
    }

    async fn stored_pii_secret(&self) -> Result<Option<Vec<u8>>, StoreError> {
        settings::stored_pii_secret(&self.client().await?)
            .await
            .map_err(from_postgres)
    }

    async fn import_pii_secret(&self, secret: &[u8]) -> Result<bool, StoreError> {
        if secret.is_empty() {
            return Err(super::empty_pii_secret());
        }
        settings::import_pii_secret(&self.client().await?, secret)
            .await
            .map_err(from_postgres)
    }

    async fn export_erasures(
        &self,
        after: Option<(Micros, &str)>,
        limit: usize,
    ) -> Result<Vec<Erasure>, StoreError> {
        erasure::export(&self.client().await?, after, limit)
            .await
            .map_err(from_postgres)
    }

    async fn import_erasure(&self, job: &Erasure) -> Result<bool, StoreError> {
        erasure::import(&mut self.client().await?, job)
            .await
            .map_err(from_postgres)
    }
}
