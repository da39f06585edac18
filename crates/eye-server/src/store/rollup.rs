//! Counts kept beside the events so that questions over time never scan them: stored
//! events per (interval, bucket, application, category, name) in `event_counts`, the same
//! added up across applications in `type_counts` (what most questions ask), and
//! sessions per bucket of their first event in `session_starts`, for each interval a query
//! can ask for (minute, hour, day; UTC).
//!
//! Every transaction that stores or deletes events (the worker's batch, a retention batch,
//! an erasure step) folds what it changed into a [`RollupDelta`] and applies it before it
//! commits, so a count always equals a scan of the stored events: an event counts when its
//! row is inserted (a redelivery inserts nothing) and stops counting when its row goes.
//! Deltas are applied in key order, so concurrent workers lock counter rows in one order.

use std::collections::BTreeMap;

use crate::model::timestamp::Micros;

/// A bucket width a query may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Interval {
    Minute,
    Hour,
    Day,
}

impl Interval {
    pub const ALL: [Interval; 3] = [Interval::Minute, Interval::Hour, Interval::Day];

    pub fn parse(text: &str) -> Option<Interval> {
        match text {
            "minute" => Some(Interval::Minute),
            "hour" => Some(Interval::Hour),
            "day" => Some(Interval::Day),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Minute => "minute",
            Interval::Hour => "hour",
            Interval::Day => "day",
        }
    }

    /// The width in seconds: the `span` column of the count tables.
    pub fn seconds(self) -> i64 {
        match self {
            Interval::Minute => 60,
            Interval::Hour => 3_600,
            Interval::Day => 86_400,
        }
    }

    pub fn micros(self) -> i64 {
        self.seconds() * 1_000_000
    }

    /// The start of the bucket holding `at`.
    pub fn floor(self, at: Micros) -> Micros {
        at.div_euclid(self.micros()) * self.micros()
    }

    /// The end of the bucket holding the instant just before `at` (`at` itself when it is
    /// a bucket's start).
    pub fn ceil(self, at: Micros) -> Micros {
        let floor = self.floor(at);
        if floor == at {
            at
        } else {
            floor.saturating_add(self.micros())
        }
    }
}

/// One counter row of `event_counts`.
pub type EventCountKey = (i64, Micros, String, String, String);

/// One counter row of `type_counts`: (span seconds, bucket start, category, name).
pub type TypeCountKey<'a> = (i64, Micros, &'a str, &'a str);

/// What one transaction changes in the counts, by key, in key order.
#[derive(Debug, Default)]
pub struct RollupDelta {
    /// (span seconds, bucket start, app, category, name) → change.
    pub events: BTreeMap<EventCountKey, i64>,
    /// (span seconds, bucket start) → change.
    pub session_starts: BTreeMap<(i64, Micros), i64>,
}

impl RollupDelta {
    /// An event stored (`change` 1) or deleted (-1).
    pub fn event(&mut self, app: &str, category: &str, name: &str, at: Micros, change: i64) {
        for interval in Interval::ALL {
            *self
                .events
                .entry((
                    interval.seconds(),
                    interval.floor(at),
                    app.to_owned(),
                    category.to_owned(),
                    name.to_owned(),
                ))
                .or_default() += change;
        }
    }

    /// A session's first event moved from `before` to `after` (`None`: no session).
    pub fn session_start_moved(&mut self, before: Option<Micros>, after: Option<Micros>) {
        if before == after {
            return;
        }
        for interval in Interval::ALL {
            if let Some(before) = before {
                *self
                    .session_starts
                    .entry((interval.seconds(), interval.floor(before)))
                    .or_default() -= 1;
            }
            if let Some(after) = after {
                *self
                    .session_starts
                    .entry((interval.seconds(), interval.floor(after)))
                    .or_default() += 1;
            }
        }
    }

    /// The event counter changes that change something.
    pub fn event_changes(&self) -> impl Iterator<Item = (&EventCountKey, i64)> {
        self.events
            .iter()
            .filter(|(_, change)| **change != 0)
            .map(|(key, change)| (key, *change))
    }

    /// The changes of `type_counts` (the counters without the application): the event
    /// changes added up across applications, in key order.
    pub fn type_changes(&self) -> Vec<(TypeCountKey<'_>, i64)> {
        let mut types: BTreeMap<TypeCountKey<'_>, i64> = BTreeMap::new();
        for ((span, bucket, _, category, name), change) in self.event_changes() {
            *types
                .entry((*span, *bucket, category.as_str(), name.as_str()))
                .or_default() += change;
        }
        types
            .into_iter()
            .filter(|(_, change)| *change != 0)
            .collect()
    }

    /// The session-start changes that change something.
    pub fn session_start_changes(&self) -> impl Iterator<Item = ((i64, Micros), i64)> {
        self.session_starts
            .iter()
            .filter(|(_, change)| **change != 0)
            .map(|(key, change)| (*key, *change))
    }
}

/// A question to the counts: `[from, to)` aligned to `interval`.
#[derive(Debug, Clone)]
pub struct CountQuery {
    pub interval: Interval,
    pub from: Micros,
    pub to: Micros,
    pub app: Option<String>,
    pub category: Option<String>,
    pub name: Option<String>,
    pub group_by: GroupBy,
}

/// The fields counts are grouped by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupBy {
    pub app: bool,
    pub category: bool,
    pub name: bool,
}

/// One bucket of one group; the fields not grouped by are `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountRow {
    pub bucket: Micros,
    pub app: Option<String>,
    pub category: Option<String>,
    pub name: Option<String>,
    pub count: u64,
}

/// Whether a count query reads `type_counts` (the counters added up across applications):
/// when it neither filters nor groups by application, a quarter of the rows or fewer.
pub fn reads_type_counts(query: &CountQuery) -> bool {
    query.app.is_none() && !query.group_by.app
}

/// The `SELECT` of a count query, for either store: `GROUP BY` the bucket and the grouped
/// fields, filters as equalities, through [`crate::store::select::Statement`]. Grouped by
/// every field of its table's key, each counter is its own group: no aggregation at all,
/// only a walk of the key's range, in its order.
pub fn count_statement(statement: &mut impl crate::store::select::Statement, query: &CountQuery) {
    use crate::store::select::Bound;
    let by_type = reads_type_counts(query);
    let (table, key_fields) = if by_type {
        ("type_counts", 2)
    } else {
        ("event_counts", 3)
    };
    let grouped: Vec<&str> = [
        ("app", query.group_by.app),
        ("category", query.group_by.category),
        ("name", query.group_by.name),
    ]
    .into_iter()
    .filter_map(|(column, on)| on.then_some(column))
    .collect();
    let columns = ["app", "category", "name"]
        .iter()
        .map(|column| {
            if grouped.contains(column) {
                (*column).to_owned()
            } else {
                // Typed, so that PostgreSQL's driver can read the column as text.
                "CAST(NULL AS TEXT)".to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let every_field = grouped.len() == key_fields;
    let sum = if every_field {
        "count"
    } else {
        "CAST(sum(count) AS BIGINT)"
    };
    statement.push(&format!(
        "SELECT bucket, {columns}, {sum} FROM {table} WHERE span = "
    ));
    let span = statement.bind(Bound::Count(query.interval.seconds()));
    statement.push(&span);
    let from = statement.bind(Bound::Count(query.from));
    statement.push(&format!(" AND bucket >= {from}"));
    let to = statement.bind(Bound::Count(query.to));
    statement.push(&format!(" AND bucket < {to}"));
    for (column, filter) in [
        ("app", &query.app),
        ("category", &query.category),
        ("name", &query.name),
    ] {
        if let Some(value) = filter {
            let placeholder = statement.bind(Bound::Text(value.clone()));
            statement.push(&format!(" AND {column} = {placeholder}"));
        }
    }
    if every_field {
        statement.push(" AND count > 0");
        return;
    }
    let mut group = vec!["bucket"];
    group.extend(grouped);
    statement.push(&format!(
        " GROUP BY {} HAVING sum(count) > 0",
        group.join(", ")
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_utc_aligned_and_rounding_is_outward() {
        let at = 1_609_492_527_243_860; // 2021-01-01T09:15:27.243860Z
        assert_eq!(Interval::Minute.floor(at), 1_609_492_500_000_000);
        assert_eq!(Interval::Hour.floor(at), 1_609_491_600_000_000);
        assert_eq!(Interval::Day.floor(at), 1_609_459_200_000_000);
        assert_eq!(Interval::Hour.ceil(at), 1_609_495_200_000_000);
        assert_eq!(
            Interval::Hour.ceil(1_609_491_600_000_000),
            1_609_491_600_000_000
        );
        assert_eq!(Interval::Day.floor(-1), -86_400_000_000);
    }

    #[test]
    fn a_session_moving_within_a_bucket_changes_nothing_there() {
        let mut delta = RollupDelta::default();
        delta.session_start_moved(Some(3_600_000_000 + 5), Some(3_600_000_000 + 2));
        let hour: Vec<_> = delta
            .session_start_changes()
            .filter(|((span, _), _)| *span == 3_600)
            .collect();
        assert!(hour.is_empty(), "{hour:?}");
        delta.session_start_moved(None, Some(7_200_000_000));
        let hour: Vec<_> = delta
            .session_start_changes()
            .filter(|((span, _), _)| *span == 3_600)
            .collect();
        assert_eq!(hour, vec![((3_600, 7_200_000_000), 1)]);
    }

    #[test]
    fn stored_then_deleted_nets_to_nothing() {
        let mut delta = RollupDelta::default();
        delta.event("shop", "page", "view", 10, 1);
        delta.event("shop", "page", "view", 20, -1);
        assert_eq!(delta.event_changes().count(), 0);
    }
}
