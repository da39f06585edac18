//! Rows per table of a store, to compare a migration's source and target at its end. Events,
//! errors and erasures are counted by reading them in pages, as the copy does: the `Store`
//! seam has no count of everything, and a migration reads it all anyway.

use std::fmt;

use eye_server::store::{ErrorQuery, EventQuery, Order, Position, Store};

const PAGE: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub keys: usize,
    pub schema_versions: usize,
    pub events: usize,
    pub errors: usize,
    pub erasures: usize,
    pub suppressed_sessions: usize,
}

impl Counts {
    pub async fn of(store: &dyn Store) -> anyhow::Result<Counts> {
        Ok(Counts {
            keys: store.export_keys().await?.len(),
            schema_versions: store.schema_history().await?.len(),
            events: count_events(store).await?,
            errors: count_errors(store).await?,
            erasures: super::kept::count_erasures(store).await?,
            suppressed_sessions: store.suppressions().await?.len(),
        })
    }

    /// Each table whose counts differ: `(table, source, target)`.
    pub fn differences(&self, target: &Counts) -> Vec<(&'static str, usize, usize)> {
        [
            ("keys", self.keys, target.keys),
            (
                "schema versions",
                self.schema_versions,
                target.schema_versions,
            ),
            ("events", self.events, target.events),
            ("errors", self.errors, target.errors),
            ("erasures", self.erasures, target.erasures),
            (
                "suppressed sessions",
                self.suppressed_sessions,
                target.suppressed_sessions,
            ),
        ]
        .into_iter()
        .filter(|(_, source, target)| source != target)
        .collect()
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} keys, {} schema versions, {} events, {} errors, {} erasures, {} suppressed sessions",
            self.keys,
            self.schema_versions,
            self.events,
            self.errors,
            self.erasures,
            self.suppressed_sessions
        )
    }
}

async fn count_events(store: &dyn Store) -> anyhow::Result<usize> {
    let (mut count, mut after) = (0, None);
    loop {
        let page = store
            .events(EventQuery {
                order: Order::Asc,
                after,
                limit: PAGE,
                ..EventQuery::default()
            })
            .await?;
        let Some(last) = page.last() else {
            return Ok(count);
        };
        after = Some(Position {
            at: last.timestamp,
            id: last.id,
        });
        count += page.len();
    }
}

async fn count_errors(store: &dyn Store) -> anyhow::Result<usize> {
    let (mut count, mut after) = (0, None);
    loop {
        let page = store
            .errors(ErrorQuery {
                order: Order::Asc,
                after,
                limit: PAGE,
                ..ErrorQuery::default()
            })
            .await?;
        let Some(last) = page.last() else {
            return Ok(count);
        };
        after = Some(Position {
            at: last.received_at,
            id: last.id,
        });
        count += page.len();
    }
}
