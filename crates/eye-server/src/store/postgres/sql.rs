//! A small builder for queries with a variable number of `$n` parameters.

use tokio_postgres::types::ToSql;

use crate::model::timestamp::{Micros, from_micros};
use crate::store::{Order, Position};

pub struct Sql {
    pub text: String,
    params: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        Sql {
            text: text.to_owned(),
            params: Vec::new(),
        }
    }

    /// Adds a parameter and returns its placeholder.
    pub fn bind<T: ToSql + Sync + Send + 'static>(&mut self, value: T) -> String {
        self.params.push(Box::new(value));
        format!("${}", self.params.len())
    }

    pub fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }

    /// `AND column = $n` for every filter that is set.
    pub fn equalities(&mut self, filters: &[(&str, &Option<String>)]) {
        for (column, filter) in filters {
            if let Some(value) = filter {
                let placeholder = self.bind(value.clone());
                self.text
                    .push_str(&format!(" AND {column} = {placeholder}"));
            }
        }
    }

    /// The time range, keyset position, order and limit (plus one, to tell a next page).
    #[allow(clippy::too_many_arguments)]
    pub fn range_and_page(
        &mut self,
        column: &str,
        from: Option<Micros>,
        to: Option<Micros>,
        order: Order,
        after: Option<Position>,
        limit: usize,
    ) {
        if let Some(from) = from {
            let placeholder = self.bind(at(from));
            self.text
                .push_str(&format!(" AND {column} >= {placeholder}"));
        }
        if let Some(to) = to {
            let placeholder = self.bind(at(to));
            self.text
                .push_str(&format!(" AND {column} < {placeholder}"));
        }
        let (comparison, direction) = match order {
            Order::Asc => (">", "ASC"),
            Order::Desc => ("<", "DESC"),
        };
        if let Some(after) = after {
            let (time, id) = (self.bind(at(after.at)), self.bind(after.id));
            self.text
                .push_str(&format!(" AND ({column}, id) {comparison} ({time}, {id})"));
        }
        let limit = self.bind(limit as i64 + 1);
        self.text.push_str(&format!(
            " ORDER BY {column} {direction}, id {direction} LIMIT {limit}"
        ));
    }
}

/// Microseconds as a `timestamptz` value. Every value here came through validation.
pub fn at(micros: Micros) -> time::OffsetDateTime {
    from_micros(micros).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}
