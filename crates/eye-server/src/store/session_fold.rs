//! The session summaries a batch changes, folded so that each backend writes each summary
//! once per batch rather than once per event: a session's events arrive together, and a
//! batch of a thousand events touches a few dozen sessions. Kept in key order, so the
//! writes walk each index forwards and concurrent batches lock rows in the same order.

use std::collections::{BTreeMap, BTreeSet};

use super::rollup::RollupDelta;
use crate::model::EventRecord;
use crate::model::timestamp::Micros;

/// How one batch moves one session's summary.
pub struct SessionChange {
    pub first_ts: i64,
    pub last_ts: i64,
    pub count: i64,
}

#[derive(Default)]
pub struct SessionFold<'a> {
    /// Per session id, in key order.
    pub sessions: BTreeMap<&'a str, SessionChange>,
    /// Every (session id, application) pair, in key order.
    pub apps: BTreeSet<(&'a str, &'a str)>,
    /// Every (session id, category, name) triple, in key order, for `has_event` filters.
    pub types: BTreeSet<(&'a str, &'a str, &'a str)>,
    /// Every (session id, user id) pair of the events sent with a user, in key order, for
    /// the session list's `user_id` filter.
    pub users: BTreeSet<(&'a str, &'a str)>,
    /// The event counts the batch adds (session starts are added as summaries are written).
    pub rollup: RollupDelta,
}

impl<'a> SessionFold<'a> {
    /// Counts `event`, which the batch has just inserted.
    pub fn add(&mut self, event: &'a EventRecord) {
        let ts = event.timestamp;
        self.sessions
            .entry(&event.session_id)
            .and_modify(|change| {
                change.first_ts = change.first_ts.min(ts);
                change.last_ts = change.last_ts.max(ts);
                change.count += 1;
            })
            .or_insert(SessionChange {
                first_ts: ts,
                last_ts: ts,
                count: 1,
            });
        self.apps.insert((&event.session_id, &event.app));
        self.types
            .insert((&event.session_id, &event.category, &event.name));
        if let Some(user_id) = &event.user_id {
            self.users.insert((&event.session_id, user_id));
        }
        self.rollup
            .event(&event.app, &event.category, &event.name, ts, 1);
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}

/// Events a delete removed (by retention or an erasure), per session: how many, and of
/// which applications, so that each store corrects those summaries and the counts in the
/// same transaction.
#[derive(Default)]
pub struct Removed {
    /// Per session id, in key order: events removed, and their applications.
    pub sessions: BTreeMap<String, (i64, BTreeSet<String>)>,
    /// Events removed in all.
    pub count: u64,
    /// The event counts the delete takes away (session starts are added by the repair).
    pub rollup: RollupDelta,
}

impl Removed {
    /// Counts one removed event of `session_id` and `app`, of type `category`/`name`,
    /// timestamped `at`.
    pub fn add(&mut self, session_id: String, app: String, category: &str, name: &str, at: Micros) {
        self.rollup.event(&app, category, name, at, -1);
        let (count, apps) = self.sessions.entry(session_id).or_default();
        *count += 1;
        apps.insert(app);
        self.count += 1;
    }
}
