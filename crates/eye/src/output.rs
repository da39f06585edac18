//! How results are printed: aligned columns for people, JSON lines for programs. Columns
//! grow to fit: an id, a name or a code is never cut, so it can be pasted into the next
//! command. Only free text (event data, error messages) is shortened.

use std::io::{IsTerminal, Write};

use eye_types::{ErrorRecord, StoredEvent};
use serde::Serialize;
use unicode_width::UnicodeWidthStr;

use crate::cli::Format;

/// The chosen format, or by default a table on a terminal and JSON lines when piped.
pub fn resolve(format: Option<Format>) -> Format {
    format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Json
    })
}

pub fn json_line(value: &impl Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// `1 event`, `2 events`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Cuts free text to `width` characters, marking the cut.
fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut clipped: String = text.chars().take(width.saturating_sub(1)).collect();
    clipped.push('…');
    clipped
}

/// A table's columns: their titles and least widths.
pub struct Columns(pub &'static [(&'static str, usize)]);

impl Columns {
    /// Lines of the header and `rows`, each column as wide as its widest cell (at least its
    /// least width); the last column is not padded.
    pub fn render(&self, rows: &[Vec<String>]) -> Vec<String> {
        let mut widths: Vec<usize> = self
            .0
            .iter()
            .map(|(title, least)| title.len().max(*least))
            .collect();
        for row in rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.width());
            }
        }
        let header: Vec<String> = self
            .0
            .iter()
            .map(|(title, _)| (*title).to_owned())
            .collect();
        std::iter::once(&header)
            .chain(rows)
            .map(|row| line(row, &widths))
            .collect()
    }

    /// One row printed on its own (a followed stream), at the least widths.
    pub fn row(&self, row: &[String]) -> String {
        let widths: Vec<usize> = self
            .0
            .iter()
            .map(|(title, least)| title.len().max(*least))
            .collect();
        line(row, &widths)
    }

    pub fn header(&self) -> String {
        let header: Vec<String> = self
            .0
            .iter()
            .map(|(title, _)| (*title).to_owned())
            .collect();
        self.row(&header)
    }
}

fn line(cells: &[String], widths: &[usize]) -> String {
    let last = cells.len().saturating_sub(1);
    let mut line = String::new();
    for (index, (cell, width)) in cells.iter().zip(widths).enumerate() {
        line.push_str(cell);
        if index != last {
            // Padded by the columns a terminal shows, not by characters: CJK characters and
            // emoji take two.
            line.push_str(&" ".repeat(width.saturating_sub(cell.width()) + 1));
        }
    }
    line.trim_end().to_owned()
}

pub const EVENT_COLUMNS: Columns = Columns(&[
    ("TIMESTAMP", 27),
    ("APP", 8),
    ("SESSION", 12),
    ("USER", 8),
    ("TYPE", 20),
    ("DATA", 0),
]);

/// An event's row; `USER` is `-` when the event has no `user_id`.
pub fn event_cells(event: &StoredEvent) -> Vec<String> {
    vec![
        event.timestamp.clone(),
        event.app.clone(),
        event.session_id.clone(),
        event.user_id.clone().unwrap_or_else(|| "-".to_owned()),
        format!("{} / {}", event.category, event.name),
        clip(&event.data.to_string(), 80),
    ]
}

pub const ERROR_COLUMNS: Columns = Columns(&[
    ("RECEIVED", 27),
    ("APP", 8),
    ("CODE", 12),
    ("TYPE", 12),
    ("PATH", 8),
    ("MESSAGE", 0),
]);

pub fn error_cells(error: &ErrorRecord) -> Vec<String> {
    let event_type = match (&error.category, &error.name) {
        (None, None) => "-".to_owned(),
        (category, name) => format!(
            "{} / {}",
            category.as_deref().unwrap_or("-"),
            name.as_deref().unwrap_or("-")
        ),
    };
    vec![
        error.received_at.clone(),
        error.app.clone(),
        error.code.clone(),
        event_type,
        error.path.clone().unwrap_or_else(|| "-".to_owned()),
        clip(&error.message, 100),
    ]
}

/// `1.2 MB`, `340 kB`, `512 B`.
pub fn byte_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_ids_widen_their_column_and_are_never_cut() {
        const COLUMNS: Columns = Columns(&[("ID", 4), ("NOTE", 0)]);
        let long = "e2085be5-9137-4e4e-80b5-f1ffddc25423-and-more";
        let lines = COLUMNS.render(&[
            vec![long.to_owned(), "first".to_owned()],
            vec!["s1".to_owned(), "second".to_owned()],
        ]);
        assert!(lines[1].starts_with(&format!("{long} first")), "{lines:?}");
        let wide = COLUMNS.render(&[
            vec!["会话-😀".to_owned(), "x".to_owned()],
            vec!["ab".to_owned(), "y".to_owned()],
        ]);
        let column = |line: &str, text: &str| line[..line.find(text).expect("cell")].width();
        assert_eq!(column(&wide[1], "x"), column(&wide[2], "y"), "{wide:?}");
        let note_at = lines[1].find("first").expect("note");
        assert_eq!(lines[2].find("second"), Some(note_at), "aligned: {lines:?}");
        assert_eq!(lines[0].find("NOTE"), Some(note_at), "{lines:?}");
    }

    #[test]
    fn byte_sizes_read_as_people_write_them() {
        assert_eq!(byte_size(512), "512 B");
        assert_eq!(byte_size(1_234), "1.2 kB");
        assert_eq!(byte_size(340_000), "340 kB");
        assert_eq!(byte_size(12_300_000), "12 MB");
        assert_eq!(byte_size(5_000_000_000), "5.0 GB");
    }
}
