//! `eye backup` and `eye restore` with the real binary: a backup taken while events keep
//! arriving restores every event that was queryable before it, once, with keys and schemas
//! working; and every wrong input is refused with a message that says why.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::services::{postgres_url, skipped, unique_name, unreachable};
use common::{Run, Server, create_key, eye_command, finish, get_json, run_with, stored_event_ids};
use serde_json::{Value, json};

/// The commands of README's "Backup and restore", run as written there in the directory
/// that holds `eye-data` (standard output is a pipe: their summaries are JSON).
const BACKUP: &[&str] = &["backup", "--data-dir", "eye-data", "--to", "eye-backup.db"];
const RESTORE: &[&str] = &[
    "restore",
    "--from",
    "eye-backup.db",
    "--data-dir",
    "eye-data-restored",
];

const SCHEMA_URL: &str = "/v1/schemas/page%20interaction/pageview";
/// Events per request of the steady load, and its bounds.
const BATCH: usize = 20;
const MAX_ROUNDS: usize = 5_000;
const MAX_LOAD: Duration = Duration::from_secs(60);

fn path(dir: &Path) -> &str {
    dir.to_str().expect("utf-8")
}

/// `eye` with `args`, run in `dir`.
fn in_dir(dir: &Path, args: &[&str]) -> Run {
    let mut command = eye_command(args, &[]);
    command.current_dir(dir);
    finish(command, None)
}

fn event(id: &str, n: usize) -> Value {
    json!({
        "session_id": format!("s{}", n % 7),
        "category": "page interaction",
        "name": "pageview",
        "data": {"n": n},
        "timestamp": "2021-01-01 09:15:27",
        "event_id": id,
    })
}

/// Requests the steady load made, and the longest any took while `watch` was set.
#[derive(Default)]
struct Load {
    accepted: AtomicUsize,
    watch: AtomicBool,
    slowest_watched_us: AtomicUsize,
}

/// Posts batches until `stop` (or its bounds), counting the accepted ones.
async fn steady_load(base: String, key: String, load: Arc<Load>, stop: Arc<AtomicBool>) {
    let http = common::http_with_timeout(Duration::from_secs(10));
    let started = Instant::now();
    for round in 0..MAX_ROUNDS {
        if stop.load(Ordering::Relaxed) || started.elapsed() > MAX_LOAD {
            return;
        }
        let events: Vec<Value> = (0..BATCH)
            .map(|n| event(&format!("r{round}-n{n}"), round * BATCH + n))
            .collect();
        let watched = load.watch.load(Ordering::Relaxed);
        let sent = Instant::now();
        let response = http
            .post(format!("{base}/v1/events"))
            .bearer_auth(&key)
            .json(&events)
            .send()
            .await
            .expect("post events");
        assert_eq!(response.status(), 202, "{:?}", response.text().await);
        if watched || load.watch.load(Ordering::Relaxed) {
            let took = sent.elapsed().as_micros() as usize;
            load.slowest_watched_us.fetch_max(took, Ordering::Relaxed);
        }
        load.accepted.fetch_add(1, Ordering::Relaxed);
    }
}

/// Every stored event id with how many times it was returned, waiting until at least `least`
/// are there.
async fn stored_at_least(base: &str, key: &str, least: usize) -> HashMap<String, usize> {
    let http = common::http();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut counts = HashMap::new();
        for id in stored_event_ids(&http, base, key).await {
            *counts.entry(id).or_insert(0) += 1;
        }
        if counts.len() >= least {
            return counts;
        }
        assert!(
            Instant::now() < deadline,
            "only {} events stored after 30 s",
            counts.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn put_schema(base: &str, admin: &str) {
    let schema =
        json!({"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}});
    let response = common::http()
        .put(format!("{base}{SCHEMA_URL}"))
        .bearer_auth(admin)
        .json(&schema)
        .send()
        .await
        .expect("put schema");
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
}

async fn post(base: &str, key: &str, events: &Value) -> u16 {
    common::http()
        .post(format!("{base}/v1/events"))
        .bearer_auth(key)
        .json(events)
        .send()
        .await
        .expect("post")
        .status()
        .as_u16()
}

/// Erases a session of its own (suppressing its later events) and waits until that is done;
/// the erasure's id.
async fn erase_a_session(base: &str, admin: &str) -> String {
    let http = common::http();
    let request = json!({"session_ids": ["forgotten"], "suppress": true});
    let response = http
        .post(format!("{base}/v1/erasures"))
        .bearer_auth(admin)
        .json(&request)
        .send()
        .await
        .expect("erase");
    assert_eq!(response.status(), 202);
    let erasure: Value = response.json().await.expect("json");
    let id = erasure["id"].as_str().expect("an id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, erasure) = get_json(&http, &format!("{base}/v1/erasures/{id}"), admin).await;
        if erasure["status"] == "done" {
            return id;
        }
        assert!(Instant::now() < deadline, "not done after 30 s: {erasure}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every row of `table`, as text, in order.
fn rows(store: &Path, table: &str) -> Vec<String> {
    let connection = rusqlite::Connection::open(store).expect("open a store");
    let sql = format!("SELECT * FROM {table} ORDER BY 1, 2");
    let mut statement = connection.prepare(&sql).expect("prepare");
    let columns = statement.column_count();
    statement
        .query_map([], |row| {
            (0..columns)
                .map(|i| {
                    row.get::<_, rusqlite::types::Value>(i)
                        .map(|v| format!("{v:?}"))
                })
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .expect("query")
        .map(|row| row.expect("a row").join("|"))
        .collect()
}

fn integrity_check(store: &Path) -> Vec<String> {
    let connection = rusqlite::Connection::open(store).expect("open the restored store");
    let mut statement = connection
        .prepare("PRAGMA integrity_check")
        .expect("prepare");
    statement
        .query_map([], |row| row.get(0))
        .expect("integrity check")
        .map(|line| line.expect("a line"))
        .collect()
}

/// Sessions whose summary does not count exactly their stored events: none in a consistent
/// snapshot, since both are written in one transaction.
fn sessions_off(store: &Path) -> i64 {
    let connection = rusqlite::Connection::open(store).expect("open the restored store");
    connection
        .query_row(
            "SELECT COUNT(*) FROM sessions s WHERE event_count != \
             (SELECT COUNT(*) FROM events e WHERE e.session_id = s.session_id)",
            [],
            |row| row.get(0),
        )
        .expect("compare sessions")
}

fn assert_refused(run: &Run, says: &str) {
    assert_eq!(
        run.code, 1,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert!(run.stderr.contains(says), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_during_ingest_restores_every_event_stored_before_it_once() {
    let work = tempfile::tempdir().expect("tempdir");
    let source = work.path().join("eye-data");
    let ingest = create_key(&source, "shop", "ingest");
    let query = create_key(&source, "team", "query");
    let admin = create_key(&source, "ops", "admin");
    let server = Server::start(&source, &[]);
    put_schema(&server.base, &admin).await;
    let erasure = erase_a_session(&server.base, &admin).await;

    let (load, stop) = (Arc::new(Load::default()), Arc::new(AtomicBool::new(false)));
    let loader = tokio::spawn(steady_load(
        server.base.clone(),
        ingest.clone(),
        Arc::clone(&load),
        Arc::clone(&stop),
    ));
    let before = stored_at_least(&server.base, &query, 40 * BATCH).await;

    // The backup runs while the load goes on.
    let accepted_at_start = load.accepted.load(Ordering::Relaxed);
    load.watch.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let at = work.path().to_owned();
    let run = tokio::task::spawn_blocking(move || in_dir(&at, BACKUP))
        .await
        .expect("backup");
    let took = started.elapsed();
    load.watch.store(false, Ordering::Relaxed);
    let accepted_during = load.accepted.load(Ordering::Relaxed) - accepted_at_start;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("store: {}", source.join("eye.db").display())),
        "{}",
        run.stderr
    );
    let summary: Value = serde_json::from_str(run.stdout.trim()).expect("a JSON summary");
    let backed_up = summary["events"].as_u64().expect("events");
    assert!(backed_up as usize >= before.len(), "{summary}");
    assert_eq!(summary["keys"], 3, "{summary}");
    assert_eq!(summary["schema_versions"], 1, "{summary}");
    assert_eq!(summary["erasures"], 1, "{summary}");
    eprintln!(
        "backup of {backed_up} events: {took:?} for the command; {accepted_during} requests \
         accepted meanwhile, the slowest in {} µs",
        load.slowest_watched_us.load(Ordering::Relaxed)
    );
    assert!(
        accepted_during > 0,
        "ingest went on while the backup ran ({took:?})"
    );

    stop.store(true, Ordering::Relaxed);
    loader.await.expect("the load");
    let (status, _) = server.stop();
    assert!(status.success());

    let restored = work.path().join("eye-data-restored");
    let run = in_dir(work.path(), RESTORE);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let summary: Value = serde_json::from_str(run.stdout.trim()).expect("a JSON summary");
    assert_eq!(summary["events"].as_u64(), Some(backed_up), "{summary}");
    assert_eq!(summary["integrity"], "ok", "{summary}");
    let store = restored.join("eye.db");
    assert_eq!(integrity_check(&store), ["ok"]);
    assert_eq!(
        sessions_off(&store),
        0,
        "session summaries match their events"
    );
    // Nothing changed these after the backup: the copy holds them as the source does.
    for table in [
        "api_keys",
        "schemas",
        "settings",
        "erasures",
        "suppressed_sessions",
    ] {
        let (original, copy) = (rows(&source.join("eye.db"), table), rows(&store, table));
        assert!(!original.is_empty(), "{table} has rows to compare");
        assert_eq!(original, copy, "{table}");
    }

    let server = Server::start(&restored, &[]);
    let after = stored_at_least(&server.base, &query, 0).await;
    let missing: Vec<&String> = before
        .keys()
        .filter(|id| !after.contains_key(*id))
        .collect();
    assert!(missing.is_empty(), "lost by the backup: {missing:?}");
    let twice: Vec<(&String, &usize)> = after.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    assert_eq!(after.len() as u64, backed_up);

    // The old keys work, the schema is in force, and the erasure is there.
    let http = common::http();
    let url = format!("{}/v1/erasures/{erasure}", server.base);
    let (status, found) = get_json(&http, &url, &admin).await;
    assert_eq!((status, &found["status"]), (200, &json!("done")), "{found}");
    let (status, schema) = get_json(&http, &format!("{}{SCHEMA_URL}", server.base), &admin).await;
    assert_eq!(status, 200, "{schema}");
    let violating = json!({"session_id": "s", "category": "page interaction", "name": "pageview",
                           "data": {"n": "not a number"}, "timestamp": "2021-01-01 09:15:27"});
    assert_eq!(post(&server.base, &ingest, &violating).await, 422);
    assert_eq!(
        post(&server.base, &ingest, &event("after-restore", 1)).await,
        202
    );
    let grown = stored_at_least(&server.base, &query, after.len() + 1).await;
    assert!(grown.contains_key("after-restore"));
}

/// A data directory with a store (one key) and a backup of it.
fn store_and_backup(work: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let source = work.join("eye-data");
    create_key(&source, "shop", "ingest");
    let backup = work.join("eye-backup.db");
    let run = run_with(
        &["backup", "--data-dir", path(&source), "--to", path(&backup)],
        None,
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    (source, backup)
}

#[test]
fn restoring_into_a_directory_that_is_not_empty_is_refused() {
    let work = tempfile::tempdir().expect("tempdir");
    let (source, backup) = store_and_backup(work.path());
    for target in [source.clone(), work.path().join("other")] {
        std::fs::create_dir_all(&target).expect("dir");
        std::fs::write(target.join("notes.txt"), "mine").expect("a file");
        let run = run_with(
            &[
                "restore",
                "--from",
                path(&backup),
                "--data-dir",
                path(&target),
            ],
            None,
            &[],
        );
        assert_refused(&run, "is not empty");
        assert!(run.stderr.contains(path(&target)), "{}", run.stderr);
        assert_eq!(
            std::fs::read_to_string(target.join("notes.txt")).expect("kept"),
            "mine"
        );
    }
    let file = work.path().join("a-file");
    std::fs::write(&file, "x").expect("a file");
    let run = run_with(
        &[
            "restore",
            "--from",
            path(&backup),
            "--data-dir",
            path(&file),
        ],
        None,
        &[],
    );
    assert_refused(&run, "is a file");
    // An empty directory is fine, and so is one that is not there yet.
    let empty = work.path().join("empty");
    std::fs::create_dir(&empty).expect("dir");
    for target in [empty, work.path().join("new/nested")] {
        let run = run_with(
            &[
                "restore",
                "--from",
                path(&backup),
                "--data-dir",
                path(&target),
            ],
            None,
            &[],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(target.join("eye.db").is_file());
    }
}

#[test]
fn backing_up_a_directory_without_a_store_is_refused() {
    let work = tempfile::tempdir().expect("tempdir");
    let to = work.path().join("eye-backup.db");
    let empty = work.path().join("empty");
    std::fs::create_dir(&empty).expect("dir");
    let run = run_with(
        &["backup", "--data-dir", path(&empty), "--to", path(&to)],
        None,
        &[],
    );
    assert_refused(&run, "found no store in");
    let missing = work.path().join("missing");
    let run = run_with(
        &["backup", "--data-dir", path(&missing), "--to", path(&to)],
        None,
        &[],
    );
    assert_refused(&run, "does not exist");
    assert!(!missing.exists(), "nothing made at a mistyped directory");
    assert!(!to.exists());
}

#[test]
fn restoring_from_a_file_that_is_not_a_backup_is_refused() {
    let work = tempfile::tempdir().expect("tempdir");
    let text = work.path().join("notes.txt");
    std::fs::write(&text, "not a database at all").expect("write");
    let other = work.path().join("other.db");
    rusqlite::Connection::open(&other)
        .and_then(|db| db.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);"))
        .expect("another database");
    let target = work.path().join("restored");
    for from in [&text, &other] {
        let nested = target.join("inner");
        let run = run_with(
            &["restore", "--from", path(from), "--data-dir", path(&nested)],
            None,
            &[],
        );
        assert_refused(&run, "is not a backup of The Eye");
        assert!(!target.exists(), "a refused restore leaves nothing behind");
    }
    let run = run_with(
        &[
            "restore",
            "--from",
            path(&work.path().join("missing.db")),
            "--data-dir",
            path(&target),
        ],
        None,
        &[],
    );
    assert_refused(&run, "does not exist");
    let run = run_with(
        &[
            "restore",
            "--from",
            path(work.path()),
            "--data-dir",
            path(&target),
        ],
        None,
        &[],
    );
    assert_refused(&run, "is a directory");
    assert!(!target.exists());
}

#[test]
fn a_damaged_backup_is_refused_by_the_integrity_check() {
    let work = tempfile::tempdir().expect("tempdir");
    let (_, backup) = store_and_backup(work.path());
    // Garbage over the second page onwards (the first page, with the header, stays).
    let mut bytes = std::fs::read(&backup).expect("read");
    let page = 4096.min(bytes.len() / 2);
    for byte in bytes.iter_mut().skip(page) {
        *byte = 0xA5;
    }
    std::fs::write(&backup, bytes).expect("damage");
    let target = work.path().join("restored");
    let run = run_with(
        &[
            "restore",
            "--from",
            path(&backup),
            "--data-dir",
            path(&target),
        ],
        None,
        &[],
    );
    assert_refused(&run, "is damaged");
    assert!(!target.exists(), "a refused restore leaves nothing behind");
}

#[test]
fn backing_up_to_an_existing_file_is_refused_unless_forced() {
    let work = tempfile::tempdir().expect("tempdir");
    let (source, _) = store_and_backup(work.path());
    let to = work.path().join("precious");
    std::fs::write(&to, "keep me").expect("write");
    let args = ["backup", "--data-dir", path(&source), "--to", path(&to)];
    let run = run_with(&args, None, &[]);
    assert_refused(&run, "already exists");
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&to).expect("kept"), "keep me");

    let run = run_with(&[&args[..], &["--force"]].concat(), None, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        std::fs::read(&to)
            .expect("read")
            .starts_with(b"SQLite format 3\0")
    );
    let leftovers: Vec<_> = std::fs::read_dir(work.path())
        .expect("dir")
        .map_while(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file left behind");

    for (to, says) in [
        (work.path().to_owned(), "is a directory"),
        (work.path().join("missing/eye-backup.db"), "does not exist"),
        (source.join("eye.db"), "a file of the store itself"),
        (source.join("eye.db-wal"), "a file of the store itself"),
    ] {
        let args = [
            "backup",
            "--data-dir",
            path(&source),
            "--to",
            path(&to),
            "--force",
        ];
        assert_refused(&run_with(&args, None, &[]), says);
    }
}

#[test]
fn backing_up_a_postgresql_store_points_to_its_own_tools() {
    let work = tempfile::tempdir().expect("tempdir");
    let to = work.path().join("eye-backup.db");
    let url = "postgres://eye:s3cret@127.0.0.1:9/eye";
    for (args, env) in [
        (vec!["backup", "--store", url, "--to", path(&to)], vec![]),
        (vec!["backup", "--to", path(&to)], vec![("EYE_STORE", url)]),
    ] {
        let run = run_with(&args, None, &env);
        assert_refused(&run, "pg_dump");
        assert!(run.stderr.contains("pg_basebackup"), "{}", run.stderr);
        assert!(run.stderr.contains("Backup and restore"), "{}", run.stderr);
        assert!(!run.stderr.contains("s3cret"), "{}", run.stderr);
    }
    assert!(!to.exists());
}

#[test]
fn help_says_what_a_backup_holds_and_what_it_does_not() {
    let run = run_with(&["backup", "--help"], None, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for says in ["queued", "consistent", "PostgreSQL", "--force"] {
        assert!(run.stdout.contains(says), "{says}: {}", run.stdout);
    }
    let run = run_with(&["restore", "--help"], None, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("empty"), "{}", run.stdout);
}

/// The PostgreSQL commands of README's "Backup and restore", as written there (the restored
/// database's name aside): a dump of the store's database while a node runs, restored into
/// a new database that a node then serves.
const POSTGRES_COMMANDS: &str = r#"
pg_dump --format=custom --file=eye.dump "$EYE_STORE"
psql "$EYE_STORE" --command='CREATE DATABASE eye_restored'
pg_restore --no-owner --exit-on-error --dbname="$RESTORED_STORE" eye.dump
"#;

/// Databases of the test's own, dropped on drop.
struct Databases(Vec<String>);

impl Databases {
    async fn admin() -> Option<tokio_postgres::Client> {
        match tokio_postgres::connect(&postgres_url(), tokio_postgres::NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(connection);
                Some(client)
            }
            Err(error) => {
                unreachable("PostgreSQL", &error);
                None
            }
        }
    }
}

impl Drop for Databases {
    fn drop(&mut self) {
        let names = std::mem::take(&mut self.0);
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                if let Ok((client, connection)) =
                    tokio_postgres::connect(&postgres_url(), tokio_postgres::NoTls).await
                {
                    tokio::spawn(connection);
                    for name in names {
                        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = client.batch_execute(&sql).await;
                    }
                }
            });
        })
        .join();
    }
}

/// [`postgres_url`] with its database replaced by `name`.
fn database_url(name: &str) -> String {
    let base = postgres_url();
    let (before_query, query) = match base.split_once('?') {
        Some((before, query)) => (before.to_owned(), format!("?{query}")),
        None => (base.clone(), String::new()),
    };
    let (server, _) = before_query
        .rsplit_once('/')
        .unwrap_or_else(|| panic!("no database in {base}"));
    format!("{server}/{name}{query}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgresql_commands_of_the_readme_restore_a_store() {
    let tools = ["pg_dump", "pg_restore", "psql"];
    if let Some(missing) = tools.iter().find(|tool| {
        std::process::Command::new(tool)
            .arg("--version")
            .output()
            .is_err()
    }) {
        // Under CI a missing tool is a failure, never a pass.
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "{missing} is not installed (apt-get install postgresql-client)"
        );
        return skipped(&format!("{missing} is not installed"));
    }
    let Some(admin) = Databases::admin().await else {
        return;
    };
    let (original, restored) = (unique_name("eye_bk"), unique_name("eye_bk_restored"));
    let _dropped = Databases(vec![original.clone(), restored.clone()]);
    admin
        .batch_execute(&format!("CREATE DATABASE {original}"))
        .await
        .expect("create the database");
    let (store, restored_store) = (database_url(&original), database_url(&restored));

    let work = tempfile::tempdir().expect("tempdir");
    let key = |scope: &str| {
        let args = [
            "keys", "create", "--app", "shop", "--scope", scope, "--store", &store,
        ];
        let run = run_with(&args, None, &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.stdout.trim().to_owned()
    };
    let (ingest, query) = (key("ingest"), key("query"));
    let server = Server::start(&work.path().join("node"), &["--store", &store]);
    let events: Vec<Value> = (0..50).map(|n| event(&format!("pg-{n}"), n)).collect();
    assert_eq!(post(&server.base, &ingest, &json!(events)).await, 202);
    let before = stored_at_least(&server.base, &query, 50).await;

    // The dump is taken while the node runs.
    let script = POSTGRES_COMMANDS.replace("eye_restored", &restored);
    let mut command = std::process::Command::new("bash");
    command
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(work.path())
        .env("EYE_STORE", &store)
        .env("RESTORED_STORE", &restored_store);
    let output = common::output_within(
        command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("bash"),
        Duration::from_secs(60),
        "the PostgreSQL commands",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (status, _) = server.stop();
    assert!(status.success());

    let server = Server::start(
        &work.path().join("restored-node"),
        &["--store", &restored_store],
    );
    let after = stored_at_least(&server.base, &query, 0).await;
    assert_eq!(after, before, "every event, once");
    assert_eq!(
        post(&server.base, &ingest, &event("after-restore", 1)).await,
        202,
        "the old ingest key works"
    );
}
