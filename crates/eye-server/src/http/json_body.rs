//! The JSON bodies of the admin routes: one JSON object, read into its wire type. serde alone
//! would also read a struct from an array of its fields in order (`["shop", ["ingest"]]`),
//! which the OpenAPI document does not allow and no client means.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// `body` as a `T`, or why not (for an `invalid_body` message).
pub fn object<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    from_object(value)
}

/// A parsed document as a `T`, if it is an object.
pub fn from_object<T: DeserializeOwned>(value: Value) -> Result<T, String> {
    if !value.is_object() {
        return Err(format!(
            "the body must be a JSON object, not {}",
            kind(&value)
        ));
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
