//! How a schema change becomes a version, decided once for both stores: every change is a
//! new version, numbered from 1 per event type; putting the schema already in force changes
//! nothing; a deletion is a version without a schema, and deleting what has no schema in
//! force changes nothing. The stores read the latest version and write what this says,
//! inside one transaction (PostgreSQL also takes a per-type lock).

use crate::model::timestamp::Micros;

/// The latest version row of a type, deleted (no schema) or not.
pub struct Latest {
    pub version: i64,
    pub schema: Option<String>,
    pub created_at: Micros,
}

/// What a change does.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing to write: the version in force (or none, for a deletion) stays.
    Keep(Option<(i64, Micros)>),
    /// Write this version.
    Write(i64),
}

/// The step of putting `schema` (or, with `None`, deleting the type's schema) after `latest`.
pub fn step(latest: Option<&Latest>, schema: Option<&str>) -> Step {
    let in_force = latest.filter(|latest| latest.schema.is_some());
    match (schema, in_force) {
        (Some(new), Some(current)) if current.schema.as_deref() == Some(new) => {
            Step::Keep(Some((current.version, current.created_at)))
        }
        (None, None) => Step::Keep(None),
        _ => Step::Write(latest.map_or(1, |latest| latest.version + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latest(version: i64, schema: Option<&str>) -> Latest {
        Latest {
            version,
            schema: schema.map(str::to_owned),
            created_at: 7,
        }
    }

    #[test]
    fn every_change_is_the_next_version_and_a_repeat_is_none() {
        assert_eq!(step(None, Some("{}")), Step::Write(1));
        assert_eq!(
            step(Some(&latest(1, Some("{}"))), Some("{}")),
            Step::Keep(Some((1, 7)))
        );
        assert_eq!(
            step(Some(&latest(1, Some("{}"))), Some("true")),
            Step::Write(2)
        );
        assert_eq!(step(Some(&latest(2, Some("{}"))), None), Step::Write(3));
        assert_eq!(step(Some(&latest(3, None)), None), Step::Keep(None));
        assert_eq!(step(None, None), Step::Keep(None));
        assert_eq!(step(Some(&latest(3, None)), Some("{}")), Step::Write(4));
    }
}
