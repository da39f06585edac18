//! Monthly range partitions of `events`, created before any write needs them (and a few
//! months ahead at start-up), so old months can be detached or dropped one at a time.

use std::collections::HashSet;
use std::sync::Mutex;

use deadpool_postgres::Object;
use time::{Date, Month, OffsetDateTime};

use super::migrations::DDL_LOCK;
use crate::model::timestamp::{Micros, from_micros};

/// Months known to have a partition, so the common case costs no round trip.
#[derive(Default)]
pub struct Partitions {
    known: Mutex<HashSet<(i32, u8)>>,
}

pub fn month_of(micros: Micros) -> (i32, u8) {
    let at = from_micros(micros).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    (at.year(), at.month() as u8)
}

pub fn next_month((year, month): (i32, u8)) -> (i32, u8) {
    if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    }
}

/// The first instant of a month.
pub fn start_of((year, month): (i32, u8)) -> Micros {
    let month = Month::try_from(month).unwrap_or(Month::January);
    let date = Date::from_calendar_date(year, month, 1).unwrap_or(Date::MIN);
    crate::model::timestamp::to_micros(date.midnight().assume_utc())
}

fn first_day((year, month): (i32, u8)) -> String {
    let month = Month::try_from(month).unwrap_or(Month::January);
    let date = Date::from_calendar_date(year, month, 1).unwrap_or(Date::MIN);
    format!("{date} 00:00:00+00")
}

/// `events_y2021m01`; years before 0 cannot be parsed by the validator, so no sign is needed.
pub fn partition_name((year, month): (i32, u8)) -> String {
    format!("events_y{year:04}m{month:02}")
}

/// The month of a partition named by [`partition_name`]; `None` for any other name.
pub fn month_of_partition(name: &str) -> Option<(i32, u8)> {
    let rest = name.strip_prefix("events_y")?;
    let (year, month) = rest.split_once('m')?;
    let (year, month) = (year.parse().ok()?, month.parse().ok()?);
    (partition_name((year, month)) == name && (1..=12).contains(&month)).then_some((year, month))
}

/// Whether PostgreSQL refused a row because no partition holds its month: a partition this
/// process thought it had was dropped (by retention, possibly on another node).
pub fn is_missing_partition(error: &tokio_postgres::Error) -> bool {
    error.as_db_error().is_some_and(|db| {
        *db.code() == tokio_postgres::error::SqlState::CHECK_VIOLATION
            && db.message().starts_with("no partition of relation")
    })
}

impl Partitions {
    /// Makes sure each month of `months` has its partition.
    pub async fn ensure(
        &self,
        client: &mut Object,
        months: impl IntoIterator<Item = (i32, u8)>,
    ) -> Result<(), tokio_postgres::Error> {
        let missing: Vec<(i32, u8)> = {
            let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
            let mut missing: Vec<_> = months.into_iter().filter(|m| !known.contains(m)).collect();
            missing.sort_unstable();
            missing.dedup();
            missing
        };
        if missing.is_empty() {
            return Ok(());
        }
        let transaction = client.transaction().await?;
        transaction
            .execute("SELECT pg_advisory_xact_lock($1)", &[&DDL_LOCK])
            .await?;
        for month in &missing {
            let sql = format!(
                "CREATE TABLE IF NOT EXISTS {} PARTITION OF events FOR VALUES FROM ('{}') TO ('{}')",
                partition_name(*month),
                first_day(*month),
                first_day(next_month(*month))
            );
            transaction.batch_execute(&sql).await?;
        }
        transaction.commit().await?;
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(missing);
        Ok(())
    }

    /// Forgets that `months` have partitions (they were dropped), so that a later event of
    /// one of them creates it again.
    pub fn forget(&self, months: impl IntoIterator<Item = (i32, u8)>) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        for month in months {
            known.remove(&month);
        }
    }

    /// The current month and the next `ahead` ones.
    pub async fn ensure_ahead(
        &self,
        client: &mut Object,
        ahead: usize,
    ) -> Result<(), tokio_postgres::Error> {
        let mut month = month_of(crate::model::timestamp::now_micros());
        let mut months = vec![month];
        for _ in 0..ahead {
            month = next_month(month);
            months.push(month);
        }
        self.ensure(client, months).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_roll_over_the_year() {
        assert_eq!(next_month((2021, 12)), (2022, 1));
        assert_eq!(first_day((2021, 2)), "2021-02-01 00:00:00+00");
        assert_eq!(partition_name((2021, 2)), "events_y2021m02");
        assert_eq!(month_of(1_609_459_200_000_000), (2021, 1));
        assert_eq!(start_of((2021, 1)), 1_609_459_200_000_000);
    }

    #[test]
    fn partition_names_give_their_month_back() {
        assert_eq!(month_of_partition("events_y2021m02"), Some((2021, 2)));
        for other in [
            "events",
            "events_y2021m13",
            "events_y2021m2",
            "event_keys",
            "events_y21m02",
        ] {
            assert_eq!(month_of_partition(other), None, "{other}");
        }
    }
}
