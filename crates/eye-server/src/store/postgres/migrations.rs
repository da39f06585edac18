//! The PostgreSQL schema, applied in order under an advisory lock (so that nodes starting
//! together migrate once) and recorded in `eye_schema_version`.

use deadpool_postgres::Object;

/// Held while migrating or creating partitions: one node at a time.
pub const DDL_LOCK: i64 = 0x00e7_e000_0001;

/// Each entry moves the schema one version forward. Never edit a released entry: append.
const MIGRATIONS: &[&str] = &[
    // 1: events (partitioned by month of `ts`), dedup keys, sessions, errors, keys, schemas.
    "
    CREATE TABLE events (
        id uuid NOT NULL,
        app text NOT NULL,
        session_id text NOT NULL,
        category text NOT NULL,
        name text NOT NULL,
        ts timestamptz NOT NULL,
        received_at timestamptz NOT NULL,
        event_id text,
        schema_version bigint,
        data jsonb NOT NULL,
        PRIMARY KEY (id, ts)
    ) PARTITION BY RANGE (ts);
    CREATE INDEX events_by_session ON events (session_id, ts, id);
    CREATE INDEX events_by_type ON events (category, name, ts, id);
    CREATE INDEX events_by_app ON events (app, ts, id);
    CREATE INDEX events_by_time ON events (ts, id);

    -- A unique index on a partitioned table must contain the partition key, which would let
    -- one event_id be stored once per timestamp. This unpartitioned table holds the key.
    CREATE TABLE event_keys (
        app text NOT NULL,
        event_id text NOT NULL,
        id uuid NOT NULL,
        PRIMARY KEY (app, event_id)
    );

    CREATE TABLE sessions (
        session_id text PRIMARY KEY,
        first_ts timestamptz NOT NULL,
        last_ts timestamptz NOT NULL,
        event_count bigint NOT NULL
    );
    CREATE TABLE session_apps (
        session_id text NOT NULL,
        app text NOT NULL,
        PRIMARY KEY (session_id, app)
    );

    CREATE TABLE errors (
        id uuid PRIMARY KEY,
        received_at timestamptz NOT NULL,
        app text NOT NULL,
        code text NOT NULL,
        message text NOT NULL,
        path text,
        category text,
        name text,
        session_id text,
        schema_version bigint,
        raw text NOT NULL
    );
    CREATE INDEX errors_by_time ON errors (received_at, id);
    CREATE INDEX errors_by_code ON errors (code, received_at, id);
    CREATE INDEX errors_by_app ON errors (app, received_at, id);
    CREATE INDEX errors_by_type ON errors (category, name, received_at, id);

    CREATE TABLE apps (
        name text PRIMARY KEY,
        created_at timestamptz NOT NULL
    );
    CREATE TABLE api_keys (
        id text PRIMARY KEY,
        app text NOT NULL REFERENCES apps (name),
        scopes text NOT NULL,
        hash bytea NOT NULL UNIQUE,
        created_at timestamptz NOT NULL,
        revoked_at timestamptz
    );
    CREATE TABLE schemas (
        category text NOT NULL,
        name text NOT NULL,
        version bigint NOT NULL,
        schema text,
        created_at timestamptz NOT NULL,
        PRIMARY KEY (category, name, version)
    );
    ",
    // 2: replay of rejected events.
    "
    ALTER TABLE errors ADD COLUMN replayed_at timestamptz;
    ALTER TABLE errors ADD COLUMN replayed_event_id uuid;
    ",
    // 3: hourly error counts, kept by the workers, so summaries never scan the errors.
    "
    CREATE TABLE error_hourly (
        hour timestamptz NOT NULL,
        code text NOT NULL,
        category text NOT NULL,
        name text NOT NULL,
        count bigint NOT NULL,
        PRIMARY KEY (hour, code, category, name)
    );
    INSERT INTO error_hourly (hour, code, category, name, count)
        SELECT date_trunc('hour', received_at), code, coalesce(category, ''), coalesce(name, ''), COUNT(*)
        FROM errors GROUP BY 1, 2, 3, 4;
    ",
    // 4: the schema file last loaded for each type, by digest, so that a restart with an
    // unchanged file keeps a version made through the API since.
    "
    CREATE TABLE schema_files (
        category text NOT NULL,
        name text NOT NULL,
        digest text NOT NULL,
        loaded_at timestamptz NOT NULL,
        PRIMARY KEY (category, name)
    );
    ",
    // 5: erasure jobs, suppressed sessions, the deployment's settings (the PII secret), and
    // error records by session, for erasures.
    "
    CREATE TABLE erasures (
        id text PRIMARY KEY,
        requested_at timestamptz NOT NULL,
        requested_by text NOT NULL,
        app text,
        session_ids text NOT NULL,
        suppress boolean NOT NULL,
        status text NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
        completed_at timestamptz,
        events_deleted bigint NOT NULL DEFAULT 0,
        errors_deleted bigint NOT NULL DEFAULT 0,
        failure text
    );
    CREATE INDEX erasures_by_status ON erasures (status, requested_at, id);
    CREATE INDEX erasures_by_time ON erasures (requested_at, id);
    CREATE INDEX erasures_by_completion ON erasures (completed_at);

    -- One row per (session, application); a NULL app suppresses every application's
    -- events. `redacted_session_id` is the session id as error records keep it.
    CREATE TABLE suppressed_sessions (
        session_id text NOT NULL,
        app text,
        redacted_session_id text NOT NULL,
        erasure_id text NOT NULL,
        created_at timestamptz NOT NULL
    );
    CREATE UNIQUE INDEX suppressed_sessions_key ON suppressed_sessions (session_id, coalesce(app, ''));
    CREATE INDEX suppressed_sessions_redacted ON suppressed_sessions (redacted_session_id);

    CREATE TABLE settings (
        name text PRIMARY KEY,
        value bytea NOT NULL
    );

    CREATE INDEX errors_by_session ON errors (session_id);
    ",
    // 6: counts over time (stored events per interval, bucket and type; sessions per bucket
    // of their first event), the event types of each session, and sessions by last
    // activity. Buckets are microseconds since the epoch, UTC. Built here from what is
    // already stored; the workers keep them from then on.
    "
    CREATE TABLE event_counts (
        span bigint NOT NULL,
        bucket bigint NOT NULL,
        app text NOT NULL,
        category text NOT NULL,
        name text NOT NULL,
        count bigint NOT NULL,
        PRIMARY KEY (span, bucket, app, category, name)
    );
    CREATE TABLE type_counts (
        span bigint NOT NULL,
        bucket bigint NOT NULL,
        category text NOT NULL,
        name text NOT NULL,
        count bigint NOT NULL,
        PRIMARY KEY (span, bucket, category, name)
    );
    CREATE TABLE session_starts (
        span bigint NOT NULL,
        bucket bigint NOT NULL,
        count bigint NOT NULL,
        PRIMARY KEY (span, bucket)
    );
    CREATE TABLE session_types (
        session_id text NOT NULL,
        category text NOT NULL,
        name text NOT NULL,
        PRIMARY KEY (session_id, category, name)
    );
    CREATE INDEX sessions_by_activity ON sessions (last_ts, session_id);
    -- The longest any session has lasted, in microseconds, never lowered (see SQLite's).
    CREATE TABLE session_bounds (
        id integer PRIMARY KEY CHECK (id = 1),
        max_span bigint NOT NULL
    );
    INSERT INTO session_bounds (id, max_span)
        SELECT 1, coalesce(max((extract(epoch FROM last_ts - first_ts) * 1000000)::bigint), 0)
        FROM sessions;

    INSERT INTO event_counts (span, bucket, app, category, name, count)
        SELECT s.span, floor((extract(epoch FROM e.ts) * 1000000) / (s.span * 1000000))::bigint * (s.span * 1000000),
            e.app, e.category, e.name, count(*)
        FROM events e, (VALUES (60::bigint), (3600), (86400)) AS s(span)
        GROUP BY 1, 2, 3, 4, 5;
    INSERT INTO type_counts (span, bucket, category, name, count)
        SELECT span, bucket, category, name, sum(count)::bigint FROM event_counts GROUP BY 1, 2, 3, 4;
    INSERT INTO session_starts (span, bucket, count)
        SELECT s.span, floor((extract(epoch FROM x.first_ts) * 1000000) / (s.span * 1000000))::bigint * (s.span * 1000000),
            count(*)
        FROM sessions x, (VALUES (60::bigint), (3600), (86400)) AS s(span)
        GROUP BY 1, 2;
    INSERT INTO session_types (session_id, category, name)
        SELECT DISTINCT session_id, category, name FROM events;
    ",
    // 7: the user an event was sent with, its `context` object (jsonb, as `data`), and the
    // timestamp the client sent when the server corrected it (microseconds); NULL for the
    // events stored before. Events by user (only those that have one; declared on the
    // partitioned table, so every partition, made now or later, has it), and the users of
    // each session, kept by the workers from here as `session_types` is, built from what is
    // already stored.
    "
    ALTER TABLE events
        ADD COLUMN user_id text,
        ADD COLUMN context jsonb,
        ADD COLUMN original_ts bigint;
    CREATE INDEX events_by_user ON events (user_id, ts, id) WHERE user_id IS NOT NULL;
    CREATE TABLE session_users (
        session_id text NOT NULL,
        user_id text NOT NULL,
        PRIMARY KEY (session_id, user_id)
    );
    CREATE INDEX session_users_by_user ON session_users (user_id, session_id);
    INSERT INTO session_users (session_id, user_id)
        SELECT DISTINCT session_id, user_id FROM events WHERE user_id IS NOT NULL;
    ",
];

pub async fn run(client: &mut Object) -> Result<usize, tokio_postgres::Error> {
    let transaction = client.transaction().await?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&DDL_LOCK])
        .await?;
    transaction
        .batch_execute("CREATE TABLE IF NOT EXISTS eye_schema_version (version bigint NOT NULL)")
        .await?;
    let current: i64 = transaction
        .query_opt("SELECT version FROM eye_schema_version", &[])
        .await?
        .map_or(0, |row| row.get(0));
    let mut applied = 0;
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        transaction.batch_execute(migration).await?;
        applied += 1;
        let version = index as i64 + 1;
        transaction
            .execute("DELETE FROM eye_schema_version", &[])
            .await?;
        transaction
            .execute(
                "INSERT INTO eye_schema_version (version) VALUES ($1)",
                &[&version],
            )
            .await?;
    }
    transaction.commit().await?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::postgres::sql::at;
    use crate::store::tests::PostgresSchema;
    use crate::store::tests::users::{assert_upgraded_from_version_6, version_6_events};
    use crate::testing::postgres_url;

    /// January 2021's partition of `events`, for rows written without a store.
    const JANUARY: &str = "CREATE TABLE IF NOT EXISTS events_y2021m01 PARTITION OF events
        FOR VALUES FROM ('2021-01-01 00:00:00+00') TO ('2021-02-01 00:00:00+00')";

    /// A store made before users and contexts (version 6) is upgraded in place when a node
    /// connects: every event stays, with no user, context or original timestamp.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_version_6_store_keeps_its_events_with_no_user_context_or_original_time() {
        let Some((schema, client)) = PostgresSchema::create().await else {
            return;
        };
        client
            .batch_execute(
                "CREATE TABLE eye_schema_version (version bigint NOT NULL);
                 INSERT INTO eye_schema_version (version) VALUES (6)",
            )
            .await
            .expect("version 6");
        for migration in &MIGRATIONS[..6] {
            client.batch_execute(migration).await.expect("migration");
        }
        client.batch_execute(JANUARY).await.expect("partition");
        let events = version_6_events();
        for (id, ts, data) in &events {
            client
                .execute(
                    "INSERT INTO events (id, app, session_id, category, name, ts, received_at, data)
                     VALUES ($1, 'shop', 's-old', 'page', 'view', $2, $2, $3::text::jsonb)",
                    &[id, &at(*ts), data],
                )
                .await
                .expect("event");
        }
        let (first, last) = (events[0].1, events[events.len() - 1].1);
        client
            .execute(
                "INSERT INTO sessions (session_id, first_ts, last_ts, event_count)
                 VALUES ('s-old', $1, $2, $3)",
                &[&at(first), &at(last), &(events.len() as i64)],
            )
            .await
            .expect("session");
        client
            .batch_execute(
                "INSERT INTO session_apps VALUES ('s-old', 'shop');
                 INSERT INTO session_types VALUES ('s-old', 'page', 'view');",
            )
            .await
            .expect("links");

        let store = crate::store::PostgresStore::connect(&postgres_url(), Some(&schema.name), 2)
            .await
            .expect("upgrade");
        let version: i64 = client
            .query_one("SELECT version FROM eye_schema_version", &[])
            .await
            .expect("version")
            .get(0);
        assert_eq!(version, MIGRATIONS.len() as i64);
        assert_upgraded_from_version_6(&store).await;
    }

    /// The users of each session, built from what is stored: each pair once, none for
    /// events without one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_session_users_backfill_keeps_each_pair_once() {
        let Some((schema, client)) = PostgresSchema::create().await else {
            return;
        };
        // Migrated to the latest version (with its backfill of no event at all).
        crate::store::PostgresStore::connect(&postgres_url(), Some(&schema.name), 1)
            .await
            .expect("store");
        client.batch_execute(JANUARY).await.expect("partition");
        let rows = [
            ("s1", Some("u1")),
            ("s1", Some("u1")),
            ("s1", Some("u2")),
            ("s2", None),
            ("s3", Some("u1")),
        ];
        for (n, (session, user)) in rows.iter().enumerate() {
            client
                .execute(
                    "INSERT INTO events (id, app, session_id, category, name, ts, received_at, data, user_id)
                     VALUES ($1, 'shop', $2, 'c', 'n', $3, $3, '{}', $4)",
                    &[
                        &uuid::Uuid::from_u128(n as u128 + 1),
                        session,
                        &at(1_609_459_200_000_000 + n as i64),
                        user,
                    ],
                )
                .await
                .expect("event");
        }
        let migration = MIGRATIONS
            .iter()
            .find(|m| m.contains("CREATE TABLE session_users"))
            .expect("the migration of users");
        let backfill = &migration[migration
            .find("INSERT INTO session_users")
            .expect("backfill")..];
        client.batch_execute(backfill).await.expect("backfill");
        let kept: Vec<(String, String)> = client
            .query(
                "SELECT session_id, user_id FROM session_users ORDER BY 1, 2",
                &[],
            )
            .await
            .expect("rows")
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(s, u)| (s.to_string(), u.to_string()))
                .collect()
        };
        assert_eq!(kept, pairs(&[("s1", "u1"), ("s1", "u2"), ("s3", "u1")]));
    }
}
