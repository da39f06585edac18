//! The command line, as clap types. Every command answers `--help`.

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
    /// Run the service: HTTP API, validation, queue and worker (all of it, or one role of a
    /// scaled-out deployment), on the embedded store or PostgreSQL and NATS JetStream.
    Serve(ServeArgs),
    /// Create, list and revoke API keys (works while the server runs).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Apply pending store migrations (`eye serve` does it too at start-up).
    Migrate(StoreArgs),
    /// Copy everything (events, errors, sessions, keys, schemas, erasures, the PII secret)
    /// from one store to another, e.g. from the embedded store to PostgreSQL. Safe to
    /// interrupt and run again.
    MigrateData(MigrateDataArgs),
    /// Exit 0 when a running node answers its health check (for container health checks).
    Healthcheck(HealthcheckArgs),
    /// Send events from a file or standard input (JSON lines, or one JSON array).
    ///
    /// Every event without an `event_id` gets one made from its content and its position (the
    /// line number, or the index in the array): sending the same file again, or a request
    /// retried after a lost answer, stores nothing twice. Each request says when it was sent
    /// (`sent_at`, this machine's clock), so the server corrects the timestamps by the
    /// difference between this clock and its own. Prints a summary (a table on a terminal,
    /// one JSON object when piped) and exits 1 when any event was not accepted.
    Send(SendArgs),
    /// Query events by session, user, type, application and time: a table on a terminal, JSON
    /// lines when piped.
    Events(EventsArgs),
    /// List sessions by last activity (newest first), filtered by time, application, user,
    /// event count or an event type they hold; or, given a session id, that session: its
    /// summary and its events in time order.
    Sessions(SessionArgs),
    /// Count events (or sessions) per minute, hour or day, in one series per application,
    /// category or name: a table on a terminal, one JSON object when piped.
    Stats(crate::stats::StatsArgs),
    /// Query the error store (rejected events and refused requests), newest first; `eye
    /// errors replay` stores those that pass the schemas in force now.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Errors(ErrorsArgs),
    /// Write every matching event (or error record, with `--errors`) to one file: NDJSON,
    /// CSV or Parquet, streamed from the server whatever its size, with a progress line on
    /// standard error when it is a terminal.
    Export(crate::export::ExportArgs),
    /// Follow new events as they are stored (Ctrl-C to stop), through the server's live
    /// stream, the one the console's Live page uses.
    Tail(TailArgs),
    /// Forget sessions (a visitor's request to be forgotten): every event, error record and
    /// session summary of them, on the server, with an admin key. Prints the erasure job.
    Erase(crate::erase::EraseArgs),
    /// List recent erasures (newest first), or show one by its id.
    Erasures(crate::erase::ErasuresArgs),
    /// What the store and queue hold (bytes, events, errors, oldest and newest event) and the
    /// retention in force, with an admin key.
    Usage(crate::erase::UsageArgs),
    /// Copy the embedded store into one backup file, while the server runs.
    ///
    /// A consistent snapshot of everything the store keeps (events, sessions, errors, keys as
    /// digests, schemas with their versions, erasures, settings); ingest goes on meanwhile.
    /// Events still queued at that moment are not in it: the running server stores them.
    /// With PostgreSQL, use its own tools (README, "Backup and restore").
    Backup(crate::backup::BackupArgs),
    /// Make a new data directory from a backup file, to serve with `eye serve --data-dir`.
    ///
    /// The copy must pass SQLite's integrity check; it is brought to this version's schema,
    /// and the new directory's queue starts empty. The backup file is left as it was.
    Restore(crate::backup::RestoreArgs),
}

/// A count of 1 or more.
fn at_least_one() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
}

/// Which server and key; also from `EYE_URL` and `EYE_KEY`.
#[derive(Args, Clone)]
pub struct Remote {
    /// The Eye's base URL, with its scheme (`http://host:port`).
    #[arg(long, env = "EYE_URL", default_value = "http://127.0.0.1:8000")]
    pub url: String,
    /// API key (ingest scope for `send`, query scope for the queries, admin for `replay`,
    /// `erase`, `erasures` and `usage`).
    #[arg(long, env = "EYE_KEY", hide_env_values = true)]
    pub key: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns (the default on a terminal).
    Table,
    /// One JSON object per line (the default when piped).
    Json,
}

#[derive(Args, Clone, Default)]
pub struct EventFilters {
    /// Only this session's events.
    #[arg(long)]
    pub session_id: Option<String>,
    /// Only the events of this user: those sent with this `user_id` (the user the
    /// application knows).
    #[arg(long = "user", visible_alias = "user-id", value_name = "USER_ID")]
    pub user: Option<String>,
    /// Only events of this category (e.g. "page interaction").
    #[arg(long)]
    pub category: Option<String>,
    /// Only events of this name (e.g. "pageview").
    #[arg(long)]
    pub name: Option<String>,
    /// Only events sent by this application.
    #[arg(long)]
    pub app: Option<String>,
    /// Event timestamp from (inclusive): RFC 3339, `2021-01-01 09:15:27`, or a date alone
    /// (`2021-01-01`, its midnight UTC).
    #[arg(long, value_parser = crate::time_bound::parse)]
    pub from: Option<String>,
    /// Event timestamp to (exclusive), in the same forms as `--from`.
    #[arg(long, value_parser = crate::time_bound::parse)]
    pub to: Option<String>,
}

/// `--format`: how results are printed.
#[derive(Args, Clone, Copy)]
pub struct FormatArg {
    /// `table` (aligned columns; the default on a terminal) or `json` (one JSON object per
    /// line; the default when piped).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

#[derive(Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// File of events; standard input when absent or `-`.
    pub file: Option<PathBuf>,
    /// Events per request, 1 to 1,000 (the server's default limit).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub batch: u16,
    /// How long to keep retrying a request the server did not answer (unreachable,
    /// overloaded), waits included: `30s`, `2m`, `500ms` or seconds. Each retry is shown on
    /// standard error.
    #[arg(long, default_value = "5s", value_parser = crate::time_bound::duration)]
    pub retry_for: std::time::Duration,
    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub remote: Remote,
    #[command(flatten)]
    pub filters: EventFilters,
    /// Newest first.
    #[arg(long)]
    pub desc: bool,
    /// How many events to show, 1 or more (pages are followed as needed); when more match,
    /// standard error says how to see them.
    #[arg(long, default_value_t = 100, value_parser = at_least_one())]
    pub limit: usize,
    /// Continue after an earlier listing: the cursor it printed.
    #[arg(long)]
    pub cursor: Option<String>,
    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Args)]
pub struct SessionArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// The session's id, as sent by the application (`.` and `..` cannot travel in a URL
    /// path: use `eye events --session-id ..` for those); without it, sessions are listed.
    pub session_id: Option<String>,
    #[command(flatten)]
    pub filters: crate::session_list::SessionFilters,
    /// How many to show, 1 or more: the session's events [default: 1000], or without an id
    /// the sessions listed [default: 100] (pages are followed as needed; when more match,
    /// standard error says how to see them).
    #[arg(long, value_parser = at_least_one())]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Args)]
pub struct ErrorsArgs {
    #[command(subcommand)]
    pub action: Option<ErrorsAction>,
    #[command(flatten)]
    pub remote: Remote,
    #[command(flatten)]
    pub filters: ErrorFilters,
    /// How many errors to show, 1 or more (pages are followed as needed); when more match,
    /// standard error says how to see them.
    #[arg(long, default_value_t = 100, value_parser = at_least_one())]
    pub limit: usize,
    /// Continue after an earlier listing: the cursor it printed.
    #[arg(long)]
    pub cursor: Option<String>,
    #[command(flatten)]
    pub format: FormatArg,
}

/// The filters of the error store, shared by `eye errors` and `eye errors replay`.
#[derive(Args, Clone, Default)]
pub struct ErrorFilters {
    /// Only errors with this code (e.g. `schema_violation`, `timestamp_in_future`).
    #[arg(long)]
    pub code: Option<String>,
    /// Only errors of requests from this application.
    #[arg(long)]
    pub app: Option<String>,
    /// Only errors of events of this category.
    #[arg(long)]
    pub category: Option<String>,
    /// Only errors of events of this name.
    #[arg(long)]
    pub name: Option<String>,
    /// Receive time from (inclusive): RFC 3339, `2021-01-01 09:15:27`, or a date alone
    /// (its midnight UTC).
    #[arg(long, value_parser = crate::time_bound::parse)]
    pub from: Option<String>,
    /// Receive time to (exclusive), in the same forms as `--from`.
    #[arg(long, value_parser = crate::time_bound::parse)]
    pub to: Option<String>,
}

#[derive(Subcommand)]
pub enum ErrorsAction {
    /// Re-validate rejected events against the schemas in force and store those that pass
    /// (admin key). Replaying twice stores nothing twice.
    Replay(ReplayArgs),
}

#[derive(Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub remote: Remote,
    #[command(flatten)]
    pub filters: ErrorFilters,
    /// Only count what would happen.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Args)]
pub struct TailArgs {
    #[command(flatten)]
    pub remote: Remote,
    #[command(flatten)]
    pub filters: EventFilters,
    /// Ask for recent events every `--interval-ms` instead of following the live stream
    /// (for the query node of a scaled-out deployment, which runs no worker of its own).
    #[arg(long)]
    pub poll: bool,
    /// With `--poll`: how often to ask, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub interval_ms: u64,
    /// Stop after this many events (default: follow until interrupted).
    #[arg(long)]
    pub max_events: Option<usize>,
    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Args)]
pub struct HealthcheckArgs {
    /// The node's address: `host:port` or a URL (`http://host:port`).
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub addr: String,
    /// The path to ask [default: /healthz, or the path of a URL given to --addr]; `/readyz`
    /// also checks the node's dependencies.
    #[arg(long)]
    pub path: Option<String>,
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
    /// Data directory holding the embedded store and queue [default: ./eye-data, also
    /// `EYE_DATA_DIR`]. Admin commands name the store they use on standard error.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Store: `sqlite` (embedded, in the data directory) or a postgres:// URL [default:
    /// sqlite, also `EYE_STORE`].
    #[arg(long)]
    pub store: Option<String>,
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on, `host:port`; a name such as `localhost:8000` is resolved and
    /// the first address it gives is bound [default: 127.0.0.1:8000, also `EYE_LISTEN`].
    #[arg(long)]
    pub listen: Option<String>,
    /// Directory of JSON Schema files to load at start-up [also `EYE_SCHEMAS`].
    #[arg(long)]
    pub schemas: Option<PathBuf>,
    /// Queue: `embedded` (a log in the data directory) or a nats:// URL for JetStream
    /// [default: embedded, also `EYE_QUEUE`].
    #[arg(long)]
    pub queue: Option<String>,
    /// What this process runs [default: all, also `EYE_ROLE`].
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
    /// Revoke a key by its id (or by its secret, never echoed); the running server refuses it
    /// at once.
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
    /// Print JSON lines instead of a table (same as `--format json`).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Args)]
pub struct RevokeKeyArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The key's id, as `eye keys list` shows it (`key_...`), or the key itself (`eye_...`).
    pub id: String,
}
