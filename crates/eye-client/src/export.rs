//! Streaming exports: `GET /v1/events/export` and `GET /v1/errors/export`, every matching
//! record as one NDJSON, CSV or Parquet file, read chunk by chunk.

use crate::client::Client;
use crate::error::ClientError;
use crate::query::{ErrorFilter, EventFilter};

/// The file format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExportFormat {
    /// One JSON object per line, as the listing routes give each record.
    #[default]
    Ndjson,
    /// RFC 4180 with a header row; `data` and `context` as JSON strings.
    Csv,
    /// Typed columns (timestamps in microseconds, UTC); `data` and `context` as JSON strings.
    Parquet,
}

impl ExportFormat {
    /// The value of `format=`, also the file's extension.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Ndjson => "ndjson",
            ExportFormat::Csv => "csv",
            ExportFormat::Parquet => "parquet",
        }
    }
}

/// An export being received. The server streams it: a transfer cut before its end is an
/// error from [`ExportStream::chunk`], never a short file that looks whole.
pub struct ExportStream {
    response: reqwest::Response,
}

impl ExportStream {
    /// The file name the server suggests (`events.parquet`).
    pub fn file_name(&self) -> Option<String> {
        let disposition = self
            .response
            .headers()
            .get(reqwest::header::CONTENT_DISPOSITION)?
            .to_str()
            .ok()?;
        let name = disposition.split_once("filename=\"")?.1.split('"').next()?;
        Some(name.to_owned())
    }

    /// The next bytes of the file, or `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        match self.response.chunk().await {
            Ok(chunk) => Ok(chunk.map(|bytes| bytes.to_vec())),
            Err(error) => Err(ClientError::Transport(format!(
                "the export was cut before its end: {error}"
            ))),
        }
    }
}

/// Only the filters: exports take no paging parameters.
fn filters(
    pairs: Vec<(&'static str, String)>,
    format: ExportFormat,
) -> Vec<(&'static str, String)> {
    let mut pairs: Vec<_> = pairs
        .into_iter()
        .filter(|(name, _)| !matches!(*name, "order" | "limit" | "cursor"))
        .collect();
    pairs.push(("format", format.as_str().to_owned()));
    pairs
}

impl Client {
    /// `GET /v1/events/export`: every event matching `filter` (its `order`, `limit` and
    /// `cursor` are ignored), in event-time order.
    pub async fn export_events(
        &self,
        filter: &EventFilter,
        format: ExportFormat,
    ) -> Result<ExportStream, ClientError> {
        let query = filters(filter.pairs(), format);
        let response = self.transport().stream("/v1/events/export", &query).await?;
        Ok(ExportStream { response })
    }

    /// `GET /v1/errors/export`: every error record matching `filter` (its `order`, `limit`
    /// and `cursor` are ignored), oldest first.
    pub async fn export_errors(
        &self,
        filter: &ErrorFilter,
        format: ExportFormat,
    ) -> Result<ExportStream, ClientError> {
        let query = filters(filter.pairs(), format);
        let response = self.transport().stream("/v1/errors/export", &query).await?;
        Ok(ExportStream { response })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_parameters_are_left_out() {
        let filter = EventFilter {
            session_id: Some("s".into()),
            order: Some("desc".into()),
            limit: Some(5),
            cursor: Some("c".into()),
            ..EventFilter::default()
        };
        assert_eq!(
            filters(filter.pairs(), ExportFormat::Csv),
            [("session_id", "s".to_owned()), ("format", "csv".to_owned())]
        );
    }
}
