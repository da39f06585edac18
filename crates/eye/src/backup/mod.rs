//! `eye backup` and `eye restore`: the embedded store copied whole into one file while the
//! server runs, and a new data directory made from such a file.
//!
//! Everything the store keeps is a table of `eye.db`, so one copy of that database covers it
//! all. The queue (`queue/`) is not copied: what it holds at the moment of a backup is stored
//! by the running server afterwards, and a restored directory starts with an empty queue.

mod files;
mod restore;
mod summary;
mod take;

use std::path::PathBuf;

use clap::Args;

use crate::cli::{FormatArg, StoreArgs};

/// The embedded store's database file in a data directory.
const STORE_FILE: &str = "eye.db";

#[derive(Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The backup file to write; its directory must exist. It is written under a temporary
    /// name beside it and renamed once complete, so it is never there half written.
    #[arg(long, value_name = "PATH")]
    pub to: PathBuf,
    /// Replace the file at `--to` if there is one (it stays whole until the new backup is
    /// complete).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// The backup file, as `eye backup` wrote it.
    #[arg(long, value_name = "PATH")]
    pub from: PathBuf,
    /// The data directory to make: it must not exist yet, or be empty (a restore never
    /// replaces a store).
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub format: FormatArg,
}

pub async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    take::run(args).await
}

pub async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    restore::run(args).await
}
