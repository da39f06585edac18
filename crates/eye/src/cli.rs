//! The command line, as clap types. Every command answers `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "eye",
    version,
    about = "The Eye: collect, validate, store and query user-behaviour events"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the service: HTTP API, validation, queue and worker, on the embedded store.
    Serve(ServeArgs),
    /// Create, list and revoke API keys (works while the server runs).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

/// Where the settings come from: defaults, then `--config` (or `EYE_CONFIG`), then `EYE_*`
/// variables, then these flags.
#[derive(Args, Clone)]
pub struct StoreArgs {
    /// TOML configuration file.
    #[arg(long, env = "EYE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory holding the embedded store and queue [default: ./eye-data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on [default: 127.0.0.1:8000].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Directory of JSON Schema files to load at start-up.
    #[arg(long)]
    pub schemas: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a key (and its application if new); prints only the key on standard output.
    Create(CreateKeyArgs),
    /// List keys, never their secrets.
    List(ListKeysArgs),
    /// Revoke a key by id; the running server refuses it at once.
    Revoke(RevokeKeyArgs),
}

#[derive(Args)]
pub struct CreateKeyArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Application the key belongs to.
    #[arg(long)]
    pub app: String,
    /// What the key may do: ingest, query or admin (repeat or comma-separate for several).
    #[arg(long = "scope", required = true, value_delimiter = ',')]
    pub scopes: Vec<String>,
}

#[derive(Args)]
pub struct ListKeysArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct RevokeKeyArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The key's id, as `eye keys list` shows it.
    pub id: String,
}
