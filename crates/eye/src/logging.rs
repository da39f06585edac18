//! Log set-up: to standard error (standard output belongs to command results), filtered by
//! `RUST_LOG` (default `info`), as text or JSON lines.

use std::io::IsTerminal;

use eye_server::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// tokio-postgres logs statements with their parameters at debug level: event data, which
/// may be personal. It stays at warn whatever `RUST_LOG` says.
const QUIET_DRIVER: &str = "tokio_postgres=warn";

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info"))
        .add_directive(QUIET_DRIVER.parse().expect("a valid directive"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
}
