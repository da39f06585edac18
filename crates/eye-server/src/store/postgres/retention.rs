//! Retention on PostgreSQL: whole monthly partitions dropped once every application's
//! events in them have expired, the rest deleted in short batches; expired error records
//! deleted in batches; and what the store holds.
//!
//! Batches walk `events_by_app` (`errors_by_app`): the applications are listed by a skip
//! scan of that index, and each one's expired rows are the start of its range there. Each
//! batch deletes the events' deduplication keys (`event_keys`) and corrects their sessions
//! in its own transaction.

use std::collections::BTreeMap;

use deadpool_postgres::Object;
use time::OffsetDateTime;
use tokio_postgres::{Error, Row, Transaction};
use uuid::Uuid;

use super::migrations::DDL_LOCK;
use super::partitions::{self, Partitions};
use super::session_repair::{repair, repair_from};
use super::sql::at;
use crate::model::timestamp::{Micros, to_micros};
use crate::store::lifecycle::{Cutoffs, StoreUsage};
use crate::store::session_fold::Removed;

/// Deletes expired events: first every partition that has wholly expired (each in its own
/// transaction; one partition may hold more than `limit` events), then, when no partition
/// went with events in it, up to `limit` events in one transaction. Returns how many went.
pub async fn delete_expired_events(
    client: &mut Object,
    partitions: &Partitions,
    cutoffs: &Cutoffs,
    limit: usize,
) -> Result<u64, Error> {
    if !cutoffs.any() || limit == 0 {
        return Ok(0);
    }
    if let Some(before) = cutoffs.all_expired_before() {
        while let Some(month) = oldest_expired_partition(client, before).await? {
            let dropped = drop_partition(client, month).await?;
            partitions.forget([month]);
            if dropped > 0 {
                return Ok(dropped);
            }
        }
    }
    let transaction = client.transaction().await?;
    let mut removed = Removed::default();
    let mut keys = DeletedKeys::default();
    for app in apps(&transaction, "events").await? {
        let Some(cutoff) = cutoffs.cutoff_for(&app) else {
            continue;
        };
        let budget = limit as i64 - removed.count as i64;
        if budget <= 0 {
            break;
        }
        let chosen = transaction
            .query(
                "SELECT id, ts FROM events WHERE app = $1 AND ts < $2 ORDER BY ts LIMIT $3",
                &[&app, &at(cutoff), &budget],
            )
            .await?;
        delete_events(&transaction, &chosen, &mut removed, &mut keys).await?;
    }
    keys.delete(&transaction).await?;
    repair(&transaction, &removed).await?;
    transaction.commit().await?;
    Ok(removed.count)
}

/// Deletes the events of `chosen` (rows of `id, ts`), one month at a time so that each
/// statement reads one partition's primary key (the month's bounds prune the others), and
/// adds what went to `removed` and `keys`. An event another transaction deleted first is
/// not counted.
pub async fn delete_events(
    transaction: &Transaction<'_>,
    chosen: &[Row],
    removed: &mut Removed,
    keys: &mut DeletedKeys,
) -> Result<(), Error> {
    let mut by_month: BTreeMap<(i32, u8), Vec<Uuid>> = BTreeMap::new();
    for row in chosen {
        let ts: OffsetDateTime = row.get(1);
        by_month
            .entry(partitions::month_of(to_micros(ts)))
            .or_default()
            .push(row.get(0));
    }
    for (month, ids) in by_month {
        let (start, end) = (
            partitions::start_of(month),
            partitions::start_of(partitions::next_month(month)),
        );
        let rows = transaction
            .query(
                "DELETE FROM events WHERE id = ANY($1) AND ts >= $2 AND ts < $3
                 RETURNING session_id, app, event_id, id, category, name, ts",
                &[&ids, &at(start), &at(end)],
            )
            .await?;
        for row in rows {
            keys.add(row.get(1), row.get(2), row.get(3));
            let category: &str = row.get(4);
            let name: &str = row.get(5);
            let ts: OffsetDateTime = row.get(6);
            removed.add(row.get(0), row.get(1), category, name, to_micros(ts));
        }
    }
    Ok(())
}

/// The deduplication keys of deleted events, deleted with them.
#[derive(Default)]
pub struct DeletedKeys {
    apps: Vec<String>,
    event_ids: Vec<String>,
    ids: Vec<Uuid>,
}

impl DeletedKeys {
    pub fn add(&mut self, app: String, event_id: Option<String>, id: Uuid) {
        if let Some(event_id) = event_id {
            self.apps.push(app);
            self.event_ids.push(event_id);
            self.ids.push(id);
        }
    }

    pub async fn delete(&self, transaction: &Transaction<'_>) -> Result<(), Error> {
        if self.ids.is_empty() {
            return Ok(());
        }
        transaction
            .execute(
                "DELETE FROM event_keys k USING unnest($1::text[], $2::text[], $3::uuid[]) AS d(app, event_id, id)
                 WHERE k.app = d.app AND k.event_id = d.event_id AND k.id = d.id",
                &[&self.apps, &self.event_ids, &self.ids],
            )
            .await?;
        Ok(())
    }
}

/// The oldest partition of `events` that ends at or before `before`.
async fn oldest_expired_partition(
    client: &Object,
    before: Micros,
) -> Result<Option<(i32, u8)>, Error> {
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'events'::regclass",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| partitions::month_of_partition(row.get(0)))
        .filter(|month| partitions::start_of(partitions::next_month(*month)) <= before)
        .min())
}

/// Drops the partition of `month` with the keys of its events, and corrects their
/// sessions, in one transaction; returns how many events it held. `events` is locked
/// first: dropping a partition locks its parent anyway, and a batch that had the parent
/// and waited for the partition would deadlock with this.
async fn drop_partition(client: &mut Object, month: (i32, u8)) -> Result<u64, Error> {
    let name = partitions::partition_name(month);
    let transaction = client.transaction().await?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&DDL_LOCK])
        .await?;
    let exists: bool = transaction
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
        .await?
        .get(0);
    if !exists {
        // Another node dropped it first.
        transaction.commit().await?;
        return Ok(0);
    }
    transaction
        .batch_execute(&format!(
            "LOCK TABLE ONLY events IN ACCESS EXCLUSIVE MODE;
             CREATE TEMP TABLE eye_expired ON COMMIT DROP AS
                SELECT session_id, app, count(*) AS n FROM {name} GROUP BY session_id, app;
             DELETE FROM event_keys k USING {name} e
                WHERE k.app = e.app AND k.event_id = e.event_id AND k.id = e.id;
             DROP TABLE {name};"
        ))
        .await?;
    let starts = repair_from(&transaction, "eye_expired g", &[]).await?;
    // Every event of the month went, so every count of its buckets goes (months start at
    // midnight UTC, so no minute, hour or day bucket straddles two partitions). After the
    // summaries are locked, as a worker takes its locks.
    let (start, end) = (
        partitions::start_of(month),
        partitions::start_of(partitions::next_month(month)),
    );
    for table in ["event_counts", "type_counts"] {
        transaction
            .execute(
                &format!(
                    "DELETE FROM {table} WHERE span IN (60, 3600, 86400) AND bucket >= $1 AND bucket < $2"
                ),
                &[&start, &end],
            )
            .await?;
    }
    super::rollups::apply(&transaction, &starts).await?;
    let dropped: i64 = transaction
        .query_one("SELECT coalesce(sum(n), 0)::bigint FROM eye_expired", &[])
        .await?
        .get(0);
    transaction.commit().await?;
    tracing::info!(partition = %name, events = dropped, "dropped an expired partition");
    Ok(dropped.max(0) as u64)
}

/// Deletes up to `limit` error records received before their application's cut-off. The
/// hourly counts stay.
pub async fn delete_expired_errors(
    client: &mut Object,
    cutoffs: &Cutoffs,
    limit: usize,
) -> Result<u64, Error> {
    if !cutoffs.any() || limit == 0 {
        return Ok(0);
    }
    let transaction = client.transaction().await?;
    let mut deleted = 0u64;
    for app in apps(&transaction, "errors").await? {
        let Some(cutoff) = cutoffs.cutoff_for(&app) else {
            continue;
        };
        let budget = limit as i64 - deleted as i64;
        if budget <= 0 {
            break;
        }
        deleted += transaction
            .execute(
                "DELETE FROM errors WHERE id IN
                    (SELECT id FROM errors WHERE app = $1 AND received_at < $2
                     ORDER BY received_at LIMIT $3)",
                &[&app, &at(cutoff), &budget],
            )
            .await?;
    }
    transaction.commit().await?;
    Ok(deleted)
}

/// The applications with rows in `table` (`events` or `errors`), by a skip scan of its
/// `(app, …)` index: one look-up per application, however many rows each has.
async fn apps(transaction: &Transaction<'_>, table: &str) -> Result<Vec<String>, Error> {
    let rows = transaction
        .query(
            &format!(
                "WITH RECURSIVE listed(app) AS (
                    SELECT (SELECT min(app) FROM {table})
                    UNION ALL
                    SELECT (SELECT min(app) FROM {table} WHERE app > listed.app) FROM listed
                    WHERE listed.app IS NOT NULL)
                 SELECT app FROM listed WHERE app IS NOT NULL"
            ),
            &[],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// The Eye's tables in the store's schema.
const TABLES: &[&str] = &[
    "events",
    "event_keys",
    "sessions",
    "session_apps",
    "session_types",
    "session_users",
    "event_counts",
    "type_counts",
    "session_starts",
    "errors",
    "error_hourly",
    "apps",
    "api_keys",
    "schemas",
    "schema_files",
    "erasures",
    "suppressed_sessions",
    "settings",
    "eye_schema_version",
];

/// Bytes: `pg_total_relation_size` (data, indexes, TOAST) of The Eye's tables and the
/// partitions of `events`, in the store's schema; not the whole database, which may hold
/// other things. Exact counts; the event time range from `events_by_time`.
pub async fn usage(client: &Object) -> Result<StoreUsage, Error> {
    let row = client
        .query_one(
            "SELECT
                (SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
                 WHERE c.relnamespace = current_schema()::regnamespace
                    AND (c.relname = ANY($1)
                         OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'events'::regclass))),
                (SELECT count(*) FROM events), (SELECT count(*) FROM errors),
                (SELECT min(ts) FROM events), (SELECT max(ts) FROM events)",
            &[&TABLES],
        )
        .await?;
    Ok(StoreUsage {
        bytes: row.get::<_, i64>(0).max(0) as u64,
        events: row.get::<_, i64>(1).max(0) as u64,
        errors: row.get::<_, i64>(2).max(0) as u64,
        oldest_event: row.get::<_, Option<OffsetDateTime>>(3).map(to_micros),
        newest_event: row.get::<_, Option<OffsetDateTime>>(4).map(to_micros),
    })
}
