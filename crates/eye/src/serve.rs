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
    // The handlers are installed before the server says it listens: a SIGTERM right after
    // that line must drain, not kill.
    let shutdown = shutdown_signal()?;
    let app = Application::build(config).await?;
    app.run(shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}

/// SIGINT or SIGTERM, with both handlers installed now.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        tracing::info!("shutdown signal received");
    })
}
