//! The embedded store's schema, applied in order and recorded in `PRAGMA user_version`.

use rusqlite::Connection;

/// Each entry moves the schema one version forward. Never edit a released entry: append.
const MIGRATIONS: &[&str] = &[
    // 1: events, sessions, errors, applications, keys, schemas.
    "
    CREATE TABLE events (
        id BLOB PRIMARY KEY,
        app TEXT NOT NULL,
        session_id TEXT NOT NULL,
        category TEXT NOT NULL,
        name TEXT NOT NULL,
        ts INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        event_id TEXT,
        schema_version INTEGER,
        data TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX events_by_session ON events (session_id, ts, id);
    CREATE INDEX events_by_type ON events (category, name, ts, id);
    CREATE INDEX events_by_app ON events (app, ts, id);
    CREATE INDEX events_by_time ON events (ts, id);
    CREATE UNIQUE INDEX events_dedup ON events (app, event_id) WHERE event_id IS NOT NULL;

    CREATE TABLE sessions (
        session_id TEXT PRIMARY KEY,
        first_ts INTEGER NOT NULL,
        last_ts INTEGER NOT NULL,
        event_count INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE session_apps (
        session_id TEXT NOT NULL,
        app TEXT NOT NULL,
        PRIMARY KEY (session_id, app)
    ) WITHOUT ROWID;

    CREATE TABLE errors (
        id BLOB PRIMARY KEY,
        received_at INTEGER NOT NULL,
        app TEXT NOT NULL,
        code TEXT NOT NULL,
        message TEXT NOT NULL,
        path TEXT,
        category TEXT,
        name TEXT,
        session_id TEXT,
        schema_version INTEGER,
        raw TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX errors_by_time ON errors (received_at, id);
    CREATE INDEX errors_by_code ON errors (code, received_at, id);
    CREATE INDEX errors_by_app ON errors (app, received_at, id);
    CREATE INDEX errors_by_type ON errors (category, name, received_at, id);

    CREATE TABLE apps (
        name TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        app TEXT NOT NULL REFERENCES apps (name),
        scopes TEXT NOT NULL,
        hash BLOB NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
    );

    -- Every change to a type's schema is a new version; a NULL schema marks a deletion.
    CREATE TABLE schemas (
        category TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        schema TEXT,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (category, name, version)
    ) WITHOUT ROWID;
    ",
    // 2: replay of rejected events.
    "
    ALTER TABLE errors ADD COLUMN replayed_at INTEGER;
    ALTER TABLE errors ADD COLUMN replayed_event_id BLOB;
    ",
    // 3: hourly error counts, kept by the worker, so summaries never scan the errors.
    "
    CREATE TABLE error_hourly (
        hour INTEGER NOT NULL,
        code TEXT NOT NULL,
        category TEXT NOT NULL,
        name TEXT NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (hour, code, category, name)
    ) WITHOUT ROWID;
    INSERT INTO error_hourly (hour, code, category, name, count)
        SELECT (received_at / 3600000000) * 3600000000, code, coalesce(category, ''), coalesce(name, ''), COUNT(*)
        FROM errors GROUP BY 1, 2, 3, 4;
    ",
    // 4: the schema file last loaded for each type, by digest, so that a restart with an
    // unchanged file keeps a version made through the API since.
    "
    CREATE TABLE schema_files (
        category TEXT NOT NULL,
        name TEXT NOT NULL,
        digest TEXT NOT NULL,
        loaded_at INTEGER NOT NULL,
        PRIMARY KEY (category, name)
    ) WITHOUT ROWID;
    ",
    // 5: erasure jobs, suppressed sessions, the deployment's settings (the PII secret), and
    // error records by session, for erasures.
    "
    CREATE TABLE erasures (
        id TEXT PRIMARY KEY,
        requested_at INTEGER NOT NULL,
        requested_by TEXT NOT NULL,
        app TEXT,
        session_ids TEXT NOT NULL,
        suppress INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
        completed_at INTEGER,
        events_deleted INTEGER NOT NULL DEFAULT 0,
        errors_deleted INTEGER NOT NULL DEFAULT 0,
        failure TEXT
    ) WITHOUT ROWID;
    CREATE INDEX erasures_by_status ON erasures (status, requested_at, id);
    CREATE INDEX erasures_by_time ON erasures (requested_at, id);
    CREATE INDEX erasures_by_completion ON erasures (completed_at);

    -- One row per (session, application); a NULL app suppresses every application's
    -- events. `redacted_session_id` is the session id as error records keep it.
    CREATE TABLE suppressed_sessions (
        session_id TEXT NOT NULL,
        app TEXT,
        redacted_session_id TEXT NOT NULL,
        erasure_id TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX suppressed_sessions_key ON suppressed_sessions (session_id, coalesce(app, ''));
    CREATE INDEX suppressed_sessions_redacted ON suppressed_sessions (redacted_session_id);

    CREATE TABLE settings (
        name TEXT PRIMARY KEY,
        value BLOB NOT NULL
    ) WITHOUT ROWID;

    CREATE INDEX errors_by_session ON errors (session_id);
    ",
    // 6: counts over time (stored events per interval, bucket and type; sessions per bucket
    // of their first event), the event types of each session, and sessions by last
    // activity: the data team's aggregate questions, answered without scanning events.
    // Built here from what is already stored; the worker keeps them from then on. Buckets
    // are floored (towards the past, as `Interval::floor`, also before 1970).
    "
    CREATE TABLE event_counts (
        span INTEGER NOT NULL,
        bucket INTEGER NOT NULL,
        app TEXT NOT NULL,
        category TEXT NOT NULL,
        name TEXT NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (span, bucket, app, category, name)
    ) WITHOUT ROWID;
    CREATE TABLE type_counts (
        span INTEGER NOT NULL,
        bucket INTEGER NOT NULL,
        category TEXT NOT NULL,
        name TEXT NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (span, bucket, category, name)
    ) WITHOUT ROWID;
    CREATE TABLE session_starts (
        span INTEGER NOT NULL,
        bucket INTEGER NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (span, bucket)
    ) WITHOUT ROWID;
    CREATE TABLE session_types (
        session_id TEXT NOT NULL,
        category TEXT NOT NULL,
        name TEXT NOT NULL,
        PRIMARY KEY (session_id, category, name)
    ) WITHOUT ROWID;
    CREATE INDEX sessions_by_activity ON sessions (last_ts, session_id);
    -- The longest any session has lasted (last event minus first), never lowered: sessions
    -- active before a time end no later than it plus this, which bounds a listing's walk.
    CREATE TABLE session_bounds (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        max_span INTEGER NOT NULL
    );
    INSERT INTO session_bounds (id, max_span)
        SELECT 1, coalesce(max(last_ts - first_ts), 0) FROM sessions;

    INSERT INTO event_counts (span, bucket, app, category, name, count)
        SELECT s.span, e.ts - (((e.ts % (s.span * 1000000)) + s.span * 1000000) % (s.span * 1000000)),
            e.app, e.category, e.name, count(*)
        FROM events e, (SELECT 60 AS span UNION ALL SELECT 3600 UNION ALL SELECT 86400) s
        GROUP BY 1, 2, 3, 4, 5;
    INSERT INTO type_counts (span, bucket, category, name, count)
        SELECT span, bucket, category, name, sum(count) FROM event_counts GROUP BY 1, 2, 3, 4;
    INSERT INTO session_starts (span, bucket, count)
        SELECT s.span, x.first_ts - (((x.first_ts % (s.span * 1000000)) + s.span * 1000000) % (s.span * 1000000)),
            count(*)
        FROM sessions x, (SELECT 60 AS span UNION ALL SELECT 3600 UNION ALL SELECT 86400) s
        GROUP BY 1, 2;
    INSERT INTO session_types (session_id, category, name)
        SELECT DISTINCT session_id, category, name FROM events;
    ",
    // 7: the user an event was sent with, its `context` object (JSON text, as `data`), and
    // the timestamp the client sent when the server corrected it; NULL for the events
    // stored before. Events by user (only those that have one), and the users of each
    // session, kept by the worker from here as `session_types` is, built from what is
    // already stored.
    "
    ALTER TABLE events ADD COLUMN user_id TEXT;
    ALTER TABLE events ADD COLUMN context TEXT;
    ALTER TABLE events ADD COLUMN original_ts INTEGER;
    CREATE INDEX events_by_user ON events (user_id, ts, id) WHERE user_id IS NOT NULL;
    CREATE TABLE session_users (
        session_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        PRIMARY KEY (session_id, user_id)
    ) WITHOUT ROWID;
    CREATE INDEX session_users_by_user ON session_users (user_id, session_id);
    INSERT INTO session_users (session_id, user_id)
        SELECT DISTINCT session_id, user_id FROM events WHERE user_id IS NOT NULL;
    ",
];

pub fn run(connection: &mut Connection) -> rusqlite::Result<()> {
    run_to(connection, MIGRATIONS.len())
}

/// Applies the migrations the schema lacks up to version `version` (tests build older
/// stores with it).
fn run_to(connection: &mut Connection, version: usize) -> rusqlite::Result<()> {
    let transaction = connection.transaction()?;
    let current: i64 = transaction.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let pending = MIGRATIONS[..version.min(MIGRATIONS.len())].iter();
    for (index, migration) in pending.enumerate().skip(current.max(0) as usize) {
        transaction.execute_batch(migration)?;
        transaction.pragma_update(None, "user_version", index as i64 + 1)?;
    }
    transaction.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Interval;
    use crate::store::tests::users::{assert_upgraded_from_version_6, version_6_events};

    /// A store made before users and contexts (version 6) is upgraded in place when it is
    /// opened: every event stays, with no user, context or original timestamp.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_version_6_store_keeps_its_events_with_no_user_context_or_original_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut connection = Connection::open(dir.path().join("eye.db")).expect("open");
            run_to(&mut connection, 6).expect("version 6");
            let events = version_6_events();
            for (id, ts, data) in &events {
                connection
                    .execute(
                        "INSERT INTO events (id, app, session_id, category, name, ts, received_at, data)
                         VALUES (?1, 'shop', 's-old', 'page', 'view', ?2, ?2, ?3)",
                        rusqlite::params![id.as_bytes(), ts, data],
                    )
                    .expect("event");
            }
            let (first, last) = (events[0].1, events[events.len() - 1].1);
            connection
                .execute(
                    "INSERT INTO sessions (session_id, first_ts, last_ts, event_count)
                     VALUES ('s-old', ?1, ?2, ?3)",
                    rusqlite::params![first, last, events.len() as i64],
                )
                .expect("session");
            connection
                .execute_batch(
                    "INSERT INTO session_apps VALUES ('s-old', 'shop');
                     INSERT INTO session_types VALUES ('s-old', 'page', 'view');",
                )
                .expect("links");
        }
        let store = crate::store::SqliteStore::open(dir.path()).expect("upgrade");
        let connection = Connection::open(dir.path().join("eye.db")).expect("open");
        let version: i64 = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .expect("version");
        assert_eq!(version, MIGRATIONS.len() as i64);
        assert_upgraded_from_version_6(&store).await;
    }

    /// The users of each session, built from what is stored (rows a version that keeps
    /// users wrote, in a store upgraded again): each pair once, none for events without one.
    #[test]
    fn the_session_users_backfill_keeps_each_pair_once() {
        let mut connection = Connection::open_in_memory().expect("open");
        run(&mut connection).expect("migrate");
        let rows = [
            ("s1", Some("u1")),
            ("s1", Some("u1")),
            ("s1", Some("u2")),
            ("s2", None),
            ("s3", Some("u1")),
        ];
        for (n, (session, user)) in rows.iter().enumerate() {
            connection
                .execute(
                    "INSERT INTO events (id, app, session_id, category, name, ts, received_at, data, user_id)
                     VALUES (?1, 'shop', ?2, 'c', 'n', ?3, 0, '{}', ?4)",
                    rusqlite::params![vec![n as u8; 16], session, n as i64, user],
                )
                .expect("event");
        }
        let migration = MIGRATIONS
            .iter()
            .find(|m| m.contains("CREATE TABLE session_users"))
            .expect("the migration of users");
        let backfill = &migration[migration
            .find("INSERT INTO session_users")
            .expect("backfill")..];
        connection.execute_batch(backfill).expect("backfill");
        let kept: Vec<(String, String)> = connection
            .prepare("SELECT session_id, user_id FROM session_users ORDER BY 1, 2")
            .expect("prepare")
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(s, u)| (s.to_string(), u.to_string()))
                .collect()
        };
        assert_eq!(kept, pairs(&[("s1", "u1"), ("s1", "u2"), ("s3", "u1")]));
    }

    /// The counts built from rows already stored (an upgrade) put every event in the bucket
    /// the running code puts it in, before 1970 too, so later deletes take from the right one.
    #[test]
    fn the_backfill_buckets_as_the_worker_does() {
        let mut connection = Connection::open_in_memory().expect("open");
        run(&mut connection).expect("migrate");
        let times = [
            -86_400_000_001_i64,
            -1,
            0,
            59_999_999,
            3_600_000_000 * 30 + 7,
        ];
        for (n, ts) in times.iter().enumerate() {
            connection
                .execute(
                    "INSERT INTO events (id, app, session_id, category, name, ts, received_at, data)
                     VALUES (?1, 'shop', ?2, 'c', 'n', ?3, 0, '{}')",
                    rusqlite::params![vec![n as u8; 16], format!("s{n}"), ts],
                )
                .expect("event");
            connection
                .execute(
                    "INSERT INTO sessions (session_id, first_ts, last_ts, event_count) VALUES (?1, ?2, ?2, 1)",
                    rusqlite::params![format!("s{n}"), ts],
                )
                .expect("session");
        }
        let backfill = &MIGRATIONS[5][MIGRATIONS[5]
            .find("INSERT INTO event_counts")
            .expect("backfill")..];
        connection.execute_batch(backfill).expect("backfill");
        for interval in Interval::ALL {
            for (table, column) in [("event_counts", "count"), ("session_starts", "count")] {
                let mut kept: Vec<(i64, i64)> = connection
                    .prepare(&format!(
                        "SELECT bucket, {column} FROM {table} WHERE span = ?1 ORDER BY bucket"
                    ))
                    .expect("prepare")
                    .query_map([interval.seconds()], |row| Ok((row.get(0)?, row.get(1)?)))
                    .expect("query")
                    .collect::<Result<_, _>>()
                    .expect("rows");
                let mut expected: Vec<(i64, i64)> = Vec::new();
                for ts in times {
                    let bucket = interval.floor(ts);
                    match expected.iter_mut().find(|(b, _)| *b == bucket) {
                        Some(entry) => entry.1 += 1,
                        None => expected.push((bucket, 1)),
                    }
                }
                expected.sort();
                kept.sort();
                assert_eq!(kept, expected, "{table} by {interval:?}");
            }
        }
    }
}
