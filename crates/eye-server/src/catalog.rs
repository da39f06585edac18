//! Schema management: keeps the store (every version) and the in-memory registry (the
//! versions in force) in step, at start-up and on every change.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::model::SchemaRecord;
use crate::store::{Store, StoreError};
use crate::validation::{
    CompiledSchema, MAX_NAME_CHARS, SchemaError, SchemaRegistry, check_identifier, compile_schema,
};

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Invalid(#[from] SchemaError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Compiles `schema`, stores it as the type's next version (unless unchanged) and puts it
/// in force. Returns the record and whether a new version was made.
pub async fn put(
    store: &dyn Store,
    registry: &SchemaRegistry,
    category: &str,
    name: &str,
    schema: &Value,
) -> Result<(SchemaRecord, bool), CatalogError> {
    let validator = compile_schema(schema)?;
    let (record, created) = store
        .put_schema(category, name, &schema.to_string())
        .await?;
    registry.insert(
        category,
        name,
        CompiledSchema::new(record.version, validator),
    );
    Ok((record, created))
}

pub async fn delete(
    store: &dyn Store,
    registry: &SchemaRegistry,
    category: &str,
    name: &str,
) -> Result<bool, StoreError> {
    let deleted = store.delete_schema(category, name).await?;
    registry.remove(category, name);
    Ok(deleted)
}

/// One schema file: `{"category": "...", "name": "...", "schema": {...}}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaFile {
    category: String,
    name: String,
    schema: Value,
}

/// Loads every `*.json` file of `dir`, in name order. Any unreadable or invalid file stops
/// start-up with its path in the message: a schema silently ignored would let bad data in.
pub async fn load_dir(
    dir: &Path,
    store: &dyn Store,
    registry: &SchemaRegistry,
) -> anyhow::Result<usize> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("cannot read the schema directory {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    for path in &paths {
        let fail = |problem: String| anyhow::anyhow!("schema file {}: {problem}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let file: SchemaFile = serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
        check_identifier(&file.category, MAX_NAME_CHARS)
            .map_err(|p| fail(format!("category {p}")))?;
        check_identifier(&file.name, MAX_NAME_CHARS).map_err(|p| fail(format!("name {p}")))?;
        let (record, created) = put(store, registry, &file.category, &file.name, &file.schema)
            .await
            .map_err(|e| fail(e.to_string()))?;
        tracing::info!(
            category = record.category,
            name = record.name,
            version = record.version,
            created,
            "schema loaded"
        );
    }
    Ok(paths.len())
}

/// Brings the registry in line with the store: new versions compiled and put in force,
/// deleted types removed. Run every second, so every node sees a change within one.
pub async fn refresh(store: &dyn Store, registry: &SchemaRegistry) -> Result<(), StoreError> {
    let records = store.schemas().await?;
    let in_force = registry.versions();
    let mut seen = std::collections::HashSet::new();
    for record in records {
        let key = (record.category.clone(), record.name.clone());
        seen.insert(key.clone());
        if in_force.get(&key) == Some(&record.version) {
            continue;
        }
        let compiled = serde_json::from_str::<Value>(&record.schema)
            .map_err(|e| SchemaError::from_message(e.to_string()))
            .and_then(|schema| compile_schema(&schema));
        match compiled {
            Ok(validator) => registry.insert(
                &record.category,
                &record.name,
                CompiledSchema::new(record.version, validator),
            ),
            Err(error) => {
                tracing::error!(category = record.category, name = record.name, %error, "stored schema skipped")
            }
        }
    }
    for (category, name) in in_force.keys().filter(|key| !seen.contains(*key)) {
        registry.remove(category, name);
    }
    Ok(())
}
