//! The data team's aggregate answers: counts over time (`GET /v1/stats/events`) and the
//! list of sessions (`GET /v1/sessions`).

use serde::{Deserialize, Serialize};

/// `GET /v1/stats/events`: one series per group, every bucket of the range present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventStats {
    /// `events` (stored events by their timestamp) or `sessions` (sessions by the timestamp
    /// of their first event).
    pub metric: String,
    /// `minute`, `hour` or `day` (UTC).
    pub interval: String,
    /// The start of the first bucket: `from` rounded down to the interval.
    pub from: String,
    /// The end of the last bucket (exclusive): `to` rounded up to the interval.
    pub to: String,
    /// Every series' total added up.
    pub total: u64,
    /// Largest total first; a single series with an empty key when nothing is grouped.
    pub series: Vec<StatsSeries>,
}

/// One group's counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatsSeries {
    /// The value of each `group_by` field, e.g. `{"category": "page interaction", "name":
    /// "pageview"}`; empty when nothing is grouped.
    pub key: StatsKey,
    pub total: u64,
    /// One point per bucket, in time order, zero counts included.
    pub points: Vec<StatsPoint>,
}

/// The fields a series is grouped by; those not grouped by are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatsKey {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// One bucket: its start and its count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatsPoint {
    /// The bucket's start, RFC 3339 in UTC (`2021-01-01T09:00:00Z`).
    pub t: String,
    pub count: u64,
}

/// One session of `GET /v1/sessions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionInfo {
    pub session_id: String,
    pub first_timestamp: String,
    pub last_timestamp: String,
    pub event_count: u64,
    /// Applications that sent events for this session, sorted by name.
    pub apps: Vec<String>,
}

/// One page of `GET /v1/sessions`, by last activity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionList {
    pub sessions: Vec<SessionInfo>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}
