//! `eye migrate` (schema migrations) and `eye migrate-data` (moving a deployment to another
//! store). The copy goes through the stores' idempotent writes, so running it again after an
//! interruption stores nothing twice; a checkpoint file lets it resume where it stopped, and
//! the run ends by comparing what each table holds on both sides.
//!
//! Its parts, in order: the PII secret (first: a target that hashes with another secret is
//! refused before anything is written to it), keys, schema versions, events and errors (the
//! two checkpointed parts), then erasure jobs (after the rows they may cover: see
//! `kept::copy_erasures`). Every part but the checkpointed ones runs whole on every run.

mod checkpoint;
mod counts;
mod kept;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use eye_server::model::QueueMessage;
use eye_server::model::timestamp::Micros;
use eye_server::store::{
    ErrorQuery, EventQuery, Order, Position, PostgresStore, SqliteStore, Store,
};

use uuid::Uuid;

use crate::admin_store::{self, Presence};
use crate::cli::{MigrateDataArgs, StoreArgs};
use crate::logging;
use checkpoint::{Checkpoint, Part};
use counts::Counts;

pub async fn migrate(args: StoreArgs) -> anyhow::Result<()> {
    // Opening a store applies its pending migrations, under a lock on PostgreSQL.
    let store = admin_store::open(&args, Presence::MayCreateInside).await?;
    store.check().await?;
    eprintln!("the store is at the latest schema version");
    Ok(())
}

/// Which side of the copy a store URL names: a source must already be an Eye store.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    Source,
    Target,
}

async fn open_url(url: &str, side: Side) -> anyhow::Result<Arc<dyn Store>> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let dir = Path::new(path);
        if dir.is_file() {
            anyhow::bail!(
                "{} is a file: give the data directory that holds it, sqlite://{}",
                dir.display(),
                dir.parent().unwrap_or(dir).display()
            );
        }
        if side == Side::Source {
            anyhow::ensure!(
                dir.join("eye.db").is_file(),
                "no Eye store at {} (no eye.db there): check the --from path",
                dir.display()
            );
        }
        return Ok(Arc::new(SqliteStore::open(dir)?));
    }
    anyhow::ensure!(
        url.starts_with("postgres://") || url.starts_with("postgresql://"),
        "a store URL is sqlite:///path/to/data-dir or postgres://..., not {url:?}"
    );
    if side == Side::Source {
        admin_store::ensure_postgres_store(url, &admin_store::without_password(url)).await?;
    }
    Ok(Arc::new(PostgresStore::connect(url, None, 4).await?))
}

/// Rows written, and rows the target already held.
#[derive(Default)]
struct Copied {
    new: usize,
    present: usize,
}

impl Copied {
    fn report(&self, what: &str) {
        eprintln!(
            "{what}: {} copied, {} already present",
            self.new, self.present
        );
    }
}

pub async fn migrate_data(args: MigrateDataArgs) -> anyhow::Result<()> {
    logging::init(eye_server::config::LogFormat::Text);
    anyhow::ensure!(
        args.from.trim_end_matches('/') != args.to.trim_end_matches('/'),
        "--from and --to name the same store: give the store to copy into as --to"
    );
    let from = open_url(&args.from, Side::Source)
        .await
        .context("opening the source store")?;
    let to = open_url(&args.to, Side::Target)
        .await
        .context("opening the target store")?;
    kept::copy_pii_secret(from.as_ref(), to.as_ref()).await?;
    let checkpoint = Checkpoint::for_urls(&args.from, &args.to);
    checkpoint.validate(to.as_ref()).await?;

    copy_keys(from.as_ref(), to.as_ref()).await?.report("keys");
    copy_schemas(from.as_ref(), to.as_ref())
        .await?
        .report("schema versions");
    let batch = args.batch.clamp(1, 10_000);
    copy_rows(from.as_ref(), to.as_ref(), &checkpoint, Part::Events, batch)
        .await?
        .report("events (sessions rebuilt from them)");
    copy_rows(from.as_ref(), to.as_ref(), &checkpoint, Part::Errors, batch)
        .await?
        .report("errors");
    kept::copy_erasures(from.as_ref(), to.as_ref())
        .await?
        .report("erasures (with their suppressed sessions)");

    let (source, target) = (
        Counts::of(from.as_ref()).await?,
        Counts::of(to.as_ref()).await?,
    );
    let differences = source.differences(&target);
    if !differences.is_empty() {
        let listed: Vec<String> = differences
            .iter()
            .map(|(table, source, target)| {
                format!("{table}: {source} in the source, {target} in the target")
            })
            .collect();
        anyhow::bail!(
            "the target does not hold what the source does: {}. Run the same command again \
             (it stores nothing twice); a target that held data of its own before cannot match",
            listed.join("; ")
        );
    }
    checkpoint.finish();
    eprintln!("done: source and target both hold {source}");
    Ok(())
}

async fn copy_keys(from: &dyn Store, to: &dyn Store) -> anyhow::Result<Copied> {
    let present: std::collections::HashSet<String> = to
        .export_keys()
        .await?
        .into_iter()
        .map(|(key, _)| key.id)
        .collect();
    let mut copied = Copied::default();
    for (key, hash) in from.export_keys().await? {
        if present.contains(&key.id) {
            copied.present += 1;
        } else {
            to.import_key(&key, hash).await?;
            copied.new += 1;
        }
    }
    Ok(copied)
}

async fn copy_schemas(from: &dyn Store, to: &dyn Store) -> anyhow::Result<Copied> {
    let present: std::collections::HashSet<(String, String, i64)> = to
        .schema_history()
        .await?
        .into_iter()
        .map(|v| (v.category, v.name, v.version))
        .collect();
    let mut copied = Copied::default();
    for version in from.schema_history().await? {
        let id = (
            version.category.clone(),
            version.name.clone(),
            version.version,
        );
        if present.contains(&id) {
            copied.present += 1;
        } else {
            to.import_schema_version(&version).await?;
            copied.new += 1;
        }
    }
    // Which schema file each type was last loaded from, so that a start with the same files
    // keeps the versions made through the API (see `eye_server::ingest::catalog::load_dir`).
    for digest in from.schema_file_digests().await? {
        to.record_schema_file_digest(&digest).await?;
    }
    Ok(copied)
}

/// Copies events or errors in position order from the checkpoint on, saving it after
/// every batch.
async fn copy_rows(
    from: &dyn Store,
    to: &dyn Store,
    checkpoint: &Checkpoint,
    part: Part,
    batch: usize,
) -> anyhow::Result<Copied> {
    let mut copied = Copied::default();
    let mut after = checkpoint.position(part);
    loop {
        let (messages, last) = page(from, part, after, batch).await?;
        let Some(last) = last else {
            return Ok(copied);
        };
        let sent = messages.len();
        let replay_marks = replay_marks(&messages);
        let outcome = to.write_batch(messages).await?;
        // An error a replay already stored keeps that mark: without it a replay on the
        // target would count it again.
        for (at, marks) in replay_marks {
            to.mark_replayed(marks, at).await?;
        }
        let new = match part {
            Part::Events => outcome.stored as usize,
            Part::Errors => outcome.errors as usize,
        };
        copied.new += new;
        copied.present += sent.saturating_sub(new);
        checkpoint.save(part, last)?;
        after = Some(last);
    }
}

/// The replay marks of the error records among `messages`: (error id, stored event id) by
/// replay time.
fn replay_marks(messages: &[QueueMessage]) -> BTreeMap<Micros, Vec<(Uuid, Uuid)>> {
    let mut marks: BTreeMap<Micros, Vec<(Uuid, Uuid)>> = BTreeMap::new();
    for message in messages {
        if let QueueMessage::Error(entry) = message
            && let (Some(at), Some(event)) = (entry.replayed_at, entry.replayed_event_id)
        {
            marks.entry(at).or_default().push((entry.id, event));
        }
    }
    marks
}

/// The next `batch` rows after `after`, as queue messages, and the position of the last.
async fn page(
    from: &dyn Store,
    part: Part,
    after: Option<Position>,
    batch: usize,
) -> anyhow::Result<(Arc<[QueueMessage]>, Option<Position>)> {
    Ok(match part {
        Part::Events => {
            let mut rows = from
                .events(EventQuery {
                    order: Order::Asc,
                    after,
                    limit: batch,
                    ..EventQuery::default()
                })
                .await?;
            rows.truncate(batch);
            let last = rows.last().map(|e| Position {
                at: e.timestamp,
                id: e.id,
            });
            (rows.into_iter().map(QueueMessage::Event).collect(), last)
        }
        Part::Errors => {
            let mut rows = from
                .errors(ErrorQuery {
                    order: Order::Asc,
                    after,
                    limit: batch,
                    ..ErrorQuery::default()
                })
                .await?;
            rows.truncate(batch);
            let last = rows.last().map(|e| Position {
                at: e.received_at,
                id: e.id,
            });
            (rows.into_iter().map(QueueMessage::Error).collect(), last)
        }
    })
}
