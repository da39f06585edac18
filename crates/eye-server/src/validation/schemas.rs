//! Per-event-type JSON Schemas: compilation (draft 2020-12, formats checked, nothing fetched
//! from the network) and the in-memory registry ingest reads on every request.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, Validator};
use serde_json::Value;

use super::envelope::escape_pointer;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SchemaError(String);

impl SchemaError {
    pub fn from_message(message: String) -> Self {
        SchemaError(message)
    }
}

/// A schema ready to judge events, with the version it was stored under.
pub struct CompiledSchema {
    pub version: i64,
    validator: Validator,
}

impl CompiledSchema {
    pub fn new(version: i64, validator: Validator) -> Self {
        CompiledSchema { version, validator }
    }

    /// The first problem of `data`, as (message, JSON pointer relative to `data`), or `None`
    /// when it conforms. Missing and unexpected properties point at the property itself.
    pub fn first_violation(&self, data: &Value) -> Option<(String, String)> {
        let error = self.validator.iter_errors(data).next()?;
        let mut path = error.instance_path().as_str().to_owned();
        match error.kind() {
            ValidationErrorKind::Required { property } => {
                let property = property
                    .as_str()
                    .map_or_else(|| property.to_string(), str::to_owned);
                path = format!("{path}/{}", escape_pointer(&property));
            }
            ValidationErrorKind::AdditionalProperties { unexpected }
            | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
                if let Some(first) = unexpected.first() {
                    path = format!("{path}/{}", escape_pointer(first));
                }
            }
            _ => {}
        }
        Some((error.to_string(), path))
    }
}

/// Compiles a JSON Schema document. Draft 2020-12 unless the document names another with
/// `$schema`. `$ref`s must resolve inside the document: remote ones are refused, not fetched.
pub fn compile_schema(schema: &Value) -> Result<Validator, SchemaError> {
    if !schema.is_object() && !schema.is_boolean() {
        return Err(SchemaError(
            "a JSON Schema must be a JSON object or a boolean".into(),
        ));
    }
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .should_validate_formats(true)
        .build(schema)
        .map_err(|error| SchemaError(format!("the schema does not compile: {error}")))
}

/// The schemas in force, by (category, name). Cheap to read from many requests at once.
#[derive(Default)]
pub struct SchemaRegistry {
    by_type: RwLock<HashMap<(String, String), Arc<CompiledSchema>>>,
}

impl SchemaRegistry {
    pub fn get(&self, category: &str, name: &str) -> Option<Arc<CompiledSchema>> {
        let map = self
            .by_type
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.get(&(category.to_owned(), name.to_owned())).cloned()
    }

    pub fn insert(&self, category: &str, name: &str, schema: CompiledSchema) {
        let mut map = self
            .by_type
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.insert((category.to_owned(), name.to_owned()), Arc::new(schema));
    }

    /// The version in force of every type that has a schema.
    pub fn versions(&self) -> HashMap<(String, String), i64> {
        let map = self
            .by_type
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.iter()
            .map(|(key, schema)| (key.clone(), schema.version))
            .collect()
    }

    pub fn remove(&self, category: &str, name: &str) {
        let mut map = self
            .by_type
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.remove(&(category.to_owned(), name.to_owned()));
    }
}
