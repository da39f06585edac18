//! Records that travel from ingest through the queue into the store.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::timestamp::Micros;

/// An accepted event, as queued and as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub id: Uuid,
    pub app: String,
    pub session_id: String,
    pub category: String,
    pub name: String,
    /// The `data` object, serialized JSON.
    pub data: String,
    pub timestamp: Micros,
    pub received_at: Micros,
    pub event_id: Option<String>,
    pub schema_version: Option<i64>,
}

/// A rejected event or a refused request body, as queued and as kept in the error store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEntry {
    pub id: Uuid,
    pub app: String,
    pub code: String,
    pub message: String,
    pub path: Option<String>,
    pub received_at: Micros,
    pub category: Option<String>,
    pub name: Option<String>,
    pub session_id: Option<String>,
    pub schema_version: Option<i64>,
    pub raw: String,
    /// Set once a replay stored this input as an event.
    #[serde(default)]
    pub replayed_at: Option<Micros>,
    #[serde(default)]
    pub replayed_event_id: Option<Uuid>,
}

/// One unit of work for the pipeline worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum QueueMessage {
    Event(EventRecord),
    Error(ErrorEntry),
}

/// What a key may do. A key holds one or more scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Ingest,
    Query,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Ingest, Scope::Query, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Query => "query",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == text)
    }

    /// Sorted, without repeats, comma-separated: how stores keep a key's scopes.
    pub fn join(scopes: &[Scope]) -> (Vec<Scope>, String) {
        let mut scopes = scopes.to_vec();
        scopes.sort();
        scopes.dedup();
        let text = scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",");
        (scopes, text)
    }

    pub fn split(text: &str) -> Vec<Scope> {
        text.split(',').filter_map(Scope::parse).collect()
    }
}

/// A stored API key, without its secret.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRecord {
    pub id: String,
    pub app: String,
    pub scopes: Vec<Scope>,
    pub created_at: Micros,
    pub revoked_at: Option<Micros>,
}

/// One version of a schema.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaRecord {
    pub category: String,
    pub name: String,
    pub version: i64,
    /// The JSON Schema document, serialized.
    pub schema: String,
    pub created_at: Micros,
}

/// One entry of a type's schema history; `schema` is `None` for a deletion.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaVersion {
    pub category: String,
    pub name: String,
    pub version: i64,
    pub schema: Option<String>,
    pub created_at: Micros,
}
