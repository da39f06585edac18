//! The connection loop, with the limits that keep one client from starving the others: a
//! cap on open connections (one over it is answered 503 and closed), a deadline for a
//! request's headers (slowloris), and a deadline for producing each answer. The body's own
//! deadline is enforced where bodies are read (`body.rs`). Stops accepting on shutdown and
//! lets open connections finish their requests.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::api_error::ApiError;
use crate::config::Config;

/// How long open connections get to finish after shutdown begins.
const DRAIN_DEADLINE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
}

impl From<&Config> for ConnectionLimits {
    fn from(config: &Config) -> Self {
        ConnectionLimits {
            max_connections: config.max_connections,
            header_timeout: Duration::from_secs(config.header_timeout_secs),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        // A client that closes its sending side after the request still gets the answer
        // (without this, hyper drops the connection, and the answer, on that EOF).
        .half_close(true)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            tokio::spawn(refuse(stream, limits.max_connections));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // A client that goes away mid-request is not the server's error.
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_DEADLINE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the drain deadline; closing them");
    }
    Ok(())
}

/// Answers a connection over the cap with 503 and closes it.
async fn refuse(mut stream: TcpStream, max: usize) {
    let body = format!(
        r#"{{"error":{{"code":"too_many_connections","message":"the server has {max} connections open, its limit: retry shortly"}}}}"#
    );
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// Middleware: a request whose answer is not ready within the deadline gets 503
/// `request_timeout`. (A streamed answer, like the live feed, is ready once it starts.)
pub async fn request_timeout(
    State(deadline): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "request_timeout",
            format!(
                "the answer took longer than {} s; retry later",
                deadline.as_secs()
            ),
        )
        .retry_after(1)
        .into_response(),
    }
}
