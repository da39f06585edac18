//! Sessions whose events ingest answers `accepted` and drops, because an erasure with
//! `suppress` asked for it. Kept in memory on every ingest node: added at once on the node
//! that took the erasure, and refreshed from the store every second on all of them. The
//! worker checks the store too, so an event that slips past a node not yet refreshed is
//! still never stored.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use crate::store::{ErasureRequest, Suppression};

#[derive(Clone, Default)]
pub struct Suppressions {
    sessions: Arc<RwLock<HashSet<Suppression>>>,
    /// Whether any session is suppressed: ingest reads this, not the set, in the common case.
    any: Arc<AtomicBool>,
}

impl Suppressions {
    /// Suppresses the sessions of an erasure that asked for it.
    pub fn add(&self, request: &ErasureRequest) {
        let mut sessions = self.sessions.write().unwrap_or_else(|p| p.into_inner());
        sessions.extend(request.session_ids.iter().map(|session_id| Suppression {
            session_id: session_id.clone(),
            app: request.app.clone(),
        }));
        self.any.store(!sessions.is_empty(), Ordering::Release);
    }

    /// Replaces the set with the store's.
    pub fn replace(&self, all: Vec<Suppression>) {
        let mut sessions = self.sessions.write().unwrap_or_else(|p| p.into_inner());
        *sessions = all.into_iter().collect();
        self.any.store(!sessions.is_empty(), Ordering::Release);
    }

    /// Whether events of `session_id` sent by `app` are dropped.
    pub fn covers(&self, app: &str, session_id: &str) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return false;
        }
        let sessions = self.sessions.read().unwrap_or_else(|p| p.into_inner());
        let mut key = Suppression {
            session_id: session_id.to_owned(),
            app: None,
        };
        if sessions.contains(&key) {
            return true;
        }
        key.app = Some(app.to_owned());
        sessions.contains(&key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_suppression_covers_its_sessions_and_application() {
        let suppressions = Suppressions::default();
        assert!(!suppressions.covers("shop", "s1"));
        suppressions.add(&ErasureRequest {
            session_ids: vec!["s1".into()],
            app: None,
            suppress: true,
            requested_by: "key".into(),
        });
        suppressions.add(&ErasureRequest {
            session_ids: vec!["s2".into()],
            app: Some("blog".into()),
            suppress: true,
            requested_by: "key".into(),
        });
        assert!(suppressions.covers("shop", "s1"));
        assert!(suppressions.covers("blog", "s2"));
        assert!(!suppressions.covers("shop", "s2"));
        assert!(!suppressions.covers("shop", "s3"));
        suppressions.replace(Vec::new());
        assert!(!suppressions.covers("shop", "s1"));
    }
}
