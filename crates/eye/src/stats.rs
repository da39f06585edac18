//! `eye stats`: counts per minute, hour or day from `GET /v1/stats/events`. A table on a
//! terminal (one column per series when there are few, else one row per series and
//! bucket), the server's `EventStats` object as one JSON line when piped.

use clap::Args;
use eye_client::{EventStats, StatsKey, StatsQuery};
use unicode_width::UnicodeWidthStr;

use crate::cli::{Format, Remote};
use crate::output::{self, json_line};
use crate::remote::{explain, query_client};

/// Up to this many series, each gets a column; more are listed one row per bucket.
const MAX_SERIES_COLUMNS: usize = 4;

/// Past this many buckets, a table leaves out the buckets without any count.
const MAX_EMPTY_ROWS: usize = 48;

#[derive(Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// Event timestamp from (inclusive): RFC 3339, `2021-01-01 09:15:27`, or a date alone
    /// (its midnight UTC). The first bucket starts at it, rounded down to the interval.
    #[arg(long, value_parser = crate::time_bound::parse)]
    pub from: String,
    /// Event timestamp to (exclusive), in the same forms as `--from`.
    #[arg(long, value_parser = crate::time_bound::parse)]
    pub to: String,
    /// The length of a bucket (UTC). An answer holds at most 10,000 counts (buckets times
    /// series).
    #[arg(long, value_enum, default_value_t = Interval::Hour)]
    pub interval: Interval,
    /// One series per distinct value of these fields (comma-separated or repeated);
    /// without it, one series of everything.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub group_by: Vec<Field>,
    /// What to count. `sessions` counts every session, by its first event: it takes no
    /// --app, --category, --name or --group-by.
    #[arg(long, value_enum, default_value_t = Metric::Events)]
    pub metric: Metric,
    /// Only events sent by this application.
    #[arg(long)]
    pub app: Option<String>,
    /// Only events of this category (e.g. "page interaction").
    #[arg(long)]
    pub category: Option<String>,
    /// Only events of this name (e.g. "pageview").
    #[arg(long)]
    pub name: Option<String>,
    /// `table` (one row per bucket, one column per series when there are at most four, and
    /// past 48 buckets only those with a count; else one row per series and bucket with a
    /// count; the default on a terminal) or `json` (the server's answer, every bucket, as
    /// one JSON object; the default when piped).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Interval {
    Minute,
    Hour,
    Day,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Field {
    App,
    Category,
    Name,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Metric {
    /// Stored events, by their timestamp.
    Events,
    /// Sessions, by the timestamp of their first event.
    Sessions,
}

impl Interval {
    fn as_str(self) -> &'static str {
        match self {
            Interval::Minute => "minute",
            Interval::Hour => "hour",
            Interval::Day => "day",
        }
    }
}

impl Field {
    fn as_str(self) -> &'static str {
        match self {
            Field::App => "app",
            Field::Category => "category",
            Field::Name => "name",
        }
    }
}

impl Metric {
    fn as_str(self) -> &'static str {
        match self {
            Metric::Events => "events",
            Metric::Sessions => "sessions",
        }
    }
}

pub async fn stats(args: StatsArgs) -> anyhow::Result<()> {
    let client = query_client(&args.remote)?;
    let query = StatsQuery {
        interval: Some(args.interval.as_str().to_owned()),
        app: args.app,
        category: args.category,
        name: args.name,
        group_by: args
            .group_by
            .iter()
            .map(|field| field.as_str().to_owned())
            .collect(),
        metric: Some(args.metric.as_str().to_owned()),
        ..StatsQuery::new(args.from, args.to)
    };
    let stats = client.event_stats(&query).await.map_err(explain)?;
    match output::resolve(args.format) {
        Format::Json => json_line(&stats),
        Format::Table => {
            for line in table(&stats) {
                println!("{line}");
            }
            Ok(())
        }
    }
}

/// The title line, then the counts: by bucket with a column per series when there are few,
/// else by series and bucket, buckets without any left out.
fn table(stats: &EventStats) -> Vec<String> {
    let mut lines = vec![format!(
        "{} {} from {} to {}, per {} (UTC)",
        stats.total,
        what(stats),
        stats.from,
        stats.to,
        stats.interval
    )];
    let layout = match stats.series.len() {
        0 => return lines,
        1..=MAX_SERIES_COLUMNS => by_bucket(stats),
        _ => by_series(stats),
    };
    lines.extend(render(&layout.header, &layout.rows));
    lines.extend(layout.note);
    lines
}

/// A table's columns and rows, and a line saying what was left out, if anything.
struct Layout {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    note: Option<String>,
}

const ALL_IN_JSON: &str = "(--format json has them all)";

/// `events`, or `sessions (by first event)`.
fn what(stats: &EventStats) -> &'static str {
    if stats.metric == "sessions" {
        "sessions (by first event)"
    } else {
        "events"
    }
}

/// One row per bucket, a column per series, and a total row (and column, for several).
/// Past [`MAX_EMPTY_ROWS`] buckets, those where every count is zero are left out.
fn by_bucket(stats: &EventStats) -> Layout {
    let buckets = stats.series[0].points.len();
    let keep_empty = buckets <= MAX_EMPTY_ROWS;
    let several = stats.series.len() > 1;
    let mut header = vec!["BUCKET".to_owned()];
    header.extend(
        stats
            .series
            .iter()
            .map(|series| label(&series.key).unwrap_or_else(|| stats.metric.to_uppercase())),
    );
    if several {
        header.push("TOTAL".to_owned());
    }
    let starts = stats.series[0].points.iter().map(|point| &point.t);
    let mut rows: Vec<Vec<String>> = starts
        .enumerate()
        .filter_map(|(index, t)| {
            let counts: Vec<u64> = stats
                .series
                .iter()
                .map(|series| series.points.get(index).map_or(0, |point| point.count))
                .collect();
            let sum: u64 = counts.iter().sum();
            if sum == 0 && !keep_empty {
                return None;
            }
            let mut row = vec![bucket(t, &stats.interval)];
            row.extend(counts.iter().map(u64::to_string));
            if several {
                row.push(sum.to_string());
            }
            Some(row)
        })
        .collect();
    let note = (rows.len() < buckets).then(|| {
        let left_out = buckets - rows.len();
        format!("{left_out} of {buckets} buckets have none and are left out {ALL_IN_JSON}")
    });
    let mut totals = vec!["total".to_owned()];
    totals.extend(stats.series.iter().map(|series| series.total.to_string()));
    if several {
        totals.push(stats.total.to_string());
    }
    rows.push(totals);
    Layout { header, rows, note }
}

/// One row per series and bucket with a count, series by total (as the server orders them).
fn by_series(stats: &EventStats) -> Layout {
    let header = ["SERIES", "BUCKET", "COUNT"].map(str::to_owned).to_vec();
    let rows = stats
        .series
        .iter()
        .flat_map(|series| {
            let name = label(&series.key).unwrap_or_else(|| "-".to_owned());
            series
                .points
                .iter()
                .filter(|point| point.count > 0)
                .map(move |point| {
                    vec![
                        name.clone(),
                        bucket(&point.t, &stats.interval),
                        point.count.to_string(),
                    ]
                })
        })
        .collect();
    let note = format!(
        "{} series, largest first; buckets with none are left out {ALL_IN_JSON}",
        stats.series.len()
    );
    Layout {
        header,
        rows,
        note: Some(note),
    }
}

/// The grouped values, `app / category / name`; `None` when nothing is grouped.
fn label(key: &StatsKey) -> Option<String> {
    let parts: Vec<&str> = [&key.app, &key.category, &key.name]
        .into_iter()
        .filter_map(|part| part.as_deref())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" / "))
}

/// A bucket's start as people read it: `2021-01-01` for days, `2021-01-01 09:00` otherwise;
/// anything not in the server's form is shown as it came.
fn bucket(t: &str, interval: &str) -> String {
    let shaped = t.len() == 20 && t.is_ascii() && t.as_bytes()[10] == b'T' && t.ends_with(":00Z");
    match (shaped, interval) {
        (true, "day") => t[..10].to_owned(),
        (true, _) => format!("{} {}", &t[..10], &t[11..16]),
        (false, _) => t.to_owned(),
    }
}

/// Aligned columns: the first left-aligned, the counts right-aligned. A label is never cut.
fn render(header: &[String], rows: &[Vec<String>]) -> Vec<String> {
    let mut widths: Vec<usize> = header.iter().map(|title| title.width()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.width());
        }
    }
    let counts_from = if header[0] == "SERIES" { 2 } else { 1 };
    std::iter::once(header)
        .chain(rows.iter().map(Vec::as_slice))
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(index, (cell, width))| {
                    let pad = " ".repeat(width.saturating_sub(cell.width()));
                    if index >= counts_from {
                        format!("{pad}{cell}")
                    } else {
                        format!("{cell}{pad}")
                    }
                })
                .collect();
            cells.join("  ").trim_end().to_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use eye_client::{StatsPoint, StatsSeries};

    fn series(category: Option<&str>, counts: &[u64]) -> StatsSeries {
        StatsSeries {
            key: StatsKey {
                category: category.map(str::to_owned),
                name: category.map(|_| "pageview".to_owned()),
                ..StatsKey::default()
            },
            total: counts.iter().sum(),
            points: counts
                .iter()
                .enumerate()
                .map(|(hour, count)| StatsPoint {
                    t: format!("2021-01-01T{hour:02}:00:00Z"),
                    count: *count,
                })
                .collect(),
        }
    }

    fn stats(series: Vec<StatsSeries>) -> EventStats {
        EventStats {
            metric: "events".into(),
            interval: "hour".into(),
            from: "2021-01-01T00:00:00Z".into(),
            to: "2021-01-01T03:00:00Z".into(),
            total: series.iter().map(|s| s.total).sum(),
            series,
        }
    }

    #[test]
    fn few_series_are_columns_with_totals() {
        let lines = table(&stats(vec![
            series(Some("page interaction"), &[3, 0, 12]),
            series(Some("form"), &[1, 2, 0]),
        ]));
        assert_eq!(
            lines,
            [
                "18 events from 2021-01-01T00:00:00Z to 2021-01-01T03:00:00Z, per hour (UTC)",
                "BUCKET            page interaction / pageview  form / pageview  TOTAL",
                "2021-01-01 00:00                            3                1      4",
                "2021-01-01 01:00                            0                2      2",
                "2021-01-01 02:00                           12                0     12",
                "total                                      15                3     18",
            ]
        );
    }

    #[test]
    fn one_ungrouped_series_is_one_column_named_by_the_metric() {
        let lines = table(&stats(vec![series(None, &[5, 1, 0])]));
        assert_eq!(lines[1], "BUCKET            EVENTS");
        assert_eq!(lines[2], "2021-01-01 00:00       5");
        assert_eq!(lines[5], "total                  6");
    }

    #[test]
    fn many_series_are_rows_without_empty_buckets() {
        let names = ["a", "b", "c", "d", "e"];
        let all: Vec<StatsSeries> = names
            .iter()
            .map(|name| series(Some(name), &[0, 7, 0]))
            .collect();
        let lines = table(&stats(all));
        assert_eq!(lines[1], "SERIES        BUCKET            COUNT");
        assert_eq!(lines[2], "a / pageview  2021-01-01 01:00      7");
        assert_eq!(lines.len(), 1 + 1 + 5 + 1, "{lines:#?}");
        assert!(lines[7].starts_with("5 series"), "{lines:#?}");
    }

    #[test]
    fn long_ranges_leave_out_empty_buckets() {
        let mut counts = vec![0; 60];
        counts[3] = 2;
        counts[50] = 1;
        let mut minutes = stats(vec![series(None, &counts)]);
        for (minute, point) in minutes.series[0].points.iter_mut().enumerate() {
            point.t = format!("2021-01-01T09:{minute:02}:00Z");
        }
        minutes.interval = "minute".into();
        let lines = table(&minutes);
        assert_eq!(
            lines[2..],
            [
                "2021-01-01 09:03       2",
                "2021-01-01 09:50       1",
                "total                  3",
                "58 of 60 buckets have none and are left out (--format json has them all)",
            ]
        );
    }

    #[test]
    fn nothing_matched_is_the_title_alone() {
        assert_eq!(
            table(&stats(Vec::new())),
            ["0 events from 2021-01-01T00:00:00Z to 2021-01-01T03:00:00Z, per hour (UTC)"]
        );
    }

    #[test]
    fn buckets_read_as_dates_and_minutes() {
        assert_eq!(bucket("2021-01-01T00:00:00Z", "day"), "2021-01-01");
        assert_eq!(bucket("2021-01-01T09:15:00Z", "minute"), "2021-01-01 09:15");
        assert_eq!(
            bucket("2021-01-01T09:15:00+01:00", "hour"),
            "2021-01-01T09:15:00+01:00"
        );
    }
}
