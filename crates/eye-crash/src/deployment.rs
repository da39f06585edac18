//! The system under test and the faults done to it: one embedded `eye serve`, or a scaled-
//! out deployment (two ingest nodes, two workers and a query node over PostgreSQL and NATS
//! JetStream), each node on a fixed port so that a restarted node keeps its address.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::clients::http_client;
use crate::snapshot::StoreFile;

/// What a cycle does to the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    KillServer,
    KillIngestNode,
    KillWorker,
    RestartPostgres,
    RestartNats,
}

impl Fault {
    pub fn label(self) -> &'static str {
        match self {
            Fault::KillServer => "SIGKILL server",
            Fault::KillIngestNode => "SIGKILL ingest node",
            Fault::KillWorker => "SIGKILL worker",
            Fault::RestartPostgres => "restart PostgreSQL",
            Fault::RestartNats => "restart NATS",
        }
    }
}

struct Node {
    role: &'static str,
    port: u16,
    log: PathBuf,
    child: Option<Child>,
}

#[derive(Clone)]
pub struct ScaleOut {
    pub postgres: String,
    pub nats: String,
}

pub struct Deployment {
    eye: PathBuf,
    dir: tempfile::TempDir,
    nodes: Vec<Node>,
    store_args: Vec<String>,
    environment: Vec<(String, String)>,
    scale_out: Option<(ScaleOut, String)>,
    pub ingest_key: String,
    pub query_key: String,
}

impl Deployment {
    /// Creates keys and starts every node. `scale_out`: PostgreSQL and NATS URLs; the run
    /// gets a schema and a stream of its own.
    pub async fn start(eye: &Path, scale_out: Option<ScaleOut>) -> anyhow::Result<Deployment> {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        let mut store_args = vec!["--data-dir".to_owned(), data.display().to_string()];
        let mut environment = Vec::new();
        let roles: &[&'static str] = if scale_out.is_some() {
            &["ingest", "ingest", "worker", "worker", "query"]
        } else {
            &["all"]
        };
        let scale_out = match scale_out {
            Some(urls) => {
                let name = format!("eye_crash_{}", uuid::Uuid::now_v7().simple());
                postgres(&urls.postgres, &format!("CREATE SCHEMA {name}")).await?;
                let separator = if urls.postgres.contains('?') {
                    '&'
                } else {
                    '?'
                };
                store_args.extend([
                    "--store".to_owned(),
                    format!("{}{separator}options=-csearch_path%3D{name}", urls.postgres),
                ]);
                environment.extend([
                    ("EYE_QUEUE".to_owned(), urls.nats.clone()),
                    ("EYE_NATS_STREAM".to_owned(), name.to_uppercase()),
                    ("EYE_NATS_CONSUMER".to_owned(), format!("{name}_workers")),
                    // Redeliver soon after a worker dies, so a cycle drains quickly.
                    ("EYE_NATS_ACK_WAIT_SECS".to_owned(), "2".to_owned()),
                ]);
                Some((urls, name))
            }
            None => None,
        };
        let key = |scope: &str| create_key(eye, &store_args, &environment, "crash", scope);
        let (ingest_key, query_key) = (key("ingest")?, key("query")?);
        let nodes = roles
            .iter()
            .enumerate()
            .map(|(i, role)| {
                Ok(Node {
                    role,
                    port: free_port()?,
                    log: dir.path().join(format!("{role}-{i}.log")),
                    child: None,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut deployment = Deployment {
            eye: eye.to_owned(),
            dir,
            nodes,
            store_args,
            environment,
            scale_out,
            ingest_key,
            query_key,
        };
        for index in 0..deployment.nodes.len() {
            deployment.start_node(index).await?;
        }
        Ok(deployment)
    }

    pub fn faults(&self) -> Vec<Fault> {
        if self.scale_out.is_some() {
            vec![
                Fault::KillIngestNode,
                Fault::KillWorker,
                Fault::RestartPostgres,
                Fault::RestartNats,
            ]
        } else {
            vec![Fault::KillServer]
        }
    }

    fn url(&self, index: usize) -> String {
        format!("http://127.0.0.1:{}", self.nodes[index].port)
    }

    fn indexes(&self, roles: &[&str]) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| roles.contains(&self.nodes[*i].role))
            .collect()
    }

    pub fn ingest_urls(&self) -> Vec<String> {
        self.indexes(&["all", "ingest"])
            .into_iter()
            .map(|i| self.url(i))
            .collect()
    }

    pub fn query_url(&self) -> String {
        self.url(self.indexes(&["all", "query"])[0])
    }

    async fn start_node(&mut self, index: usize) -> anyhow::Result<()> {
        let node = &self.nodes[index];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)?;
        let child = Command::new(&self.eye)
            .args(["serve", "--role", node.role, "--listen"])
            .arg(format!("127.0.0.1:{}", node.port))
            .args(&self.store_args)
            .envs(self.environment.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .context("starting eye serve")?;
        self.nodes[index].child = Some(child);
        self.wait_ready(index, Duration::from_secs(60)).await
    }

    async fn wait_ready(&self, index: usize, limit: Duration) -> anyhow::Result<()> {
        let client = http_client(Duration::from_secs(2));
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(response) = client
                .get(format!("{}/readyz", self.url(index)))
                .send()
                .await
                && response.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "{} node on port {} not ready; see {}",
            self.nodes[index].role,
            self.nodes[index].port,
            self.nodes[index].log.display()
        )
    }

    fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.nodes[index].child.take() {
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
        }
    }

    /// Does `fault` now and brings the system back; `pick` chooses among same-role nodes.
    pub async fn inject(&mut self, fault: Fault, pick: usize) -> anyhow::Result<()> {
        match fault {
            Fault::KillServer | Fault::KillIngestNode | Fault::KillWorker => {
                let roles: &[&str] = match fault {
                    Fault::KillWorker => &["worker"],
                    Fault::KillIngestNode => &["ingest"],
                    _ => &["all"],
                };
                let candidates = self.indexes(roles);
                let index = candidates[pick % candidates.len()];
                self.kill(index);
                if fault == Fault::KillWorker {
                    // Let its unacknowledged messages sit out the redelivery delay.
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                self.start_node(index).await
            }
            Fault::RestartPostgres => {
                let version = std::fs::read_dir("/etc/postgresql")
                    .context("PostgreSQL's cluster directory")?
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .next()
                    .context("no PostgreSQL cluster")?;
                run(
                    "pg_ctlcluster",
                    &[
                        "--skip-systemctl-redirect",
                        &version,
                        "main",
                        "restart",
                        "-m",
                        "fast",
                    ],
                )
            }
            Fault::RestartNats => {
                run(
                    "start-stop-daemon",
                    &[
                        "--stop",
                        "--oknodo",
                        "--retry",
                        "10",
                        "--exec",
                        "/usr/sbin/nats-server",
                    ],
                )?;
                run(
                    "start-stop-daemon",
                    &[
                        "--start",
                        "--oknodo",
                        "--background",
                        "--exec",
                        "/usr/sbin/nats-server",
                        "--",
                        "-a",
                        "127.0.0.1",
                        "-p",
                        "4222",
                        "-js",
                        "-sd",
                        "/var/lib/nats-server",
                        "-l",
                        "/var/log/nats-server.log",
                    ],
                )
            }
        }
    }

    /// Waits until every node is ready and the queue is empty.
    pub async fn settle(&self, limit: Duration) -> anyhow::Result<()> {
        for index in 0..self.nodes.len() {
            self.wait_ready(index, limit).await?;
        }
        let client = http_client(Duration::from_secs(2));
        let probe = self.url(self.indexes(&["all", "worker"])[0]);
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(response) = client.get(format!("{probe}/readyz")).send().await
                && let Ok(body) = response.json::<serde_json::Value>().await
                && body["queue_depth"] == 0
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the queue did not drain within {limit:?}")
    }

    /// Stops every node and removes the schema and stream of a scale-out run.
    pub async fn finish(mut self) {
        for index in 0..self.nodes.len() {
            self.kill(index);
        }
        if let Some((urls, name)) = &self.scale_out {
            let _ = postgres(&urls.postgres, &format!("DROP SCHEMA {name} CASCADE")).await;
            if let Ok(connection) = async_nats::connect(urls.nats.as_str()).await {
                let _ = async_nats::jetstream::new(connection)
                    .delete_stream(name.to_uppercase())
                    .await;
            }
        }
    }

    /// A new key of `app` with `scope` (the application is created if new).
    pub fn create_key(&self, app: &str, scope: &str) -> anyhow::Result<String> {
        create_key(&self.eye, &self.store_args, &self.environment, app, scope)
    }

    /// Sets (or with `None` removes) an environment variable of the nodes started from now.
    pub fn set_env(&mut self, name: &str, value: Option<&str>) {
        self.environment.retain(|(key, _)| key != name);
        if let Some(value) = value {
            self.environment.push((name.to_owned(), value.to_owned()));
        }
    }

    /// The nodes that write the store (the worker, the retention sweep, erasures).
    fn writers(&self) -> Vec<usize> {
        self.indexes(&["all", "worker"])
    }

    pub fn writer_urls(&self) -> Vec<String> {
        self.writers().into_iter().map(|i| self.url(i)).collect()
    }

    /// SIGKILL of every node that writes the store.
    pub fn kill_writers(&mut self) {
        for index in self.writers() {
            self.kill(index);
        }
    }

    /// SIGKILL of every node, then each started again (with the environment as now set).
    pub async fn restart_all(&mut self) -> anyhow::Result<()> {
        for index in 0..self.nodes.len() {
            self.kill(index);
        }
        for index in 0..self.nodes.len() {
            self.start_node(index).await?;
        }
        Ok(())
    }

    /// Starts every writer not running, and waits until each is ready.
    pub async fn start_writers(&mut self) -> anyhow::Result<()> {
        for index in self.writers() {
            if self.nodes[index].child.is_none() {
                self.start_node(index).await?;
            }
        }
        Ok(())
    }

    /// Where the store is, to read it directly.
    pub fn store_file(&self) -> StoreFile {
        match &self.scale_out {
            Some((urls, schema)) => StoreFile::Postgres {
                url: urls.postgres.clone(),
                schema: schema.clone(),
            },
            None => StoreFile::Sqlite(self.dir.path().join("data").join("eye.db")),
        }
    }

    /// Where the nodes' logs are, for a failed run's message.
    pub fn logs(&self) -> &Path {
        self.dir.path()
    }
}

/// `eye keys create`: prints only the key.
fn create_key(
    eye: &Path,
    store_args: &[String],
    environment: &[(String, String)],
    app: &str,
    scope: &str,
) -> anyhow::Result<String> {
    let output = Command::new(eye)
        .args(["keys", "create", "--app", app, "--scope", scope])
        .args(store_args)
        .envs(environment.iter().map(|(k, v)| (k, v)))
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "keys create: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new(program)
        .args(args)
        .status()
        .with_context(|| format!("running {program} (needed for this fault)"))?;
    anyhow::ensure!(status.success(), "{program} {args:?} failed: {status}");
    Ok(())
}

async fn postgres(url: &str, statement: &str) -> anyhow::Result<()> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connecting to PostgreSQL at {url}"))?;
    tokio::spawn(connection);
    client.batch_execute(statement).await?;
    Ok(())
}
