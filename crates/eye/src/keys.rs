//! `eye keys create|list|revoke`, straight on the store (SQLite allows it while the server
//! runs). Only the new key goes to standard output, so scripts can capture it.

use eye_server::auth::keys::{KEY_PREFIX, digest, redact};
use eye_server::model::timestamp::format_micros;
use eye_server::model::{KeyRecord, Scope};
use eye_server::store::Store;

use crate::admin_store::{self, Presence};
use crate::cli::{CreateKeyArgs, Format, ListKeysArgs, RevokeKeyArgs};
use crate::output::{self, Columns};

pub async fn create(args: CreateKeyArgs) -> anyhow::Result<()> {
    eye_server::ingest::validation::check_identifier(
        &args.app,
        eye_server::ingest::validation::MAX_NAME_CHARS,
    )
    .map_err(|problem| anyhow::anyhow!("--app {problem}"))?;
    let scopes = Scope::parse_all(&args.scopes).map_err(anyhow::Error::msg)?;
    let store = admin_store::open(&args.store, Presence::MayCreate).await?;
    let new_key = eye_server::auth::keys::generate();
    let record = store.create_key(&args.app, &scopes, new_key.hash).await?;
    let scope_names: Vec<&str> = record.scopes.iter().map(|s| s.as_str()).collect();
    eprintln!(
        "created key {} for app {:?} with scopes {}",
        record.id,
        record.app,
        scope_names.join(",")
    );
    eprintln!("store it now: the key is shown only once");
    println!("{}", new_key.secret);
    Ok(())
}

const KEY_COLUMNS: Columns = Columns(&[
    ("ID", 20),
    ("APP", 8),
    ("SCOPES", 12),
    ("CREATED", 27),
    ("REVOKED", 0),
]);

pub async fn list(args: ListKeysArgs) -> anyhow::Result<()> {
    let store = admin_store::open(&args.store, Presence::MustExist).await?;
    let keys = store.keys().await?;
    let format = if args.json {
        Format::Json
    } else {
        output::resolve(args.format.format)
    };
    if format == Format::Json {
        for key in keys {
            output::json_line(&eye_server::http::key_info(key))?;
        }
        return Ok(());
    }
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|key| {
            let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
            vec![
                key.id.clone(),
                key.app.clone(),
                scopes.join(","),
                format_micros(key.created_at),
                key.revoked_at.map_or_else(|| "-".to_owned(), format_micros),
            ]
        })
        .collect();
    for line in KEY_COLUMNS.render(&rows) {
        println!("{line}");
    }
    Ok(())
}

/// Revokes by id, or by the secret itself (a leaked key is often all one has at hand); the
/// secret is never printed back.
pub async fn revoke(args: RevokeKeyArgs) -> anyhow::Result<()> {
    let store = admin_store::open(&args.store, Presence::MustExist).await?;
    let key = find(store.as_ref(), &args.id).await?;
    if let Some(revoked_at) = key.revoked_at {
        anyhow::bail!(
            "key {} of app {:?} was already revoked at {}",
            key.id,
            key.app,
            format_micros(revoked_at)
        );
    }
    let key = store.revoke_key(&key.id).await?;
    eprintln!("revoked key {} of app {:?}", key.id, key.app);
    Ok(())
}

async fn find(store: &dyn Store, given: &str) -> anyhow::Result<KeyRecord> {
    // What a paste brings along: spaces, quotes, the header's scheme.
    let unquoted = |text: &str| text.trim().trim_matches(['"', '\'']).trim().to_owned();
    let outer = unquoted(given);
    let id_or_secret = unquoted(outer.strip_prefix("Bearer ").unwrap_or(&outer));
    let id_or_secret = id_or_secret.as_str();
    if id_or_secret.starts_with(KEY_PREFIX) {
        return store
            .key_by_hash(digest(id_or_secret))
            .await?
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no key of this store has the secret given (it is not repeated here)"
                )
            });
    }
    let keys = store.keys().await?;
    keys.into_iter()
        .find(|key| key.id == id_or_secret)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no key has the id {:?} in this store: `eye keys list` shows the ids",
                redact(id_or_secret)
            )
        })
}
