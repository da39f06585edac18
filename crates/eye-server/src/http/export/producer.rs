//! The producer behind an export's body: a blocking thread that pages through the store
//! (keyset pagination, [`PAGE_ROWS`] at a time), encodes each page and hands the bytes, in
//! chunks, to a bounded channel that the response body reads. Memory stays bounded by one
//! page, the encoder's buffer and the channel, whatever the size of the export.
//!
//! The body going away (the client disconnected) closes the channel: the next chunk handed
//! to it fails, a store query in flight is abandoned, and the producer stops. An error
//! midway (the store failing) ends the body with an error, so the client sees a broken
//! transfer, never a short file that looks complete.

use std::io::{self, Write};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use metrics::{counter, gauge};
use tokio::runtime::Handle;
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};

use super::ExportFormat;
use super::table::Row;
use crate::store::{Store, StoreError};

/// Rows asked of the store at a time.
pub const PAGE_ROWS: usize = 1000;
/// Bytes handed to the body at a time (at most, but for one write larger than that).
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks the channel holds while the client reads slowly.
const CHANNEL_CHUNKS: usize = 8;

/// What the producer hands the body.
enum Piece {
    Bytes(Bytes),
    /// The export is complete.
    Done,
    /// The export failed midway: the body ends with an error.
    Failed,
}

/// Starts the producer and waits for the first page: a store that fails at once is an
/// ordinary error answer; later failures cut the transfer.
pub async fn start<R: Row>(
    store: Arc<dyn Store>,
    query: R::Query,
    format: ExportFormat,
    permit: OwnedSemaphorePermit,
) -> Result<Body, StoreError> {
    let (chunks, receiver) = mpsc::channel(CHANNEL_CHUNKS);
    let (started, first_page) = oneshot::channel();
    let runtime = Handle::current();
    tokio::task::spawn_blocking(move || {
        // Held for as long as the producer runs: one of the node's export slots.
        let _permit = permit;
        Producer {
            runtime,
            store,
            chunks,
        }
        .run::<R>(query, format, started);
    });
    match first_page.await {
        Ok(Ok(())) => Ok(body(receiver)),
        Ok(Err(error)) => Err(error),
        Err(_) => Err(StoreError::Unavailable(
            "the export stopped before its first page".into(),
        )),
    }
}

/// The response body: the chunks as they come; an error when the producer failed or
/// vanished without saying it was done.
fn body(receiver: mpsc::Receiver<Piece>) -> Body {
    let stream = futures_util::stream::unfold(Some(receiver), |receiver| async move {
        let mut receiver = receiver?;
        match receiver.recv().await {
            Some(Piece::Bytes(bytes)) => Some((Ok(bytes), Some(receiver))),
            Some(Piece::Done) => None,
            Some(Piece::Failed) | None => Some((
                Err(io::Error::other(
                    "the export failed midway; its file is incomplete",
                )),
                None,
            )),
        }
    });
    Body::from_stream(stream)
}

struct Producer {
    runtime: Handle,
    store: Arc<dyn Store>,
    chunks: mpsc::Sender<Piece>,
}

/// Why a producer stopped before the end.
enum Stop {
    /// The body was dropped: nobody reads any more.
    ClientGone,
    Store(StoreError),
    Encoding(io::Error),
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::ClientGone => f.write_str("the client went away"),
            Stop::Store(error) => write!(f, "{error}"),
            Stop::Encoding(error) => write!(f, "encoding failed: {error}"),
        }
    }
}

impl Producer {
    fn run<R: Row>(
        self,
        query: R::Query,
        format: ExportFormat,
        started: oneshot::Sender<Result<(), StoreError>>,
    ) {
        let _in_progress = InProgress::enter();
        let first = match self.page::<R>(&query, None) {
            Ok(page) => page,
            Err(Stop::Store(error)) => {
                let _ = started.send(Err(error));
                return;
            }
            Err(_) => return,
        };
        if started.send(Ok(())).is_err() {
            return;
        }
        match self.export::<R>(&query, format, first) {
            Ok(()) => {
                let _ = self.chunks.blocking_send(Piece::Done);
            }
            Err(Stop::ClientGone) => {}
            Err(cause) => {
                tracing::error!(
                    kind = R::KIND,
                    format = format.name(),
                    %cause,
                    "an export failed midway; its transfer is cut"
                );
                let _ = self.chunks.blocking_send(Piece::Failed);
            }
        }
    }

    fn export<R: Row>(
        &self,
        query: &R::Query,
        format: ExportFormat,
        mut page: Vec<R>,
    ) -> Result<(), Stop> {
        let rows = counter!("eye_export_rows_total", "kind" => R::KIND, "format" => format.name());
        let sink = ChannelSink {
            chunks: self.chunks.clone(),
            buffer: Vec::with_capacity(CHUNK_BYTES),
        };
        let mut encoder = format.encoder::<R, _>(sink).map_err(|e| self.stop(e))?;
        // The header row or the file's magic bytes go out at once.
        encoder.flush().map_err(|e| self.stop(e))?;
        loop {
            // A short page is the last one; after a full one (the store may give one row
            // more than asked), go on after its last row.
            let after = match page.last() {
                Some(last) if page.len() >= PAGE_ROWS => Some(last.position()),
                _ => None,
            };
            for row in page {
                encoder.write(row).map_err(|e| self.stop(e))?;
                rows.increment(1);
            }
            encoder.flush().map_err(|e| self.stop(e))?;
            let Some(after) = after else {
                break;
            };
            page = self.page::<R>(query, Some(after))?;
        }
        encoder.finish().map_err(|e| self.stop(e))
    }

    /// One page, unless the client goes away first (the query is then abandoned).
    fn page<R: Row>(
        &self,
        query: &R::Query,
        after: Option<crate::store::Position>,
    ) -> Result<Vec<R>, Stop> {
        let page = self.runtime.block_on(async {
            tokio::select! {
                biased;
                () = self.chunks.closed() => None,
                page = R::page(&self.store, query, after, PAGE_ROWS) => Some(page),
            }
        });
        match page {
            None => Err(Stop::ClientGone),
            Some(Ok(page)) => Ok(page),
            Some(Err(error)) => Err(Stop::Store(error)),
        }
    }

    /// An encoder's error: the client gone when the channel is closed, a failure otherwise.
    fn stop(&self, error: io::Error) -> Stop {
        if self.chunks.is_closed() {
            Stop::ClientGone
        } else {
            Stop::Encoding(error)
        }
    }
}

/// What encoders write to: bytes gathered into chunks for the body.
pub struct ChannelSink {
    chunks: mpsc::Sender<Piece>,
    buffer: Vec<u8>,
}

impl ChannelSink {
    fn send(&mut self) -> io::Result<()> {
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK_BYTES));
        self.chunks
            .blocking_send(Piece::Bytes(Bytes::from(chunk)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChannelSink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.send()
    }
}

/// Counts an export in `eye_exports_in_progress` while it lives.
struct InProgress;

impl InProgress {
    fn enter() -> InProgress {
        gauge!("eye_exports_in_progress").increment(1.0);
        InProgress
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        gauge!("eye_exports_in_progress").decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(pieces: Vec<Piece>, close: bool) -> Result<Bytes, axum::Error> {
        let (chunks, receiver) = mpsc::channel(pieces.len().max(1));
        for piece in pieces {
            chunks.try_send(piece).map_err(|_| ()).expect("room");
        }
        if close {
            drop(chunks);
            return axum::body::to_bytes(body(receiver), usize::MAX).await;
        }
        let read = axum::body::to_bytes(body(receiver), usize::MAX).await;
        drop(chunks);
        read
    }

    #[tokio::test]
    async fn only_a_producer_that_finished_ends_the_body_cleanly() {
        let done = read(vec![Piece::Bytes("a,b\r\n".into()), Piece::Done], false).await;
        assert_eq!(done.expect("complete"), "a,b\r\n");
        let failed = read(vec![Piece::Bytes("a,b\r\n".into()), Piece::Failed], false).await;
        assert!(failed.is_err(), "a failure midway breaks the transfer");
        let vanished = read(vec![Piece::Bytes("a,b\r\n".into())], true).await;
        assert!(vanished.is_err(), "so does a producer gone without a word");
    }
}
