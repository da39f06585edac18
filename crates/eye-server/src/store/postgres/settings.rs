//! The deployment's settings kept in the store: the secret of `hash` PII rules.

use deadpool_postgres::Object;
use tokio_postgres::Error;

const PII_SECRET: &str = "pii_secret";

/// The secret, made (32 random bytes) at the first call. Nodes that make one at the same
/// time keep the one inserted first: each inserts only if there is none, then reads.
pub async fn pii_secret(client: &Object) -> Result<Vec<u8>, Error> {
    let read = "SELECT value FROM settings WHERE name = $1";
    if let Some(row) = client.query_opt(read, &[&PII_SECRET]).await? {
        return Ok(row.get(0));
    }
    let fresh: [u8; 32] = rand::random();
    client
        .execute(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&PII_SECRET, &&fresh[..]],
        )
        .await?;
    Ok(client.query_one(read, &[&PII_SECRET]).await?.get(0))
}

/// The secret, if one was made.
pub async fn stored_pii_secret(client: &Object) -> Result<Option<Vec<u8>>, Error> {
    let row = client
        .query_opt("SELECT value FROM settings WHERE name = $1", &[&PII_SECRET])
        .await?;
    Ok(row.map(|row| row.get(0)))
}

/// Keeps `secret` unless one exists; whether the one kept afterwards is `secret`.
pub async fn import_pii_secret(client: &Object, secret: &[u8]) -> Result<bool, Error> {
    client
        .execute(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&PII_SECRET, &secret],
        )
        .await?;
    Ok(stored_pii_secret(client).await?.as_deref() == Some(secret))
}
