//! The error store on PostgreSQL.

use deadpool_postgres::Object;
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use super::sql::{Sql, at};
use crate::model::ErrorEntry;
use crate::model::timestamp::{Micros, to_micros};
use crate::store::select;
use crate::store::{ErrorCounts, ErrorQuery, split_hours};

pub async fn insert_errors(
    transaction: &tokio_postgres::Transaction<'_>,
    entries: &[&ErrorEntry],
) -> Result<u64, tokio_postgres::Error> {
    if entries.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = entries.iter().map(|e| e.id).collect();
    let received: Vec<OffsetDateTime> = entries.iter().map(|e| at(e.received_at)).collect();
    let apps: Vec<&str> = entries.iter().map(|e| e.app.as_str()).collect();
    let codes: Vec<&str> = entries.iter().map(|e| e.code.as_str()).collect();
    let messages: Vec<&str> = entries.iter().map(|e| e.message.as_str()).collect();
    let paths: Vec<Option<&str>> = entries.iter().map(|e| e.path.as_deref()).collect();
    let categories: Vec<Option<&str>> = entries.iter().map(|e| e.category.as_deref()).collect();
    let names: Vec<Option<&str>> = entries.iter().map(|e| e.name.as_deref()).collect();
    let sessions: Vec<Option<&str>> = entries.iter().map(|e| e.session_id.as_deref()).collect();
    let versions: Vec<Option<i64>> = entries.iter().map(|e| e.schema_version).collect();
    let raws: Vec<&str> = entries.iter().map(|e| e.raw.as_str()).collect();
    let inserted = transaction
        .query(
            "INSERT INTO errors (id, received_at, app, code, message, path, category, name, session_id, schema_version, raw)
             SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
                                  $7::text[], $8::text[], $9::text[], $10::bigint[], $11::text[])
             ON CONFLICT DO NOTHING
             RETURNING received_at, code, coalesce(category, ''), coalesce(name, '')",
            &[&ids, &received, &apps, &codes, &messages, &paths, &categories, &names, &sessions, &versions, &raws],
        )
        .await?;
    // One upsert per (hour, code, type), in sorted order so concurrent workers cannot deadlock.
    let mut hourly: std::collections::BTreeMap<(i64, String, String, String), i64> =
        std::collections::BTreeMap::new();
    for row in &inserted {
        let hour = to_micros(row.get(0)).div_euclid(3_600_000_000) * 3_600_000_000;
        *hourly
            .entry((hour, row.get(1), row.get(2), row.get(3)))
            .or_default() += 1;
    }
    if !hourly.is_empty() {
        let hours: Vec<OffsetDateTime> = hourly.keys().map(|k| at(k.0)).collect();
        let codes: Vec<&str> = hourly.keys().map(|k| k.1.as_str()).collect();
        let categories: Vec<&str> = hourly.keys().map(|k| k.2.as_str()).collect();
        let names: Vec<&str> = hourly.keys().map(|k| k.3.as_str()).collect();
        let counts: Vec<i64> = hourly.values().copied().collect();
        transaction
            .execute(
                "INSERT INTO error_hourly (hour, code, category, name, count)
                 SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::bigint[])
                 ON CONFLICT (hour, code, category, name) DO UPDATE SET count = error_hourly.count + excluded.count",
                &[&hours, &codes, &categories, &names, &counts],
            )
            .await?;
    }
    Ok(inserted.len() as u64)
}

pub async fn query(
    client: &Object,
    query: &ErrorQuery,
) -> Result<Vec<ErrorEntry>, tokio_postgres::Error> {
    let mut sql = Sql::new(
        "SELECT id, received_at, app, code, message, path, category, name, session_id, schema_version, raw,
                replayed_at, replayed_event_id
         FROM errors WHERE true",
    );
    select::error_filters(&mut sql, query);
    select::page(
        &mut sql,
        "received_at",
        query.order,
        query.after,
        query.limit,
    );
    let rows = client.query(&sql.text, &sql.params()).await?;
    Ok(rows.iter().map(error_from_row).collect())
}

/// How many errors match the filters and time range of `query`.
pub async fn count(client: &Object, query: &ErrorQuery) -> Result<u64, tokio_postgres::Error> {
    let mut sql = Sql::new("SELECT COUNT(*) FROM errors WHERE true");
    select::error_filters(&mut sql, query);
    let row = client.query_one(&sql.text, &sql.params()).await?;
    Ok(row.get::<_, i64>(0).max(0) as u64)
}

fn error_from_row(row: &Row) -> ErrorEntry {
    ErrorEntry {
        id: row.get(0),
        received_at: to_micros(row.get(1)),
        app: row.get(2),
        code: row.get(3),
        message: row.get(4),
        path: row.get(5),
        category: row.get(6),
        name: row.get(7),
        session_id: row.get(8),
        schema_version: row.get(9),
        raw: row.get(10),
        replayed_at: row.get::<_, Option<OffsetDateTime>>(11).map(to_micros),
        replayed_event_id: row.get(12),
    }
}

/// Counts over `[from, to)`: whole hours from `error_hourly`, the edges from `errors`.
pub async fn counts(
    client: &Object,
    from: Option<Micros>,
    to: Option<Micros>,
) -> Result<ErrorCounts, tokio_postgres::Error> {
    let Some(split) = split_hours(from, to) else {
        return exact_counts(client, from, to).await;
    };
    let mut counts = hourly_counts(client, split.hours).await?;
    for (start, end) in split.edges {
        if start < end {
            counts.merge(exact_counts(client, Some(start), Some(end)).await?);
        }
    }
    Ok(counts.sorted())
}

async fn hourly_counts(
    client: &Object,
    (start, end): (i64, i64),
) -> Result<ErrorCounts, tokio_postgres::Error> {
    let end = (end != i64::MAX).then(|| at(end));
    let (start, end) = (at(start), end);
    let by_code = client
        .query(
            "SELECT code, SUM(count)::bigint FROM error_hourly WHERE hour >= $1 AND ($2::timestamptz IS NULL OR hour < $2)
             GROUP BY code",
            &[&start, &end],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get::<_, i64>(1) as u64))
        .collect();
    let by_event_type = client
        .query(
            "SELECT category, name, SUM(count)::bigint FROM error_hourly
             WHERE hour >= $1 AND ($2::timestamptz IS NULL OR hour < $2) AND category != ''
             GROUP BY category, name",
            &[&start, &end],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get::<_, i64>(2) as u64))
        .collect();
    Ok(ErrorCounts {
        by_code,
        by_event_type,
    })
}

async fn exact_counts(
    client: &Object,
    from: Option<Micros>,
    to: Option<Micros>,
) -> Result<ErrorCounts, tokio_postgres::Error> {
    let from = from.map(at);
    let to = to.map(at);
    let by_code = client
        .query(
            "SELECT code, COUNT(*) FROM errors
             WHERE ($1::timestamptz IS NULL OR received_at >= $1) AND ($2::timestamptz IS NULL OR received_at < $2)
             GROUP BY code ORDER BY code",
            &[&from, &to],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get::<_, i64>(1) as u64))
        .collect();
    let by_event_type = client
        .query(
            "SELECT category, name, COUNT(*) FROM errors
             WHERE ($1::timestamptz IS NULL OR received_at >= $1) AND ($2::timestamptz IS NULL OR received_at < $2)
               AND category IS NOT NULL AND name IS NOT NULL
             GROUP BY category, name ORDER BY COUNT(*) DESC, category, name",
            &[&from, &to],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get::<_, i64>(2) as u64))
        .collect();
    Ok(ErrorCounts {
        by_code,
        by_event_type,
    })
}

pub async fn mark_replayed(
    client: &Object,
    replayed: &[(Uuid, Uuid)],
    at_micros: Micros,
) -> Result<(), tokio_postgres::Error> {
    let errors: Vec<Uuid> = replayed.iter().map(|(error, _)| *error).collect();
    let events: Vec<Uuid> = replayed.iter().map(|(_, event)| *event).collect();
    client
        .execute(
            "UPDATE errors SET replayed_at = $3, replayed_event_id = r.event_id
             FROM unnest($1::uuid[], $2::uuid[]) AS r(error_id, event_id)
             WHERE errors.id = r.error_id AND errors.replayed_at IS NULL",
            &[&errors, &events, &at(at_micros)],
        )
        .await
        .map(|_| ())
}
