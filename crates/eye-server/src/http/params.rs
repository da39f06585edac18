//! Query-string parameters, checked strictly: unknown or repeated names, empty filters, bad
//! times, limits and cursors are all 400 `invalid_parameter` naming the parameter.

use std::borrow::Cow;
use std::collections::HashMap;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Object, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use super::api_error::ApiError;
use super::cursor;
use crate::ingest::validation::{MAX_NAME_CHARS, check_identifier, parse_query_timestamp};
use crate::model::timestamp::Micros;
use crate::store::{Order, Position};

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

/// `limit` as the OpenAPI document states it.
pub struct PageLimit;

impl PartialSchema for PageLimit {
    fn schema() -> RefOr<Schema> {
        Object::builder()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(MAX_LIMIT as u64))
            .description(Some(format!(
                "Page size, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})"
            )))
            .into()
    }
}

impl ToSchema for PageLimit {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("PageLimit")
    }
}

/// The order of a page: by time (the event's timestamp, or an error's receive time), then id.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum SortOrder {
    Asc,
    Desc,
}

pub struct Params(HashMap<String, String>);

impl Params {
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Params, ApiError> {
        let mut map = HashMap::new();
        for (name, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            if !allowed.contains(&name.as_ref()) {
                let allowed = allowed.join(", ");
                return Err(ApiError::invalid_parameter(
                    &name,
                    format!("unknown parameter; this route accepts {allowed}"),
                ));
            }
            if map.insert(name.to_string(), value.into_owned()).is_some() {
                return Err(ApiError::invalid_parameter(&name, "given more than once"));
            }
        }
        Ok(Params(map))
    }

    /// A filter on an identifier (session, category, name, app, code).
    pub fn identifier(&self, name: &str) -> Result<Option<String>, ApiError> {
        let Some(value) = self.0.get(name) else {
            return Ok(None);
        };
        check_identifier(value, MAX_NAME_CHARS)
            .map_err(|problem| ApiError::invalid_parameter(name, problem))?;
        Ok(Some(value.clone()))
    }

    pub fn time(&self, name: &str) -> Result<Option<Micros>, ApiError> {
        let Some(value) = self.0.get(name) else {
            return Ok(None);
        };
        parse_query_timestamp(value).map(Some).ok_or_else(|| {
            ApiError::invalid_parameter(
                name,
                format!("{value:?} is not a timestamp: use RFC 3339 (2021-01-01T09:15:27Z) or 2021-01-01 09:15:27"),
            )
        })
    }

    /// `from` and `to`, each optional, refused when both are given and `from` is not before
    /// `to` (a range is from inclusive to exclusive).
    pub fn range(&self) -> Result<(Option<Micros>, Option<Micros>), ApiError> {
        let (from, to) = (self.time("from")?, self.time("to")?);
        if let (Some(from), Some(to)) = (from, to)
            && from >= to
        {
            return Err(ApiError::invalid_parameter(
                "to",
                "must be later than from (the range is from inclusive to exclusive)",
            ));
        }
        Ok((from, to))
    }

    /// A parameter's value as given, for those checked against a list of words.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn integer(&self, name: &str) -> Result<Option<i64>, ApiError> {
        let Some(value) = self.0.get(name) else {
            return Ok(None);
        };
        value
            .parse()
            .map(Some)
            .map_err(|_| ApiError::invalid_parameter(name, format!("{value:?} is not an integer")))
    }

    pub fn limit(&self) -> Result<usize, ApiError> {
        let Some(value) = self.0.get("limit") else {
            return Ok(DEFAULT_LIMIT);
        };
        match value.parse::<usize>() {
            Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
            _ => Err(ApiError::invalid_parameter(
                "limit",
                format!("{value:?} is not a whole number from 1 to {MAX_LIMIT}"),
            )),
        }
    }

    pub fn order(&self, default: Order) -> Result<Order, ApiError> {
        match self.0.get("order").map(String::as_str) {
            None => Ok(default),
            Some("asc") => Ok(Order::Asc),
            Some("desc") => Ok(Order::Desc),
            Some(other) => Err(ApiError::invalid_parameter(
                "order",
                format!("{other:?} is neither asc nor desc"),
            )),
        }
    }

    /// The keyset position of `cursor`; an empty value means the first page.
    pub fn cursor(&self) -> Result<Option<Position>, ApiError> {
        match self.0.get("cursor").map(String::as_str) {
            None | Some("") => Ok(None),
            Some(text) => cursor::decode(text).map(Some).ok_or_else(|| {
                ApiError::invalid_parameter(
                    "cursor",
                    "not a cursor this server issued; pass `next_cursor` unchanged",
                )
            }),
        }
    }
}
