//! The indexed store the worker writes and the query API reads: the `Store` seam.
//!
//! Writes are idempotent: an event is stored once per id and once per (application,
//! `event_id`), whatever the redeliveries or concurrency, and a session summary counts each
//! stored event exactly once.

mod erasure_guard;
pub mod lifecycle;
mod postgres;
pub mod rollup;
mod schema_versions;
mod select;
mod session_fold;
pub mod session_list;
pub(crate) mod sqlite;

pub use lifecycle::{Cutoffs, Erasure, ErasureRequest, ErasureStatus, StoreUsage, Suppression};
pub use postgres::PostgresStore;
pub use rollup::{CountQuery, CountRow, GroupBy, Interval};
pub use session_list::{SessionListQuery, SessionPosition};
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use uuid::Uuid;

use crate::model::timestamp::Micros;
use crate::model::{
    ErrorEntry, EventRecord, KeyRecord, QueueMessage, SchemaFileDigest, SchemaRecord,
    SchemaVersion, Scope,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or written (disk full, locked, I/O error).
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    NotFound(String),
    /// The database refused the data itself: retrying the same write fails the same way.
    #[error("{0}")]
    Rejected(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    Asc,
    Desc,
}

/// A keyset position: the sort key of the last item of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub at: Micros,
    pub id: Uuid,
}

/// Filters of `GET /v1/events`; `from` inclusive, `to` exclusive, on the event timestamp.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub session_id: Option<String>,
    /// Events sent with this `user_id`.
    pub user_id: Option<String>,
    pub category: Option<String>,
    pub name: Option<String>,
    pub app: Option<String>,
    pub from: Option<Micros>,
    pub to: Option<Micros>,
    pub order: Order,
    pub after: Option<Position>,
    pub limit: usize,
}

/// Filters of `GET /v1/errors`, on the receive time.
#[derive(Debug, Clone, Default)]
pub struct ErrorQuery {
    pub code: Option<String>,
    pub app: Option<String>,
    pub category: Option<String>,
    pub name: Option<String>,
    pub from: Option<Micros>,
    pub to: Option<Micros>,
    pub order: Order,
    pub after: Option<Position>,
    pub limit: usize,
    /// Only errors no replay has stored yet.
    pub unreplayed_only: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SessionSummary {
    pub session_id: String,
    pub first_timestamp: Micros,
    pub last_timestamp: Micros,
    pub event_count: u64,
    pub apps: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorCounts {
    pub by_code: Vec<(String, u64)>,
    pub by_event_type: Vec<(String, String, u64)>,
}

/// What one `write_batch` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub stored: u64,
    pub duplicates: u64,
    pub errors: u64,
    /// Events and error records not stored because an erasure covers their session (one
    /// not yet done, done after they were received, or one that suppresses the session).
    pub erased: Vec<Uuid>,
}

const HOUR: i64 = 3_600_000_000;

/// How a count over `[from, to)` splits: whole hours read from the hourly aggregate, and
/// the partial hours at either edge counted exactly. `None` when no whole hour is inside.
pub(crate) struct HourSplit {
    /// Whole hours `[start, end)`, hour-aligned.
    pub hours: (i64, i64),
    /// Exact ranges at the edges (possibly empty).
    pub edges: [(i64, i64); 2],
}

pub(crate) fn split_hours(from: Option<Micros>, to: Option<Micros>) -> Option<HourSplit> {
    let from = from.unwrap_or(0).max(0);
    let to = to.unwrap_or(i64::MAX);
    let first_hour =
        from.div_euclid(HOUR) * HOUR + if from.rem_euclid(HOUR) == 0 { 0 } else { HOUR };
    let last_hour = if to == i64::MAX {
        i64::MAX
    } else {
        to.div_euclid(HOUR) * HOUR
    };
    (first_hour < last_hour).then_some(HourSplit {
        hours: (first_hour, last_hour),
        edges: [(from, first_hour), (last_hour, to)],
    })
}

impl ErrorCounts {
    /// Adds `other`'s counts into these.
    pub(crate) fn merge(&mut self, other: ErrorCounts) {
        for (code, count) in other.by_code {
            match self.by_code.iter_mut().find(|(c, _)| *c == code) {
                Some(entry) => entry.1 += count,
                None => self.by_code.push((code, count)),
            }
        }
        for (category, name, count) in other.by_event_type {
            match self
                .by_event_type
                .iter_mut()
                .find(|(c, n, _)| *c == category && *n == name)
            {
                Some(entry) => entry.2 += count,
                None => self.by_event_type.push((category, name, count)),
            }
        }
    }

    /// Codes by name; event types by count (largest first), then name.
    pub(crate) fn sorted(mut self) -> ErrorCounts {
        self.by_code.retain(|(_, count)| *count > 0);
        self.by_code.sort();
        self.by_event_type.retain(|(_, _, count)| *count > 0);
        self.by_event_type
            .sort_by(|a, b| b.2.cmp(&a.2).then_with(|| (&a.0, &a.1).cmp(&(&b.0, &b.1))));
        self
    }
}

/// The answer to revoking an id no key has. A key's secret given by mistake for its id is
/// not repeated back.
pub(crate) fn not_found_key(id: &str) -> StoreError {
    StoreError::NotFound(format!(
        "no key has the id {:?}",
        crate::auth::keys::redact(id)
    ))
}

/// The answer to an erasure id no job has.
pub(crate) fn not_found_erasure(id: &str) -> StoreError {
    StoreError::NotFound(format!(
        "no erasure has the id {:?}",
        crate::auth::keys::redact(id)
    ))
}

/// The answer to importing an empty PII secret (it would hash with no secret at all).
pub(crate) fn empty_pii_secret() -> StoreError {
    StoreError::Rejected("an empty PII secret cannot be imported".to_owned())
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a batch of queue messages in one transaction; safe to repeat. Messages an
    /// erasure covers are left out and listed in [`BatchOutcome::erased`].
    async fn write_batch(
        &self,
        messages: std::sync::Arc<[QueueMessage]>,
    ) -> Result<BatchOutcome, StoreError>;

    async fn events(&self, query: EventQuery) -> Result<Vec<EventRecord>, StoreError>;
    async fn session(&self, session_id: &str) -> Result<Option<SessionSummary>, StoreError>;
    async fn errors(&self, query: ErrorQuery) -> Result<Vec<ErrorEntry>, StoreError>;
    /// How many errors match the filters of `query` (its order, position and limit play no
    /// part): an exact count, however many there are.
    async fn count_errors(&self, query: ErrorQuery) -> Result<u64, StoreError>;
    /// Records that a replay stored error `.0` as event `.1`.
    async fn mark_replayed(
        &self,
        replayed: Vec<(Uuid, Uuid)>,
        at: Micros,
    ) -> Result<(), StoreError>;
    async fn error_counts(
        &self,
        from: Option<Micros>,
        to: Option<Micros>,
    ) -> Result<ErrorCounts, StoreError>;

    // Counts over time and the session list, read from what the worker keeps beside the
    // events (`rollup`, `session_list`): never a scan of the events.

    /// Stored events per bucket of `query.interval` in `[query.from, query.to)` (both
    /// bucket-aligned), per group; buckets and groups with none are left out.
    async fn event_counts(&self, query: CountQuery) -> Result<Vec<CountRow>, StoreError>;
    /// Sessions per bucket of their first event in `[from, to)` (bucket-aligned), in bucket
    /// order; buckets with none are left out.
    async fn session_starts(
        &self,
        interval: Interval,
        from: Micros,
        to: Micros,
    ) -> Result<Vec<(Micros, u64)>, StoreError>;
    /// A page of sessions (up to `query.limit + 1`: one more means another page follows).
    async fn list_sessions(
        &self,
        query: SessionListQuery,
    ) -> Result<Vec<SessionSummary>, StoreError>;

    /// Creates the application if it is new, then a key for it with `hash` (SHA-256 of the
    /// secret).
    async fn create_key(
        &self,
        app: &str,
        scopes: &[Scope],
        hash: [u8; 32],
    ) -> Result<KeyRecord, StoreError>;
    async fn key_by_hash(&self, hash: [u8; 32]) -> Result<Option<KeyRecord>, StoreError>;
    /// A value that changes whenever any process changes a key, for stores that can tell
    /// cheaply; a key cache may keep answers read under the same value. `None`: the store
    /// cannot tell, and caches rely on their time limit alone.
    fn key_generation(&self) -> Option<u64> {
        None
    }
    async fn keys(&self) -> Result<Vec<KeyRecord>, StoreError>;
    /// Marks a key revoked; `NotFound` when there is no such key.
    async fn revoke_key(&self, id: &str) -> Result<KeyRecord, StoreError>;

    /// Every key with its digest, for moving a deployment to another store.
    async fn export_keys(&self) -> Result<Vec<(KeyRecord, [u8; 32])>, StoreError>;
    /// Stores a key exactly as exported (its application too); a no-op if its id exists.
    async fn import_key(&self, key: &KeyRecord, hash: [u8; 32]) -> Result<(), StoreError>;

    /// Stores a new version of a type's schema, unless it equals the one in force.
    async fn put_schema(
        &self,
        category: &str,
        name: &str,
        schema: &str,
    ) -> Result<(SchemaRecord, bool), StoreError>;
    /// The schemas in force (latest version of each type, deleted ones left out).
    async fn schemas(&self) -> Result<Vec<SchemaRecord>, StoreError>;
    /// One version of a type's schema, or the one in force when `version` is `None`.
    async fn schema(
        &self,
        category: &str,
        name: &str,
        version: Option<i64>,
    ) -> Result<Option<SchemaRecord>, StoreError>;
    /// Retires a type's schema (recorded as a new version); false when it had none.
    async fn delete_schema(&self, category: &str, name: &str) -> Result<bool, StoreError>;

    /// Every version of every schema, deletions included, in (category, name, version) order.
    async fn schema_history(&self) -> Result<Vec<SchemaVersion>, StoreError>;
    /// Stores one history entry as exported; a no-op if that version exists.
    async fn import_schema_version(&self, version: &SchemaVersion) -> Result<(), StoreError>;

    /// The digest of the schema file last loaded for each type that was loaded from one.
    async fn schema_file_digests(&self) -> Result<Vec<SchemaFileDigest>, StoreError>;
    /// Records (replacing any earlier one) the digest of the file last loaded for a type.
    async fn record_schema_file_digest(&self, digest: &SchemaFileDigest) -> Result<(), StoreError>;

    /// A cheap round trip, for readiness.
    async fn check(&self) -> Result<(), StoreError>;

    // Retention (see `lifecycle`). Each call is one short transaction, so ingest and
    // queries never wait long behind a sweep; the sweep calls again until it gets 0.

    /// Deletes up to `limit` expired events with their deduplication keys, and in the same
    /// transaction corrects the summaries of their sessions (removing those left with no
    /// event). PostgreSQL first drops whole monthly partitions that have wholly expired
    /// (a call that drops one returns the events it held, which may be more than `limit`).
    /// Returns how many events went.
    async fn delete_expired_events(
        &self,
        cutoffs: &Cutoffs,
        limit: usize,
    ) -> Result<u64, StoreError>;
    /// Deletes up to `limit` error records received before their cut-off (the hourly counts
    /// stay: they hold no personal data). Returns how many went.
    async fn delete_expired_errors(
        &self,
        cutoffs: &Cutoffs,
        limit: usize,
    ) -> Result<u64, StoreError>;
    /// Bytes on disk, counts, and the oldest and newest event timestamps.
    async fn usage(&self) -> Result<StoreUsage, StoreError>;

    // Erasure: a job recorded here, run by `pipeline::erasure` in steps.

    /// Records a pending erasure (and, with `suppress`, its suppressions at once).
    async fn create_erasure(
        &self,
        request: ErasureRequest,
        at: Micros,
    ) -> Result<Erasure, StoreError>;
    async fn erasure(&self, id: &str) -> Result<Option<Erasure>, StoreError>;
    /// The most recent erasures first, at most `limit`.
    async fn erasures(&self, limit: usize) -> Result<Vec<Erasure>, StoreError>;
    /// The oldest erasure not yet done or failed (a `running` one left by a process that
    /// stopped included), marked `running`.
    async fn next_erasure(&self) -> Result<Option<Erasure>, StoreError>;
    /// Deletes up to `limit` rows of the erasure's sessions (events with their dedup keys,
    /// error records, session summaries) in one transaction that also adds them to the
    /// job's counts. Returns how many rows went; 0 when nothing is left (or the job is
    /// already finished); `NotFound` for an id no job has.
    async fn erase_step(&self, id: &str, limit: usize) -> Result<u64, StoreError>;
    /// Marks the erasure `done` at `at` (or `failed` with `failure`); a job already finished
    /// stays as it was. `NotFound` for an id no job has.
    async fn finish_erasure(
        &self,
        id: &str,
        at: Micros,
        failure: Option<String>,
    ) -> Result<Erasure, StoreError>;
    /// Every suppressed session, for ingest to drop their events.
    async fn suppressions(&self) -> Result<Vec<Suppression>, StoreError>;

    /// The deployment's secret for `hash` PII rules: made at the first call and kept in the
    /// store, so that every node of a deployment hashes alike.
    async fn pii_secret(&self) -> Result<Vec<u8>, StoreError>;

    // Moving a deployment to another store (`eye migrate-data`): what the store keeps
    // besides rows, exported and imported as it is.

    /// The PII secret kept, without making one when there is none.
    async fn stored_pii_secret(&self) -> Result<Option<Vec<u8>>, StoreError>;
    /// Keeps `secret` as the PII secret when the store has none yet. `true`: the store now
    /// hashes with `secret` (kept now, or it was already the one kept); `false`: the store
    /// already keeps a different secret, left as it is. `Rejected` for an empty secret.
    async fn import_pii_secret(&self, secret: &[u8]) -> Result<bool, StoreError>;
    /// Every erasure in the order they were requested (then by id), a page at a time: at
    /// most `limit` after `after`, the (`requested_at`, `id`) of the last one of the
    /// previous page.
    async fn export_erasures(
        &self,
        after: Option<(Micros, &str)>,
        limit: usize,
    ) -> Result<Vec<Erasure>, StoreError>;
    /// Stores an erasure exactly as exported (status, counts and all: a job not finished is
    /// then run by this store's workers) and, when it suppresses, its sessions'
    /// suppressions. A no-op returning `false` when its id exists.
    async fn import_erasure(&self, erasure: &Erasure) -> Result<bool, StoreError>;
}

#[cfg(test)]
pub(crate) mod tests;
