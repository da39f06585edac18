//! Administration: schemas and API keys.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A schema in force for one event type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SchemaInfo {
    pub category: String,
    pub name: String,
    /// Starts at 1 for a type and grows by one at every change.
    pub version: i64,
    pub schema: Value,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SchemaList {
    pub schemas: Vec<SchemaInfo>,
}

/// An API key as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyInfo {
    pub id: String,
    pub app: String,
    /// Any of `ingest`, `query`, `admin`.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::schema::Scope>))]
    pub scopes: Vec<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyList {
    pub keys: Vec<KeyInfo>,
}

/// `POST /v1/keys`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateKeyRequest {
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::Identifier))]
    pub app: String,
    /// At least one; repeats are ignored.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Vec<crate::schema::Scope>, min_items = 1)
    )]
    pub scopes: Vec<String>,
}

/// The answer to a key creation: the only time the secret is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedKey {
    pub key: String,
    #[serde(flatten)]
    pub info: KeyInfo,
}
