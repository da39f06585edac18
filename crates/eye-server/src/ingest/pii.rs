//! PII rules: the `x-eye-pii` annotations of a type's JSON Schema, read when the schema is
//! compiled, and applied to an event's `data` after validation and before it is queued, so
//! that a clear value never reaches the queue, the store, a log, the live feed or the error
//! store.
//!
//! - `redact`: the value becomes the string `"[redacted]"`;
//! - `hash`: the value becomes `"hmac-sha256:"` and 64 lowercase hex digits, the HMAC-SHA-256
//!   under the deployment's secret of the value's canonical JSON ([`canonical_json`]), so
//!   equal values give equal hashes; a value already of that form is kept as it is, so a
//!   replayed error record hashes nothing twice;
//! - `drop`: the property is removed.
//!
//! A rule is read from a schema reached from the root through `properties` (one property),
//! `items` (every element of an array), and `allOf`, `anyOf`, `oneOf`, `if`, `then`, `else`
//! (the same value: a rule there applies wherever its path exists, whichever branch the value
//! matched). An `x-eye-pii` anywhere else (under `$defs`, `not`, `additionalProperties`,
//! `patternProperties`, ...) makes the schema invalid rather than be silently ignored: a
//! `$ref` is not followed, so the rule goes on the referring property. Two rules on one path
//! keep the stronger (`drop`, then `redact`, then `hash`); a rule inside a value that has a
//! rule itself is moot, the outer one applying to the whole value.

use std::fmt::{self, Write};

use hmac::{KeyInit, Mac};
use serde_json::{Map, Value};

use super::validation::escape_pointer;

type HmacSha256 = hmac::Hmac<sha2_hmac::Sha256>;

/// What becomes of a value under a rule; ordered from the weakest to the strongest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PiiAction {
    Hash,
    Redact,
    Drop,
}

impl PiiAction {
    const NAMES: [(&'static str, PiiAction); 3] = [
        ("redact", PiiAction::Redact),
        ("hash", PiiAction::Hash),
        ("drop", PiiAction::Drop),
    ];
}

/// What a `redact` rule leaves.
pub const REDACTED: &str = "[redacted]";
/// The start of what a `hash` rule leaves.
pub const HASH_PREFIX: &str = "hmac-sha256:";

/// One step of a rule's path into `data`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Key(String),
    /// Every element of an array.
    Each,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PiiRule {
    path: Vec<Step>,
    action: PiiAction,
}

/// The PII rules of one schema, outer paths first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PiiRules {
    rules: Vec<PiiRule>,
}

/// Where a place in `data` stands to the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// No rule's value is at, inside or around it.
    Clear,
    /// It holds a value under a rule.
    Holds,
    /// It is at or inside a value under a rule whose path has this many segments.
    Within(usize),
}

impl PiiRules {
    /// The rules of `schema`; an error names the place in the schema and what is allowed.
    pub fn from_schema(schema: &Value) -> Result<PiiRules, String> {
        let mut rules = Vec::new();
        walk(schema, "", Some(&[]), &mut rules)?;
        // Outer paths first; of two rules on one path, the stronger only.
        rules.sort_by(|a, b| {
            (a.path.len(), &a.path, b.action).cmp(&(b.path.len(), &b.path, a.action))
        });
        rules.dedup_by(|later, kept| later.path == kept.path);
        Ok(PiiRules { rules })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Applies every rule to `data` where its path exists; whether anything changed.
    pub fn apply(&self, data: &mut Value, key: &PiiKey) -> bool {
        let mut changed = false;
        for rule in &self.rules {
            changed |= apply_at(data, &rule.path, rule.action, key);
        }
        changed
    }

    /// How the place `pointer` (a JSON pointer into `data`) stands to the rules: array
    /// indexes match `items` steps.
    pub fn exposure(&self, pointer: &str) -> Exposure {
        if self.rules.is_empty() {
            return Exposure::Clear;
        }
        let segments: Vec<String> = pointer
            .split('/')
            .skip(1)
            .map(|segment| segment.replace("~1", "/").replace("~0", "~"))
            .collect();
        let mut exposure = Exposure::Clear;
        for rule in &self.rules {
            let shared = rule
                .path
                .iter()
                .zip(&segments)
                .take_while(|(step, segment)| match step {
                    Step::Key(key) => key == *segment,
                    Step::Each => segment.parse::<usize>().is_ok(),
                })
                .count();
            if shared == rule.path.len() {
                return Exposure::Within(shared);
            }
            if shared == segments.len() {
                exposure = Exposure::Holds;
            }
        }
        exposure
    }
}

/// Reads the rules of the schema at `pointer`; `at` is the path into `data` it describes,
/// `None` where a rule would not be applied.
fn walk(
    schema: &Value,
    pointer: &str,
    at: Option<&[Step]>,
    rules: &mut Vec<PiiRule>,
) -> Result<(), String> {
    let Value::Object(map) = schema else {
        return Ok(());
    };
    if let Some(value) = map.get("x-eye-pii") {
        rules.push(rule(value, pointer, at)?);
    }
    let extend = |step: Step| {
        at.map(|path| {
            let mut path = path.to_vec();
            path.push(step);
            path
        })
    };
    for (keyword, value) in map {
        let here = format!("{pointer}/{}", escape_pointer(keyword));
        match (keyword.as_str(), value) {
            ("x-eye-pii" | "enum" | "const" | "default" | "examples", _) => {}
            ("properties", Value::Object(properties)) => {
                for (name, sub) in properties {
                    let path = extend(Step::Key(name.clone()));
                    let place = format!("{here}/{}", escape_pointer(name));
                    walk(sub, &place, path.as_deref(), rules)?;
                }
            }
            (
                "patternProperties" | "$defs" | "definitions" | "dependentSchemas" | "dependencies",
                Value::Object(named),
            ) => {
                for (name, sub) in named {
                    walk_any(sub, &format!("{here}/{}", escape_pointer(name)), rules)?;
                }
            }
            ("items", Value::Object(_) | Value::Bool(_)) => {
                walk(value, &here, extend(Step::Each).as_deref(), rules)?;
            }
            ("allOf" | "anyOf" | "oneOf", Value::Array(subs)) => {
                for (index, sub) in subs.iter().enumerate() {
                    walk(sub, &format!("{here}/{index}"), at, rules)?;
                }
            }
            ("if" | "then" | "else", _) => walk(value, &here, at, rules)?,
            _ => walk_any(value, &here, rules)?,
        }
    }
    Ok(())
}

/// Any value of a schema where a rule would not be applied: objects within are looked at
/// as schemas, so that an `x-eye-pii` there is refused.
fn walk_any(value: &Value, pointer: &str, rules: &mut Vec<PiiRule>) -> Result<(), String> {
    match value {
        Value::Object(_) => walk(value, pointer, None, rules),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(index, item)| walk_any(item, &format!("{pointer}/{index}"), rules)),
        _ => Ok(()),
    }
}

fn rule(value: &Value, pointer: &str, at: Option<&[Step]>) -> Result<PiiRule, String> {
    let place = format!("invalid schema at {pointer}/x-eye-pii");
    let action = value
        .as_str()
        .and_then(|name| PiiAction::NAMES.iter().find(|(known, _)| *known == name))
        .map(|(_, action)| *action);
    let Some(action) = action else {
        let allowed: Vec<String> = PiiAction::NAMES
            .iter()
            .map(|(name, _)| format!("{name:?}"))
            .collect();
        return Err(format!(
            "{place}: {value} is not allowed here; allowed values: {}",
            allowed.join(", ")
        ));
    };
    let Some(path) = at else {
        return Err(format!(
            "{place}: a PII rule applies only on a property reached from the root through \
             \"properties\", \"items\", \"allOf\", \"anyOf\", \"oneOf\", \"if\", \"then\" or \
             \"else\" (a \"$ref\" is not followed: put the rule on the referring property)"
        ));
    };
    if path.is_empty() {
        return Err(format!(
            "{place}: a PII rule belongs on a property of `data`, not on `data` itself"
        ));
    }
    if action == PiiAction::Drop && path.last() == Some(&Step::Each) {
        return Err(format!(
            "{place}: \"drop\" removes a property; for the elements of {} use \"redact\" or \
             \"hash\", or drop the array itself",
            describe(&path[..path.len() - 1])
        ));
    }
    Ok(PiiRule {
        path: path.to_vec(),
        action,
    })
}

/// A path as people read it: `data.form.first_name`, `data.children[].name`.
fn describe(path: &[Step]) -> String {
    path.iter()
        .fold("data".to_owned(), |text, step| match step {
            Step::Key(key) => format!("{text}.{key}"),
            Step::Each => format!("{text}[]"),
        })
}

fn apply_at(value: &mut Value, path: &[Step], action: PiiAction, key: &PiiKey) -> bool {
    let Some((step, rest)) = path.split_first() else {
        return false;
    };
    match (step, value) {
        (Step::Key(name), Value::Object(map)) if rest.is_empty() => {
            if action == PiiAction::Drop {
                map.remove(name).is_some()
            } else {
                map.get_mut(name)
                    .is_some_and(|found| replace(found, action, key))
            }
        }
        (Step::Key(name), Value::Object(map)) => map
            .get_mut(name)
            .is_some_and(|found| apply_at(found, rest, action, key)),
        (Step::Each, Value::Array(items)) => items.iter_mut().fold(false, |changed, item| {
            let done = if rest.is_empty() {
                replace(item, action, key)
            } else {
                apply_at(item, rest, action, key)
            };
            changed | done
        }),
        _ => false,
    }
}

/// Replaces `value` under a `redact` or `hash` rule; whether it changed.
fn replace(value: &mut Value, action: PiiAction, key: &PiiKey) -> bool {
    let replacement = match action {
        PiiAction::Redact => REDACTED.to_owned(),
        PiiAction::Hash if is_hash(value) => return false,
        PiiAction::Hash => key.hash(value),
        PiiAction::Drop => return false,
    };
    let changed = value.as_str() != Some(replacement.as_str());
    *value = Value::String(replacement);
    changed
}

fn is_hash(value: &Value) -> bool {
    value
        .as_str()
        .and_then(|text| text.strip_prefix(HASH_PREFIX))
        .is_some_and(|hex| {
            hex.len() == 64
                && hex
                    .bytes()
                    .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
        })
}

/// The deployment's key for `hash` rules.
#[derive(Clone)]
pub struct PiiKey(HmacSha256);

impl PiiKey {
    pub fn new(secret: &[u8]) -> PiiKey {
        PiiKey(HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length"))
    }

    /// A key of 32 random bytes, for a registry that never hashes for storage (tests, the
    /// console's "try it").
    pub fn random() -> PiiKey {
        PiiKey::new(&rand::random::<[u8; 32]>())
    }

    /// `hmac-sha256:` and the HMAC-SHA-256 of `value`'s canonical JSON, in lowercase hex.
    pub fn hash(&self, value: &Value) -> String {
        let mut mac = self.0.clone();
        mac.update(canonical_json(value).as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut text = String::with_capacity(HASH_PREFIX.len() + 64);
        text.push_str(HASH_PREFIX);
        for byte in digest.iter() {
            let _ = write!(text, "{byte:02x}");
        }
        text
    }
}

impl fmt::Debug for PiiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PiiKey([secret])")
    }
}

/// The canonical JSON of `value`, the bytes a `hash` rule authenticates: no whitespace,
/// object keys sorted by their UTF-8 bytes (code point order), strings escaped as serde_json
/// writes them (only `"`, `\` and control characters, as `\"`, `\\`, `\n`, `\t`, `\r`, `\b`,
/// `\f` or `\u00XX`; everything else as UTF-8), numbers as they were read (integers in
/// decimal, others in the shortest form that reads back the same). So the hash of the string
/// `John` is over the six bytes `"John"`, and in Python it is
/// `hmac.new(secret, json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(), "sha256")`
/// for strings, integers, booleans, null and objects or arrays of them.
pub fn canonical_json(value: &Value) -> String {
    let mut text = String::new();
    write_canonical(value, &mut text);
    text
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(map, out),
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Sorted explicitly: with serde_json's `preserve_order` feature (which any crate of a build
/// may turn on) a map keeps the order it was read in.
fn write_object(map: &Map<String, Value>, out: &mut String) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    for (index, (key, item)) in entries.into_iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str(&Value::String(key.clone()).to_string());
        out.push(':');
        write_canonical(item, out);
    }
    out.push('}');
}

#[cfg(test)]
mod tests;
