//! `eye serve`: load the configuration, build the application, run until SIGINT or SIGTERM.

use eye_server::Application;
use eye_server::config::{Config, Overrides, Role};

use crate::cli::{RoleArg, ServeArgs};
use crate::logging;

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let role = args.role.map(|role| match role {
        RoleArg::All => Role::All,
        RoleArg::Ingest => Role::Ingest,
        RoleArg::Worker => Role::Worker,
        RoleArg::Query => Role::Query,
    });
    let overrides = Overrides {
        data_dir: args.store.data_dir,
        listen: args.listen,
        schemas: args.schemas,
        role,
        store: args.store.store,
        queue: args.queue,
    };
    let config = Config::load(args.store.config.as_deref(), overrides)?;
    logging::init(config.log_format);
    let app = Application::build(config).await?;
    app.run(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {},
                    _ = terminate.recv() => {},
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutdown signal received");
}
