//! A small builder for queries with a variable number of `$n` parameters; the filters and
//! pages of both SQL stores write into it through [`Statement`].

use tokio_postgres::types::ToSql;

use crate::model::timestamp::{Micros, from_micros};
use crate::store::select::{Bound, Statement};

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
}

impl Statement for Sql {
    fn push(&mut self, text: &str) {
        self.text.push_str(text);
    }

    fn bind(&mut self, value: Bound) -> String {
        match value {
            Bound::Text(text) => Sql::bind(self, text),
            Bound::Time(micros) => Sql::bind(self, at(micros)),
            Bound::Id(id) => Sql::bind(self, id),
            Bound::Count(count) => Sql::bind(self, count),
        }
    }
}

/// Microseconds as a `timestamptz` value. Every value here came through validation.
pub fn at(micros: Micros) -> time::OffsetDateTime {
    from_micros(micros).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}
