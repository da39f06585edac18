//! The traffic of the preloaded stores (scenarios 6 and 9): several applications, ten event
//! types from very common to rare, in sessions of 5 to 50 events, each session of one
//! application. The ingest scenarios keep `events::EventSource` (the brief's three types,
//! which the example schemas judge), so that their figures stay comparable across runs.

use eye_server::model::EventRecord;
use eye_server::model::ids;
use serde_json::json;

use crate::events::Rng;

/// Applications, with their share of sessions in percent.
const APPS: [(&str, u64); 4] = [
    ("shop", 50),
    ("reviews", 25),
    ("support", 15),
    ("partners", 10),
];

/// Event types (category, name), with their share of events in per mille.
pub const TYPES: [(&str, &str, u64); 10] = [
    ("page interaction", "pageview", 400),
    ("page interaction", "cta click", 180),
    ("page interaction", "scroll", 120),
    ("form interaction", "focus", 80),
    ("search", "query", 60),
    ("form interaction", "submit", 50),
    ("cart", "add item", 50),
    ("checkout", "purchase", 39),
    ("cart", "remove item", 20),
    ("account", "password reset", 1),
];

/// The most common type, and the rarest (one event in a thousand: about one session in
/// forty has one).
pub const COMMON_TYPE: (&str, &str) = ("page interaction", "pageview");
pub const RARE_TYPE: (&str, &str) = ("account", "password reset");

const PATHS: [&str; 6] = [
    "/",
    "/reviews",
    "/pricing",
    "/compare/insurance",
    "/blog/moving-checklist",
    "/signup",
];

/// Produces stored events session by session.
pub struct Mix {
    rng: Rng,
    prefix: String,
    sessions: u64,
    session_id: String,
    app: &'static str,
    left_in_session: u64,
    sequence: u64,
}

impl Mix {
    pub fn new(seed: u64, prefix: &str) -> Mix {
        Mix {
            rng: Rng::new(seed),
            prefix: prefix.to_owned(),
            sessions: 0,
            session_id: String::new(),
            app: APPS[0].0,
            left_in_session: 0,
            sequence: 0,
        }
    }

    /// The next event, stored with timestamp (and receive time) `at`.
    pub fn record(&mut self, at: i64) -> EventRecord {
        if self.left_in_session == 0 {
            self.sessions += 1;
            self.left_in_session = 5 + self.rng.below(46);
            self.session_id = format!(
                "{}-{:08}-{:016x}",
                self.prefix,
                self.sessions,
                self.rng.next()
            );
            self.app = pick(&mut self.rng, &APPS);
        }
        self.left_in_session -= 1;
        self.sequence += 1;
        let (category, name) = pick(
            &mut self.rng,
            &TYPES.map(|(category, name, share)| ((category, name), share)),
        );
        let path = PATHS[self.rng.below(PATHS.len() as u64) as usize];
        let data = json!({
            "host": format!("{}.example.com", self.app),
            "path": path,
            "referrer": "https://www.google.com/",
            "viewport": {"width": 1280 + self.rng.below(640), "height": 720 + self.rng.below(360)},
            "value": self.rng.below(10_000),
        });
        let event_id = format!("{}-{}", self.prefix, self.sequence);
        EventRecord {
            id: ids::event_id(self.app, Some(&event_id), at),
            app: self.app.into(),
            session_id: self.session_id.clone(),
            category: category.into(),
            name: name.into(),
            data: data.to_string(),
            timestamp: at,
            received_at: at,
            event_id: Some(event_id),
            schema_version: Some(1),
            user_id: None,
            context: None,
            original_timestamp: None,
        }
    }
}

/// One of `choices`, each as likely as its weight.
fn pick<T: Copy>(rng: &mut Rng, choices: &[(T, u64)]) -> T {
    let total: u64 = choices.iter().map(|(_, weight)| weight).sum();
    let mut roll = rng.below(total);
    for (choice, weight) in choices {
        if roll < *weight {
            return *choice;
        }
        roll -= weight;
    }
    choices[choices.len() - 1].0
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;

    #[test]
    fn shares_follow_the_weights_and_the_rare_type_occurs() {
        let mut mix = Mix::new(11, "pre");
        let mut types: HashMap<(String, String), u64> = HashMap::new();
        for i in 0..100_000 {
            let event = mix.record(i);
            *types.entry((event.category, event.name)).or_default() += 1;
        }
        assert_eq!(types.len(), TYPES.len());
        let share = |(category, name): (&str, &str)| {
            types[&(category.to_owned(), name.to_owned())] as f64 / 100_000.0
        };
        assert!((0.38..0.42).contains(&share(COMMON_TYPE)));
        assert!((0.0005..0.0015).contains(&share(RARE_TYPE)));
    }

    #[test]
    fn a_session_is_one_application_and_five_to_fifty_events() {
        let mut mix = Mix::new(11, "pre");
        let events: Vec<EventRecord> = (0..20_000).map(|i| mix.record(i)).collect();
        let mut sessions: HashMap<&str, (HashSet<&str>, u64)> = HashMap::new();
        for event in &events {
            let entry = sessions.entry(&event.session_id).or_default();
            entry.0.insert(&event.app);
            entry.1 += 1;
        }
        let last = &events[events.len() - 1].session_id;
        for (id, (apps, count)) in &sessions {
            assert_eq!(apps.len(), 1, "{id}");
            assert!(id == last || (5..=50).contains(count), "{id}: {count}");
        }
        let apps: HashSet<&str> = events.iter().map(|e| e.app.as_str()).collect();
        assert_eq!(apps.len(), APPS.len());
    }

    #[test]
    fn events_are_two_to_four_hundred_bytes_on_the_wire() {
        let mut mix = Mix::new(7, "pre");
        for i in 0..1000 {
            let event = mix.record(i);
            let size = json!({
                "session_id": event.session_id,
                "category": event.category,
                "name": event.name,
                "data": serde_json::from_str::<serde_json::Value>(&event.data).expect("data is JSON"),
                "timestamp": "2021-01-01 09:15:27.243860",
                "event_id": event.event_id,
            })
            .to_string()
            .len();
            assert!((200..=400).contains(&size), "{size} bytes");
        }
    }
}
