//! A real Eye server on a random port, and a fault-injecting proxy in front of it.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eye_server::Application;
use eye_server::auth::keys;
use eye_server::config::Config;
use eye_server::model::Scope;
use eye_server::store::{SqliteStore, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct Server {
    pub url: String,
    pub ingest_key: String,
    pub query_key: String,
    _dir: tempfile::TempDir,
}

pub async fn server(adjust: impl FnOnce(&mut Config)) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).expect("store");
    let (ingest, query) = (keys::generate(), keys::generate());
    store
        .create_key("shop", &[Scope::Ingest], ingest.hash)
        .await
        .expect("key");
    store
        .create_key("team", &[Scope::Query], query.hash)
        .await
        .expect("key");
    let mut config = Config {
        data_dir: dir.path().to_owned(),
        listen: "127.0.0.1:0".parse().expect("addr"),
        ..Config::default()
    };
    adjust(&mut config);
    let app = Application::build(config).await.expect("build");
    let url = format!("http://{}", app.local_addr());
    tokio::spawn(app.run(std::future::pending()));
    Server {
        url,
        ingest_key: ingest.secret,
        query_key: query.secret,
        _dir: dir,
    }
}

/// What the proxy does with the next request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this status (with `Retry-After` seconds when given) without forwarding.
    Status(u16, Option<u64>),
    /// Close the connection without answering.
    Reset,
    /// Forward the request (the server stores it), then never answer: the client times out.
    ForwardThenHang,
}

/// One request as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    pub head: String,
    /// The body, decompressed when it was gzipped.
    pub body: Vec<u8>,
}

pub struct FaultProxy {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl FaultProxy {
    /// Applies `faults` to the first requests, in order, then forwards everything to `upstream`.
    pub async fn start(upstream: &str, faults: Vec<Fault>) -> FaultProxy {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .parse()
            .expect("upstream address");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let faults = Arc::new(Mutex::new(VecDeque::from(faults)));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (faults, recorded) = (Arc::clone(&faults), Arc::clone(&recorded));
                tokio::spawn(async move {
                    let _ = handle(socket, upstream, &faults, &recorded).await;
                });
            }
        });
        FaultProxy { url, seen }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

async fn handle(
    mut client: TcpStream,
    upstream: SocketAddr,
    faults: &Mutex<VecDeque<Fault>>,
    seen: &Mutex<Vec<Seen>>,
) -> std::io::Result<()> {
    let (head, body) = read_request(&mut client).await?;
    seen.lock().expect("lock").push(Seen {
        at: Instant::now(),
        head: head.clone(),
        body: decompressed(&head, &body),
    });
    let fault = faults.lock().expect("lock").pop_front();
    match fault {
        Some(Fault::Reset) => Ok(()),
        Some(Fault::Status(status, retry_after)) => {
            let body =
                format!(r#"{{"error":{{"code":"injected","message":"injected {status}"}}}}"#);
            let retry = retry_after
                .map(|s| format!("Retry-After: {s}\r\n"))
                .unwrap_or_default();
            let response = format!(
                "HTTP/1.1 {status} Injected\r\nContent-Type: application/json\r\n{retry}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            client.write_all(response.as_bytes()).await
        }
        Some(Fault::ForwardThenHang) => {
            forward(&head, &body, upstream).await?;
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        }
        None => {
            let response = forward(&head, &body, upstream).await?;
            client.write_all(&response).await
        }
    }
}

fn decompressed(head: &str, body: &[u8]) -> Vec<u8> {
    if !head.to_ascii_lowercase().contains("content-encoding: gzip") {
        return body.to_vec();
    }
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(body), &mut plain)
        .expect("a gzip body");
    plain
}

/// Sends one request upstream with `Connection: close` and returns the whole response.
async fn forward(head: &str, body: &[u8], upstream: SocketAddr) -> std::io::Result<Vec<u8>> {
    let mut server = TcpStream::connect(upstream).await?;
    let head: String = head
        .lines()
        .filter(|line| !line.to_ascii_lowercase().starts_with("connection:"))
        .map(|line| format!("{line}\r\n"))
        .collect();
    server.write_all(head.as_bytes()).await?;
    server.write_all(b"Connection: close\r\n\r\n").await?;
    server.write_all(body).await?;
    let mut response = Vec::new();
    server.read_to_end(&mut response).await?;
    Ok(response)
}

async fn read_request(client: &mut TcpStream) -> std::io::Result<(String, Vec<u8>)> {
    let mut data = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        let read = client.read(&mut chunk).await?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        data.extend_from_slice(&chunk[..read]);
        if let Some(position) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break position;
        }
    };
    let head = String::from_utf8_lossy(&data[..header_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    let mut body = data[header_end + 4..].to_vec();
    while body.len() < length {
        let read = client.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..read]);
    }
    Ok((head, body))
}

/// The `event_id` of every stored event, following pagination (the SDK gives each event
/// one, so an event stored without it fails the test).
pub async fn stored_event_ids(server: &Server) -> Vec<String> {
    let client = eye_client::Client::builder(&server.url, &server.query_key)
        .build()
        .expect("client");
    let mut ids = Vec::new();
    let mut filter = eye_client::EventFilter {
        limit: Some(1000),
        ..Default::default()
    };
    loop {
        let page = client.events(&filter).await.expect("events");
        ids.extend(page.events.into_iter().map(|event| {
            event
                .event_id
                .unwrap_or_else(|| panic!("stored without its event_id: {}", event.id))
        }));
        match page.next_cursor {
            Some(cursor) => filter.cursor = Some(cursor),
            None => return ids,
        }
    }
}

/// Waits until the server's queue is drained.
pub async fn drain(server: &Server) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    for _ in 0..500 {
        let body: serde_json::Value = http
            .get(format!("{}/readyz", server.url))
            .send()
            .await
            .expect("readyz")
            .json()
            .await
            .expect("json");
        if body["queue_depth"] == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("queue did not drain");
}
