//! A store that refuses chosen events on purpose, as PostgreSQL refuses a value it cannot
//! hold (a NUL in JSONB): any batch holding one of them is `Rejected`, however often it is
//! tried. Everything else goes to the real store it wraps, so the worker's quarantine path
//! runs with no service at all.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use uuid::Uuid;

use crate::model::timestamp::Micros;
use crate::model::{
    ErrorEntry, EventRecord, KeyRecord, QueueMessage, SchemaFileDigest, SchemaRecord,
    SchemaVersion, Scope,
};
use crate::store::{
    BatchOutcome, Cutoffs, Erasure, ErasureRequest, ErrorCounts, ErrorQuery, EventQuery,
    SessionSummary, Store, StoreError, StoreUsage, Suppression,
};

pub(crate) struct RefusingStore {
    inner: Arc<dyn Store>,
    /// Event ids whose batches are refused (an error record with the same id is taken).
    refused: HashSet<Uuid>,
    refusals: AtomicU32,
}

impl RefusingStore {
    pub(crate) fn new(inner: Arc<dyn Store>, refused: impl IntoIterator<Item = Uuid>) -> Self {
        RefusingStore {
            inner,
            refused: refused.into_iter().collect(),
            refusals: AtomicU32::new(0),
        }
    }

    /// How many writes were refused so far.
    pub(crate) fn refusals(&self) -> u32 {
        self.refusals.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Store for RefusingStore {
    async fn write_batch(&self, messages: Arc<[QueueMessage]>) -> Result<BatchOutcome, StoreError> {
        let poisoned = messages.iter().find_map(|message| match message {
            QueueMessage::Event(event) if self.refused.contains(&event.id) => Some(event.id),
            _ => None,
        });
        if let Some(id) = poisoned {
            self.refusals.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::Rejected(format!(
                "event {id} is refused on purpose"
            )));
        }
        self.inner.write_batch(messages).await
    }

    async fn events(&self, query: EventQuery) -> Result<Vec<EventRecord>, StoreError> {
        self.inner.events(query).await
    }

    async fn session(&self, session_id: &str) -> Result<Option<SessionSummary>, StoreError> {
        self.inner.session(session_id).await
    }

    async fn errors(&self, query: ErrorQuery) -> Result<Vec<ErrorEntry>, StoreError> {
        self.inner.errors(query).await
    }

    async fn count_errors(&self, query: ErrorQuery) -> Result<u64, StoreError> {
        self.inner.count_errors(query).await
    }

    async fn mark_replayed(
        &self,
        replayed: Vec<(Uuid, Uuid)>,
        at: Micros,
    ) -> Result<(), StoreError> {
        self.inner.mark_replayed(replayed, at).await
    }

    async fn error_counts(
        &self,
        from: Option<Micros>,
        to: Option<Micros>,
    ) -> Result<ErrorCounts, StoreError> {
        self.inner.error_counts(from, to).await
    }

    async fn event_counts(
        &self,
        query: crate::store::CountQuery,
    ) -> Result<Vec<crate::store::CountRow>, StoreError> {
        self.inner.event_counts(query).await
    }

    async fn session_starts(
        &self,
        interval: crate::store::Interval,
        from: Micros,
        to: Micros,
    ) -> Result<Vec<(Micros, u64)>, StoreError> {
        self.inner.session_starts(interval, from, to).await
    }

    async fn list_sessions(
        &self,
        query: crate::store::SessionListQuery,
    ) -> Result<Vec<crate::store::SessionSummary>, StoreError> {
        self.inner.list_sessions(query).await
    }

    async fn create_key(
        &self,
        app: &str,
        scopes: &[Scope],
        hash: [u8; 32],
    ) -> Result<KeyRecord, StoreError> {
        self.inner.create_key(app, scopes, hash).await
    }

    async fn key_by_hash(&self, hash: [u8; 32]) -> Result<Option<KeyRecord>, StoreError> {
        self.inner.key_by_hash(hash).await
    }

    fn key_generation(&self) -> Option<u64> {
        self.inner.key_generation()
    }

    async fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.inner.keys().await
    }

    async fn revoke_key(&self, id: &str) -> Result<KeyRecord, StoreError> {
        self.inner.revoke_key(id).await
    }

    async fn export_keys(&self) -> Result<Vec<(KeyRecord, [u8; 32])>, StoreError> {
        self.inner.export_keys().await
    }

    async fn import_key(&self, key: &KeyRecord, hash: [u8; 32]) -> Result<(), StoreError> {
        self.inner.import_key(key, hash).await
    }

    async fn put_schema(
        &self,
        category: &str,
        name: &str,
        schema: &str,
    ) -> Result<(SchemaRecord, bool), StoreError> {
        self.inner.put_schema(category, name, schema).await
    }

    async fn schemas(&self) -> Result<Vec<SchemaRecord>, StoreError> {
        self.inner.schemas().await
    }

    async fn schema(
        &self,
        category: &str,
        name: &str,
        version: Option<i64>,
    ) -> Result<Option<SchemaRecord>, StoreError> {
        self.inner.schema(category, name, version).await
    }

    async fn delete_schema(&self, category: &str, name: &str) -> Result<bool, StoreError> {
        self.inner.delete_schema(category, name).await
    }

    async fn schema_history(&self) -> Result<Vec<SchemaVersion>, StoreError> {
        self.inner.schema_history().await
    }

    async fn import_schema_version(&self, version: &SchemaVersion) -> Result<(), StoreError> {
        self.inner.import_schema_version(version).await
    }

    async fn schema_file_digests(&self) -> Result<Vec<SchemaFileDigest>, StoreError> {
        self.inner.schema_file_digests().await
    }

    async fn record_schema_file_digest(&self, digest: &SchemaFileDigest) -> Result<(), StoreError> {
        self.inner.record_schema_file_digest(digest).await
    }

    async fn check(&self) -> Result<(), StoreError> {
        self.inner.check().await
    }

    async fn delete_expired_events(
        &self,
        cutoffs: &Cutoffs,
        limit: usize,
    ) -> Result<u64, StoreError> {
        self.inner.delete_expired_events(cutoffs, limit).await
    }

    async fn delete_expired_errors(
        &self,
        cutoffs: &Cutoffs,
        limit: usize,
    ) -> Result<u64, StoreError> {
        self.inner.delete_expired_errors(cutoffs, limit).await
    }

    async fn usage(&self) -> Result<StoreUsage, StoreError> {
        self.inner.usage().await
    }

    async fn create_erasure(
        &self,
        request: ErasureRequest,
        at: Micros,
    ) -> Result<Erasure, StoreError> {
        self.inner.create_erasure(request, at).await
    }

    async fn erasure(&self, id: &str) -> Result<Option<Erasure>, StoreError> {
        self.inner.erasure(id).await
    }

    async fn erasures(&self, limit: usize) -> Result<Vec<Erasure>, StoreError> {
        self.inner.erasures(limit).await
    }

    async fn next_erasure(&self) -> Result<Option<Erasure>, StoreError> {
        self.inner.next_erasure().await
    }

    async fn erase_step(&self, id: &str, limit: usize) -> Result<u64, StoreError> {
        self.inner.erase_step(id, limit).await
    }

    async fn finish_erasure(
        &self,
        id: &str,
        at: Micros,
        failure: Option<String>,
    ) -> Result<Erasure, StoreError> {
        self.inner.finish_erasure(id, at, failure).await
    }

    async fn suppressions(&self) -> Result<Vec<Suppression>, StoreError> {
        self.inner.suppressions().await
    }

    async fn pii_secret(&self) -> Result<Vec<u8>, StoreError> {
        self.inner.pii_secret().await
    }

    async fn stored_pii_secret(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.stored_pii_secret().await
    }

    async fn import_pii_secret(&self, secret: &[u8]) -> Result<bool, StoreError> {
        self.inner.import_pii_secret(secret).await
    }

    async fn export_erasures(
        &self,
        after: Option<(Micros, &str)>,
        limit: usize,
    ) -> Result<Vec<Erasure>, StoreError> {
        self.inner.export_erasures(after, limit).await
    }

    async fn import_erasure(&self, erasure: &Erasure) -> Result<bool, StoreError> {
        self.inner.import_erasure(erasure).await
    }
}
