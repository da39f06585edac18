//! Applications, API keys and schema versions on PostgreSQL.

use deadpool_postgres::Object;
use time::OffsetDateTime;
use tokio_postgres::Row;

use crate::auth::keys::new_key_id;
use crate::model::timestamp::{Micros, now_micros, to_micros};
use crate::model::{KeyRecord, SchemaFileDigest, SchemaRecord, SchemaVersion, Scope};
use crate::store::schema_versions::{Latest, Step, step};

use super::sql::at;

pub async fn create_key(
    client: &mut Object,
    app: &str,
    scopes: &[Scope],
    hash: [u8; 32],
) -> Result<KeyRecord, tokio_postgres::Error> {
    let (scopes, scope_text) = Scope::join(scopes);
    let record = KeyRecord {
        id: new_key_id(),
        app: app.to_owned(),
        scopes,
        created_at: now_micros(),
        revoked_at: None,
    };
    insert_key(client, &record, &scope_text, hash).await?;
    Ok(record)
}

async fn insert_key(
    client: &mut Object,
    key: &KeyRecord,
    scopes: &str,
    hash: [u8; 32],
) -> Result<(), tokio_postgres::Error> {
    let transaction = client.transaction().await?;
    transaction
        .execute(
            "INSERT INTO apps (name, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&key.app, &at(key.created_at)],
        )
        .await?;
    transaction
        .execute(
            "INSERT INTO api_keys (id, app, scopes, hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT DO NOTHING",
            &[&key.id, &key.app, &scopes, &&hash[..], &at(key.created_at), &key.revoked_at.map(at)],
        )
        .await?;
    transaction.commit().await
}

const KEY_COLUMNS: &str = "id, app, scopes, created_at, revoked_at, hash";

fn key_from_row(row: &Row) -> KeyRecord {
    KeyRecord {
        id: row.get(0),
        app: row.get(1),
        scopes: Scope::split(row.get(2)),
        created_at: to_micros(row.get(3)),
        revoked_at: row.get::<_, Option<OffsetDateTime>>(4).map(to_micros),
    }
}

pub async fn key_by_hash(
    client: &Object,
    hash: [u8; 32],
) -> Result<Option<KeyRecord>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE hash = $1"),
            &[&&hash[..]],
        )
        .await?;
    Ok(row.as_ref().map(key_from_row))
}

pub async fn keys(client: &Object) -> Result<Vec<KeyRecord>, tokio_postgres::Error> {
    Ok(export_keys(client)
        .await?
        .into_iter()
        .map(|(key, _)| key)
        .collect())
}

pub async fn export_keys(
    client: &Object,
) -> Result<Vec<(KeyRecord, [u8; 32])>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY app, created_at, id"),
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let mut hash = [0u8; 32];
            let stored: &[u8] = row.get(5);
            hash.copy_from_slice(&stored[..32.min(stored.len())]);
            (key_from_row(row), hash)
        })
        .collect())
}

pub async fn import_key(
    client: &mut Object,
    key: &KeyRecord,
    hash: [u8; 32],
) -> Result<(), tokio_postgres::Error> {
    let (_, scopes) = Scope::join(&key.scopes);
    insert_key(client, key, &scopes, hash).await
}

pub async fn revoke_key(
    client: &Object,
    id: &str,
) -> Result<Option<KeyRecord>, tokio_postgres::Error> {
    client
        .execute(
            "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            &[&id, &at(now_micros())],
        )
        .await?;
    let row = client
        .query_opt(
            &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"),
            &[&id],
        )
        .await?;
    Ok(row.as_ref().map(key_from_row))
}

/// Serialises schema changes per type across nodes.
async fn lock_type(
    transaction: &tokio_postgres::Transaction<'_>,
    category: &str,
    name: &str,
) -> Result<(), tokio_postgres::Error> {
    transaction
        .execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))",
            &[&category, &name],
        )
        .await
        .map(|_| ())
}

async fn latest(
    transaction: &tokio_postgres::Transaction<'_>,
    category: &str,
    name: &str,
) -> Result<Option<Latest>, tokio_postgres::Error> {
    let row = transaction
        .query_opt(
            "SELECT version, schema, created_at FROM schemas WHERE category = $1 AND name = $2 ORDER BY version DESC LIMIT 1",
            &[&category, &name],
        )
        .await?;
    Ok(row.map(|row| Latest {
        version: row.get(0),
        schema: row.get(1),
        created_at: to_micros(row.get(2)),
    }))
}

/// Writes the version [`step`] decides for `schema` (`None`: a deletion), under the type's
/// lock; the version in force and whether it is new.
async fn change_schema(
    client: &mut Object,
    category: &str,
    name: &str,
    schema: Option<&str>,
) -> Result<(Option<(i64, Micros)>, bool), tokio_postgres::Error> {
    let transaction = client.transaction().await?;
    lock_type(&transaction, category, name).await?;
    let latest = latest(&transaction, category, name).await?;
    let version = match step(latest.as_ref(), schema) {
        Step::Keep(kept) => return Ok((kept, false)),
        Step::Write(version) => version,
    };
    let now = now_micros();
    transaction
        .execute(
            "INSERT INTO schemas (category, name, version, schema, created_at) VALUES ($1, $2, $3, $4, $5)",
            &[&category, &name, &version, &schema, &at(now)],
        )
        .await?;
    transaction.commit().await?;
    Ok((Some((version, now)), true))
}

pub async fn put_schema(
    client: &mut Object,
    category: &str,
    name: &str,
    schema: &str,
) -> Result<(SchemaRecord, bool), tokio_postgres::Error> {
    let (in_force, created) = change_schema(client, category, name, Some(schema)).await?;
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

fn schema_from_row(row: &Row) -> SchemaRecord {
    SchemaRecord {
        category: row.get(0),
        name: row.get(1),
        version: row.get(2),
        schema: row.get(3),
        created_at: to_micros(row.get(4)),
    }
}

pub async fn schemas(client: &Object) -> Result<Vec<SchemaRecord>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT DISTINCT ON (category, name) category, name, version, schema, created_at FROM schemas
             ORDER BY category, name, version DESC",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .filter(|row| row.get::<_, Option<String>>(3).is_some())
        .map(schema_from_row)
        .collect())
}

pub async fn schema(
    client: &Object,
    category: &str,
    name: &str,
    version: Option<i64>,
) -> Result<Option<SchemaRecord>, tokio_postgres::Error> {
    let row = match version {
        Some(version) => {
            client
                .query_opt(
                    "SELECT category, name, version, schema, created_at FROM schemas
                     WHERE category = $1 AND name = $2 AND version = $3",
                    &[&category, &name, &version],
                )
                .await?
        }
        None => {
            client
                .query_opt(
                    "SELECT category, name, version, schema, created_at FROM schemas
                     WHERE category = $1 AND name = $2 ORDER BY version DESC LIMIT 1",
                    &[&category, &name],
                )
                .await?
        }
    };
    Ok(row
        .filter(|row| row.get::<_, Option<String>>(3).is_some())
        .as_ref()
        .map(schema_from_row))
}

pub async fn delete_schema(
    client: &mut Object,
    category: &str,
    name: &str,
) -> Result<bool, tokio_postgres::Error> {
    Ok(change_schema(client, category, name, None).await?.1)
}

pub async fn schema_history(client: &Object) -> Result<Vec<SchemaVersion>, tokio_postgres::Error> {
    let rows = client
        .query("SELECT category, name, version, schema, created_at FROM schemas ORDER BY category, name, version", &[])
        .await?;
    Ok(rows
        .iter()
        .map(|row| SchemaVersion {
            category: row.get(0),
            name: row.get(1),
            version: row.get(2),
            schema: row.get(3),
            created_at: to_micros(row.get(4)),
        })
        .collect())
}

pub async fn import_schema_version(
    client: &Object,
    version: &SchemaVersion,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO schemas (category, name, version, schema, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT DO NOTHING",
            &[&version.category, &version.name, &version.version, &version.schema, &at(version.created_at)],
        )
        .await
        .map(|_| ())
}

pub async fn schema_file_digests(
    client: &Object,
) -> Result<Vec<SchemaFileDigest>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT category, name, digest, loaded_at FROM schema_files ORDER BY category, name",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| SchemaFileDigest {
            category: row.get(0),
            name: row.get(1),
            digest: row.get(2),
            loaded_at: to_micros(row.get(3)),
        })
        .collect())
}

pub async fn record_schema_file_digest(
    client: &Object,
    file: &SchemaFileDigest,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO schema_files (category, name, digest, loaded_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (category, name) DO UPDATE SET digest = excluded.digest, loaded_at = excluded.loaded_at",
            &[&file.category, &file.name, &file.digest, &at(file.loaded_at)],
        )
        .await
        .map(|_| ())
}
