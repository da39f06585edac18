//! Failed-event replay: once a schema or a client is fixed, rejected events are judged again
//! by the schemas in force, with their original receive time, and those that pass are
//! stored. Each replayed event's id comes from its error record (or from its `event_id`),
//! and the store's writes are idempotent, so replaying twice stores nothing twice.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::ingest::json;
use crate::ingest::validation::{Rules, SchemaRegistry, validate_event};
use crate::model::ids;
use crate::model::timestamp::{Micros, now_micros};
use crate::model::{ErrorEntry, EventRecord, QueueMessage};
use crate::store::{ErrorQuery, Order, Position, Store, StoreError};

/// Which errors to replay: the filters of `GET /v1/errors`.
#[derive(Debug, Clone, Default)]
pub struct ReplayFilter {
    pub code: Option<String>,
    pub app: Option<String>,
    pub category: Option<String>,
    pub name: Option<String>,
    pub from: Option<Micros>,
    pub to: Option<Micros>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub matched: u64,
    pub passed: u64,
    pub still_failing: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplayOutcome {
    pub totals: Counts,
    /// By (category, name); `None` for refused bodies.
    pub by_event_type: BTreeMap<(Option<String>, Option<String>), Counts>,
}

const PAGE: usize = 500;

/// Replays the errors matching `filter` that no replay has stored yet. With `dry_run`,
/// only counts.
pub async fn replay(
    store: &Arc<dyn Store>,
    registry: &SchemaRegistry,
    rules: &Rules,
    filter: &ReplayFilter,
    dry_run: bool,
) -> Result<ReplayOutcome, StoreError> {
    let mut outcome = ReplayOutcome::default();
    let mut after: Option<Position> = None;
    loop {
        let query = ErrorQuery {
            code: filter.code.clone(),
            app: filter.app.clone(),
            category: filter.category.clone(),
            name: filter.name.clone(),
            from: filter.from,
            to: filter.to,
            order: Order::Asc,
            after,
            limit: PAGE,
            unreplayed_only: true,
        };
        let mut page = store.errors(query).await?;
        let more = page.len() > PAGE;
        page.truncate(PAGE);
        let Some(last) = page.last() else { break };
        after = Some(Position {
            at: last.received_at,
            id: last.id,
        });

        let mut events = Vec::new();
        let mut replayed = Vec::new();
        for error in &page {
            let verdict = judge(error, registry, rules);
            let counts = outcome
                .by_event_type
                .entry((error.category.clone(), error.name.clone()))
                .or_default();
            counts.matched += 1;
            outcome.totals.matched += 1;
            match verdict {
                Some(event) => {
                    counts.passed += 1;
                    outcome.totals.passed += 1;
                    replayed.push((error.id, event.id));
                    events.push(QueueMessage::Event(event));
                }
                None => {
                    counts.still_failing += 1;
                    outcome.totals.still_failing += 1;
                }
            }
        }
        if !dry_run && !events.is_empty() {
            store.write_batch(events.into()).await?;
            store.mark_replayed(replayed, now_micros()).await?;
        }
        if !more {
            break;
        }
    }
    Ok(outcome)
}

/// The event `error` holds, if it now passes every rule.
fn judge(error: &ErrorEntry, registry: &SchemaRegistry, rules: &Rules) -> Option<EventRecord> {
    let value = json::parse_strict(error.raw.as_bytes()).ok()?;
    let valid = validate_event(&value, error.received_at, rules, registry).ok()?;
    let id = match &valid.event_id {
        Some(event_id) => ids::event_id(&error.app, Some(event_id), valid.timestamp),
        None => error.id,
    };
    Some(valid.into_record(id, error.app.clone(), error.received_at))
}
