//! Where a run keeps its data: the embedded store and queue in a fresh temporary directory
//! (the default), or PostgreSQL and NATS JetStream (`--scale-out`), each run in a schema and
//! a stream of its own that are removed afterwards.

use std::sync::Arc;

use anyhow::Context;
use eye_server::store::{PostgresStore, SqliteStore, Store};

/// The backends a run measures.
#[derive(Debug, Clone)]
pub enum Backend {
    Embedded,
    ScaleOut { postgres: String, nats: String },
}

impl Backend {
    pub fn label(&self) -> &'static str {
        match self {
            Backend::Embedded => "embedded (SQLite store, log queue)",
            Backend::ScaleOut { .. } => "scale-out (PostgreSQL store, JetStream queue)",
        }
    }
}

/// One empty deployment: a data directory, and for scale-out a PostgreSQL schema and a
/// JetStream stream no other run uses.
pub struct Deployment {
    backend: Backend,
    pub data_dir: tempfile::TempDir,
    /// The schema and stream name of a scale-out deployment.
    namespace: Option<String>,
}

impl Deployment {
    pub async fn create(backend: &Backend) -> anyhow::Result<Deployment> {
        let data_dir = tempfile::tempdir()?;
        let namespace = match backend {
            Backend::Embedded => None,
            Backend::ScaleOut { postgres, .. } => {
                let name = format!("eye_bench_{}", uuid::Uuid::now_v7().simple());
                let client = connect(postgres).await?;
                client
                    .batch_execute(&format!("CREATE SCHEMA {name}"))
                    .await
                    .context("creating the benchmark's PostgreSQL schema")?;
                Some(name)
            }
        };
        Ok(Deployment {
            backend: backend.clone(),
            data_dir,
            namespace,
        })
    }

    /// A new embedded deployment holding a copy of this one's files (a preloaded store
    /// served several times, each time from the same bytes). The store must be closed.
    pub fn copy(&self) -> anyhow::Result<Deployment> {
        anyhow::ensure!(
            matches!(self.backend, Backend::Embedded),
            "only an embedded deployment can be copied"
        );
        let data_dir = tempfile::tempdir()?;
        for entry in std::fs::read_dir(self.data_dir.path())? {
            let entry = entry?;
            // The shared-memory index is rebuilt by whoever opens the store first.
            let index = entry.file_name().to_string_lossy().ends_with("-shm");
            if entry.file_type()?.is_file() && !index {
                std::fs::copy(entry.path(), data_dir.path().join(entry.file_name()))
                    .with_context(|| format!("copying {}", entry.path().display()))?;
            }
        }
        Ok(Deployment {
            backend: Backend::Embedded,
            data_dir,
            namespace: None,
        })
    }

    /// The store, opened directly (no HTTP, no queue), for raw inserts and preloading.
    pub async fn open_store(&self) -> anyhow::Result<Arc<dyn Store>> {
        Ok(match (&self.backend, &self.namespace) {
            (Backend::ScaleOut { postgres, .. }, Some(schema)) => {
                Arc::new(PostgresStore::connect(postgres, Some(schema), 4).await?)
            }
            _ => Arc::new(SqliteStore::open(self.data_dir.path())?),
        })
    }

    /// The arguments that point an `eye` command at this deployment's store.
    pub fn store_args(&self) -> Vec<String> {
        let dir = self.data_dir.path().to_string_lossy().into_owned();
        let mut args = vec!["--data-dir".to_owned(), dir];
        if let (Backend::ScaleOut { postgres, .. }, Some(schema)) = (&self.backend, &self.namespace)
        {
            let separator = if postgres.contains('?') { '&' } else { '?' };
            args.extend([
                "--store".to_owned(),
                format!("{postgres}{separator}options=-csearch_path%3D{schema}"),
            ]);
        }
        args
    }

    /// Environment for `eye serve`: the queue, its stream and its consumer.
    pub fn environment(&self) -> Vec<(String, String)> {
        match (&self.backend, &self.namespace) {
            (Backend::ScaleOut { nats, .. }, Some(name)) => vec![
                ("EYE_QUEUE".into(), nats.clone()),
                ("EYE_NATS_STREAM".into(), name.to_uppercase()),
                ("EYE_NATS_CONSUMER".into(), format!("{name}_workers")),
            ],
            _ => Vec::new(),
        }
    }

    /// Bytes the stored data takes: the data directory, or the schema's tables and indexes.
    pub async fn store_bytes(&self) -> anyhow::Result<u64> {
        let (Backend::ScaleOut { postgres, .. }, Some(schema)) = (&self.backend, &self.namespace)
        else {
            return Ok(crate::processes::disk_bytes(self.data_dir.path()));
        };
        let row = connect(postgres)
            .await?
            .query_one(
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::BIGINT
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')",
                &[schema],
            )
            .await?;
        Ok(row.get::<_, i64>(0).max(0) as u64)
    }

    /// Removes the schema and the stream (the data directory goes with `self`).
    pub async fn remove(self) {
        let (Backend::ScaleOut { postgres, nats }, Some(name)) = (&self.backend, &self.namespace)
        else {
            return;
        };
        if let Ok(client) = connect(postgres).await {
            let _ = client
                .batch_execute(&format!("DROP SCHEMA {name} CASCADE"))
                .await;
        }
        if let Ok(connection) = async_nats::connect(nats.as_str()).await {
            let _ = async_nats::jetstream::new(connection)
                .delete_stream(name.to_uppercase())
                .await;
        }
    }
}

async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connecting to PostgreSQL at {url}"))?;
    tokio::spawn(connection);
    Ok(client)
}
