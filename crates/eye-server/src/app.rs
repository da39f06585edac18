//! The application as a value: built from a [`Config`], bound to a listener (port 0 in
//! tests), run until a shutdown future resolves, then drained.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::catalog;
use crate::config::Config;
use crate::http::{self, AppState};
use crate::queue::{Queue, SqliteQueue};
use crate::store::{SqliteStore, Store};
use crate::validation::{Rules, SchemaRegistry};
use crate::worker::Worker;

pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Opens the store and queue, loads the schemas and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&config.data_dir)
                .with_context(|| format!("opening the store in {}", config.data_dir.display()))?,
        );
        let queue: Arc<dyn Queue> = Arc::new(
            SqliteQueue::open(&config.data_dir, config.max_queue_depth)
                .with_context(|| format!("opening the queue in {}", config.data_dir.display()))?,
        );
        let schemas = Arc::new(SchemaRegistry::default());
        catalog::load_from_store(store.as_ref(), &schemas).await?;
        if let Some(dir) = &config.schemas {
            let count = catalog::load_dir(dir, store.as_ref(), &schemas).await?;
            tracing::info!(count, dir = %dir.display(), "schema files loaded");
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        let rules = Arc::new(Rules {
            max_data_bytes: config.max_event_data_bytes,
            future_tolerance: config.future_tolerance(),
            max_age: config.max_event_age(),
            reject_unknown_event_types: config.reject_unknown_event_types,
        });
        let state = AppState {
            store,
            queue,
            schemas,
            config: Arc::new(config),
            rules,
        };
        Ok(Application { listener, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.state.config.listen)
    }

    /// Serves until `shutdown` resolves; then stops accepting, finishes in-flight requests,
    /// lets the worker drain, and returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Application { listener, state } = self;
        tracing::info!(addr = %listener.local_addr()?, "listening");
        let worker = Worker {
            queue: Arc::clone(&state.queue),
            store: Arc::clone(&state.store),
            batch_size: state.config.worker_batch_size,
        };
        let stop_worker = CancellationToken::new();
        let worker = tokio::spawn(worker.run(stop_worker.clone()));
        let served = axum::serve(listener, http::router(state))
            .with_graceful_shutdown(shutdown)
            .await;
        tracing::info!("stopped accepting requests; draining the queue");
        stop_worker.cancel();
        worker.await.context("the worker task failed")?;
        served.context("the HTTP server failed")
    }
}
