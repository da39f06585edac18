//! What happens to a request body before it is queued: strict JSON parsing, the event
//! envelope and timestamp rules, and the JSON Schemas in force for each event type.

pub mod catalog;
pub mod json;
pub mod validation;
