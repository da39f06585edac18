//! What the store keeps over time: retention cut-offs, usage, erasure jobs and the
//! deployment's PII secret. The types the `Store` methods for these take and give.

use crate::model::timestamp::Micros;

/// Where expiry starts, for one kind of record (events by timestamp, errors by receive time):
/// a record of application `app` is expired when it is older than `cutoff_for(app)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cutoffs {
    /// For applications without an override; `None` keeps them forever.
    pub default: Option<Micros>,
    /// Applications with their own retention (`None`: kept forever).
    pub per_app: Vec<(String, Option<Micros>)>,
}

impl Cutoffs {
    /// The cut-off in force for `app`.
    pub fn cutoff_for(&self, app: &str) -> Option<Micros> {
        self.per_app
            .iter()
            .find(|(name, _)| name == app)
            .map_or(self.default, |(_, cutoff)| *cutoff)
    }

    /// Whether anything at all can expire.
    pub fn any(&self) -> bool {
        self.default.is_some() || self.per_app.iter().any(|(_, cutoff)| cutoff.is_some())
    }

    /// The earliest time before which every application's records have expired: a whole
    /// range of time (a partition) ending before it holds nothing any application keeps.
    /// `None` when some application keeps its records forever.
    pub fn all_expired_before(&self) -> Option<Micros> {
        let mut earliest = self.default?;
        for (_, cutoff) in &self.per_app {
            earliest = earliest.min((*cutoff)?);
        }
        Some(earliest)
    }
}

/// How much the store holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreUsage {
    /// Bytes on disk (SQLite: the database file with its log; PostgreSQL: The Eye's tables
    /// with their indexes).
    pub bytes: u64,
    pub events: u64,
    pub errors: u64,
    pub oldest_event: Option<Micros>,
    pub newest_event: Option<Micros>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErasureStatus {
    Pending,
    Running,
    Done,
    Failed,
}

impl ErasureStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ErasureStatus::Pending => "pending",
            ErasureStatus::Running => "running",
            ErasureStatus::Done => "done",
            ErasureStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<ErasureStatus> {
        [
            ErasureStatus::Pending,
            ErasureStatus::Running,
            ErasureStatus::Done,
            ErasureStatus::Failed,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

/// What `POST /v1/erasures` asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct ErasureRequest {
    pub session_ids: Vec<String>,
    /// Only this application's data of those sessions; `None`: every application's.
    pub app: Option<String>,
    /// Also drop (answering `accepted`) every later event of those sessions.
    pub suppress: bool,
    /// The id of the key that asked (never its secret).
    pub requested_by: String,
}

/// An erasure job: the request, its progress, and once done what it removed. The record
/// stays; the erased data never does.
#[derive(Debug, Clone, PartialEq)]
pub struct Erasure {
    pub id: String,
    pub request: ErasureRequest,
    pub status: ErasureStatus,
    pub requested_at: Micros,
    pub completed_at: Option<Micros>,
    pub events_deleted: u64,
    pub errors_deleted: u64,
    /// Why a `failed` job failed.
    pub failure: Option<String>,
}

/// A session whose later events are dropped at ingest (`suppress`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Suppression {
    pub session_id: String,
    /// Only this application's events; `None`: every application's.
    pub app: Option<String>,
}
