//! `eye keys create|list|revoke`, straight on the store (SQLite allows it while the server
//! runs). Only the new key goes to standard output, so scripts can capture it.

use eye_server::config::{Config, Overrides};
use eye_server::http::parse_scopes;
use std::sync::Arc;

use eye_server::backends::open_store;
use eye_server::store::Store;
use eye_server::timestamp::format_micros;

use crate::cli::{CreateKeyArgs, ListKeysArgs, RevokeKeyArgs, StoreArgs};
use crate::logging;

/// The store named by the same settings `eye serve` reads, so a cluster is administered
/// like one machine.
pub async fn store_for(args: &StoreArgs) -> anyhow::Result<Arc<dyn Store>> {
    let overrides = Overrides {
        data_dir: args.data_dir.clone(),
        store: args.store.clone(),
        ..Overrides::default()
    };
    let config = Config::load(args.config.as_deref(), overrides)?;
    logging::init(config.log_format);
    open_store(&config).await
}

pub async fn create(args: CreateKeyArgs) -> anyhow::Result<()> {
    eye_server::validation::check_identifier(&args.app, eye_server::validation::MAX_NAME_CHARS)
        .map_err(|problem| anyhow::anyhow!("--app {problem}"))?;
    let scopes = parse_scopes(&args.scopes).map_err(anyhow::Error::msg)?;
    let store = store_for(&args.store).await?;
    let new_key = eye_server::keys::generate();
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

pub async fn list(args: ListKeysArgs) -> anyhow::Result<()> {
    let store = store_for(&args.store).await?;
    let keys = store.keys().await?;
    if args.json {
        for key in keys {
            println!(
                "{}",
                serde_json::to_string(&eye_server::http::key_info(key))?
            );
        }
        return Ok(());
    }
    println!(
        "{:<22} {:<24} {:<20} {:<28} REVOKED",
        "ID", "APP", "SCOPES", "CREATED"
    );
    for key in keys {
        let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
        let revoked = key.revoked_at.map_or_else(|| "-".to_owned(), format_micros);
        println!(
            "{:<22} {:<24} {:<20} {:<28} {}",
            key.id,
            key.app,
            scopes.join(","),
            format_micros(key.created_at),
            revoked
        );
    }
    Ok(())
}

pub async fn revoke(args: RevokeKeyArgs) -> anyhow::Result<()> {
    let store = store_for(&args.store).await?;
    let key = store.revoke_key(&args.id).await?;
    eprintln!("revoked key {} of app {:?}", key.id, key.app);
    Ok(())
}
