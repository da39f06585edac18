//! How query results are printed: aligned columns for people, JSON lines for programs.

use std::io::{IsTerminal, Write};

use eye_types::{ErrorRecord, StoredEvent};
use serde::Serialize;

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

/// Cuts `text` to `width` characters, marking the cut.
fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut clipped: String = text.chars().take(width.saturating_sub(1)).collect();
    clipped.push('…');
    clipped
}

pub const EVENT_HEADER: &str = "TIMESTAMP                    APP          SESSION                  TYPE                             DATA";

pub fn event_row(event: &StoredEvent) -> String {
    format!(
        "{:<28} {:<12} {:<24} {:<32} {}",
        event.timestamp,
        clip(&event.app, 12),
        clip(&event.session_id, 24),
        clip(&format!("{} / {}", event.category, event.name), 32),
        clip(&event.data.to_string(), 80)
    )
}

pub const ERROR_HEADER: &str = "RECEIVED                     APP          CODE                  TYPE                        PATH              MESSAGE";

pub fn error_row(error: &ErrorRecord) -> String {
    let event_type = match (&error.category, &error.name) {
        (Some(category), Some(name)) => format!("{category} / {name}"),
        _ => "-".to_owned(),
    };
    format!(
        "{:<28} {:<12} {:<21} {:<27} {:<17} {}",
        error.received_at,
        clip(&error.app, 12),
        clip(&error.code, 21),
        clip(&event_type, 27),
        clip(error.path.as_deref().unwrap_or("-"), 17),
        clip(&error.message, 80)
    )
}
