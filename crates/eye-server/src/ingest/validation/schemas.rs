//! Per-event-type JSON Schemas: compilation (draft 2020-12, formats checked, nothing fetched
//! from the network) and the in-memory registry ingest reads on every request.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, ReferencingError, Validator};
use serde_json::Value;

use super::envelope::escape_pointer;
use crate::ingest::pii::{Exposure, PiiKey, PiiRules, REDACTED};

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SchemaError(String);

impl SchemaError {
    pub fn from_message(message: String) -> Self {
        SchemaError(message)
    }
}

/// A schema document compiled: its validator and its PII rules.
#[derive(Debug)]
pub struct Compiled {
    validator: Validator,
    pii: PiiRules,
}

/// A schema ready to judge events, with the version it was stored under.
pub struct CompiledSchema {
    pub version: i64,
    validator: Validator,
    pii: PiiRules,
}

impl CompiledSchema {
    pub fn new(version: i64, compiled: Compiled) -> Self {
        CompiledSchema {
            version,
            validator: compiled.validator,
            pii: compiled.pii,
        }
    }

    /// The `x-eye-pii` rules of the schema (often none).
    pub fn pii(&self) -> &PiiRules {
        &self.pii
    }

    /// The first problem of `data`, as (message, JSON pointer relative to `data`), or `None`
    /// when it conforms. Missing and unexpected properties point at the property itself. A
    /// message about a value under a PII rule, or one holding such a value, shows
    /// `[redacted]` in place of the value.
    pub fn first_violation(&self, data: &Value) -> Option<(String, String)> {
        let error = self.validator.iter_errors(data).next()?;
        let mut path = error.instance_path().as_str().to_owned();
        let message = match self.pii.exposure(&path) {
            Exposure::Clear => error.to_string(),
            Exposure::Within(_)
                if matches!(
                    error.kind(),
                    ValidationErrorKind::AdditionalProperties { .. }
                        | ValidationErrorKind::UnevaluatedProperties { .. }
                ) =>
            {
                // Those name the value's own keys, which are part of it.
                format!("{REDACTED} has properties that are not allowed")
            }
            Exposure::Holds | Exposure::Within(_) => error.masked_with(REDACTED).to_string(),
        };
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
        Some((message, path))
    }
}

/// Compiles a JSON Schema document. Draft 2020-12 unless the document names another with
/// `$schema`. `$ref`s must resolve inside the document: remote ones are refused, not fetched.
/// Errors are written for the person who wrote the schema: where (a JSON pointer into the
/// schema) and what is allowed there. The `x-eye-pii` rules are read too (see
/// [`crate::ingest::pii`]): a value other than `redact`, `hash` or `drop`, or a rule where
/// it would not be applied, is an error.
pub fn compile_schema(schema: &Value) -> Result<Compiled, SchemaError> {
    if !schema.is_object() && !schema.is_boolean() {
        return Err(SchemaError(
            "a JSON Schema must be a JSON object or a boolean".into(),
        ));
    }
    if let Some(fields) = schema.as_object()
        && fields.len() == 3
        && ["category", "name", "schema"]
            .iter()
            .all(|key| fields.contains_key(*key))
    {
        // A schema file's wrapper taken for a schema would accept every event: its three
        // members are no keywords.
        return Err(SchemaError(
            "this is a schema file ({\"category\", \"name\", \"schema\"}), not a schema: \
             send its \"schema\" member"
                .into(),
        ));
    }
    let validator = jsonschema::options()
        .with_draft(Draft::Draft202012)
        .should_validate_formats(true)
        .with_retriever(NoRemoteReferences)
        .build(schema)
        .map_err(|error| SchemaError(explain(schema, &error)))?;
    let pii = PiiRules::from_schema(schema).map_err(SchemaError)?;
    Ok(Compiled { validator, pii })
}

/// Refuses every reference outside the document (the draft meta-schemas are built in).
struct NoRemoteReferences;

impl jsonschema::Retrieve for NoRemoteReferences {
    fn retrieve(
        &self,
        _: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        Err("remote references are not allowed".into())
    }
}

/// The compiler's error in words: the keyword's path in the schema, and what is allowed.
fn explain(schema: &Value, error: &jsonschema::ValidationError<'_>) -> String {
    match error.kind() {
        ValidationErrorKind::Referencing(ReferencingError::Unretrievable { uri, .. }) => {
            let place = reference_to(schema, uri)
                .map(|(pointer, reference)| format!(" at {pointer} (\"$ref\": {reference:?})"))
                .unwrap_or_else(|| format!(" ({uri})"));
            format!(
                "invalid schema{place}: remote references are not allowed, and nothing is fetched; \
                 put the referenced schema under \"$defs\" in this document and refer to it as \
                 \"#/$defs/NAME\""
            )
        }
        ValidationErrorKind::Referencing(ReferencingError::PointerToNowhere { pointer }) => {
            let place = reference_to(schema, &format!("#{pointer}"))
                .map(|(at, _)| format!(" at {at}"))
                .unwrap_or_default();
            format!(
                "invalid schema{place}: \"$ref\" points to {pointer}, which this document does not have"
            )
        }
        ValidationErrorKind::Referencing(other) => format!("invalid schema: \"$ref\": {other}"),
        _ => {
            let (at, problem) = allowed_values(error)
                .unwrap_or_else(|| (error.instance_path().as_str().to_owned(), error.to_string()));
            let at = if at.is_empty() { "/".to_owned() } else { at };
            format!("invalid schema at {at}: {problem}")
        }
    }
}

/// For a value outside a fixed set (`"type": "objekt"`), found directly or within an
/// `anyOf` or `oneOf` of the meta-schema (the innermost one): where it is and the values
/// allowed there.
fn allowed_values(error: &jsonschema::ValidationError<'_>) -> Option<(String, String)> {
    let candidates: Vec<&jsonschema::ValidationError<'_>> = match error.kind() {
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            context.iter().flatten().collect()
        }
        _ => vec![error],
    };
    let (error, options) = candidates
        .into_iter()
        .filter_map(|error| match error.kind() {
            ValidationErrorKind::Enum { options } => Some((error, options.as_array()?)),
            _ => None,
        })
        .max_by_key(|(error, _)| error.instance_path().as_str().len())?;
    let allowed: Vec<String> = options.iter().map(Value::to_string).collect();
    Some((
        error.instance_path().as_str().to_owned(),
        format!(
            "{} is not allowed here; allowed values: {}",
            error.instance(),
            allowed.join(", ")
        ),
    ))
}

/// The first `$ref` of `schema` naming `target` (or a place inside it): its JSON pointer in
/// the schema and its value.
fn reference_to(schema: &Value, target: &str) -> Option<(String, String)> {
    match schema {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref")
                && (reference == target || reference.starts_with(&format!("{target}#")))
            {
                return Some(("/$ref".to_owned(), reference.clone()));
            }
            map.iter().find_map(|(key, value)| {
                let (inner, reference) = reference_to(value, target)?;
                Some((format!("/{}{inner}", escape_pointer(key)), reference))
            })
        }
        Value::Array(items) => items.iter().enumerate().find_map(|(index, value)| {
            let (inner, reference) = reference_to(value, target)?;
            Some((format!("/{index}{inner}"), reference))
        }),
        _ => None,
    }
}

/// The schemas in force, by (category, name), and the deployment's key for their `hash`
/// rules. Cheap to read from many requests at once.
pub struct SchemaRegistry {
    by_type: RwLock<HashMap<(String, String), Arc<CompiledSchema>>>,
    pii_key: PiiKey,
}

/// A registry whose `hash` rules use a random key of its own: for judging events whose data
/// is not kept (tests, the console's "try it").
impl Default for SchemaRegistry {
    fn default() -> Self {
        SchemaRegistry::new(PiiKey::random())
    }
}

impl SchemaRegistry {
    pub fn new(pii_key: PiiKey) -> Self {
        SchemaRegistry {
            by_type: RwLock::default(),
            pii_key,
        }
    }

    pub fn pii_key(&self) -> &PiiKey {
        &self.pii_key
    }

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
