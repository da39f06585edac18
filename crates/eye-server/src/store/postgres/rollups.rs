//! The counts of `store::rollup` on PostgreSQL: applied inside the transaction that changed
//! the events (one upsert per table, rows in key order so that concurrent workers lock
//! counters in one order), and read back by bucket range from their primary keys.

use deadpool_postgres::Object;
use tokio_postgres::{Error, Transaction};

use super::sql::Sql;
use crate::model::timestamp::Micros;
use crate::store::rollup::{CountQuery, CountRow, Interval, RollupDelta};

/// Adds `delta` to the counters; a counter brought to zero goes.
pub async fn apply(transaction: &Transaction<'_>, delta: &RollupDelta) -> Result<(), Error> {
    let changes: Vec<_> = delta.event_changes().collect();
    if !changes.is_empty() {
        let spans: Vec<i64> = changes.iter().map(|(key, _)| key.0).collect();
        let buckets: Vec<i64> = changes.iter().map(|(key, _)| key.1).collect();
        let apps: Vec<&str> = changes.iter().map(|(key, _)| key.2.as_str()).collect();
        let categories: Vec<&str> = changes.iter().map(|(key, _)| key.3.as_str()).collect();
        let names: Vec<&str> = changes.iter().map(|(key, _)| key.4.as_str()).collect();
        let counts: Vec<i64> = changes.iter().map(|(_, change)| *change).collect();
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] =
            [&spans, &buckets, &apps, &categories, &names, &counts];
        transaction
            .execute(
                "INSERT INTO event_counts (span, bucket, app, category, name, count)
                 SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[])
                 ON CONFLICT (span, bucket, app, category, name)
                 DO UPDATE SET count = event_counts.count + excluded.count",
                &params,
            )
            .await?;
        if counts.iter().any(|change| *change < 0) {
            transaction
                .execute(
                    "DELETE FROM event_counts c
                     USING unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[])
                        AS d(span, bucket, app, category, name, change)
                     WHERE d.change < 0 AND c.span = d.span AND c.bucket = d.bucket AND c.app = d.app
                        AND c.category = d.category AND c.name = d.name AND c.count <= 0",
                    &params,
                )
                .await?;
        }
    }
    let types = delta.type_changes();
    if !types.is_empty() {
        let spans: Vec<i64> = types.iter().map(|(key, _)| key.0).collect();
        let buckets: Vec<i64> = types.iter().map(|(key, _)| key.1).collect();
        let categories: Vec<&str> = types.iter().map(|(key, _)| key.2).collect();
        let names: Vec<&str> = types.iter().map(|(key, _)| key.3).collect();
        let counts: Vec<i64> = types.iter().map(|(_, change)| *change).collect();
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
            [&spans, &buckets, &categories, &names, &counts];
        transaction
            .execute(
                "INSERT INTO type_counts (span, bucket, category, name, count)
                 SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::bigint[])
                 ON CONFLICT (span, bucket, category, name)
                 DO UPDATE SET count = type_counts.count + excluded.count",
                &params,
            )
            .await?;
        if counts.iter().any(|change| *change < 0) {
            transaction
                .execute(
                    "DELETE FROM type_counts c
                     USING unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::bigint[])
                        AS d(span, bucket, category, name, change)
                     WHERE d.change < 0 AND c.span = d.span AND c.bucket = d.bucket
                        AND c.category = d.category AND c.name = d.name AND c.count <= 0",
                    &params,
                )
                .await?;
        }
    }
    let starts: Vec<_> = delta.session_start_changes().collect();
    if !starts.is_empty() {
        let spans: Vec<i64> = starts.iter().map(|((span, _), _)| *span).collect();
        let buckets: Vec<i64> = starts.iter().map(|((_, bucket), _)| *bucket).collect();
        let counts: Vec<i64> = starts.iter().map(|(_, change)| *change).collect();
        transaction
            .execute(
                "INSERT INTO session_starts (span, bucket, count)
                 SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[])
                 ON CONFLICT (span, bucket) DO UPDATE SET count = session_starts.count + excluded.count",
                &[&spans, &buckets, &counts],
            )
            .await?;
        if counts.iter().any(|change| *change < 0) {
            transaction
                .execute(
                    "DELETE FROM session_starts c USING unnest($1::bigint[], $2::bigint[]) AS d(span, bucket)
                     WHERE c.span = d.span AND c.bucket = d.bucket AND c.count <= 0",
                    &[&spans, &buckets],
                )
                .await?;
        }
    }
    Ok(())
}

/// The counts of `query`, one row per bucket and group that has any.
pub async fn counts(client: &Object, query: &CountQuery) -> Result<Vec<CountRow>, Error> {
    let mut sql = Sql::new("");
    crate::store::rollup::count_statement(&mut sql, query);
    let rows = client.query(&sql.text, &sql.params()).await?;
    Ok(rows
        .iter()
        .map(|row| CountRow {
            bucket: row.get(0),
            app: row.get(1),
            category: row.get(2),
            name: row.get(3),
            count: row.get::<_, i64>(4).max(0) as u64,
        })
        .collect())
}

/// Sessions per bucket of their first event, in `[from, to)`.
pub async fn session_starts(
    client: &Object,
    interval: Interval,
    from: Micros,
    to: Micros,
) -> Result<Vec<(Micros, u64)>, Error> {
    let rows = client
        .query(
            "SELECT bucket, count FROM session_starts
             WHERE span = $1 AND bucket >= $2 AND bucket < $3 AND count > 0 ORDER BY bucket",
            &[&interval.seconds(), &from, &to],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| (row.get(0), row.get::<_, i64>(1).max(0) as u64))
        .collect())
}
