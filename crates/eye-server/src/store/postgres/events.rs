//! Events and session summaries on PostgreSQL. A batch is written in one transaction, in
//! three phases that each take their row locks in sorted order (dedup keys, events,
//! summaries), so concurrent workers cannot deadlock on overlapping batches.

use std::collections::{HashMap, HashSet};

use deadpool_postgres::Object;
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use super::erasure;
use super::error_records::insert_errors;
use super::sql::{Sql, at};
use crate::model::timestamp::to_micros;
use crate::model::{EventRecord, QueueMessage};
use crate::store::select;
use crate::store::session_fold::SessionFold;
use crate::store::{BatchOutcome, EventQuery, SessionSummary};

/// Stores a batch in one transaction, leaving out the messages an erasure covers.
pub async fn write_batch(
    client: &mut Object,
    messages: &[QueueMessage],
) -> Result<BatchOutcome, tokio_postgres::Error> {
    let transaction = client.transaction().await?;
    let guard = erasure::guard(&transaction, messages).await?;
    let mut erased = Vec::new();
    let mut events: Vec<&EventRecord> = Vec::new();
    let mut errors = Vec::new();
    for message in messages {
        if let Some(id) = guard.covered(message) {
            erased.push(id);
            continue;
        }
        match message {
            QueueMessage::Event(event) => events.push(event),
            QueueMessage::Error(entry) => errors.push(entry),
        }
    }
    // A redelivery can land in the same batch as the first delivery. One statement inserts
    // such an event once but returns its id once for both copies, so without this both
    // would count in its session's summary.
    let mut seen = HashSet::with_capacity(events.len());
    let unique: Vec<&EventRecord> = events
        .iter()
        .copied()
        .filter(|e| seen.insert(e.id))
        .collect();
    let candidates = claim_event_ids(&transaction, &unique).await?;
    let inserted = insert_events(&transaction, &candidates).await?;
    let stored: Vec<&EventRecord> = candidates
        .into_iter()
        .filter(|e| inserted.contains(&e.id))
        .collect();
    update_sessions(&transaction, &stored).await?;
    let error_count = insert_errors(&transaction, &errors).await?;
    transaction.commit().await?;
    Ok(BatchOutcome {
        stored: stored.len() as u64,
        duplicates: (events.len() - stored.len()) as u64,
        errors: error_count,
        erased,
    })
}

/// Phase 1: claims (app, event_id) for the events that carry one. Returns the events that
/// may be inserted: those without a key, and those whose key this batch claimed.
async fn claim_event_ids<'a>(
    transaction: &tokio_postgres::Transaction<'_>,
    events: &[&'a EventRecord],
) -> Result<Vec<&'a EventRecord>, tokio_postgres::Error> {
    let mut keyed: Vec<&EventRecord> = events
        .iter()
        .copied()
        .filter(|e| e.event_id.is_some())
        .collect();
    keyed.sort_by(|a, b| (&a.app, &a.event_id).cmp(&(&b.app, &b.event_id)));
    let mut claimed = HashSet::new();
    if !keyed.is_empty() {
        let apps: Vec<&str> = keyed.iter().map(|e| e.app.as_str()).collect();
        let event_ids: Vec<&str> = keyed
            .iter()
            .map(|e| e.event_id.as_deref().unwrap_or_default())
            .collect();
        let ids: Vec<Uuid> = keyed.iter().map(|e| e.id).collect();
        let rows = transaction
            .query(
                "INSERT INTO event_keys (app, event_id, id)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[])
                 ON CONFLICT DO NOTHING RETURNING id",
                &[&apps, &event_ids, &ids],
            )
            .await?;
        claimed.extend(rows.iter().map(|row| row.get::<_, Uuid>(0)));
    }
    Ok(events
        .iter()
        .copied()
        .filter(|e| e.event_id.is_none() || claimed.contains(&e.id))
        .collect())
}

/// Phase 2: inserts events, sorted by id; returns the ids actually inserted (a redelivered
/// event conflicts on its primary key and is skipped).
async fn insert_events(
    transaction: &tokio_postgres::Transaction<'_>,
    candidates: &[&EventRecord],
) -> Result<HashSet<Uuid>, tokio_postgres::Error> {
    if candidates.is_empty() {
        return Ok(HashSet::new());
    }
    let mut sorted = candidates.to_vec();
    sorted.sort_by_key(|e| e.id);
    let ids: Vec<Uuid> = sorted.iter().map(|e| e.id).collect();
    let apps: Vec<&str> = sorted.iter().map(|e| e.app.as_str()).collect();
    let sessions: Vec<&str> = sorted.iter().map(|e| e.session_id.as_str()).collect();
    let categories: Vec<&str> = sorted.iter().map(|e| e.category.as_str()).collect();
    let names: Vec<&str> = sorted.iter().map(|e| e.name.as_str()).collect();
    let timestamps: Vec<OffsetDateTime> = sorted.iter().map(|e| at(e.timestamp)).collect();
    let received: Vec<OffsetDateTime> = sorted.iter().map(|e| at(e.received_at)).collect();
    let event_ids: Vec<Option<&str>> = sorted.iter().map(|e| e.event_id.as_deref()).collect();
    let versions: Vec<Option<i64>> = sorted.iter().map(|e| e.schema_version).collect();
    let data: Vec<&str> = sorted.iter().map(|e| e.data.as_str()).collect();
    let users: Vec<Option<&str>> = sorted.iter().map(|e| e.user_id.as_deref()).collect();
    let contexts: Vec<Option<&str>> = sorted.iter().map(|e| e.context.as_deref()).collect();
    let originals: Vec<Option<i64>> = sorted.iter().map(|e| e.original_timestamp).collect();
    let rows = transaction
        .query(
            "INSERT INTO events (id, app, session_id, category, name, ts, received_at, event_id, schema_version, data,
                                 user_id, context, original_ts)
             SELECT i, a, s, c, n, t, r, e, v, d::jsonb, uid, x::jsonb, o FROM unnest(
                $1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
                $7::timestamptz[], $8::text[], $9::bigint[], $10::text[], $11::text[], $12::text[],
                $13::bigint[]) AS u(i, a, s, c, n, t, r, e, v, d, uid, x, o)
             ON CONFLICT DO NOTHING RETURNING id",
            &[
                &ids, &apps, &sessions, &categories, &names, &timestamps, &received, &event_ids,
                &versions, &data, &users, &contexts, &originals,
            ],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Phase 3: the session summaries (sorted), counting only events inserted above, their
/// application links, event types and users, and the counts over time.
///
/// A session's start bucket moves when its first event does, so the summary's first
/// timestamp before this batch must be known exactly, even while other workers write the
/// same session: sessions new to the store are inserted first (`DO NOTHING` waits for a
/// concurrent insert of the same session and then skips it), then the existing ones are
/// locked and read, then updated. A session deleted between the two (a retention batch
/// took its last events) is inserted again by the update, and counted as new.
async fn update_sessions(
    transaction: &tokio_postgres::Transaction<'_>,
    stored: &[&EventRecord],
) -> Result<(), tokio_postgres::Error> {
    let mut fold = SessionFold::default();
    for event in stored {
        fold.add(event);
    }
    if fold.is_empty() {
        return Ok(());
    }
    let sessions: Vec<&str> = fold.sessions.keys().copied().collect();
    let changes = || fold.sessions.values();
    let firsts: Vec<OffsetDateTime> = changes().map(|c| at(c.first_ts)).collect();
    let lasts: Vec<OffsetDateTime> = changes().map(|c| at(c.last_ts)).collect();
    let counts: Vec<i64> = changes().map(|c| c.count).collect();
    let inserted: HashSet<String> = transaction
        .query(
            "INSERT INTO sessions (session_id, first_ts, last_ts, event_count)
             SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::bigint[])
             ON CONFLICT (session_id) DO NOTHING RETURNING session_id",
            &[&sessions, &firsts, &lasts, &counts],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    // The longest span among the sessions written: new ones are exactly this batch's.
    let mut longest = (0..sessions.len())
        .filter(|index| inserted.contains(sessions[*index]))
        .map(|index| to_micros(lasts[index]) - to_micros(firsts[index]))
        .max()
        .unwrap_or(0);
    let existing: Vec<usize> = (0..sessions.len())
        .filter(|index| !inserted.contains(sessions[*index]))
        .collect();
    let mut before: HashMap<String, OffsetDateTime> = HashMap::new();
    if !existing.is_empty() {
        let ids: Vec<&str> = existing.iter().map(|i| sessions[*i]).collect();
        let firsts: Vec<OffsetDateTime> = existing.iter().map(|i| firsts[*i]).collect();
        let lasts: Vec<OffsetDateTime> = existing.iter().map(|i| lasts[*i]).collect();
        let counts: Vec<i64> = existing.iter().map(|i| counts[*i]).collect();
        before.extend(
            transaction
                .query(
                    "SELECT session_id, first_ts FROM sessions WHERE session_id = ANY($1)
                     ORDER BY session_id FOR UPDATE",
                    &[&ids],
                )
                .await?
                .iter()
                .map(|row| (row.get(0), row.get(1))),
        );
        for row in transaction
            .query(
                "INSERT INTO sessions (session_id, first_ts, last_ts, event_count)
                 SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::bigint[])
                 ON CONFLICT (session_id) DO UPDATE SET
                    first_ts = LEAST(sessions.first_ts, excluded.first_ts),
                    last_ts = GREATEST(sessions.last_ts, excluded.last_ts),
                    event_count = sessions.event_count + excluded.event_count
                 RETURNING (extract(epoch FROM last_ts - first_ts) * 1000000)::bigint",
                &[&ids, &firsts, &lasts, &counts],
            )
            .await?
        {
            longest = longest.max(row.get::<_, i64>(0));
        }
    }
    // Before the counters, so that workers take their locks in one order.
    if longest > 0 {
        transaction
            .execute(
                "UPDATE session_bounds SET max_span = $1 WHERE max_span < $1",
                &[&longest],
            )
            .await?;
    }
    for (session_id, change) in &fold.sessions {
        let before = before.get(*session_id).map(|first| to_micros(*first));
        let after = before.map_or(change.first_ts, |before| before.min(change.first_ts));
        fold.rollup.session_start_moved(before, Some(after));
    }
    let app_sessions: Vec<&str> = fold.apps.iter().map(|(s, _)| *s).collect();
    let app_names: Vec<&str> = fold.apps.iter().map(|(_, a)| *a).collect();
    transaction
        .execute(
            "INSERT INTO session_apps (session_id, app) SELECT * FROM unnest($1::text[], $2::text[])
             ON CONFLICT DO NOTHING",
            &[&app_sessions, &app_names],
        )
        .await?;
    let type_sessions: Vec<&str> = fold.types.iter().map(|(s, _, _)| *s).collect();
    let type_categories: Vec<&str> = fold.types.iter().map(|(_, c, _)| *c).collect();
    let type_names: Vec<&str> = fold.types.iter().map(|(_, _, n)| *n).collect();
    transaction
        .execute(
            "INSERT INTO session_types (session_id, category, name)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
             ON CONFLICT DO NOTHING",
            &[&type_sessions, &type_categories, &type_names],
        )
        .await?;
    if !fold.users.is_empty() {
        let user_sessions: Vec<&str> = fold.users.iter().map(|(s, _)| *s).collect();
        let user_ids: Vec<&str> = fold.users.iter().map(|(_, u)| *u).collect();
        transaction
            .execute(
                "INSERT INTO session_users (session_id, user_id)
                 SELECT * FROM unnest($1::text[], $2::text[])
                 ON CONFLICT DO NOTHING",
                &[&user_sessions, &user_ids],
            )
            .await?;
    }
    super::rollups::apply(transaction, &fold.rollup).await
}

pub async fn query(
    client: &Object,
    query: &EventQuery,
) -> Result<Vec<EventRecord>, tokio_postgres::Error> {
    let mut sql = Sql::new(
        "SELECT id, app, session_id, category, name, ts, received_at, event_id, schema_version, data::text,
            user_id, context::text, original_ts
         FROM events WHERE true",
    );
    select::event_filters(&mut sql, query);
    select::page(&mut sql, "ts", query.order, query.after, query.limit);
    let rows = client.query(&sql.text, &sql.params()).await?;
    Ok(rows.iter().map(event_from_row).collect())
}

fn event_from_row(row: &Row) -> EventRecord {
    EventRecord {
        id: row.get(0),
        app: row.get(1),
        session_id: row.get(2),
        category: row.get(3),
        name: row.get(4),
        timestamp: to_micros(row.get(5)),
        received_at: to_micros(row.get(6)),
        event_id: row.get(7),
        schema_version: row.get(8),
        data: row.get(9),
        user_id: row.get(10),
        context: row.get(11),
        original_timestamp: row.get(12),
    }
}

pub async fn session(
    client: &Object,
    session_id: &str,
) -> Result<Option<SessionSummary>, tokio_postgres::Error> {
    let Some(row) = client
        .query_opt(
            "SELECT first_ts, last_ts, event_count FROM sessions WHERE session_id = $1",
            &[&session_id],
        )
        .await?
    else {
        return Ok(None);
    };
    let apps = client
        .query(
            "SELECT app FROM session_apps WHERE session_id = $1 ORDER BY app",
            &[&session_id],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    Ok(Some(SessionSummary {
        session_id: session_id.to_owned(),
        first_timestamp: to_micros(row.get(0)),
        last_timestamp: to_micros(row.get(1)),
        event_count: row.get::<_, i64>(2) as u64,
        apps,
    }))
}
