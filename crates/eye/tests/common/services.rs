//! PostgreSQL and NATS for process tests: an isolated schema and stream per test, removed
//! afterwards, and a TCP proxy that can cut a service off and bring it back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub fn postgres_base() -> String {
    std::env::var("EYE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub fn nats_url() -> String {
    std::env::var("EYE_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// Under `CI=true` a missing service fails the test; elsewhere it is skipped, loudly.
pub fn unreachable(service: &str, error: &dyn std::fmt::Display) {
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!("{service} is required under CI=true but unreachable: {error}");
    }
    eprintln!("SKIPPED: {service} unreachable ({error}); start it to run this test");
}

/// A PostgreSQL schema of the test's own; dropped on drop.
pub struct Schema {
    pub name: String,
}

impl Schema {
    pub async fn create() -> Option<Schema> {
        let name = format!("eye_it_{}", uuid::Uuid::now_v7().simple());
        match tokio_postgres::connect(&postgres_base(), tokio_postgres::NoTls).await {
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

    /// The store URL for this schema, through `host_port` when given (a proxy).
    pub fn url(&self, host_port: Option<SocketAddr>) -> String {
        let base = postgres_base();
        let base = match host_port {
            Some(addr) => base.replace("127.0.0.1:5432", &addr.to_string()),
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
                    tokio_postgres::connect(&postgres_base(), tokio_postgres::NoTls).await
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
        match tokio::time::timeout(
            std::time::Duration::from_secs(3),
            async_nats::connect(nats_url().as_str()),
        )
        .await
        {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                unreachable("NATS", &error);
                return None;
            }
            Err(error) => {
                unreachable("NATS", &error);
                return None;
            }
        }
        let id = uuid::Uuid::now_v7().simple().to_string();
        Some(Stream {
            name: format!("EYE_IT_{id}"),
            consumer: format!("workers_{id}"),
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
