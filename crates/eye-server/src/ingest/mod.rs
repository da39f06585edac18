//! What happens to a request body before it is queued: strict JSON parsing, the event
//! envelope and timestamp rules, the JSON Schemas in force for each event type, and the PII
//! rules those schemas carry.

pub mod catalog;
pub mod json;
pub mod pii;
pub mod validation;
