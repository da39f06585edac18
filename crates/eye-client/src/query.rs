//! Filters of the query API, as query-string pairs.

/// Filters of `GET /v1/events`. Times use the event timestamp forms (RFC 3339 or
/// `2021-01-01 09:15:27`).
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub session_id: Option<String>,
    /// Only events sent with this `user_id`.
    pub user_id: Option<String>,
    pub category: Option<String>,
    pub name: Option<String>,
    pub app: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// `asc` (default) or `desc`.
    pub order: Option<String>,
    /// Page size, 1 to 1,000 (server default 100).
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

impl EventFilter {
    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        set_pairs(
            &[
                ("session_id", &self.session_id),
                ("user_id", &self.user_id),
                ("category", &self.category),
                ("name", &self.name),
                ("app", &self.app),
                ("from", &self.from),
                ("to", &self.to),
                ("order", &self.order),
                ("cursor", &self.cursor),
            ],
            self.limit,
        )
    }
}

/// Filters of `GET /v1/errors`; times apply to the receive time.
#[derive(Debug, Clone, Default)]
pub struct ErrorFilter {
    pub code: Option<String>,
    pub app: Option<String>,
    pub category: Option<String>,
    pub name: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// `desc` (default, newest first) or `asc`.
    pub order: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

impl ErrorFilter {
    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        set_pairs(
            &[
                ("code", &self.code),
                ("app", &self.app),
                ("category", &self.category),
                ("name", &self.name),
                ("from", &self.from),
                ("to", &self.to),
                ("order", &self.order),
                ("cursor", &self.cursor),
            ],
            self.limit,
        )
    }
}

/// The filters that are set, and the limit when there is one.
fn set_pairs(
    fields: &[(&'static str, &Option<String>)],
    limit: Option<usize>,
) -> Vec<(&'static str, String)> {
    let mut pairs: Vec<_> = fields
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (*k, v.clone())))
        .collect();
    pairs.extend(limit.map(|limit| ("limit", limit.to_string())));
    pairs
}
