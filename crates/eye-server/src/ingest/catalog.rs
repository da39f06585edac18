//! Schema management: keeps the store (every version) and the in-memory registry (the
//! versions in force) in step, at start-up and on every change.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::ingest::validation::{
    CompiledSchema, MAX_NAME_CHARS, SchemaError, SchemaRegistry, check_identifier, compile_schema,
};
use crate::model::timestamp::now_micros;
use crate::model::{SchemaFileDigest, SchemaRecord};
use crate::store::{Store, StoreError};

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

/// A schema file read, checked and compiled, not yet applied.
struct ReadFile {
    path: PathBuf,
    digest: String,
    file: SchemaFile,
}

/// What loading a schema directory did.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Schema files read.
    pub files: usize,
    /// Versions the files created.
    pub created: usize,
    /// Everything also logged as a warning: files that are not `*.json`, and unchanged files
    /// whose type's schema was changed through the API since they were loaded.
    pub warnings: Vec<String>,
}

/// Loads every `*.json` file of `dir`, in name order. Any unreadable or invalid file, or two
/// files for one event type, stops start-up with the paths in the message: a schema silently
/// ignored would let bad data in. A file makes a new version only when its bytes changed
/// since it was last loaded (the store keeps a digest per type): when an unchanged file
/// differs from the schema in force, a version made through the API since stays in force,
/// with a warning. Other files of the directory are named in a warning.
pub async fn load_dir(
    dir: &Path,
    store: &dyn Store,
    registry: &SchemaRegistry,
) -> anyhow::Result<LoadReport> {
    load_files(read_dir(dir)?, store, registry).await
}

/// The schema files of a directory, each read, parsed and compiled, with no two for one
/// type: everything that can be wrong with them, found before any store is opened (a start
/// that fails on a schema file leaves no data directory behind).
pub struct SchemaFiles {
    files: Vec<ReadFile>,
    warnings: Vec<String>,
}

/// Reads and checks every `*.json` file of `dir`, in name order; see [`load_dir`].
pub fn read_dir(dir: &Path) -> anyhow::Result<SchemaFiles> {
    let mut warnings = Vec::new();
    let mut paths = Vec::new();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("cannot read the schema directory {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry
            .map_err(|e| {
                anyhow::anyhow!("cannot read the schema directory {}: {e}", dir.display())
            })?
            .path();
        if path.extension().is_some_and(|ext| ext == "json") {
            paths.push(path);
        } else {
            warnings.push(format!(
                "{} is not a schema file and was not read: only *.json files of {} are",
                path.display(),
                dir.display()
            ));
        }
    }
    paths.sort();
    warnings.sort();
    let files = paths
        .into_iter()
        .map(read_file)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut seen: HashMap<(&str, &str), &Path> = HashMap::new();
    for read in &files {
        let key = (read.file.category.as_str(), read.file.name.as_str());
        if let Some(first) = seen.insert(key, &read.path) {
            anyhow::bail!(
                "schema files {} and {} are both for event type ({:?}, {:?}): keep one",
                first.display(),
                read.path.display(),
                key.0,
                key.1
            );
        }
    }
    Ok(SchemaFiles { files, warnings })
}

/// Puts read schema files in force; see [`load_dir`].
pub async fn load_files(
    read: SchemaFiles,
    store: &dyn Store,
    registry: &SchemaRegistry,
) -> anyhow::Result<LoadReport> {
    let SchemaFiles { files, warnings } = read;
    let mut report = LoadReport {
        warnings,
        ..LoadReport::default()
    };
    let last_loaded: HashMap<(String, String), String> = store
        .schema_file_digests()
        .await?
        .into_iter()
        .map(|file| ((file.category, file.name), file.digest))
        .collect();
    for read in files {
        report.files += 1;
        let key = (read.file.category.clone(), read.file.name.clone());
        if last_loaded.get(&key) == Some(&read.digest) {
            if let Some(warning) = kept_from_the_api(store, &read).await? {
                report.warnings.push(warning);
            }
            continue;
        }
        let fail =
            |problem: String| anyhow::anyhow!("schema file {}: {problem}", read.path.display());
        let (record, created) = put(store, registry, &key.0, &key.1, &read.file.schema)
            .await
            .map_err(|e| fail(e.to_string()))?;
        store
            .record_schema_file_digest(&SchemaFileDigest {
                category: key.0,
                name: key.1,
                digest: read.digest,
                loaded_at: now_micros(),
            })
            .await?;
        report.created += usize::from(created);
        tracing::info!(
            category = record.category,
            name = record.name,
            version = record.version,
            created,
            file = %read.path.display(),
            "schema file loaded"
        );
    }
    for warning in &report.warnings {
        tracing::warn!("{warning}");
    }
    Ok(report)
}

/// Reads, parses and compiles one schema file; any problem names the file.
fn read_file(path: PathBuf) -> anyhow::Result<ReadFile> {
    let fail = |problem: String| anyhow::anyhow!("schema file {}: {problem}", path.display());
    let bytes = std::fs::read(&path).map_err(|e| fail(e.to_string()))?;
    let file: SchemaFile = serde_json::from_slice(&bytes).map_err(|e| fail(e.to_string()))?;
    check_identifier(&file.category, MAX_NAME_CHARS).map_err(|p| fail(format!("category {p}")))?;
    check_identifier(&file.name, MAX_NAME_CHARS).map_err(|p| fail(format!("name {p}")))?;
    compile_schema(&file.schema).map_err(|e| fail(e.to_string()))?;
    let digest = Sha256::digest(&bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Ok(ReadFile { path, digest, file })
}

/// For a file unchanged since it was last loaded: a warning when the type's schema in force
/// is no longer the file's (changed or deleted through the API), which stays as it is.
async fn kept_from_the_api(store: &dyn Store, read: &ReadFile) -> anyhow::Result<Option<String>> {
    let (category, name) = (&read.file.category, &read.file.name);
    let in_force = store.schema(category, name, None).await?;
    let warning = match in_force {
        Some(record) => {
            let current: Option<Value> = serde_json::from_str(&record.schema).ok();
            if current.as_ref() == Some(&read.file.schema) {
                return Ok(None);
            }
            format!(
                "schema file {} is unchanged since it was last loaded, but the schema of ({category:?}, {name:?}) \
                 was changed through the API since: version {} stays in force (edit the file to replace it)",
                read.path.display(),
                record.version
            )
        }
        None => format!(
            "schema file {} is unchanged since it was last loaded, but the schema of ({category:?}, {name:?}) \
             was deleted through the API since: it stays deleted (edit the file to bring it back)",
            read.path.display()
        ),
    };
    Ok(Some(warning))
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::SqliteStore;

    struct Fixture {
        _data: tempfile::TempDir,
        schemas: tempfile::TempDir,
        store: SqliteStore,
    }

    fn fixture() -> Fixture {
        let data = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(data.path()).expect("store");
        Fixture {
            _data: data,
            schemas: tempfile::tempdir().expect("tempdir"),
            store,
        }
    }

    impl Fixture {
        fn write(&self, file: &str, text: &str) -> PathBuf {
            let path = self.schemas.path().join(file);
            std::fs::write(&path, text).expect("write");
            path
        }

        async fn load(&self) -> anyhow::Result<LoadReport> {
            load_dir(self.schemas.path(), &self.store, &SchemaRegistry::default()).await
        }

        async fn in_force(&self) -> SchemaRecord {
            self.store
                .schema("c", "n", None)
                .await
                .expect("read")
                .expect("a schema in force")
        }
    }

    const FILE: &str = r#"{"category": "c", "name": "n", "schema": {"type": "object"}}"#;

    #[tokio::test]
    async fn an_unchanged_file_keeps_a_version_made_through_the_api() {
        let fixture = fixture();
        fixture.write("c.json", FILE);
        assert_eq!(fixture.load().await.expect("load").created, 1);
        let registry = SchemaRegistry::default();
        let (changed, _) = put(
            &fixture.store,
            &registry,
            "c",
            "n",
            &json!({"required": ["a"]}),
        )
        .await
        .expect("put through the API");
        assert_eq!(changed.version, 2);

        let report = fixture.load().await.expect("restart");
        assert_eq!(report.created, 0);
        assert_eq!(
            fixture.in_force().await.version,
            2,
            "the API's version stays"
        );
        let [warning] = report.warnings.as_slice() else {
            panic!("one warning expected: {:?}", report.warnings);
        };
        assert!(warning.contains("c.json is unchanged"), "{warning}");
        assert!(warning.contains("version 2 stays in force"), "{warning}");

        // Whitespace is a change of the file: the file's schema is in force again.
        fixture.write("c.json", &format!("{FILE}\n"));
        let report = fixture.load().await.expect("load the edited file");
        assert_eq!((report.created, report.warnings.len()), (1, 0));
        let record = fixture.in_force().await;
        assert_eq!(
            (record.version, record.schema.as_str()),
            (3, r#"{"type":"object"}"#)
        );
        // And loading it again changes nothing.
        let report = fixture.load().await.expect("load again");
        assert_eq!((report.created, report.warnings.len()), (0, 0));
        assert_eq!(fixture.in_force().await.version, 3);
    }

    #[tokio::test]
    async fn a_type_deleted_through_the_api_stays_deleted_while_its_file_is_unchanged() {
        let fixture = fixture();
        fixture.write("c.json", FILE);
        fixture.load().await.expect("load");
        assert!(
            delete(&fixture.store, &SchemaRegistry::default(), "c", "n")
                .await
                .expect("delete")
        );
        let report = fixture.load().await.expect("restart");
        assert!(
            report.warnings[0].contains("stays deleted"),
            "{:?}",
            report.warnings
        );
        assert!(
            fixture
                .store
                .schema("c", "n", None)
                .await
                .expect("read")
                .is_none()
        );
    }

    #[tokio::test]
    async fn two_files_for_one_type_are_an_error_naming_both() {
        let fixture = fixture();
        let first = fixture.write("a.json", FILE);
        let second = fixture.write("b.json", FILE);
        let error = fixture.load().await.expect_err("two files").to_string();
        assert!(error.contains(&first.display().to_string()), "{error}");
        assert!(error.contains(&second.display().to_string()), "{error}");
        assert!(
            fixture
                .store
                .schema("c", "n", None)
                .await
                .expect("read")
                .is_none(),
            "nothing loaded"
        );
    }

    #[tokio::test]
    async fn a_file_with_an_unknown_pii_action_stops_the_start_naming_the_file_and_place() {
        let fixture = fixture();
        let path = fixture.write(
            "c.json",
            r#"{"category": "c", "name": "n", "schema": {"properties": {"form": {"properties":
                {"first_name": {"x-eye-pii": "encrypt"}}}}}}"#,
        );
        let error = fixture.load().await.expect_err("refused").to_string();
        assert!(error.contains(&path.display().to_string()), "{error}");
        assert!(
            error.contains("/properties/form/properties/first_name/x-eye-pii"),
            "{error}"
        );
        assert!(error.contains("\"redact\", \"hash\", \"drop\""), "{error}");
    }

    #[tokio::test]
    async fn files_that_are_not_json_are_named_in_a_warning() {
        let fixture = fixture();
        fixture.write("c.json", FILE);
        let notes = fixture.write("notes.txt", "not a schema");
        let report = fixture.load().await.expect("load");
        assert_eq!(report.files, 1);
        let [warning] = report.warnings.as_slice() else {
            panic!("one warning expected: {:?}", report.warnings);
        };
        assert!(warning.contains(&notes.display().to_string()), "{warning}");
    }
}
