//! Scale-out on real PostgreSQL and NATS JetStream, as processes started by
//! `scripts/cluster.sh`: two ingest nodes, two workers and a query node.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::services::{Proxy, Schema, Stream, nats_url, postgres_addr};
use common::{EYE, Server, eye, get_json};
use serde_json::{Value, json};

const NODES: [&str; 5] = ["ingest-1", "ingest-2", "worker-1", "worker-2", "query"];

struct Cluster {
    dir: tempfile::TempDir,
    ports: Vec<u16>,
    env: Vec<(&'static str, String)>,
}

fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect()
}

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/cluster.sh")
}

impl Cluster {
    fn start(store: &str, stream: &Stream) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let ports = free_ports(NODES.len());
        let env = vec![
            ("EYE_BIN", EYE.to_owned()),
            ("EYE_STORE", store.to_owned()),
            ("EYE_QUEUE", nats_url()),
            (
                "EYE_CLUSTER_DIR",
                dir.path().to_str().expect("utf-8").to_owned(),
            ),
            (
                "EYE_CLUSTER_PORTS",
                ports
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            ("EYE_NATS_STREAM", stream.name.clone()),
            ("EYE_NATS_CONSUMER", stream.consumer.clone()),
            ("EYE_NATS_ACK_WAIT_SECS", "2".to_owned()),
        ];
        let cluster = Cluster { dir, ports, env };
        let status = cluster.script("start");
        assert!(status, "cluster.sh start failed: {}", cluster.logs());
        cluster
    }

    fn script(&self, action: &str) -> bool {
        let mut command = Command::new("bash");
        command.arg(script()).arg(action);
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command.status().is_ok_and(|s| s.success())
    }

    fn url(&self, node: &str) -> String {
        let index = NODES.iter().position(|n| *n == node).expect("node");
        format!("http://127.0.0.1:{}", self.ports[index])
    }

    fn kill(&self, node: &str) {
        let pid =
            std::fs::read_to_string(self.dir.path().join(format!("{node}.pid"))).expect("pid file");
        let status = Command::new("kill")
            .args(["-9", pid.trim()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// How many lines of `node`'s log hold `needle`.
    fn log_lines(&self, node: &str, needle: &str) -> usize {
        let path = self.dir.path().join(format!("{node}.log"));
        std::fs::read_to_string(path)
            .map(|log| log.lines().filter(|line| line.contains(needle)).count())
            .unwrap_or(0)
    }

    /// Waits until more than `seen` lines of `node`'s log hold `needle`; fails the test
    /// when that has not happened within `limit`.
    async fn wait_for_log(&self, node: &str, needle: &str, seen: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.log_lines(node, needle) <= seen {
            assert!(
                Instant::now() < deadline,
                "{node} did not log {needle:?} within {limit:?}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn logs(&self) -> String {
        NODES
            .iter()
            .map(|node| {
                let log = std::fs::read_to_string(self.dir.path().join(format!("{node}.log")))
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                format!(
                    "--- {node}\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.script("stop");
    }
}

fn key(store: &str, app: &str, scope: &str) -> String {
    let output = eye(&[
        "keys", "create", "--app", app, "--scope", scope, "--store", store,
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

fn batch(client: usize, number: usize) -> Vec<Value> {
    (0..25)
        .map(|n| {
            json!({
                "session_id": format!("s{client}-{}", number % 5),
                "category": "page interaction",
                "name": "pageview",
                "data": {"host": "example.com", "path": format!("/{number}/{n}")},
                "timestamp": format!("2021-01-01 09:{:02}:{:02}.{n:06}", number % 60, client),
                "event_id": format!("c{client}-b{number}-n{n}"),
            })
        })
        .collect()
}

/// Sends one batch until some ingest node acknowledges it, trying them in turn.
async fn send_until_acknowledged(
    client: &reqwest::Client,
    nodes: &[String],
    key: &str,
    events: &[Value],
) -> bool {
    for attempt in 0..300 {
        let node = &nodes[attempt % nodes.len()];
        let sent = client
            .post(format!("{node}/v1/events"))
            .bearer_auth(key)
            .json(events)
            .send()
            .await;
        if let Ok(response) = sent
            && response.status() == 202
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// (event_id, session_id) of every stored event.
async fn all_event_ids(client: &reqwest::Client, base: &str, key: &str) -> Vec<(String, String)> {
    let text = |event: &Value, field: &str| event[field].as_str().unwrap_or_default().to_owned();
    let events = common::stored_events(client, base, key).await;
    events
        .iter()
        .map(|event| (text(event, "event_id"), text(event, "session_id")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_out_keeps_every_acknowledged_event_exactly_once() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let Some(stream) = Stream::reserve().await else {
        return;
    };
    let proxy = Proxy::start(postgres_addr()).await;
    let direct = schema.url(None);
    let migrated = eye(&["migrate", "--store", &direct]);
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let ingest_key = key(&direct, "shop", "ingest");
    let query_key = key(&direct, "team", "query");
    let cluster = Cluster::start(&schema.url(Some(proxy.addr)), &stream);
    let nodes = vec![cluster.url("ingest-1"), cluster.url("ingest-2")];

    const CLIENTS: usize = 8;
    const BATCHES: usize = 100;
    let acknowledged = Arc::new(Mutex::new(HashSet::new()));
    let http = common::http_with_timeout(Duration::from_secs(10));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (http, nodes, key, acknowledged) = (
                http.clone(),
                nodes.clone(),
                ingest_key.clone(),
                Arc::clone(&acknowledged),
            );
            tokio::spawn(async move {
                for number in 0..BATCHES {
                    let events = batch(client, number);
                    assert!(
                        send_until_acknowledged(&http, &nodes, &key, &events).await,
                        "never acknowledged"
                    );
                    let ids = events
                        .iter()
                        .map(|e| e["event_id"].as_str().expect("id").to_owned());
                    acknowledged.lock().expect("lock").extend(ids);
                    if number % 10 == 0 {
                        // A client retrying a batch it already sent: must change nothing.
                        send_until_acknowledged(&http, &nodes, &key, &events).await;
                    }
                }
            })
        })
        .collect();

    let progress = |target: usize| {
        let acknowledged = Arc::clone(&acknowledged);
        async move {
            let deadline = Instant::now() + Duration::from_secs(120);
            while acknowledged.lock().expect("lock").len() < target && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    progress(CLIENTS * BATCHES * 25 / 4).await;
    cluster.kill("worker-1");
    progress(CLIENTS * BATCHES * 25 / 2).await;
    let failed_writes = cluster.log_lines("worker-2", "store write failed");
    proxy.cut();
    // The outage lasts until the remaining worker has met it.
    cluster
        .wait_for_log(
            "worker-2",
            "store write failed",
            failed_writes,
            Duration::from_secs(30),
        )
        .await;
    proxy.restore();
    for client in clients {
        client.await.expect("client task");
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert_eq!(acknowledged.len(), CLIENTS * BATCHES * 25);

    let query = cluster.url("query");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut stored = all_event_ids(&http, &query, &query_key).await;
    while stored.len() < acknowledged.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        stored = all_event_ids(&http, &query, &query_key).await;
    }
    let mut copies: HashMap<&str, usize> = HashMap::new();
    for (event_id, _) in &stored {
        *copies.entry(event_id).or_default() += 1;
    }
    let duplicated = copies.values().filter(|n| **n > 1).count();
    let lost = acknowledged
        .iter()
        .filter(|id| !copies.contains_key(id.as_str()))
        .count();
    let phantom = copies
        .keys()
        .filter(|id| !acknowledged.contains(**id))
        .count();
    assert_eq!(
        (lost, duplicated, phantom),
        (0, 0, 0),
        "lost, duplicated, phantom\n{}",
        cluster.logs()
    );

    let mut per_session: HashMap<&str, u64> = HashMap::new();
    for (_, session) in &stored {
        *per_session.entry(session).or_default() += 1;
    }
    for (session, expected) in per_session {
        let (_, summary) =
            get_json(&http, &format!("{query}/v1/sessions/{session}"), &query_key).await;
        assert_eq!(summary["event_count"], expected, "session {session}");
    }
    println!(
        "acknowledged {} events; stored each exactly once",
        acknowledged.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_and_key_changes_reach_every_node_within_a_second() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let Some(stream) = Stream::reserve().await else {
        return;
    };
    let store = schema.url(None);
    let ingest_key = key(&store, "shop", "ingest");
    let admin_key = key(&store, "ops", "admin");
    let cluster = Cluster::start(&store, &stream);
    let http = common::http();
    let cta = json!({"session_id": "s", "category": "page interaction", "name": "cta click",
                     "data": {"host": "example.com", "path": "/"}, "timestamp": "2021-01-01 09:00:00"});

    let put = http
        .put(format!(
            "{}/v1/schemas/page%20interaction/cta%20click",
            cluster.url("query")
        ))
        .bearer_auth(&admin_key)
        .json(&json!({"type": "object", "required": ["element"]}))
        .send()
        .await
        .expect("put schema");
    assert_eq!(put.status(), 201);
    let changed = Instant::now();
    let mut seen_by = Vec::new();
    for node in ["ingest-1", "ingest-2"] {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let response = http
                .post(format!("{}/v1/events", cluster.url(node)))
                .bearer_auth(&ingest_key)
                .json(&cta)
                .send()
                .await
                .expect("send");
            if response.status() == 422 {
                seen_by.push((node, changed.elapsed()));
                break;
            }
            assert!(Instant::now() < deadline, "{node} never applied the schema");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    println!("schema in force on the ingest nodes after {seen_by:?}");

    let list = eye(&["keys", "list", "--json", "--store", &store]);
    let ingest_id = String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|key| key["app"] == "shop")
        .and_then(|key| key["id"].as_str().map(str::to_owned))
        .expect("ingest key listed");
    assert!(
        eye(&["keys", "revoke", &ingest_id, "--store", &store])
            .status
            .success()
    );
    let revoked = Instant::now();
    for node in ["ingest-1", "ingest-2"] {
        let deadline = Instant::now() + Duration::from_secs(10);
        while http
            .post(format!("{}/v1/events", cluster.url(node)))
            .bearer_auth(&ingest_key)
            .json(&cta)
            .send()
            .await
            .expect("send")
            .status()
            != 401
        {
            assert!(
                Instant::now() < deadline,
                "{node} still accepts a revoked key"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    println!(
        "revocation in force on every ingest node after {:?}",
        revoked.elapsed()
    );
    let (status, ready) = get_json(&http, &format!("{}/readyz", cluster.url("worker-1")), "").await;
    assert_eq!(
        (
            status,
            ready["checks"]["store"].clone(),
            ready["checks"]["queue"].clone()
        ),
        (200, json!("ok"), json!("ok"))
    );
    let (_, ready) = get_json(&http, &format!("{}/readyz", cluster.url("query")), "").await;
    assert_eq!(
        ready["checks"].get("queue"),
        None,
        "query nodes do not use the queue"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_data_moves_an_embedded_deployment_to_postgres() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let ingest = common::create_key(dir.path(), "shop", "ingest");
    let query = common::create_key(dir.path(), "team", "query");
    let admin = common::create_key(dir.path(), "ops", "admin");
    let http = common::http();
    // The shipped schema files, then a change through the API that a restart with the same
    // files must not undo, before or after the move.
    let schemas = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas");
    {
        let server = Server::start(dir.path(), &["--schemas", schemas]);
        let put = http
            .put(format!(
                "{}/v1/schemas/page%20interaction/cta%20click",
                server.base
            ))
            .bearer_auth(&admin)
            .json(&json!({"type": "object", "required": ["element"]}))
            .send()
            .await
            .expect("put");
        assert_eq!(put.status(), 200, "the file made version 1");
        for number in 0..40 {
            let mut events = batch(number % 3, number);
            events[0]["name"] = json!("cta click"); // rejected: no element
            let response = http
                .post(format!("{}/v1/events", server.base))
                .bearer_auth(&ingest)
                .json(&events)
                .send()
                .await
                .expect("send");
            assert_eq!(response.status(), 202);
        }
        common::drain(&http, &server.base, Duration::from_secs(30)).await;
    }
    let target = schema.url(None);
    let from = format!("sqlite://{}", dir.path().display());
    for run in 0..2 {
        let output = eye(&[
            "migrate-data",
            "--from",
            &from,
            "--to",
            &target,
            "--batch",
            "70",
        ]);
        assert!(
            output.status.success(),
            "run {run}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let moved = tempfile::tempdir().expect("tempdir");
    let server = Server::start(moved.path(), &["--store", &target, "--schemas", schemas]);
    let stored = all_event_ids(&http, &server.base, &query).await;
    assert_eq!(
        stored.len(),
        40 * 24,
        "every event once, even after a second run"
    );
    let (_, session) = get_json(&http, &format!("{}/v1/sessions/s0-0", server.base), &query).await;
    let expected = stored.iter().filter(|(_, s)| s == "s0-0").count();
    assert_eq!(session["event_count"], expected);
    let (_, errors) = get_json(&http, &format!("{}/v1/errors/summary", server.base), &query).await;
    assert_eq!(errors["by_code"]["schema_violation"], 40);
    let (_, schema_info) = get_json(
        &http,
        &format!("{}/v1/schemas/page%20interaction/cta%20click", server.base),
        &admin,
    )
    .await;
    assert_eq!(
        (&schema_info["version"], &schema_info["schema"]),
        (
            &json!(2),
            &json!({"type": "object", "required": ["element"]})
        ),
        "the API's version stays in force after the move: {schema_info}"
    );
}
