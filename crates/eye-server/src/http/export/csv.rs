//! CSV (RFC 4180): a header row of the column names, then one record per row, CRLF line
//! ends; a field is quoted when it holds a comma, a quote or a line break (quotes doubled),
//! and an empty text is written `""` so that it differs from a null (an empty field).

use std::io::{self, Write};

use super::Encoder;
use super::table::{Cell, Row};
use crate::model::timestamp::format_micros;

pub struct CsvEncoder<W: Write> {
    out: W,
}

impl<W: Write> CsvEncoder<W> {
    /// Writes the header row at once.
    pub fn new<R: Row>(mut out: W) -> io::Result<Self> {
        let names: Vec<&str> = R::COLUMNS.iter().map(|column| column.name).collect();
        out.write_all(names.join(",").as_bytes())?;
        out.write_all(b"\r\n")?;
        Ok(CsvEncoder { out })
    }
}

impl<R: Row, W: Write> Encoder<R> for CsvEncoder<W> {
    fn write(&mut self, row: R) -> io::Result<()> {
        for (index, cell) in row.cells().iter().enumerate() {
            if index > 0 {
                self.out.write_all(b",")?;
            }
            write_field(&mut self.out, cell)?;
        }
        self.out.write_all(b"\r\n")
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        self.out.flush()
    }
}

fn write_field(out: &mut impl Write, cell: &Cell<'_>) -> io::Result<()> {
    match cell {
        Cell::Text(text) => write_text(out, text),
        Cell::Id(id) => write!(out, "{}", id.hyphenated()),
        Cell::Timestamp(micros) => out.write_all(format_micros(*micros).as_bytes()),
        Cell::Integer(value) => write!(out, "{value}"),
        Cell::Null => Ok(()),
    }
}

fn write_text(out: &mut impl Write, text: &str) -> io::Result<()> {
    let quoted = text.is_empty() || text.contains([',', '"', '\r', '\n']);
    if !quoted {
        return out.write_all(text.as_bytes());
    }
    out.write_all(b"\"")?;
    for (index, part) in text.split('"').enumerate() {
        if index > 0 {
            out.write_all(b"\"\"")?;
        }
        out.write_all(part.as_bytes())?;
    }
    out.write_all(b"\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(cell: Cell<'_>) -> String {
        let mut out = Vec::new();
        write_field(&mut out, &cell).expect("write");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn fields_are_quoted_only_when_they_must_be() {
        assert_eq!(field(Cell::Text("plain text")), "plain text");
        assert_eq!(field(Cell::Text("a,b")), "\"a,b\"");
        assert_eq!(
            field(Cell::Text(r#"{"k":"v"}"#)),
            r#""{""k"":""v""}""#,
            "quotes doubled"
        );
        assert_eq!(field(Cell::Text("two\nlines")), "\"two\nlines\"");
        assert_eq!(field(Cell::Text("")), "\"\"", "empty differs from null");
        assert_eq!(field(Cell::Null), "");
        assert_eq!(field(Cell::Integer(-3)), "-3");
        assert_eq!(field(Cell::Timestamp(0)), format_micros(0));
    }
}
