//! The aggregate queries: event counts over time (`GET /v1/stats/events`) and the list of
//! sessions by last activity (`GET /v1/sessions`), with the paging through all of them.

use eye_types::{EventStats, SessionInfo, SessionList};

use crate::client::Client;
use crate::error::ClientError;

/// Parameters of `GET /v1/stats/events`. Times use the event timestamp forms (RFC 3339 or
/// `2021-01-01 09:15:27`); `from` and `to` are required, so they are given to [`new`].
///
/// [`new`]: StatsQuery::new
#[derive(Debug, Clone)]
pub struct StatsQuery {
    pub from: String,
    pub to: String,
    /// `minute`, `hour` (server default) or `day`.
    pub interval: Option<String>,
    pub app: Option<String>,
    pub category: Option<String>,
    pub name: Option<String>,
    /// One series per distinct value of these fields: any of `app`, `category`, `name`.
    /// Empty: one series of everything.
    pub group_by: Vec<String>,
    /// `events` (server default) or `sessions` (sessions by their first event).
    pub metric: Option<String>,
}

impl StatsQuery {
    pub fn new(from: impl Into<String>, to: impl Into<String>) -> StatsQuery {
        StatsQuery {
            from: from.into(),
            to: to.into(),
            interval: None,
            app: None,
            category: None,
            name: None,
            group_by: Vec::new(),
            metric: None,
        }
    }

    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![("from", self.from.clone()), ("to", self.to.clone())];
        let optional = [
            ("interval", &self.interval),
            ("app", &self.app),
            ("category", &self.category),
            ("name", &self.name),
            ("metric", &self.metric),
        ];
        pairs.extend(
            optional
                .into_iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| (k, v.clone()))),
        );
        if !self.group_by.is_empty() {
            pairs.push(("group_by", self.group_by.join(",")));
        }
        pairs
    }
}

/// Filters of `GET /v1/sessions`.
#[derive(Debug, Clone, Default)]
pub struct SessionListQuery {
    /// Sessions whose activity (first to last event) overlaps `from`..`to`.
    pub from: Option<String>,
    pub to: Option<String>,
    /// Only sessions with events of this application.
    pub app: Option<String>,
    /// Only sessions with at least this many events.
    pub min_events: Option<u64>,
    /// Only sessions with an event of this type, `CATEGORY/NAME` (split at the first `/`).
    pub has_event: Option<String>,
    /// Only sessions with an event sent with this `user_id`: the user's sessions.
    pub user_id: Option<String>,
    /// `desc` (server default: newest last activity first) or `asc`.
    pub order: Option<String>,
    /// Page size, 1 to 1,000 (server default 100).
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

impl SessionListQuery {
    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        let optional = [
            ("from", &self.from),
            ("to", &self.to),
            ("app", &self.app),
            ("has_event", &self.has_event),
            ("user_id", &self.user_id),
            ("order", &self.order),
            ("cursor", &self.cursor),
        ];
        let mut pairs: Vec<_> = optional
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v.clone())))
            .collect();
        pairs.extend(self.min_events.map(|n| ("min_events", n.to_string())));
        pairs.extend(self.limit.map(|n| ("limit", n.to_string())));
        pairs
    }
}

impl Client {
    /// `GET /v1/stats/events`: counts per bucket, one series per group.
    pub async fn event_stats(&self, query: &StatsQuery) -> Result<EventStats, ClientError> {
        self.transport()
            .get("/v1/stats/events", &query.pairs())
            .await
    }

    /// One page of `GET /v1/sessions`; pass its `next_cursor` as `cursor` for the next.
    pub async fn sessions(&self, query: &SessionListQuery) -> Result<SessionList, ClientError> {
        self.transport().get("/v1/sessions", &query.pairs()).await
    }

    /// Every session matching `query`, from its `cursor` on, following `next_cursor` to the
    /// end in pages of `limit` (1,000 when unset).
    pub async fn all_sessions(
        &self,
        query: &SessionListQuery,
    ) -> Result<Vec<SessionInfo>, ClientError> {
        let mut query = query.clone();
        query.limit = Some(query.limit.unwrap_or(1000));
        let mut sessions = Vec::new();
        loop {
            let page = self.sessions(&query).await?;
            sessions.extend(page.sessions);
            let Some(next) = page.next_cursor else {
                return Ok(sessions);
            };
            query.cursor = Some(next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_parameters_leave_out_what_is_unset() {
        let mut query = StatsQuery::new("2021-01-01", "2021-01-02");
        assert_eq!(
            query.pairs(),
            [("from", "2021-01-01".into()), ("to", "2021-01-02".into())]
        );
        query.interval = Some("day".into());
        query.group_by = vec!["category".into(), "name".into()];
        query.metric = Some("sessions".into());
        let pairs = query.pairs();
        assert!(
            pairs.contains(&("group_by", "category,name".into())),
            "{pairs:?}"
        );
        assert!(pairs.contains(&("interval", "day".into())), "{pairs:?}");
        assert!(pairs.contains(&("metric", "sessions".into())), "{pairs:?}");
    }

    #[test]
    fn session_list_parameters_carry_numbers_as_text() {
        let query = SessionListQuery {
            min_events: Some(3),
            has_event: Some("form interaction/submit".into()),
            user_id: Some("u-1".into()),
            limit: Some(10),
            ..SessionListQuery::default()
        };
        assert_eq!(
            query.pairs(),
            [
                ("has_event", "form interaction/submit".into()),
                ("user_id", "u-1".into()),
                ("min_events", "3".into()),
                ("limit", "10".into()),
            ]
        );
    }
}
