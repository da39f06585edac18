//! Opens the store and queue a configuration names: the embedded ones in the data directory
//! (SQLite, and an append-only log), or PostgreSQL and NATS JetStream.

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
    let queue = LogQueue::open(&config.data_dir, config.max_queue_depth)
        .with_context(|| format!("opening the queue in {}", config.data_dir.display()))?;
    Ok(Arc::new(queue))
}
