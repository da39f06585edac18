//! PostgreSQL and NATS for process tests: an isolated schema and stream per test, removed
//! afterwards, and a TCP proxy that can cut a service off and bring it back.

#[path = "../../../eye-server/src/testing/services.rs"]
mod shared;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

// Each test binary uses its own part of these.
#[allow(unused_imports)]
pub use shared::{nats_reachable, nats_url, postgres_url, skipped, unique_name, unreachable};

/// The `host:port` of [`postgres_url`] as written there.
fn postgres_host_port() -> String {
    let url = postgres_url();
    let authority = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', '?']).next())
        .unwrap_or_else(|| panic!("no host in {url}"));
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    assert!(
        host_port.contains(':'),
        "{url} names no port: write host:port so that a proxy can stand in for it"
    );
    host_port.to_owned()
}

/// Where [`postgres_url`] points, for a [`Proxy`] in front of it.
pub fn postgres_addr() -> SocketAddr {
    let host_port = postgres_host_port();
    std::net::ToSocketAddrs::to_socket_addrs(&host_port)
        .ok()
        .and_then(|mut addrs| addrs.next())
        .unwrap_or_else(|| panic!("{host_port} does not resolve"))
}

/// A PostgreSQL schema of the test's own; dropped on drop.
pub struct Schema {
    pub name: String,
}

impl Schema {
    pub async fn create() -> Option<Schema> {
        let name = unique_name("eye_it");
        match tokio_postgres::connect(&postgres_url(), tokio_postgres::NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(connection);
                client
                    .batch_execute(&format!("CREATE SCHEMA {name}"))
                    .await
                    .expect("create schema");
                Some(Schema { name })
            }
            Err(error) => {
                unreachable("PostgreSQL", &error);
                None
            }
        }
    }

    /// The store URL for this schema, through `proxy` when given (a [`Proxy`] started on
    /// [`postgres_addr`]).
    pub fn url(&self, proxy: Option<SocketAddr>) -> String {
        let base = postgres_url();
        let base = match proxy {
            Some(proxy) => base.replacen(&postgres_host_port(), &proxy.to_string(), 1),
            None => base,
        };
        let separator = if base.contains('?') { '&' } else { '?' };
        format!("{base}{separator}options=-csearch_path%3D{}", self.name)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let name = self.name.clone();
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
                    let _ = client
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// A JetStream stream and consumer name of the test's own; the stream is deleted on drop.
pub struct Stream {
    pub name: String,
    pub consumer: String,
}

impl Stream {
    pub async fn reserve() -> Option<Stream> {
        if !nats_reachable().await {
            return None;
        }
        Some(Stream {
            name: unique_name("EYE_IT"),
            consumer: unique_name("workers"),
        })
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                if let Ok(client) = async_nats::connect(nats_url().as_str()).await {
                    let _ = async_nats::jetstream::new(client)
                        .delete_stream(&name)
                        .await;
                }
            });
        })
        .join();
    }
}

/// Forwards TCP connections to `target`; `cut` drops every open connection and refuses new
/// ones until `restore`: the service looks unreachable to whoever goes through it.
pub struct Proxy {
    pub addr: SocketAddr,
    open: Arc<AtomicBool>,
    generation: watch::Sender<u64>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let open = Arc::new(AtomicBool::new(true));
        let (generation, _) = watch::channel(0u64);
        let (accepting, cuts) = (Arc::clone(&open), generation.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accepting.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused
                }
                let mut cut = cuts.subscribe();
                tokio::spawn(async move {
                    let Ok(mut upstream) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Proxy {
            addr,
            open,
            generation,
        }
    }

    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}
