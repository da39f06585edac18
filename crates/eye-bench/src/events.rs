//! Realistic events: the brief's three types, 200-400 bytes each, in sessions of 5 to 50
//! events, with a mix that some schemas judge.

use serde_json::{Value, json};

/// Deterministic pseudo-random numbers (xorshift), so runs are comparable.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Produces events session by session, each session 5 to 50 events long.
pub struct EventSource {
    rng: Rng,
    prefix: String,
    session: u64,
    /// The current session's id: fixed for all of its events, so sessions are real.
    session_id: String,
    left_in_session: u64,
    sequence: u64,
}

const PATHS: [&str; 6] = [
    "/",
    "/reviews",
    "/pricing",
    "/compare/insurance",
    "/blog/moving-checklist",
    "/signup",
];
const ELEMENTS: [&str; 4] = ["chat bubble", "get quotes", "read more", "subscribe"];

impl EventSource {
    pub fn new(seed: u64, prefix: &str) -> EventSource {
        EventSource {
            rng: Rng::new(seed),
            prefix: prefix.to_owned(),
            session: 0,
            session_id: String::new(),
            left_in_session: 0,
            sequence: 0,
        }
    }

    pub fn next(&mut self, timestamp: &str) -> Value {
        if self.left_in_session == 0 {
            self.session += 1;
            self.left_in_session = 5 + self.rng.below(46);
            let id = format!(
                "{}-{:08}-{:016x}",
                self.prefix,
                self.session,
                self.rng.next()
            );
            // The API caps session ids at 60 characters; keep the distinct tail.
            self.session_id = id[id.len().saturating_sub(60)..].to_owned();
        }
        self.left_in_session -= 1;
        self.sequence += 1;
        let path = PATHS[self.rng.below(PATHS.len() as u64) as usize];
        let host = "www.consumeraffairs.com";
        let (category, name, data) = match self.rng.below(10) {
            0..=5 => (
                "page interaction",
                "pageview",
                json!({"host": host, "path": path, "referrer": "https://www.google.com/"}),
            ),
            6..=8 => (
                "page interaction",
                "cta click",
                json!({"host": host, "path": path, "element": ELEMENTS[self.rng.below(4) as usize]}),
            ),
            _ => (
                "form interaction",
                "submit",
                json!({"host": host, "path": "/signup", "form": {"first_name": "John", "last_name": "Doe", "zip": "10001"}}),
            ),
        };
        json!({
            "session_id": self.session_id,
            "category": category,
            "name": name,
            "data": data,
            "timestamp": timestamp,
            "event_id": format!("{}-{}", self.prefix, self.sequence),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_two_to_four_hundred_bytes() {
        let mut source = EventSource::new(7, "bench");
        for _ in 0..1000 {
            let size = source.next("2021-01-01 09:15:27.243860").to_string().len();
            assert!((200..=400).contains(&size), "{size} bytes");
        }
    }

    #[test]
    fn sessions_are_five_to_fifty_events_long() {
        let mut source = EventSource::new(7, &format!("c12-{}", "f".repeat(32)));
        let ids: Vec<String> = (0..5000)
            .map(|_| source.next("2021-01-01 09:15:27")["session_id"].to_string())
            .collect();
        let mut lengths = Vec::new();
        let mut run = 1;
        for pair in ids.windows(2) {
            if pair[0] == pair[1] {
                run += 1;
            } else {
                lengths.push(run);
                run = 1;
            }
        }
        assert!(lengths.len() > 50, "{} sessions", lengths.len());
        assert!(lengths.iter().all(|n| (5..=50).contains(n)), "{lengths:?}");
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), lengths.len() + 1, "a session id came back");
        assert!(
            ids.iter().all(|id| id.len() <= 62),
            "longer than 60 characters"
        );
    }
}
