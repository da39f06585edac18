//! What an export holds: the columns of each kind of record (events, error records), their
//! cells row by row, and how each kind pages through the store.

use std::sync::Arc;

use eye_types::{ErrorRecord, StoredEvent};
use uuid::Uuid;

use crate::model::timestamp::Micros;
use crate::model::{ErrorEntry, EventRecord};
use crate::store::{ErrorQuery, EventQuery, Order, Position, Store, StoreError};

/// The type of a column, the same in every format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// UTF-8 text (a JSON document for `data` and `context`).
    Text,
    /// Microseconds since the epoch, UTC.
    Timestamp,
    Integer,
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: ColumnType,
    /// Whether the column may hold nulls.
    pub optional: bool,
}

const fn column(name: &'static str, kind: ColumnType, optional: bool) -> Column {
    Column {
        name,
        kind,
        optional,
    }
}

/// One value of a row, in its column's type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Text(&'a str),
    /// An id, written as text (lowercase, hyphenated).
    Id(Uuid),
    Timestamp(Micros),
    Integer(i64),
    Null,
}

impl<'a> From<Option<&'a str>> for Cell<'a> {
    fn from(value: Option<&'a str>) -> Self {
        value.map_or(Cell::Null, Cell::Text)
    }
}

impl From<Option<i64>> for Cell<'_> {
    fn from(value: Option<i64>) -> Self {
        value.map_or(Cell::Null, Cell::Integer)
    }
}

/// A kind of record an export can hold.
pub trait Row: Sized + Send + 'static {
    /// `events` or `errors`: the metric label and the file's name.
    const KIND: &'static str;
    const COLUMNS: &'static [Column];
    /// The filters, without the position to resume from.
    type Query: Clone + Send + 'static;
    /// The record as the JSON API gives it (one NDJSON line).
    type Api: serde::Serialize;

    /// Up to `limit` records after `after`, in export order.
    fn page(
        store: &Arc<dyn Store>,
        query: &Self::Query,
        after: Option<Position>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Self>, StoreError>> + Send;

    fn position(&self) -> Position;

    /// The row's cells, in the order of `COLUMNS`.
    fn cells(&self) -> Vec<Cell<'_>>;

    fn api(self) -> Self::Api;
}

/// Events, in event-time order: timestamp, then id. Columns added later go at the end, so
/// that a reader taking columns by position keeps working.
impl Row for EventRecord {
    const KIND: &'static str = "events";
    const COLUMNS: &'static [Column] = &[
        column("id", ColumnType::Text, false),
        column("app", ColumnType::Text, false),
        column("session_id", ColumnType::Text, false),
        column("category", ColumnType::Text, false),
        column("name", ColumnType::Text, false),
        column("timestamp", ColumnType::Timestamp, false),
        column("received_at", ColumnType::Timestamp, false),
        column("event_id", ColumnType::Text, true),
        column("schema_version", ColumnType::Integer, true),
        column("data", ColumnType::Text, false),
        column("user_id", ColumnType::Text, true),
        column("context", ColumnType::Text, true),
        column("original_timestamp", ColumnType::Timestamp, false),
    ];
    type Query = EventQuery;
    type Api = StoredEvent;

    async fn page(
        store: &Arc<dyn Store>,
        query: &EventQuery,
        after: Option<Position>,
        limit: usize,
    ) -> Result<Vec<Self>, StoreError> {
        let query = EventQuery {
            order: Order::Asc,
            after,
            limit,
            ..query.clone()
        };
        store.events(query).await
    }

    fn position(&self) -> Position {
        Position {
            at: self.timestamp,
            id: self.id,
        }
    }

    fn cells(&self) -> Vec<Cell<'_>> {
        vec![
            Cell::Id(self.id),
            Cell::Text(&self.app),
            Cell::Text(&self.session_id),
            Cell::Text(&self.category),
            Cell::Text(&self.name),
            Cell::Timestamp(self.timestamp),
            Cell::Timestamp(self.received_at),
            self.event_id.as_deref().into(),
            self.schema_version.into(),
            Cell::Text(&self.data),
            self.user_id.as_deref().into(),
            self.context.as_deref().into(),
            // As the JSON API gives it: the timestamp as sent, the stored one when The Eye
            // did not correct it.
            Cell::Timestamp(self.original_timestamp.unwrap_or(self.timestamp)),
        ]
    }

    fn api(self) -> StoredEvent {
        super::super::query::stored_event(self)
    }
}

/// Error records, in receive-time order: receive time, then id.
impl Row for ErrorEntry {
    const KIND: &'static str = "errors";
    const COLUMNS: &'static [Column] = &[
        column("id", ColumnType::Text, false),
        column("code", ColumnType::Text, false),
        column("message", ColumnType::Text, false),
        column("path", ColumnType::Text, true),
        column("app", ColumnType::Text, false),
        column("received_at", ColumnType::Timestamp, false),
        column("category", ColumnType::Text, true),
        column("name", ColumnType::Text, true),
        column("session_id", ColumnType::Text, true),
        column("schema_version", ColumnType::Integer, true),
        column("raw", ColumnType::Text, false),
        column("replayed_at", ColumnType::Timestamp, true),
        column("replayed_event_id", ColumnType::Text, true),
    ];
    type Query = ErrorQuery;
    type Api = ErrorRecord;

    async fn page(
        store: &Arc<dyn Store>,
        query: &ErrorQuery,
        after: Option<Position>,
        limit: usize,
    ) -> Result<Vec<Self>, StoreError> {
        let query = ErrorQuery {
            order: Order::Asc,
            after,
            limit,
            ..query.clone()
        };
        store.errors(query).await
    }

    fn position(&self) -> Position {
        Position {
            at: self.received_at,
            id: self.id,
        }
    }

    fn cells(&self) -> Vec<Cell<'_>> {
        vec![
            Cell::Id(self.id),
            Cell::Text(&self.code),
            Cell::Text(&self.message),
            self.path.as_deref().into(),
            Cell::Text(&self.app),
            Cell::Timestamp(self.received_at),
            self.category.as_deref().into(),
            self.name.as_deref().into(),
            self.session_id.as_deref().into(),
            self.schema_version.into(),
            Cell::Text(&self.raw),
            self.replayed_at.map_or(Cell::Null, Cell::Timestamp),
            self.replayed_event_id.map_or(Cell::Null, Cell::Id),
        ]
    }

    fn api(self) -> ErrorRecord {
        super::super::error_store::error_record(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_has_a_cell_per_column_of_the_columns_type() {
        fn check<R: Row>(row: &R) {
            let cells = row.cells();
            assert_eq!(cells.len(), R::COLUMNS.len(), "{}", R::KIND);
            for (cell, column) in cells.iter().zip(R::COLUMNS) {
                let fits = match cell {
                    Cell::Text(_) | Cell::Id(_) => column.kind == ColumnType::Text,
                    Cell::Timestamp(_) => column.kind == ColumnType::Timestamp,
                    Cell::Integer(_) => column.kind == ColumnType::Integer,
                    Cell::Null => column.optional,
                };
                assert!(fits, "{} {}: {cell:?}", R::KIND, column.name);
            }
        }
        check(&EventRecord {
            id: Uuid::nil(),
            app: "a".into(),
            session_id: "s".into(),
            category: "c".into(),
            name: "n".into(),
            data: "{}".into(),
            timestamp: 1,
            received_at: 2,
            event_id: None,
            schema_version: Some(3),
            user_id: None,
            context: None,
            original_timestamp: None,
        });
        check(&EventRecord {
            id: Uuid::nil(),
            app: "a".into(),
            session_id: "s".into(),
            category: "c".into(),
            name: "n".into(),
            data: "{}".into(),
            timestamp: 1,
            received_at: 2,
            event_id: Some("e".into()),
            schema_version: None,
            user_id: Some("u".into()),
            context: Some(r#"{"locale":"en-GB"}"#.into()),
            original_timestamp: Some(0),
        });
        check(&ErrorEntry::new(
            Uuid::nil(),
            "a".into(),
            "code".into(),
            "message".into(),
            5,
            "raw".into(),
        ));
    }
}
