//! Parquet without Arrow: a message-type schema from the columns (timestamps as INT64
//! TIMESTAMP(MICROS, isAdjustedToUTC=true), integers as INT64, the rest UTF-8 strings;
//! nullable columns OPTIONAL), Snappy pages, and a row group written every
//! [`ROW_GROUP_ROWS`] rows or [`ROW_GROUP_BYTES`] of values, whichever comes first, so the
//! rows held in memory stay bounded whatever the export's size. Bytes reach the sink as the
//! writer produces them.

use std::io::{self, Write};
use std::sync::Arc;

use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

use super::Encoder;
use super::table::{Cell, Column, ColumnType, Row};

/// Rows per row group, at most.
pub const ROW_GROUP_ROWS: usize = 65_536;
/// Bytes of buffered values that close a row group early (large `data` objects).
pub const ROW_GROUP_BYTES: usize = 8 * 1024 * 1024;

pub struct ParquetEncoder<W: Write + Send> {
    writer: SerializedFileWriter<W>,
    columns: Vec<Buffer>,
    rows: usize,
    bytes: usize,
}

/// One column's values of the row group being gathered.
enum Buffer {
    Text {
        values: Vec<ByteArray>,
        levels: Option<Vec<i16>>,
    },
    Integer {
        values: Vec<i64>,
        levels: Option<Vec<i16>>,
    },
}

impl<W: Write + Send> ParquetEncoder<W> {
    /// Writes the file's magic bytes at once.
    pub fn new<R: Row>(out: W) -> io::Result<Self> {
        let schema = parse_message_type(&message_type(R::KIND, R::COLUMNS)).map_err(to_io)?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let writer = SerializedFileWriter::new(out, Arc::new(schema), Arc::new(properties))
            .map_err(to_io)?;
        let columns = R::COLUMNS.iter().map(Buffer::for_column).collect();
        Ok(ParquetEncoder {
            writer,
            columns,
            rows: 0,
            bytes: 0,
        })
    }

    fn write_row_group(&mut self) -> Result<(), ParquetError> {
        let mut group = self.writer.next_row_group()?;
        for buffer in &mut self.columns {
            let mut column = group
                .next_column()?
                .ok_or_else(|| ParquetError::General("fewer columns than the schema".into()))?;
            match buffer {
                Buffer::Text { values, levels } => {
                    column
                        .typed::<ByteArrayType>()
                        .write_batch(values, levels.as_deref(), None)?;
                }
                Buffer::Integer { values, levels } => {
                    column
                        .typed::<Int64Type>()
                        .write_batch(values, levels.as_deref(), None)?;
                }
            }
            column.close()?;
            buffer.clear();
        }
        group.close()?;
        self.rows = 0;
        self.bytes = 0;
        Ok(())
    }
}

impl<R: Row, W: Write + Send> Encoder<R> for ParquetEncoder<W> {
    fn write(&mut self, row: R) -> io::Result<()> {
        for (buffer, cell) in self.columns.iter_mut().zip(row.cells()) {
            self.bytes += buffer.push(cell);
        }
        self.rows += 1;
        if self.rows >= ROW_GROUP_ROWS || self.bytes >= ROW_GROUP_BYTES {
            self.write_row_group().map_err(to_io)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        if self.rows > 0 {
            self.write_row_group().map_err(to_io)?;
        }
        // The footer; `close` flushes it to the sink.
        self.writer.close().map_err(to_io)?;
        Ok(())
    }
}

impl Buffer {
    fn for_column(column: &Column) -> Buffer {
        let levels = column.optional.then(Vec::new);
        match column.kind {
            ColumnType::Text => Buffer::Text {
                values: Vec::new(),
                levels,
            },
            ColumnType::Timestamp | ColumnType::Integer => Buffer::Integer {
                values: Vec::new(),
                levels,
            },
        }
    }

    /// Adds one value (or a null); returns the bytes it holds.
    fn push(&mut self, cell: Cell<'_>) -> usize {
        let (levels, size) = match (self, cell) {
            (Buffer::Text { values, levels }, Cell::Text(text)) => {
                values.push(ByteArray::from(text.as_bytes().to_vec()));
                (levels, Some(text.len()))
            }
            (Buffer::Text { values, levels }, Cell::Id(id)) => {
                values.push(ByteArray::from(id.hyphenated().to_string().into_bytes()));
                (levels, Some(36))
            }
            (Buffer::Integer { values, levels }, Cell::Timestamp(value) | Cell::Integer(value)) => {
                values.push(value);
                (levels, Some(8))
            }
            // A null; a cell of another type never comes (a unit test checks the columns
            // and cells of each kind of row agree), and would be written as a null too.
            (Buffer::Text { levels, .. } | Buffer::Integer { levels, .. }, _) => (levels, None),
        };
        if let Some(levels) = levels {
            levels.push(i16::from(size.is_some()));
        }
        size.unwrap_or(0)
    }

    fn clear(&mut self) {
        let levels = match self {
            Buffer::Text { values, levels } => {
                values.clear();
                levels
            }
            Buffer::Integer { values, levels } => {
                values.clear();
                levels
            }
        };
        if let Some(levels) = levels {
            levels.clear();
        }
    }
}

/// The schema in Parquet's message-type syntax.
fn message_type(kind: &str, columns: &[Column]) -> String {
    let fields: String = columns
        .iter()
        .map(|column| {
            let repetition = if column.optional {
                "optional"
            } else {
                "required"
            };
            let (physical, annotation) = match column.kind {
                ColumnType::Text => ("binary", " (STRING)"),
                ColumnType::Timestamp => ("int64", " (TIMESTAMP(MICROS,true))"),
                ColumnType::Integer => ("int64", ""),
            };
            format!("  {repetition} {physical} {}{annotation};\n", column.name)
        })
        .collect();
    format!("message {kind} {{\n{fields}}}")
}

fn to_io(error: ParquetError) -> io::Error {
    match error {
        ParquetError::External(inner) => match inner.downcast::<io::Error>() {
            Ok(io) => *io,
            Err(other) => io::Error::other(other),
        },
        other => io::Error::other(other),
    }
}
