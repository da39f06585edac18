//! The application as a value: built from a [`Config`], bound to a listener (port 0 in
//! tests), run until a shutdown future resolves, then drained.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::key_cache::KeyCache;
use crate::backends::{open_queue, open_store};
use crate::config::Config;
use crate::http::{self, AppState};
use crate::ingest::catalog;
use crate::ingest::pii::PiiKey;
use crate::ingest::validation::{Rules, SchemaRegistry};
use crate::ops::alerts::Alerts;
use crate::pipeline::erasure::ErasureRunner;
use crate::pipeline::retention::RetentionSweep;
use crate::pipeline::worker::Worker;
use http::RateLimiter;

/// How often every node re-reads the schemas in force.
const SCHEMA_REFRESH: Duration = Duration::from_secs(1);

pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    state: AppState,
}

impl Application {
    /// Reads the schema files, opens the store (migrating it) and, unless this is a query
    /// node, the queue; puts the schemas in force and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        // Schema files are checked before anything is opened: a start that fails on one
        // leaves no data directory or store behind.
        let schema_files = config
            .schemas
            .as_deref()
            .map(catalog::read_dir)
            .transpose()?;
        let store = open_store(&config).await?;
        let queue = if config.role.uses_queue() {
            Some(open_queue(&config).await?)
        } else {
            None
        };
        let pii_secret = match &config.pii_secret {
            Some(secret) => secret.as_bytes().to_vec(),
            None => store
                .pii_secret()
                .await
                .context("cannot read the PII secret from the store")?,
        };
        let schemas = Arc::new(SchemaRegistry::new(PiiKey::new(&pii_secret)));
        if let (Some(dir), Some(files)) = (&config.schemas, schema_files) {
            let report = catalog::load_files(files, store.as_ref(), &schemas).await?;
            tracing::info!(
                files = report.files,
                created = report.created,
                dir = %dir.display(),
                "schema files loaded"
            );
        }
        catalog::refresh(store.as_ref(), &schemas).await?;
        let addrs = config.listen_addrs().await?;
        let listener = TcpListener::bind(addrs.as_slice())
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let local_addr = listener.local_addr()?;
        let rules = Arc::new(Rules {
            max_data_bytes: config.max_event_data_bytes,
            future_tolerance: config.future_tolerance(),
            max_age: config.max_event_age(),
            reject_unknown_event_types: config.reject_unknown_event_types,
            retention: None,
        });
        let keys = Arc::new(KeyCache::new(config.key_cache()));
        let metrics = crate::ops::metrics::install();
        let live = crate::pipeline::live::LiveFeed::default();
        let rate_limit = RateLimiter::new(
            config.rate_limit_events_per_second,
            config.rate_limit_burst(),
        )
        .map(Arc::new);
        let state = AppState {
            rate_limit,
            store,
            queue,
            schemas,
            config: Arc::new(config),
            rules,
            keys,
            metrics,
            live,
            suppressions: Default::default(),
            erasure_wakeup: Default::default(),
            usage_read_at: Default::default(),
            export_slots: Arc::new(tokio::sync::Semaphore::new(
                crate::http::export::MAX_CONCURRENT_EXPORTS,
            )),
        };
        Ok(Application {
            listener,
            local_addr,
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` resolves; then stops accepting, finishes in-flight requests,
    /// lets the worker drain, and returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Application {
            listener,
            local_addr,
            state,
        } = self;
        tracing::info!(addr = %local_addr, role = state.config.role.as_str(), "listening");
        let stop = CancellationToken::new();
        let refresher = tokio::spawn(refresh_schemas(state.clone(), stop.clone()));
        let alerts = match (
            &state.queue,
            state.config.role.runs_worker(),
            state.config.alerts.is_empty(),
        ) {
            (Some(queue), true, false) => {
                let interval = Duration::from_millis(state.config.alert_interval_ms.max(100));
                let alerts = Alerts::new(
                    state.config.alerts.clone(),
                    Arc::clone(&state.store),
                    Arc::clone(queue),
                    interval,
                )?;
                Some(tokio::spawn(alerts.run(stop.clone())))
            }
            _ => None,
        };
        // Retention and erasures run where the worker runs: the nodes that write the store.
        let housekeeping = state.config.role.runs_worker().then(|| {
            let sweep = RetentionSweep {
                store: Arc::clone(&state.store),
                config: Arc::clone(&state.config),
            };
            let erasures = ErasureRunner {
                store: Arc::clone(&state.store),
                live: state.live.clone(),
                wakeup: Arc::clone(&state.erasure_wakeup),
            };
            [
                tokio::spawn(sweep.run(stop.clone())),
                tokio::spawn(erasures.run(stop.clone())),
            ]
        });
        let worker = match (&state.queue, state.config.role.runs_worker()) {
            (Some(queue), true) => {
                let worker = Worker {
                    queue: Arc::clone(queue),
                    store: Arc::clone(&state.store),
                    batch_size: state.config.worker_batch_size,
                    linger: Duration::from_millis(state.config.worker_linger_ms),
                    max_attempts: state.config.max_attempts,
                    live: Some(state.live.clone()),
                };
                Some(tokio::spawn(worker.run(stop.clone())))
            }
            _ => None,
        };
        let limits = http::ConnectionLimits::from(state.config.as_ref());
        // Live subscribers' streams never end by themselves: end them when shutdown begins,
        // so that the connections they hold drain with the others.
        let live = state.live.clone();
        let shutdown = async move {
            shutdown.await;
            live.close();
        };
        let served = http::serve(listener, http::router(state), limits, shutdown).await;
        tracing::info!("stopped accepting requests; draining the queue");
        stop.cancel();
        if let Some(worker) = worker {
            worker.await.context("the worker task failed")?;
        }
        let _ = refresher.await;
        for task in housekeeping.into_iter().flatten() {
            let _ = task.await;
        }
        if let Some(alerts) = alerts {
            let _ = alerts.await;
        }
        served.context("the HTTP server failed")
    }
}

/// Keeps this node's schemas and suppressed sessions in step with the store, so changes made
/// through any node (or any other tool) apply everywhere within a second; and samples the
/// queue depth.
async fn refresh_schemas(state: AppState, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(SCHEMA_REFRESH) => {}
        }
        if let Err(error) = catalog::refresh(state.store.as_ref(), &state.schemas).await {
            tracing::warn!(%error, "schema refresh failed; keeping the schemas in force");
        }
        if let Some(queue) = &state.queue
            && let Ok(depth) = queue.depth().await
        {
            crate::ops::metrics::queue_depth(depth);
        }
        if state.config.role.serves_queries() {
            forget_erased_sessions(&state).await;
        }
        if state.config.role.serves_ingest() {
            match state.store.suppressions().await {
                Ok(all) => state.suppressions.replace(all),
                Err(error) => {
                    tracing::warn!(%error, "suppression refresh failed; keeping the ones known")
                }
            }
        }
    }
}

/// Erasures finished lately on any node: this node's live subscribers must not be sent what
/// their buffers still hold of those sessions.
async fn forget_erased_sessions(state: &AppState) {
    /// Erasures looked at each second; more finishing within one second than this is not
    /// a pace a deployment sees.
    const RECENT: usize = 20;
    match state.store.erasures(RECENT).await {
        Ok(erasures) => {
            for erasure in erasures {
                if let Some(completed_at) = erasure.completed_at {
                    state
                        .live
                        .forget(&erasure.id, &erasure.request, completed_at);
                }
            }
        }
        Err(error) => tracing::warn!(%error, "could not read recent erasures for the live feed"),
    }
}
