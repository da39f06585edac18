//! The deployment's settings kept in the store: the secret of `hash` PII rules.

use rusqlite::{Connection, OptionalExtension};

const PII_SECRET: &str = "pii_secret";

/// The secret, if one was made.
pub fn pii_secret(connection: &Connection) -> rusqlite::Result<Option<Vec<u8>>> {
    connection
        .prepare_cached("SELECT value FROM settings WHERE name = ?1")?
        .query_row([PII_SECRET], |row| row.get(0))
        .optional()
}

/// Makes the secret unless one exists (another process may have made it first), and gives
/// the one kept.
pub fn make_pii_secret(connection: &Connection) -> rusqlite::Result<Vec<u8>> {
    let fresh: [u8; 32] = rand::random();
    connection.execute(
        "INSERT OR IGNORE INTO settings (name, value) VALUES (?1, ?2)",
        rusqlite::params![PII_SECRET, &fresh[..]],
    )?;
    connection.query_row(
        "SELECT value FROM settings WHERE name = ?1",
        [PII_SECRET],
        |row| row.get(0),
    )
}

/// Keeps `secret` unless one exists; whether the one kept afterwards is `secret`.
pub fn import_pii_secret(connection: &Connection, secret: &[u8]) -> rusqlite::Result<bool> {
    connection.execute(
        "INSERT OR IGNORE INTO settings (name, value) VALUES (?1, ?2)",
        rusqlite::params![PII_SECRET, secret],
    )?;
    Ok(pii_secret(connection)?.as_deref() == Some(secret))
}
