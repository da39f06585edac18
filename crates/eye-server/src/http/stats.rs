//! Counts over time: `GET /v1/stats/events`, answered from the counts the worker keeps
//! beside the events (`store::rollup`), with every bucket of the range present.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{RawQuery, State};
use eye_types::schema::{Identifier, QueryTimestamp};
use eye_types::{EventStats, StatsKey, StatsPoint, StatsSeries};

use super::AppState;
use super::api_error::ApiError;
use super::auth::{Authorized, QueryScope};
use super::params::Params;
use crate::model::timestamp::{Micros, format_whole_seconds, from_micros};
use crate::store::{CountQuery, GroupBy, Interval};

pub(crate) const STATS_PARAMS: &[&str] = &[
    "from", "to", "interval", "metric", "app", "category", "name", "group_by",
];

/// Points (buckets × series) one answer may hold.
pub const MAX_POINTS: usize = 10_000;

/// `group_by` as the OpenAPI document states it: every order of every non-empty subset of
/// the three fields, none twice.
pub struct GroupByFields;

impl utoipa::PartialSchema for GroupByFields {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let fields = ["app", "category", "name"];
        let mut orders: Vec<String> = Vec::new();
        for a in fields {
            orders.push(a.to_owned());
            for b in fields.iter().filter(|b| **b != a) {
                orders.push(format!("{a},{b}"));
                for c in fields.iter().filter(|c| **c != a && *c != b) {
                    orders.push(format!("{a},{b},{c}"));
                }
            }
        }
        utoipa::openapi::schema::Object::builder()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(format!("^(?:{})$", orders.join("|"))))
            .description(Some(
                "Comma-separated, any of `app`, `category`, `name`, each at most once",
            ))
            .into()
    }
}

impl utoipa::ToSchema for GroupByFields {}

/// `interval` as the OpenAPI document states it.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[expect(dead_code, reason = "documentation only: the handler reads the text")]
pub enum StatsInterval {
    Minute,
    Hour,
    Day,
}

/// `metric` as the OpenAPI document states it.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[expect(dead_code, reason = "documentation only: the handler reads the text")]
pub enum StatsMetric {
    Events,
    Sessions,
}

#[utoipa::path(
    get, path = "/v1/stats/events", tag = "query",
    security(("bearer" = [])),
    params(
        ("from" = QueryTimestamp, Query, description = "Event time from (inclusive), rounded down to the interval"),
        ("to" = QueryTimestamp, Query, description = "Event time to (exclusive), rounded up to the interval"),
        ("interval" = Option<StatsInterval>, Query, description = "Bucket width, UTC: `minute`, `hour` (the default) or `day`"),
        ("metric" = Option<StatsMetric>, Query, description = "`events` (the default): stored events by their timestamp; `sessions`: sessions by the timestamp of their first event (no filter or group_by)"),
        ("app" = Option<Identifier>, Query, description = "Only events of this application"),
        ("category" = Option<Identifier>, Query, description = "Only events of this category"),
        ("name" = Option<Identifier>, Query, description = "Only events of this name"),
        ("group_by" = Option<GroupByFields>, Query, description = "Comma-separated, any of `app`, `category`, `name`, each at most once: one series per group"),
    ),
    responses(
        (status = 200, description = "One series per group (largest total first), every bucket present, zero counts included", body = eye_types::EventStats),
        (status = 400, description = "`invalid_parameter`: the message names the parameter and what is allowed (also when the answer would hold more than 10,000 points)", body = eye_types::ErrorBody),
        super::openapi::KeyedRouteErrors,
    )
)]
pub async fn event_stats(
    State(state): State<AppState>,
    _: Authorized<QueryScope>,
    RawQuery(raw): RawQuery,
) -> Result<Json<EventStats>, ApiError> {
    let params = Params::parse(raw.as_deref(), STATS_PARAMS)?;
    let interval = interval(&params)?;
    let (from, to) = range(&params, interval)?;
    let buckets = ((to - from) / interval.micros()) as usize;
    if buckets > MAX_POINTS {
        return Err(ApiError::invalid_parameter(
            "interval",
            format!(
                "{} to {} by {} is {buckets} buckets, over the limit of {MAX_POINTS} points per \
                 answer: narrow the range or use a wider interval",
                format_whole_seconds(from),
                format_whole_seconds(to),
                interval.as_str()
            ),
        ));
    }
    let filters = [
        ("app", params.identifier("app")?),
        ("category", params.identifier("category")?),
        ("name", params.identifier("name")?),
    ];
    let group_by = group_by(&params)?;
    let metric = params.text("metric").unwrap_or("events");
    let series = match metric {
        "events" => {
            let [(_, app), (_, category), (_, name)] = filters;
            let rows = state
                .store
                .event_counts(CountQuery {
                    interval,
                    from,
                    to,
                    app,
                    category,
                    name,
                    group_by,
                })
                .await?;
            let mut groups: BTreeMap<StatsKey, Vec<u64>> = BTreeMap::new();
            for row in rows {
                let key = StatsKey {
                    app: row.app,
                    category: row.category,
                    name: row.name,
                };
                let counts = groups.entry(key).or_insert_with(|| vec![0; buckets]);
                add(counts, row.bucket, from, interval, row.count);
            }
            if group_by == GroupBy::default() {
                groups
                    .entry(StatsKey::default())
                    .or_insert_with(|| vec![0; buckets]);
            }
            if groups.len().saturating_mul(buckets) > MAX_POINTS {
                return Err(ApiError::invalid_parameter(
                    "group_by",
                    format!(
                        "{} series of {buckets} buckets is over the limit of {MAX_POINTS} points \
                         per answer: group by fewer fields, filter by app, category or name, \
                         narrow the range or use a wider interval",
                        groups.len()
                    ),
                ));
            }
            groups.into_iter().collect::<Vec<_>>()
        }
        "sessions" => {
            if let Some((parameter, _)) = filters.iter().find(|(_, value)| value.is_some()) {
                return Err(sessions_take_no(parameter));
            }
            if group_by != GroupBy::default() {
                return Err(sessions_take_no("group_by"));
            }
            let mut counts = vec![0; buckets];
            for (bucket, count) in state.store.session_starts(interval, from, to).await? {
                add(&mut counts, bucket, from, interval, count);
            }
            vec![(StatsKey::default(), counts)]
        }
        other => {
            return Err(ApiError::invalid_parameter(
                "metric",
                format!("{other:?} is not a metric: use events or sessions"),
            ));
        }
    };
    // Each bucket's time is formatted once, however many series share it.
    let times: Vec<String> = (0..buckets)
        .map(|index| format_whole_seconds(from + index as i64 * interval.micros()))
        .collect();
    let mut series: Vec<StatsSeries> = series
        .into_iter()
        .map(|(key, counts)| StatsSeries {
            key,
            total: counts.iter().sum(),
            points: counts
                .iter()
                .zip(&times)
                .map(|(count, t)| StatsPoint {
                    t: t.clone(),
                    count: *count,
                })
                .collect(),
        })
        .collect();
    // Largest first; equal totals in key order (the map's), so the answer is stable.
    series.sort_by_key(|s| std::cmp::Reverse(s.total));
    Ok(Json(EventStats {
        metric: metric.to_owned(),
        interval: interval.as_str().to_owned(),
        from: format_whole_seconds(from),
        to: format_whole_seconds(to),
        total: series.iter().map(|s| s.total).sum(),
        series,
    }))
}

fn interval(params: &Params) -> Result<Interval, ApiError> {
    match params.text("interval") {
        None => Ok(Interval::Hour),
        Some(text) => Interval::parse(text).ok_or_else(|| {
            ApiError::invalid_parameter(
                "interval",
                format!("{text:?} is not an interval: use minute, hour or day"),
            )
        }),
    }
}

/// `from` and `to`, both required, rounded outwards to whole buckets.
fn range(params: &Params, interval: Interval) -> Result<(Micros, Micros), ApiError> {
    let missing = |name: &str| {
        ApiError::invalid_parameter(
            name,
            "is required: give the range as from and to (RFC 3339 or 2021-01-01 09:15:27)",
        )
    };
    let (from, to) = params.range()?;
    let from = from.ok_or_else(|| missing("from"))?;
    let to = to.ok_or_else(|| missing("to"))?;
    let (from, to) = (interval.floor(from), interval.ceil(to));
    if from_micros(to).is_none_or(|end| end.year() > 9999) {
        return Err(ApiError::invalid_parameter(
            "to",
            "rounded up to the interval, it passes the end of year 9999: give an earlier to",
        ));
    }
    Ok((from, to))
}

fn group_by(params: &Params) -> Result<GroupBy, ApiError> {
    let mut group_by = GroupBy::default();
    let Some(text) = params.text("group_by") else {
        return Ok(group_by);
    };
    for field in text.split(',') {
        let slot = match field {
            "app" => &mut group_by.app,
            "category" => &mut group_by.category,
            "name" => &mut group_by.name,
            other => {
                return Err(ApiError::invalid_parameter(
                    "group_by",
                    format!(
                        "{other:?} cannot be grouped by: use any of app, category, name, \
                         comma-separated"
                    ),
                ));
            }
        };
        if std::mem::replace(slot, true) {
            return Err(ApiError::invalid_parameter(
                "group_by",
                format!("{field:?} is given more than once"),
            ));
        }
    }
    Ok(group_by)
}

fn sessions_take_no(parameter: &str) -> ApiError {
    ApiError::invalid_parameter(
        parameter,
        "metric=sessions counts every session by its first event, and takes no app, category, \
         name or group_by: leave it out, or use metric=events",
    )
}

/// Adds `count` to its bucket (the store answers only buckets of the range).
fn add(counts: &mut [u64], bucket: Micros, from: Micros, interval: Interval, count: u64) {
    let index = (bucket - from).div_euclid(interval.micros());
    if let Some(slot) = usize::try_from(index).ok().and_then(|i| counts.get_mut(i)) {
        *slot += count;
    }
}
