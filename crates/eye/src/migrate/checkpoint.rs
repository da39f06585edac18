//! Where an interrupted `eye migrate-data` resumes: a small JSON file in the working
//! directory, named after the pair of stores and holding their URLs, removed once the copy
//! is complete. A checkpoint is trusted only while the target still holds the last rows it
//! records: a target dropped and made again since means starting over.

use std::path::PathBuf;

use eye_server::store::{ErrorQuery, EventQuery, Order, Position, Store};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The tables copied in position order, as named in the checkpoint.
#[derive(Clone, Copy)]
pub enum Part {
    Events,
    Errors,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Events => "events",
            Part::Errors => "errors",
        }
    }
}

pub struct Checkpoint {
    path: PathBuf,
    from: String,
    to: String,
}

impl Checkpoint {
    pub fn for_urls(from: &str, to: &str) -> Checkpoint {
        let digest = Sha256::digest(format!("{from}\n{to}").as_bytes());
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Checkpoint {
            path: PathBuf::from(format!(".eye-migrate-data-{hex}.json")),
            from: from.to_owned(),
            to: to.to_owned(),
        }
    }

    fn read(&self) -> Value {
        std::fs::read(&self.path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or(json!({}))
    }

    /// Keeps the checkpoint only when it was made for these stores and the target still
    /// holds the last row of each part it records; otherwise removes it and says why.
    pub async fn validate(&self, target: &dyn Store) -> anyhow::Result<()> {
        if !self.path.exists() {
            return Ok(());
        }
        let saved = self.read();
        let made_for_these = saved["from"] == self.from.as_str() && saved["to"] == self.to.as_str();
        let mut stale = !made_for_these;
        for part in [Part::Events, Part::Errors] {
            if stale {
                break;
            }
            if let Some(position) = self.position(part) {
                stale = !holds(target, part, position).await?;
            }
        }
        if stale {
            eprintln!(
                "checkpoint {}: the target no longer holds what it records (dropped and made \
                 again?); starting over, which stores nothing twice",
                self.path.display()
            );
            self.finish();
        } else {
            eprintln!("resuming from checkpoint {}", self.path.display());
        }
        Ok(())
    }

    pub fn position(&self, part: Part) -> Option<Position> {
        let saved = self.read();
        let entry = saved.get(part.name())?;
        Some(Position {
            at: entry["at"].as_i64()?,
            id: entry["id"].as_str()?.parse().ok()?,
        })
    }

    pub fn save(&self, part: Part, position: Position) -> anyhow::Result<()> {
        let mut saved = self.read();
        saved["from"] = json!(self.from);
        saved["to"] = json!(self.to);
        saved[part.name()] = json!({"at": position.at, "id": position.id.to_string()});
        let temporary = self.path.with_extension("tmp");
        std::fs::write(&temporary, serde_json::to_vec(&saved)?)?;
        std::fs::rename(&temporary, &self.path)?;
        Ok(())
    }

    pub fn finish(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether `target` holds the row at `position` of `part`.
async fn holds(target: &dyn Store, part: Part, position: Position) -> anyhow::Result<bool> {
    let (from, to) = (Some(position.at), Some(position.at.saturating_add(1)));
    Ok(match part {
        Part::Events => target
            .events(EventQuery {
                from,
                to,
                order: Order::Asc,
                limit: 10_000,
                ..EventQuery::default()
            })
            .await?
            .iter()
            .any(|event| event.id == position.id),
        Part::Errors => target
            .errors(ErrorQuery {
                from,
                to,
                order: Order::Asc,
                limit: 10_000,
                ..ErrorQuery::default()
            })
            .await?
            .iter()
            .any(|error| error.id == position.id),
    })
}
