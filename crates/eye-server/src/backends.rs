//! Opens the store and queue a configuration names: the embedded ones in the data directory
//! (SQLite, and an append-only log), or PostgreSQL and NATS JetStream. A data directory that
//! cannot be used stops the start with its path and the cause.

use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::config::Config;
use crate::queue::{JetStreamQueue, JetStreamSettings, LogQueue, Queue};
use crate::store::{PostgresStore, SqliteStore, Store};

pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    if config.uses_postgres() {
        let store = PostgresStore::connect(&config.store, None, config.postgres_pool_size)
            .await
            .context("connecting to PostgreSQL")?;
        return Ok(Arc::new(store));
    }
    usable_data_dir(&config.data_dir)?;
    let store = SqliteStore::open(&config.data_dir)
        .with_context(|| format!("opening the store in {}", config.data_dir.display()))?;
    Ok(Arc::new(store))
}

pub async fn open_queue(config: &Config) -> anyhow::Result<Arc<dyn Queue>> {
    if config.queue.starts_with("nats://") {
        let settings = JetStreamSettings {
            url: config.queue.clone(),
            stream: config.nats_stream.clone(),
            consumer: config.nats_consumer.clone(),
            replicas: config.nats_replicas,
            ack_wait: Duration::from_secs(config.nats_ack_wait_secs.max(1)),
            max_depth: config.max_queue_depth,
        };
        let queue = JetStreamQueue::open(&settings)
            .await
            .context("connecting to NATS JetStream")?;
        return Ok(Arc::new(queue));
    }
    usable_data_dir(&config.data_dir)?;
    let queue = LogQueue::open(&config.data_dir, config.max_queue_depth)
        .with_context(|| format!("opening the queue in {}", config.data_dir.display()))?;
    Ok(Arc::new(queue))
}

/// Checks that `dir` is a directory this process can write, creating it if missing; the
/// error names the path and the cause (a file, no permission, a read-only file system).
pub fn usable_data_dir(dir: &Path) -> anyhow::Result<()> {
    let shown = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    let shown = shown.display();
    let why = |error: &std::io::Error| match error.kind() {
        ErrorKind::PermissionDenied => "permission denied".to_owned(),
        ErrorKind::ReadOnlyFilesystem => "it is on a read-only file system".to_owned(),
        ErrorKind::NotADirectory => "a part of the path is a file".to_owned(),
        _ => error.to_string(),
    };
    match std::fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => anyhow::bail!(
            "the data directory {shown} is a file, not a directory: give --data-dir (data_dir, \
             EYE_DATA_DIR) a directory"
        ),
        Ok(_) => {}
        Err(error) if error.kind() == ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|error| {
                anyhow::anyhow!("cannot create the data directory {shown}: {}", why(&error))
            })?
        }
        Err(error) => anyhow::bail!("cannot use the data directory {shown}: {}", why(&error)),
    }
    // An empty file: a full disk still lets the server start (and answer 503 to ingest
    // while serving queries), as before this check.
    let probe = dir.join(format!(".eye-write-check-{}", std::process::id()));
    let written = std::fs::File::create_new(&probe).map(drop);
    let _ = std::fs::remove_file(&probe);
    written.map_err(|error| {
        let problem = match error.kind() {
            ErrorKind::ReadOnlyFilesystem => "is on a read-only file system".to_owned(),
            ErrorKind::PermissionDenied => {
                "is not writable by this user (permission denied)".to_owned()
            }
            _ => format!("cannot be written: {error}"),
        };
        anyhow::anyhow!("the data directory {shown} {problem}: the store and queue live there")
    })
}
