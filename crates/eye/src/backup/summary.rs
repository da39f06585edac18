//! What a backup holds, read from the copy itself, and how it is printed.

use rusqlite::Connection;
use serde::Serialize;

use crate::cli::Format;
use crate::output;

/// Rows of the main tables of a store file, and its schema version.
#[derive(Serialize)]
pub struct Contents {
    /// `PRAGMA user_version`: how many of the store's migrations it has.
    pub store_version: i64,
    pub events: u64,
    pub sessions: u64,
    pub errors: u64,
    pub keys: u64,
    pub schema_versions: u64,
    /// Erasure jobs; `None` in a backup made before the store kept them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub erasures: Option<u64>,
}

impl Contents {
    pub fn read(connection: &Connection) -> rusqlite::Result<Contents> {
        let count = |table: &str| -> rusqlite::Result<u64> {
            let n: i64 =
                connection.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
                    row.get(0)
                })?;
            Ok(n.unsigned_abs())
        };
        Ok(Contents {
            store_version: connection.query_row("PRAGMA user_version", [], |row| row.get(0))?,
            events: count("events")?,
            sessions: count("sessions")?,
            errors: count("errors")?,
            keys: count("api_keys")?,
            schema_versions: count("schemas")?,
            erasures: match has_table(connection, "erasures")? {
                true => Some(count("erasures")?),
                false => None,
            },
        })
    }

    fn lines(&self) -> Vec<String> {
        let erasures = self.erasures.map(|n| ("erasures", n));
        [
            ("events", self.events),
            ("sessions", self.sessions),
            ("errors", self.errors),
            ("keys", self.keys),
            ("schema versions", self.schema_versions),
        ]
        .into_iter()
        .chain(erasures)
        .map(|(what, n)| format!("  {what:<16} {n:>10}"))
        .collect()
    }
}

/// Whether the database has a table of that name.
pub fn has_table(connection: &Connection, name: &str) -> rusqlite::Result<bool> {
    connection.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
        [name],
        |row| row.get(0),
    )
}

/// Prints `report` as one JSON object, or `headline` and the contents for people.
pub fn print(
    format: Option<Format>,
    report: &impl Serialize,
    headline: &str,
    contents: &Contents,
) -> anyhow::Result<()> {
    match output::resolve(format) {
        Format::Json => output::json_line(report),
        Format::Table => {
            println!("{headline}");
            for line in contents.lines() {
                println!("{line}");
            }
            Ok(())
        }
    }
}
