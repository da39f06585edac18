//! The store an admin command works on (`eye keys`, `eye migrate`), named on standard error
//! before anything is done, and refused when it is not there: a mistyped `--data-dir` must
//! not quietly create an empty store and answer from it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use eye_server::backends::open_store;
use eye_server::config::{Config, Overrides};
use eye_server::store::Store;

use crate::cli::StoreArgs;
use crate::logging;

/// The embedded store's database file in a data directory.
const STORE_FILE: &str = "eye.db";

/// Whether the command may bring a new store into being.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// `eye keys create`: the first key of a deployment makes its store, data directory
    /// included (and says so).
    MayCreate,
    /// `eye migrate`: the data directory (or database) must exist; the store in it may be
    /// new, since making it is what migrating does.
    MayCreateInside,
    /// Everything else: the store must already be there.
    MustExist,
}

/// Opens the store named by the same settings `eye serve` reads, so a cluster is
/// administered like one machine.
pub async fn open(args: &StoreArgs, presence: Presence) -> anyhow::Result<Arc<dyn Store>> {
    let overrides = Overrides {
        data_dir: args.data_dir.clone(),
        store: args.store.clone(),
        ..Overrides::default()
    };
    let config = Config::load(args.config.as_deref(), overrides)?;
    logging::init(config.log_format);
    if config.uses_postgres() {
        let shown = without_password(&config.store);
        eprintln!("store: PostgreSQL at {shown}");
        if presence == Presence::MustExist {
            ensure_postgres_store(&config.store, &shown).await?;
        }
    } else {
        check_data_dir(&config.data_dir, presence)?;
    }
    open_store(&config).await
}

fn check_data_dir(dir: &Path, presence: Presence) -> anyhow::Result<()> {
    let shown = absolute(dir);
    let file = shown.join(STORE_FILE);
    match std::fs::metadata(&shown) {
        Ok(meta) if !meta.is_dir() => {
            anyhow::bail!(
                "the data directory {} is a file, not a directory",
                shown.display()
            )
        }
        Ok(_) if file.exists() => {
            eprintln!("store: {}", file.display());
            Ok(())
        }
        Ok(_) if presence == Presence::MustExist => anyhow::bail!(
            "found no store in {} (no {STORE_FILE}): give the data directory `eye serve` uses \
             with --data-dir or EYE_DATA_DIR",
            shown.display()
        ),
        Ok(_) => {
            eprintln!("store: {} (new)", file.display());
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            anyhow::ensure!(
                presence == Presence::MayCreate,
                "the data directory {} does not exist: give the one `eye serve` uses with \
                 --data-dir or EYE_DATA_DIR",
                shown.display()
            );
            eprintln!(
                "store: {} (creating the data directory {})",
                file.display(),
                shown.display()
            );
            Ok(())
        }
        Err(error) => Err(error).with_context(|| format!("reading {}", shown.display())),
    }
}

fn absolute(dir: &Path) -> PathBuf {
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned())
}

/// A PostgreSQL database without The Eye's tables is the wrong one: opening it as a store
/// would create them there.
pub async fn ensure_postgres_store(url: &str, shown: &str) -> anyhow::Result<()> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connecting to {shown}"))?;
    let driver = tokio::spawn(connection);
    let found: bool = client
        .query_one("SELECT to_regclass('api_keys') IS NOT NULL", &[])
        .await
        .with_context(|| format!("looking for The Eye's tables in {shown}"))?
        .get(0);
    drop(client);
    let _ = driver.await;
    anyhow::ensure!(
        found,
        "found no store in {shown} (no Eye tables there): give the database `eye serve` uses \
         with --store or EYE_STORE, or create the store with `eye migrate`"
    );
    Ok(())
}

/// The URL with its password, if any, replaced by `***`, fit to print.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn passwords_are_never_shown() {
        assert_eq!(
            without_password("postgres://eye:s3cret@db:5432/eye"),
            "postgres://eye:***@db:5432/eye"
        );
        assert_eq!(
            without_password("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
    }
}
