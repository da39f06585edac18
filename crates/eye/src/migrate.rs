//! `eye migrate` (schema migrations) and `eye migrate-data` (moving a deployment to another
//! store). The copy goes through the stores' idempotent writes, so running it again after an
//! interruption stores nothing twice; a checkpoint file lets it resume where it stopped.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use eye_server::model::QueueMessage;
use eye_server::store::{
    ErrorQuery, EventQuery, Order, Position, PostgresStore, SqliteStore, Store,
};
use serde_json::{Value, json};

use crate::admin_store::{self, Presence};
use crate::cli::{MigrateDataArgs, StoreArgs};
use crate::logging;

pub async fn migrate(args: StoreArgs) -> anyhow::Result<()> {
    // Opening a store applies its pending migrations, under a lock on PostgreSQL.
    let store = admin_store::open(&args, Presence::MayCreateInside).await?;
    store.check().await?;
    eprintln!("the store is at the latest schema version");
    Ok(())
}

async fn open_url(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        return Ok(Arc::new(SqliteStore::open(&PathBuf::from(path))?));
    }
    anyhow::ensure!(
        url.starts_with("postgres://") || url.starts_with("postgresql://"),
        "a store URL is sqlite:///path/to/data-dir or postgres://..., not {url:?}"
    );
    Ok(Arc::new(PostgresStore::connect(url, None, 4).await?))
}

pub async fn migrate_data(args: MigrateDataArgs) -> anyhow::Result<()> {
    logging::init(eye_server::config::LogFormat::Text);
    let from = open_url(&args.from)
        .await
        .context("opening the source store")?;
    let to = open_url(&args.to)
        .await
        .context("opening the target store")?;
    let checkpoint = Checkpoint::for_urls(&args.from, &args.to);

    let keys = from.export_keys().await?;
    for (key, hash) in &keys {
        to.import_key(key, *hash).await?;
    }
    eprintln!("keys: {} copied", keys.len());
    let history = from.schema_history().await?;
    for version in &history {
        to.import_schema_version(version).await?;
    }
    eprintln!("schema versions: {} copied", history.len());

    let batch = args.batch.clamp(1, 10_000);
    let mut copied = 0;
    let mut after = checkpoint.position("events");
    loop {
        let mut page = from
            .events(EventQuery {
                order: Order::Asc,
                after,
                limit: batch,
                ..EventQuery::default()
            })
            .await?;
        page.truncate(batch);
        let Some(last) = page.last() else {
            break;
        };
        after = Some(Position {
            at: last.timestamp,
            id: last.id,
        });
        let messages: Arc<[QueueMessage]> = page
            .into_iter()
            .take(batch)
            .map(QueueMessage::Event)
            .collect();
        copied += messages.len();
        to.write_batch(messages).await?;
        checkpoint.save("events", after)?;
    }
    eprintln!("events: {copied} copied (sessions rebuilt from them)");

    let mut copied = 0;
    let mut after = checkpoint.position("errors");
    loop {
        let mut page = from
            .errors(ErrorQuery {
                order: Order::Asc,
                after,
                limit: batch,
                ..ErrorQuery::default()
            })
            .await?;
        page.truncate(batch);
        let Some(last) = page.last() else {
            break;
        };
        after = Some(Position {
            at: last.received_at,
            id: last.id,
        });
        let messages: Arc<[QueueMessage]> = page
            .into_iter()
            .take(batch)
            .map(QueueMessage::Error)
            .collect();
        copied += messages.len();
        to.write_batch(messages).await?;
        checkpoint.save("errors", after)?;
    }
    eprintln!("errors: {copied} copied");
    checkpoint.finish();
    eprintln!("done");
    Ok(())
}

/// Where an interrupted copy resumes: a small JSON file in the working directory, named
/// after the pair of stores, removed once the copy completes.
struct Checkpoint {
    path: PathBuf,
}

impl Checkpoint {
    fn for_urls(from: &str, to: &str) -> Checkpoint {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (from, to).hash(&mut hasher);
        Checkpoint {
            path: PathBuf::from(format!(".eye-migrate-data-{:016x}.json", hasher.finish())),
        }
    }

    fn read(&self) -> Value {
        std::fs::read(&self.path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or(json!({}))
    }

    fn position(&self, part: &str) -> Option<Position> {
        let saved = self.read();
        let entry = saved.get(part)?;
        Some(Position {
            at: entry["at"].as_i64()?,
            id: entry["id"].as_str()?.parse().ok()?,
        })
    }

    fn save(&self, part: &str, position: Option<Position>) -> anyhow::Result<()> {
        let Some(position) = position else {
            return Ok(());
        };
        let mut saved = self.read();
        saved[part] = json!({"at": position.at, "id": position.id.to_string()});
        let temporary = self.path.with_extension("tmp");
        std::fs::write(&temporary, serde_json::to_vec(&saved)?)?;
        std::fs::rename(&temporary, &self.path)?;
        Ok(())
    }

    fn finish(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
