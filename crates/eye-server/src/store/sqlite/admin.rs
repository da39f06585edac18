//! Applications, API keys and schema versions.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::auth::keys::new_key_id;
use crate::model::timestamp::{Micros, now_micros};
use crate::model::{KeyRecord, SchemaFileDigest, SchemaRecord, SchemaVersion, Scope};
use crate::store::schema_versions::{Latest, Step, step};

pub fn create_key(
    connection: &mut Connection,
    app: &str,
    scopes: &[Scope],
    hash: [u8; 32],
) -> rusqlite::Result<KeyRecord> {
    let (scopes, _) = Scope::join(scopes);
    let record = KeyRecord {
        id: new_key_id(),
        app: app.to_owned(),
        scopes,
        created_at: now_micros(),
        revoked_at: None,
    };
    import_key(connection, &record, hash)?;
    Ok(record)
}

/// Inserts a key (and its application) as given; a no-op for an id already stored.
pub fn import_key(
    connection: &mut Connection,
    key: &KeyRecord,
    hash: [u8; 32],
) -> rusqlite::Result<()> {
    let (_, scope_text) = Scope::join(&key.scopes);
    let transaction = connection.transaction()?;
    transaction.execute(
        "INSERT OR IGNORE INTO apps (name, created_at) VALUES (?1, ?2)",
        params![key.app, key.created_at],
    )?;
    transaction.execute(
        "INSERT OR IGNORE INTO api_keys (id, app, scopes, hash, created_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![key.id, key.app, scope_text, &hash[..], key.created_at, key.revoked_at],
    )?;
    transaction.commit()
}

pub fn export_keys(connection: &Connection) -> rusqlite::Result<Vec<(KeyRecord, [u8; 32])>> {
    connection
        .prepare_cached(&format!(
            "SELECT {KEY_COLUMNS}, hash FROM api_keys ORDER BY app, created_at, id"
        ))?
        .query_map([], |row| {
            let stored: Vec<u8> = row.get(5)?;
            let mut hash = [0u8; 32];
            hash.copy_from_slice(&stored[..32.min(stored.len())]);
            Ok((key_from_row(row)?, hash))
        })?
        .collect()
}

const KEY_COLUMNS: &str = "id, app, scopes, created_at, revoked_at";

fn key_from_row(row: &Row<'_>) -> rusqlite::Result<KeyRecord> {
    let scopes: String = row.get(2)?;
    Ok(KeyRecord {
        id: row.get(0)?,
        app: row.get(1)?,
        scopes: Scope::split(&scopes),
        created_at: row.get(3)?,
        revoked_at: row.get(4)?,
    })
}

pub fn key_by_hash(connection: &Connection, hash: [u8; 32]) -> rusqlite::Result<Option<KeyRecord>> {
    connection
        .prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE hash = ?1"
        ))?
        .query_row([&hash[..]], key_from_row)
        .optional()
}

pub fn keys(connection: &Connection) -> rusqlite::Result<Vec<KeyRecord>> {
    connection
        .prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY app, created_at, id"
        ))?
        .query_map([], key_from_row)?
        .collect()
}

pub fn revoke_key(connection: &mut Connection, id: &str) -> rusqlite::Result<Option<KeyRecord>> {
    connection.execute(
        "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id, now_micros()],
    )?;
    connection
        .prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1"))?
        .query_row([id], key_from_row)
        .optional()
}

fn latest(connection: &Connection, category: &str, name: &str) -> rusqlite::Result<Option<Latest>> {
    connection
        .prepare_cached(
            "SELECT version, schema, created_at FROM schemas WHERE category = ?1 AND name = ?2
             ORDER BY version DESC LIMIT 1",
        )?
        .query_row([category, name], |row| {
            Ok(Latest {
                version: row.get(0)?,
                schema: row.get(1)?,
                created_at: row.get(2)?,
            })
        })
        .optional()
}

/// Writes the version [`step`] decides for `schema` (`None`: a deletion); the version in
/// force and whether it is new.
fn change_schema(
    connection: &mut Connection,
    category: &str,
    name: &str,
    schema: Option<&str>,
) -> rusqlite::Result<(Option<(i64, Micros)>, bool)> {
    let transaction = connection.transaction()?;
    let latest = latest(&transaction, category, name)?;
    let version = match step(latest.as_ref(), schema) {
        Step::Keep(kept) => return Ok((kept, false)),
        Step::Write(version) => version,
    };
    let now = now_micros();
    transaction.execute(
        "INSERT INTO schemas (category, name, version, schema, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![category, name, version, schema, now],
    )?;
    transaction.commit()?;
    Ok((Some((version, now)), true))
}

pub fn put_schema(
    connection: &mut Connection,
    category: &str,
    name: &str,
    schema: &str,
) -> rusqlite::Result<(SchemaRecord, bool)> {
    let (in_force, created) = change_schema(connection, category, name, Some(schema))?;
    let (version, created_at) = in_force.unwrap_or_default();
    let record = SchemaRecord {
        category: category.to_owned(),
        name: name.to_owned(),
        version,
        schema: schema.to_owned(),
        created_at,
    };
    Ok((record, created))
}

fn schema_from_row(row: &Row<'_>) -> rusqlite::Result<SchemaRecord> {
    Ok(SchemaRecord {
        category: row.get(0)?,
        name: row.get(1)?,
        version: row.get(2)?,
        schema: row.get(3)?,
        created_at: row.get(4)?,
    })
}

pub fn schemas(connection: &Connection) -> rusqlite::Result<Vec<SchemaRecord>> {
    connection
        .prepare_cached(
            "SELECT s.category, s.name, s.version, s.schema, s.created_at FROM schemas s
             WHERE s.version = (SELECT MAX(version) FROM schemas l WHERE l.category = s.category AND l.name = s.name)
               AND s.schema IS NOT NULL
             ORDER BY s.category, s.name",
        )?
        .query_map([], schema_from_row)?
        .collect()
}

pub fn schema(
    connection: &Connection,
    category: &str,
    name: &str,
    version: Option<i64>,
) -> rusqlite::Result<Option<SchemaRecord>> {
    let version = match version {
        Some(version) => version,
        None => match latest(connection, category, name)? {
            Some(Latest {
                version,
                schema: Some(_),
                ..
            }) => version,
            _ => return Ok(None),
        },
    };
    connection
        .prepare_cached(
            "SELECT category, name, version, schema, created_at FROM schemas
             WHERE category = ?1 AND name = ?2 AND version = ?3 AND schema IS NOT NULL",
        )?
        .query_row(params![category, name, version], schema_from_row)
        .optional()
}

pub fn delete_schema(
    connection: &mut Connection,
    category: &str,
    name: &str,
) -> rusqlite::Result<bool> {
    Ok(change_schema(connection, category, name, None)?.1)
}

pub fn schema_history(connection: &Connection) -> rusqlite::Result<Vec<SchemaVersion>> {
    connection
        .prepare_cached("SELECT category, name, version, schema, created_at FROM schemas ORDER BY category, name, version")?
        .query_map([], |row| {
            Ok(SchemaVersion {
                category: row.get(0)?,
                name: row.get(1)?,
                version: row.get(2)?,
                schema: row.get(3)?,
                created_at: row.get(4)?,
            })
        })?
        .collect()
}

pub fn import_schema_version(
    connection: &Connection,
    version: &SchemaVersion,
) -> rusqlite::Result<()> {
    connection.execute(
        "INSERT OR IGNORE INTO schemas (category, name, version, schema, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![version.category, version.name, version.version, version.schema, version.created_at],
    )?;
    Ok(())
}

pub fn schema_file_digests(connection: &Connection) -> rusqlite::Result<Vec<SchemaFileDigest>> {
    connection
        .prepare_cached(
            "SELECT category, name, digest, loaded_at FROM schema_files ORDER BY category, name",
        )?
        .query_map([], |row| {
            Ok(SchemaFileDigest {
                category: row.get(0)?,
                name: row.get(1)?,
                digest: row.get(2)?,
                loaded_at: row.get(3)?,
            })
        })?
        .collect()
}

pub fn record_schema_file_digest(
    connection: &Connection,
    file: &SchemaFileDigest,
) -> rusqlite::Result<()> {
    connection.execute(
        "INSERT INTO schema_files (category, name, digest, loaded_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (category, name) DO UPDATE SET digest = excluded.digest, loaded_at = excluded.loaded_at",
        params![file.category, file.name, file.digest, file.loaded_at],
    )?;
    Ok(())
}
