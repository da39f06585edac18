//! Spawning a real server per test, with one key of each scope, and small request helpers.

use std::time::Duration;

use eye_server::Application;
use eye_server::auth::keys;
use eye_server::config::Config;
use eye_server::model::Scope;
use eye_server::store::{SqliteStore, Store};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub ingest_key: String,
    pub query_key: String,
    pub admin_key: String,
    pub dir: TempDir,
    stop: Option<oneshot::Sender<()>>,
    running: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn create_key(dir: &std::path::Path, app: &str, scopes: &[Scope]) -> String {
    let store = SqliteStore::open(dir).expect("open store");
    let key = keys::generate();
    store
        .create_key(app, scopes, key.hash)
        .await
        .expect("create key");
    key.secret
}

pub async fn spawn() -> TestApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config {
        data_dir: dir.path().to_owned(),
        listen: "127.0.0.1:0".parse().expect("address"),
        ..Config::default()
    };
    adjust(&mut config);
    spawn_in(dir, config).await
}

pub async fn spawn_in(dir: TempDir, config: Config) -> TestApp {
    let ingest_key = create_key(dir.path(), "shop", &[Scope::Ingest]).await;
    let query_key = create_key(dir.path(), "analytics", &[Scope::Query]).await;
    let admin_key = create_key(dir.path(), "ops", &[Scope::Admin]).await;
    let app = Application::build(config).await.expect("build application");
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    TestApp {
        base,
        client: http(),
        ingest_key,
        query_key,
        admin_key,
        dir,
        stop: Some(stop),
        running: Some(running),
    }
}

/// Starts a server on `dir` again (keys and data as they were), with `config`'s settings.
pub async fn restart_in(
    dir: TempDir,
    keys: [String; 3],
    adjust: impl FnOnce(&mut Config),
) -> TestApp {
    let mut config = Config {
        data_dir: dir.path().to_owned(),
        listen: "127.0.0.1:0".parse().expect("address"),
        ..Config::default()
    };
    adjust(&mut config);
    let app = Application::build(config).await.expect("build application");
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    let [ingest_key, query_key, admin_key] = keys;
    TestApp {
        base,
        client: http(),
        ingest_key,
        query_key,
        admin_key,
        dir,
        stop: Some(stop),
        running: Some(running),
    }
}

pub fn pageview(session: &str, timestamp: &str) -> Value {
    json!({
        "session_id": session,
        "category": "page interaction",
        "name": "pageview",
        "data": {"host": "www.consumeraffairs.com", "path": "/"},
        "timestamp": timestamp,
    })
}

impl TestApp {
    /// Stops the server, waits until it has drained and exited, and gives back its data
    /// directory and keys (ingest, query, admin) for [`restart_in`].
    pub async fn stop(mut self) -> (TempDir, [String; 3]) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(running) = self.running.take() {
            running
                .await
                .expect("the server task")
                .expect("the server stops cleanly");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let dir = std::mem::replace(&mut self.dir, dir);
        let keys = [
            std::mem::take(&mut self.ingest_key),
            std::mem::take(&mut self.query_key),
            std::mem::take(&mut self.admin_key),
        ];
        (dir, keys)
    }

    pub fn request(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let builder = self.client.request(method, format!("{}{path}", self.base));
        match key {
            Some(key) => builder.bearer_auth(key),
            None => builder,
        }
    }

    pub async fn ingest(&self, body: &Value) -> Response {
        self.ingest_raw(serde_json::to_vec(body).expect("json"), "application/json")
            .await
    }

    pub async fn ingest_raw(&self, body: Vec<u8>, content_type: &str) -> Response {
        self.request(Method::POST, "/v1/events", Some(&self.ingest_key))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("send")
    }

    /// GET with the query key; returns status and JSON body.
    pub async fn query(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .request(Method::GET, path, Some(&self.query_key))
            .send()
            .await
            .expect("send");
        json_of(response).await
    }

    /// Waits until the worker has stored everything queued so far.
    pub async fn drain(&self) {
        for _ in 0..500 {
            let (_, body) = json_of(
                self.request(Method::GET, "/readyz", None)
                    .send()
                    .await
                    .expect("readyz"),
            )
            .await;
            if body["queue_depth"] == json!(0) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the queue did not drain within 10 s");
    }

    /// The value of the first `/metrics` sample line starting with `prefix` (the name and
    /// its labels), if there is one.
    pub async fn metric(&self, prefix: &str) -> Option<f64> {
        let text = self
            .request(Method::GET, "/metrics", None)
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .find(|line| line.starts_with(prefix))
            .and_then(|line| line.rsplit(' ').next()?.parse().ok())
    }

    /// Every event matching `query` (without `cursor`), following `next_cursor`.
    pub async fn all_events(&self, query: &str) -> Vec<Value> {
        let mut events = Vec::new();
        let mut cursor = String::new();
        loop {
            let (status, page) = self
                .query(&format!("/v1/events?{query}&cursor={cursor}"))
                .await;
            assert_eq!(status, StatusCode::OK, "{page}");
            events.extend(page["events"].as_array().expect("events").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = next.to_owned(),
                None => return events,
            }
        }
    }
}

pub async fn json_of(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("body");
    let value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text:?}"));
    (status, value)
}

/// Asserts an error answer: status, `{"error": {"code", "message"}}`, and a non-empty message.
pub async fn expect_error(response: Response, status: StatusCode, code: &str) -> Value {
    let (actual, body) = json_of(response).await;
    assert_eq!(actual, status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        !body["error"]["message"].as_str().unwrap_or("").is_empty(),
        "{body}"
    );
    body
}

/// An HTTP client for tests. reqwest is built without a default TLS crypto provider in this
/// workspace (the SDK brings ring), so one is installed first.
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}
