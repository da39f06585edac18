//! Settings of a running Eye: defaults, then a TOML file, then `EYE_*` environment variables,
//! then command-line flags, each layer overriding the one before. A key the file does not
//! know is an error naming it: a typo such as `listn` would otherwise start a server with the
//! default in its place. (Environment variables are read by name, so an unknown `EYE_*` is
//! simply not read.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::model::timestamp::Micros;
use crate::store::Cutoffs;

/// Everything `eye serve` can be told. Every field has a default, so no file is needed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the embedded store and queue live.
    pub data_dir: PathBuf,
    /// Address the HTTP API listens on, `host:port`: an IP address or a name resolved at
    /// start (`localhost:8000`); port 0 picks a free port.
    pub listen: String,
    /// Directory of JSON Schema files loaded at start-up (see README, "Schemas").
    pub schemas: Option<PathBuf>,
    /// Largest request body accepted, as sent (compressed or not).
    pub max_body_bytes: usize,
    /// Largest body after gzip decompression.
    pub max_decompressed_bytes: usize,
    /// Most events in one request.
    pub max_batch_events: usize,
    /// Largest `data` object of one event, serialized.
    pub max_event_data_bytes: usize,
    /// How far in the future (beyond the receive time) a timestamp may be, for clock skew.
    pub future_tolerance_secs: u64,
    /// When set, events older than this (relative to the receive time) are rejected.
    pub max_event_age_secs: Option<u64>,
    /// Reject events whose type has no schema (`unknown_event_type`) instead of accepting them.
    pub reject_unknown_event_types: bool,
    /// Most messages waiting in the queue before ingest answers 503.
    pub max_queue_depth: u64,
    /// Most messages the worker writes to the store in one transaction.
    pub worker_batch_size: usize,
    /// Under load, the worker starts a store transaction at most this often (unless a full
    /// batch is waiting), so that each commit and its fsync carry many events rather than a
    /// few. Adds up to this much lag. When writes are slow the worker waits longer (four
    /// times the last write's duration, at most 200 ms), for bigger batches with fewer
    /// commits. 0 writes as soon as anything is queued, however slow the writes.
    pub worker_linger_ms: u64,
    /// The raw input kept with an error record is cut to this many bytes.
    pub max_raw_error_bytes: usize,
    /// `text` (default) or `json` log lines.
    pub log_format: LogFormat,
    /// The access log writes one info line per request; above this many answers under 500
    /// in one second, the rest of that second are counted instead of written, and the next
    /// line written carries `skipped`, how many were not. Answers of 500 and above are
    /// always written. 0 writes every request.
    pub access_log_max_per_sec: u64,
    /// What this process runs: everything, or one role of a scaled-out deployment.
    pub role: Role,
    /// `sqlite` (the embedded store in `data_dir`) or a `postgres://` URL.
    pub store: String,
    /// `embedded` (the queue log in `data_dir/queue`; `sqlite`, its name before the log,
    /// still works) or a `nats://` URL (JetStream).
    pub queue: String,
    /// PostgreSQL connections per process.
    pub postgres_pool_size: usize,
    /// JetStream stream and durable consumer names, replicas and redelivery delay.
    pub nats_stream: String,
    pub nats_consumer: String,
    pub nats_replicas: usize,
    pub nats_ack_wait_secs: u64,
    /// Times a message the store refuses is retried before it goes to the error store as
    /// `processing_failed`.
    pub max_attempts: u32,
    /// How long a key look-up is cached; 0 turns the cache off. Unset: with the embedded
    /// store, until any process changes a key (revocation stays immediate); 1000 ms with
    /// PostgreSQL (every node sees a change within a second).
    pub key_cache_ms: Option<u64>,
    /// Alert rules (TOML `[[alerts]]` tables); evaluated on the nodes that run a worker.
    pub alerts: Vec<AlertRule>,
    /// How often alert rules are evaluated, in milliseconds.
    pub alert_interval_ms: u64,
    /// Events per second each application may send to this node (a token bucket); 0 turns
    /// the limit off. Over it, ingest answers 429 `rate_limited` with `Retry-After`.
    pub rate_limit_events_per_second: u64,
    /// Events an application may send at once above its rate (the bucket's size); 0 means
    /// one second's worth, or one full batch (`max_batch_events`) if that is more.
    pub rate_limit_burst_events: u64,
    /// Most client connections open at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// A client must send a request's headers within this many seconds (slowloris).
    pub header_timeout_secs: u64,
    /// A client must send a request's body within this many seconds (408 otherwise).
    pub body_timeout_secs: u64,
    /// A request (other than the live stream) must be answered within this many seconds
    /// (503 `request_timeout` otherwise).
    pub request_timeout_secs: u64,
    /// Events are kept this many days after their timestamp, then deleted by the retention
    /// sweep; an event already older at ingest is refused as `timestamp_too_old`. Unset:
    /// kept forever.
    pub retention_days: Option<u32>,
    /// Error records are kept this many days after they were received. Unset: forever.
    pub error_retention_days: Option<u32>,
    /// Per-application overrides of both, a table keyed by application name
    /// (`[app_retention.shop]` with `retention_days = 30`).
    pub app_retention: BTreeMap<String, AppRetention>,
    /// The retention sweep runs at start and then this often, in seconds.
    pub retention_interval_secs: u64,
    /// The secret of `hash` PII rules (at least 32 characters). Unset: one made at first
    /// start and kept in the store, shared by every node of the deployment.
    pub pii_secret: Option<String>,
}

/// One application's retention; a field left out falls back to the global setting.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppRetention {
    pub retention_days: Option<u32>,
    pub error_retention_days: Option<u32>,
}

/// What an alert watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AlertMetric {
    /// Rejected events (and refused bodies) received in the window, optionally of one code
    /// and/or one event type.
    #[default]
    Rejected,
    /// Processing lag, in seconds: the age of the queue's oldest unacknowledged message.
    Lag,
}

/// One alert: when `metric` exceeds `threshold` over the last `window_secs`, POST a JSON
/// notification to `webhook`; again at most once per window while it lasts; once more when it
/// recovers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    pub name: String,
    pub webhook: String,
    #[serde(default)]
    pub metric: AlertMetric,
    pub threshold: f64,
    #[serde(default = "default_alert_window")]
    pub window_secs: u64,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    /// The event name (with `category`, the event type).
    #[serde(default)]
    pub event_name: Option<String>,
}

fn default_alert_window() -> u64 {
    300
}

/// The processes of a deployment: `all` in one, or separate ingest, worker and query nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    All,
    /// `POST /v1/events` only: validates and publishes to the queue.
    Ingest,
    /// Moves the queue into the store; serves only health.
    Worker,
    /// The read and admin API.
    Query,
}

impl Role {
    /// The name, as `--role` and the configuration write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Ingest => "ingest",
            Role::Worker => "worker",
            Role::Query => "query",
        }
    }
}

impl Role {
    pub fn serves_ingest(self) -> bool {
        matches!(self, Role::All | Role::Ingest)
    }

    pub fn serves_queries(self) -> bool {
        matches!(self, Role::All | Role::Query)
    }

    pub fn runs_worker(self) -> bool {
        matches!(self, Role::All | Role::Worker)
    }

    pub fn uses_queue(self) -> bool {
        !matches!(self, Role::Query)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("eye-data"),
            listen: "127.0.0.1:8000".into(),
            schemas: None,
            max_body_bytes: 1024 * 1024,
            max_decompressed_bytes: 8 * 1024 * 1024,
            max_batch_events: 1000,
            max_event_data_bytes: 32 * 1024,
            future_tolerance_secs: 60,
            max_event_age_secs: None,
            reject_unknown_event_types: false,
            max_queue_depth: 1_000_000,
            worker_batch_size: 1000,
            worker_linger_ms: 10,
            max_raw_error_bytes: 8 * 1024,
            log_format: LogFormat::Text,
            access_log_max_per_sec: 100,
            role: Role::All,
            store: "sqlite".into(),
            queue: "embedded".into(),
            postgres_pool_size: 16,
            nats_stream: "EYE_EVENTS".into(),
            nats_consumer: "eye-workers".into(),
            nats_replicas: 1,
            nats_ack_wait_secs: 30,
            max_attempts: 5,
            key_cache_ms: None,
            alerts: Vec::new(),
            alert_interval_ms: 5000,
            rate_limit_events_per_second: 0,
            rate_limit_burst_events: 0,
            max_connections: 1024,
            header_timeout_secs: 10,
            body_timeout_secs: 30,
            request_timeout_secs: 30,
            retention_days: None,
            error_retention_days: None,
            app_retention: BTreeMap::new(),
            retention_interval_secs: 3600,
            pii_secret: None,
        }
    }
}

/// Values given on the command line; `None` leaves the lower layers in force.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schemas: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
}

impl Config {
    /// Reads the layers in order. A named file that does not exist is an error; with no file
    /// named, only defaults, environment and flags apply.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            anyhow::ensure!(
                file.exists(),
                "config file {} does not exist",
                file.display()
            );
            figment = figment.merge(Toml::file(file));
        }
        let config: Config = figment
            .merge(Env::prefixed("EYE_").only(&Config::ENV_KEYS))
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(explain)?;
        config.check()?;
        Ok(config)
    }

    const ENV_KEYS: [&'static str; 38] = [
        "retention_days",
        "error_retention_days",
        "app_retention",
        "retention_interval_secs",
        "pii_secret",
        "rate_limit_events_per_second",
        "rate_limit_burst_events",
        "max_connections",
        "header_timeout_secs",
        "body_timeout_secs",
        "request_timeout_secs",
        "alert_interval_ms",
        "role",
        "store",
        "queue",
        "postgres_pool_size",
        "nats_stream",
        "nats_consumer",
        "nats_replicas",
        "nats_ack_wait_secs",
        "max_attempts",
        "key_cache_ms",
        "data_dir",
        "listen",
        "schemas",
        "max_body_bytes",
        "max_decompressed_bytes",
        "max_batch_events",
        "max_event_data_bytes",
        "future_tolerance_secs",
        "max_event_age_secs",
        "reject_unknown_event_types",
        "max_queue_depth",
        "worker_batch_size",
        "worker_linger_ms",
        "max_raw_error_bytes",
        "log_format",
        "access_log_max_per_sec",
    ];

    fn check(&self) -> anyhow::Result<()> {
        let port = self
            .listen
            .rsplit_once(':')
            .map(|(_, port)| port.parse::<u16>());
        anyhow::ensure!(
            matches!(port, Some(Ok(_))),
            "listen must be host:port (`127.0.0.1:8000`, `localhost:8000`, `[::1]:8000`), not {:?}",
            self.listen
        );
        anyhow::ensure!(self.max_body_bytes > 0, "max_body_bytes must be positive");
        anyhow::ensure!(
            self.max_decompressed_bytes >= self.max_body_bytes,
            "max_decompressed_bytes must be at least max_body_bytes"
        );
        anyhow::ensure!(
            self.max_batch_events > 0,
            "max_batch_events must be positive"
        );
        anyhow::ensure!(
            self.worker_batch_size > 0,
            "worker_batch_size must be positive"
        );
        anyhow::ensure!(self.max_queue_depth > 0, "max_queue_depth must be positive");
        anyhow::ensure!(self.max_attempts > 0, "max_attempts must be positive");
        anyhow::ensure!(self.max_connections > 0, "max_connections must be positive");
        for (name, secs) in [
            ("header_timeout_secs", self.header_timeout_secs),
            ("body_timeout_secs", self.body_timeout_secs),
            ("request_timeout_secs", self.request_timeout_secs),
        ] {
            anyhow::ensure!(secs > 0, "{name} must be positive");
        }
        anyhow::ensure!(
            self.retention_interval_secs > 0,
            "retention_interval_secs must be positive"
        );
        let global = [
            ("retention_days".to_owned(), self.retention_days),
            ("error_retention_days".to_owned(), self.error_retention_days),
        ];
        let per_app = self.app_retention.iter().flat_map(|(app, retention)| {
            [
                (
                    format!("app_retention.{app}.retention_days"),
                    retention.retention_days,
                ),
                (
                    format!("app_retention.{app}.error_retention_days"),
                    retention.error_retention_days,
                ),
            ]
        });
        for (name, days) in global.into_iter().chain(per_app) {
            anyhow::ensure!(
                days.is_none_or(|days| (1..=MAX_RETENTION_DAYS).contains(&days)),
                "{name} must be between 1 and {MAX_RETENTION_DAYS} days (leave it out to keep forever)"
            );
        }
        if let Some(secret) = &self.pii_secret {
            anyhow::ensure!(
                secret.len() >= 32,
                "pii_secret must be at least 32 characters (or leave it out: one is made and kept in the store)"
            );
        }
        for rule in &self.alerts {
            anyhow::ensure!(
                rule.webhook.starts_with("http://") || rule.webhook.starts_with("https://"),
                "alert {:?}: webhook must be an http(s) URL",
                rule.name
            );
            anyhow::ensure!(
                rule.window_secs > 0,
                "alert {:?}: window_secs must be positive",
                rule.name
            );
        }
        anyhow::ensure!(
            self.store == "sqlite"
                || self.store.starts_with("postgres://")
                || self.store.starts_with("postgresql://"),
            "store must be `sqlite` or a postgres:// URL, not {:?}",
            without_password(&self.store)
        );
        anyhow::ensure!(
            matches!(self.queue.as_str(), "embedded" | "sqlite")
                || self.queue.starts_with("nats://"),
            "queue must be `embedded` or a nats:// URL, not {:?}",
            self.queue
        );
        Ok(())
    }

    /// The address to listen on, resolved: every address `listen` names, in the resolver's
    /// order (`localhost` may be `[::1]` then `127.0.0.1`).
    pub async fn listen_addrs(&self) -> anyhow::Result<Vec<std::net::SocketAddr>> {
        let addrs: Vec<_> = tokio::net::lookup_host(self.listen.as_str())
            .await
            .map_err(|e| anyhow::anyhow!("cannot resolve the listen address {}: {e}", self.listen))?
            .collect();
        anyhow::ensure!(
            !addrs.is_empty(),
            "the listen address {} resolves to no address",
            self.listen
        );
        Ok(addrs)
    }

    pub fn future_tolerance(&self) -> Duration {
        Duration::from_secs(self.future_tolerance_secs)
    }

    pub fn uses_postgres(&self) -> bool {
        self.store != "sqlite"
    }

    pub fn key_cache(&self) -> Duration {
        match self.key_cache_ms {
            Some(ms) => Duration::from_millis(ms),
            None if self.uses_postgres() => Duration::from_millis(1000),
            // The SQLite store marks every key change, so answers are kept until one.
            None => Duration::MAX,
        }
    }

    /// The rate limiter's bucket size, in events (see `rate_limit_burst_events`).
    pub fn rate_limit_burst(&self) -> u64 {
        match self.rate_limit_burst_events {
            0 => self
                .rate_limit_events_per_second
                .max(self.max_batch_events as u64),
            burst => burst,
        }
    }

    pub fn max_event_age(&self) -> Option<Duration> {
        self.max_event_age_secs.map(Duration::from_secs)
    }

    /// How long `app`'s events are kept after their timestamp; `None`: forever.
    pub fn event_retention(&self, app: &str) -> Option<Duration> {
        self.app_retention
            .get(app)
            .and_then(|r| r.retention_days)
            .or(self.retention_days)
            .map(days)
    }

    /// How long `app`'s error records are kept after they were received; `None`: forever.
    pub fn error_retention(&self, app: &str) -> Option<Duration> {
        self.app_retention
            .get(app)
            .and_then(|r| r.error_retention_days)
            .or(self.error_retention_days)
            .map(days)
    }

    /// Where event expiry starts at `now`.
    pub fn event_cutoffs(&self, now: Micros) -> Cutoffs {
        self.cutoffs(
            now,
            |retention| retention.retention_days,
            self.retention_days,
        )
    }

    /// Where error-record expiry starts at `now`.
    pub fn error_cutoffs(&self, now: Micros) -> Cutoffs {
        self.cutoffs(
            now,
            |retention| retention.error_retention_days,
            self.error_retention_days,
        )
    }

    fn cutoffs(
        &self,
        now: Micros,
        of_app: impl Fn(&AppRetention) -> Option<u32>,
        default: Option<u32>,
    ) -> Cutoffs {
        let cutoff = |days_kept: Option<u32>| {
            days_kept.map(|kept| now.saturating_sub(days(kept).as_micros() as Micros))
        };
        Cutoffs {
            default: cutoff(default),
            per_app: self
                .app_retention
                .iter()
                .map(|(app, retention)| (app.clone(), cutoff(of_app(retention).or(default))))
                .collect(),
        }
    }

    pub fn retention_interval(&self) -> Duration {
        Duration::from_secs(self.retention_interval_secs)
    }
}

/// Retention is counted in days up to about 100 years.
const MAX_RETENTION_DAYS: u32 = 36_500;

fn days(count: u32) -> Duration {
    Duration::from_secs(u64::from(count) * 86_400)
}

/// Figment's errors, in words: an unknown key is named with the file it is in and the
/// closest known setting.
fn explain(errors: figment::Error) -> anyhow::Error {
    let lines: Vec<String> = errors
        .into_iter()
        .map(|error| {
            let mut key = error.path.clone();
            key.retain(|part| part != "default");
            let source = error
                .metadata
                .as_ref()
                .and_then(|metadata| metadata.source.as_ref())
                .map_or_else(|| "the configuration".to_owned(), ToString::to_string);
            let figment::error::Kind::UnknownField(field, known) = &error.kind else {
                // Figment's own wording names its profile (`default.listen`) and its types.
                return format!("setting `{}` in {source}: {}", key.join("."), error.kind);
            };
            if key.last() != Some(field) {
                key.push(field.clone());
            }
            let hint = closest(field, known)
                .map(|name| format!(": did you mean `{name}`?"))
                .unwrap_or_default();
            format!(
                "unknown setting `{}` in {source}{hint} (eye.example.toml lists every setting)",
                key.join(".")
            )
        })
        .collect();
    anyhow::anyhow!(lines.join("; "))
}

/// A store setting fit to print: the password of a URL or of `password=...` replaced.
fn without_password(store: &str) -> String {
    let words: Vec<String> = store
        .split(' ')
        .map(|word| match word.split_once('=') {
            Some((name, _)) if name.eq_ignore_ascii_case("password") => format!("{name}=***"),
            _ => word.to_owned(),
        })
        .collect();
    let text = words.join(" ");
    let Some((scheme, rest)) = text.split_once("://") else {
        return text;
    };
    match rest.split_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => text,
    }
}

/// The known name nearest `field` by edit distance, if it is near enough to be a typo (or
/// `field` is the start of it: `window` for `window_secs`).
fn closest<'a>(field: &str, known: &[&'a str]) -> Option<&'a str> {
    let distance = |a: &str, b: &str| {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut previous = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let substituted = previous + usize::from(ca != *cb);
                previous = row[j + 1];
                row[j + 1] = substituted.min(row[j] + 1).min(previous + 1);
            }
        }
        row[b.len()]
    };
    known
        .iter()
        .map(|name| (distance(field, name), *name))
        .filter(|(d, name)| *d <= 2.max(field.len() / 4) || name.starts_with(field))
        .min()
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_file() {
        let config = Config::load(None, Overrides::default()).expect("defaults load");
        assert_eq!(config.listen, "127.0.0.1:8000");
        assert_eq!(config.max_batch_events, 1000);
    }

    #[test]
    fn file_then_flags_override_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("eye.toml");
        std::fs::write(&file, "max_batch_events = 7\nlisten = \"127.0.0.1:9000\"\n")
            .expect("write config");
        let overrides = Overrides {
            listen: Some("127.0.0.1:9100".into()),
            ..Overrides::default()
        };
        let config = Config::load(Some(&file), overrides).expect("config loads");
        assert_eq!(config.max_batch_events, 7);
        assert_eq!(config.listen, "127.0.0.1:9100");
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_it_and_its_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("eye.toml");
        std::fs::write(&file, "listn = \"127.0.0.1:9000\"\n").expect("write");
        let error = Config::load(Some(&file), Overrides::default())
            .expect_err("a typo must not start a server on the default port")
            .to_string();
        assert!(error.contains("unknown setting `listn`"), "{error}");
        assert!(error.contains(&file.display().to_string()), "{error}");
        assert!(error.contains("did you mean `listen`?"), "{error}");

        std::fs::write(
            &file,
            "[[alerts]]\nname = \"x\"\nwebhook = \"http://127.0.0.1:9/\"\nthreshold = 1\nwindow = 60\n",
        )
        .expect("write");
        let error = Config::load(Some(&file), Overrides::default())
            .expect_err("an unknown key of an alert rule")
            .to_string();
        assert!(error.contains("`alerts.0.window`"), "{error}");
        assert!(error.contains("did you mean `window_secs`?"), "{error}");

        std::fs::write(&file, "[alert]\nname = \"x\"\n").expect("write");
        let error = Config::load(Some(&file), Overrides::default())
            .expect_err("an unknown table")
            .to_string();
        assert!(error.contains("unknown setting `alert`"), "{error}");
    }

    #[test]
    fn listen_takes_a_name_or_an_address_with_a_port() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("eye.toml");
        for (listen, loads) in [
            ("localhost:8000", true),
            ("127.0.0.1:0", true),
            ("[::1]:8000", true),
            ("localhost", false),
            ("127.0.0.1:http", false),
        ] {
            std::fs::write(&file, format!("listen = {listen:?}\n")).expect("write");
            let loaded = Config::load(Some(&file), Overrides::default());
            assert_eq!(loaded.is_ok(), loads, "listen = {listen:?}: {loaded:?}");
        }
    }

    #[tokio::test]
    async fn a_listen_name_is_resolved() {
        let config = Config {
            listen: "localhost:0".into(),
            ..Config::default()
        };
        let addrs = config.listen_addrs().await.expect("localhost resolves");
        assert!(
            addrs.iter().all(|addr| addr.ip().is_loopback()),
            "{addrs:?}"
        );
        let config = Config {
            listen: "no-such-host.invalid:8000".into(),
            ..Config::default()
        };
        let error = config.listen_addrs().await.expect_err("unresolvable");
        assert!(
            error.to_string().contains("no-such-host.invalid:8000"),
            "{error}"
        );
    }

    #[test]
    fn alert_rules_come_from_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("eye.toml");
        let rules = "[[alerts]]\nname = \"bad schemas\"\nwebhook = \"http://127.0.0.1:9/hook\"\nthreshold = 10\ncode = \"schema_violation\"\n\n[[alerts]]\nname = \"lag\"\nwebhook = \"http://127.0.0.1:9/hook\"\nmetric = \"lag\"\nthreshold = 30\nwindow_secs = 60\n";
        std::fs::write(&file, rules).expect("write");
        let config = Config::load(Some(&file), Overrides::default()).expect("config loads");
        assert_eq!(config.alerts.len(), 2);
        assert_eq!(
            (config.alerts[0].metric, config.alerts[0].window_secs),
            (AlertMetric::Rejected, 300)
        );
        assert_eq!(config.alerts[1].metric, AlertMetric::Lag);
        std::fs::write(
            &file,
            "[[alerts]]\nname = \"x\"\nwebhook = \"ftp://x\"\nthreshold = 1\n",
        )
        .expect("write");
        assert!(Config::load(Some(&file), Overrides::default()).is_err());
    }

    /// The example file documents every setting with its default: keep it true.
    #[test]
    fn the_example_file_states_the_defaults() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../eye.example.toml");
        let config = Config::load(Some(&example), Overrides::default()).expect("the example loads");
        assert_eq!(config, Config::default());
        let text = std::fs::read_to_string(&example).expect("read the example");
        let defaults = serde_json::to_value(Config::default()).expect("serialize");
        for key in defaults.as_object().expect("an object").keys() {
            assert!(
                text.contains(&format!("{key} = "))
                    || text.contains(&format!("[[{key}]]"))
                    || text.contains(&format!("[{key}.")),
                "eye.example.toml does not list `{key}`"
            );
        }
    }

    #[test]
    fn the_queue_is_embedded_by_its_name_or_its_older_one_or_nats() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("eye.toml");
        for (queue, loads) in [
            ("embedded", true),
            ("sqlite", true),
            ("nats://127.0.0.1:4222", true),
            ("kafka://127.0.0.1:9092", false),
        ] {
            std::fs::write(&file, format!("queue = {queue:?}\n")).expect("write");
            let loaded = Config::load(Some(&file), Overrides::default());
            assert_eq!(loaded.is_ok(), loads, "queue = {queue:?}: {loaded:?}");
        }
    }

    #[test]
    fn retention_is_global_with_overrides_per_application() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("eye.toml");
        std::fs::write(
            &file,
            "retention_days = 30\nerror_retention_days = 7\n\
             [app_retention.shop]\nretention_days = 90\n\
             [app_retention.blog]\nerror_retention_days = 1\n",
        )
        .expect("write");
        let config = Config::load(Some(&file), Overrides::default()).expect("loads");
        let day = 86_400;
        assert_eq!(
            config.event_retention("shop"),
            Some(Duration::from_secs(90 * day))
        );
        assert_eq!(
            config.event_retention("blog"),
            Some(Duration::from_secs(30 * day))
        );
        assert_eq!(
            config.error_retention("shop"),
            Some(Duration::from_secs(7 * day))
        );
        assert_eq!(
            config.error_retention("blog"),
            Some(Duration::from_secs(day))
        );
        let now: Micros = 1_000 * day as i64 * 1_000_000;
        let cutoffs = config.event_cutoffs(now);
        let days_ago = |days: i64| Some(now - days * day as i64 * 1_000_000);
        assert_eq!(cutoffs.cutoff_for("other"), days_ago(30));
        assert_eq!(cutoffs.cutoff_for("shop"), days_ago(90));
        assert_eq!(cutoffs.cutoff_for("blog"), days_ago(30));
        assert_eq!(cutoffs.all_expired_before(), days_ago(90));
        assert_eq!(config.error_cutoffs(now).cutoff_for("blog"), days_ago(1));

        let forever = Config::default();
        assert_eq!(forever.event_retention("shop"), None);
        assert!(!forever.event_cutoffs(now).any());
        let one_app = Config {
            app_retention: [(
                "shop".to_owned(),
                AppRetention {
                    retention_days: Some(5),
                    error_retention_days: None,
                },
            )]
            .into(),
            ..Config::default()
        };
        let cutoffs = one_app.event_cutoffs(now);
        assert!(cutoffs.any());
        assert_eq!(cutoffs.cutoff_for("other"), None);
        assert_eq!(
            cutoffs.all_expired_before(),
            None,
            "other applications keep theirs"
        );
    }

    #[test]
    fn retention_must_be_a_whole_number_of_days() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("eye.toml");
        for (text, problem) in [
            ("retention_days = 0\n", "retention_days must be between 1"),
            (
                "[app_retention.shop]\nerror_retention_days = 0\n",
                "app_retention.shop.error_retention_days",
            ),
            ("[app_retention.shop]\nretention = 3\n", "retention"),
            ("retention_interval_secs = 0\n", "retention_interval_secs"),
            ("pii_secret = \"short\"\n", "pii_secret"),
        ] {
            std::fs::write(&file, text).expect("write");
            let error = Config::load(Some(&file), Overrides::default())
                .expect_err(text)
                .to_string();
            assert!(error.contains(problem), "{text}: {error}");
        }
    }

    #[test]
    fn missing_file_is_an_error() {
        let result = Config::load(
            Some(Path::new("/nonexistent/eye.toml")),
            Overrides::default(),
        );
        assert!(result.is_err());
    }

    #[test]
    fn a_store_setting_is_shown_without_its_password() {
        let config = Config {
            store: "host=127.0.0.1 user=postgres password=s3cret dbname=x".into(),
            ..Config::default()
        };
        let refused = config.check().expect_err("not a URL").to_string();
        assert!(
            !refused.contains("s3cret") && refused.contains("password=***"),
            "{refused}"
        );
        assert_eq!(
            without_password("postgres://eye:s3cret@db/eye"),
            "postgres://eye:***@db/eye"
        );
    }

    #[test]
    fn a_wrong_value_names_the_setting_without_figment_s_profile() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("eye.toml");
        std::fs::write(&file, "log_format = \"yaml\"\n").expect("write");
        let error = Config::load(Some(&file), Overrides::default())
            .expect_err("not a format")
            .to_string();
        assert!(error.starts_with("setting `log_format` in "), "{error}");
        assert!(!error.contains("default."), "{error}");
    }
}
