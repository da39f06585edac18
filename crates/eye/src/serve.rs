//! `eye serve`: load the configuration, build the application, run until SIGINT or SIGTERM.

use eye_server::Application;
use eye_server::config::{Config, Overrides};

use crate::cli::ServeArgs;
use crate::logging;

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let overrides = Overrides {
        data_dir: args.store.data_dir,
        listen: args.listen,
        schemas: args.schemas,
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
