//! NDJSON: one JSON object per line, each the record exactly as the JSON API gives it.

use std::io::{self, Write};

use super::Encoder;
use super::table::Row;

pub struct NdjsonEncoder<W: Write> {
    out: W,
}

impl<W: Write> NdjsonEncoder<W> {
    pub fn new(out: W) -> Self {
        NdjsonEncoder { out }
    }
}

impl<R: Row, W: Write> Encoder<R> for NdjsonEncoder<W> {
    fn write(&mut self, row: R) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, &row.api())?;
        self.out.write_all(b"\n")
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        self.out.flush()
    }
}
