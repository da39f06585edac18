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
    /// Apply pending store migrations (`eye serve` does it too at start-up).
    Migrate(StoreArgs),
    /// Copy everything (events, errors, sessions, keys, schemas) from one store to another,
    /// e.g. from the embedded store to PostgreSQL. Safe to interrupt and run again.
    MigrateData(MigrateDataArgs),
    /// Exit 0 when a running node answers its health check (for container health checks).
    Healthcheck(HealthcheckArgs),
}

#[derive(Args)]
pub struct HealthcheckArgs {
    /// The node's address.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub addr: String,
    /// The path to ask; `/readyz` also checks the node's dependencies.
    #[arg(long, default_value = "/healthz")]
    pub path: String,
}

#[derive(Args)]
pub struct MigrateDataArgs {
    /// Source store: `sqlite:///path/to/data-dir` or a postgres:// URL.
    #[arg(long)]
    pub from: String,
    /// Target store: a postgres:// URL or `sqlite:///path/to/data-dir`.
    #[arg(long)]
    pub to: String,
    /// Rows per copied batch.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
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
    /// Store: `sqlite` (embedded, in the data directory) or a postgres:// URL [default: sqlite].
    #[arg(long)]
    pub store: Option<String>,
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
    /// Queue: `sqlite` (embedded) or a nats:// URL for JetStream [default: sqlite].
    #[arg(long)]
    pub queue: Option<String>,
    /// What this process runs [default: all].
    #[arg(long, value_enum)]
    pub role: Option<RoleArg>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    /// Ingest, worker and query API in one process.
    All,
    /// Accepts events into the queue; stateless, any number behind a load balancer.
    Ingest,
    /// Moves events from the queue into the store; scales horizontally.
    Worker,
    /// Serves the read and admin API from the store.
    Query,
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
