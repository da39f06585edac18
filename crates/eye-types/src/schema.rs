//! Named schemas of the OpenAPI document for values whose rules go beyond their JSON type:
//! identifiers, timestamps, event data, JSON Schemas, scopes and the shapes of an ingest
//! body. Each says exactly what the server accepts; the server's tests hold it to that.

use utoipa::openapi::schema::{
    AdditionalProperties, AnyOf, Array, Object, OneOf, Schema, SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::Event;

/// Longest session id, category, name, application or error code, in characters.
pub const MAX_IDENTIFIER_CHARS: usize = 128;
/// Longest `event_id`, in characters.
pub const MAX_EVENT_ID_CHARS: usize = 64;
/// Most events in one request body by default (the server's `max_batch_events`).
pub const DEFAULT_MAX_BATCH_EVENTS: usize = 1000;

/// No control character (Unicode category Cc: U+0000-U+001F and U+007F-U+009F).
pub const NO_CONTROL_CHARACTERS: &str = r"^[^\x00-\x1F\x7F-\x9F]*$";
/// No NUL character.
pub const NO_NUL: &str = r"^[^\x00]*$";

/// The timestamp forms of a JSON body.
pub fn timestamp_pattern() -> String {
    timestamp_forms("+-", false)
}

/// The timestamp forms of a query string, where a `+` sent unencoded arrives as a space,
/// and a date alone stands for its midnight UTC.
pub fn query_timestamp_pattern() -> String {
    timestamp_forms("+ -", true)
}

/// The timestamp forms, `signs` being the characters that may start an offset; with
/// `date_alone`, a date without a time too.
fn timestamp_forms(signs: &str, date_alone: bool) -> String {
    // A month and a day that exist in every year: 29 and 30 outside February, 31 in the long
    // months.
    let month_day = "(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])\
                     |(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)";
    // Years 0001-9998, with 29 February in their leap years (every fourth; centuries only
    // every fourth), at any offset.
    let year = "(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-8][0-9]{3}|9[0-8][0-9]{2}\
                |99[0-8][0-9]|999[0-8])";
    let leap_year =
        "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)";
    let date = format!("(?:{year}-{month_day}|{leap_year}-02-29)");
    let offset = format!("(?:[Zz]|[{signs}](?:[01][0-9]|2[0-3]):[0-5][0-9])");
    // Years 0000 (a leap year) and 9999 in UTC only: an offset could move the instant out
    // of the years a timestamp is printed in.
    let edge_date = format!("(?:0000-(?:{month_day}|02-29)|9999-{month_day})");
    let utc = format!("(?:[Zz]|[{signs}]00:00)");
    // A time (no leap second) with 0-9 fractional digits, then the offset: optional after
    // `T` or a space (none: UTC), required after `t`.
    let time = "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,9})?";
    let form =
        |date: &str, offset: &str| format!("{date}(?:[T ]{time}(?:{offset})?|t{time}{offset})");
    let alone = if date_alone {
        format!("|{date}|{edge_date}")
    } else {
        String::new()
    };
    format!(
        "^(?:{}|{}{alone})$",
        form(&date, &offset),
        form(&edge_date, &utc)
    )
}

const EVENT_ID_DESCRIPTION: &str = "The client's idempotency key: 1 to 64 characters, none of them a control character. Two events of one application with the same `event_id` are stored once";

const EVENT_DATA_DESCRIPTION: &str = "A JSON object (may be `{}`) with no NUL (`\\u0000`) in any string or key, at most `max_event_data_bytes` (32 KiB by default) serialized. Judged by the JSON Schema in force for the event's type, if it has one";

const JSON_SCHEMA_DESCRIPTION: &str = "A JSON Schema: an object, or `true` (anything) or `false` (nothing). Draft 2020-12 unless `$schema` names another; it must compile, and `$ref`s must resolve inside the document";

const QUERY_DATE_DESCRIPTION: &str = " A date alone (`2021-01-01`) stands for its midnight UTC.";

const TIMESTAMP_DESCRIPTION: &str = "RFC 3339 (`2021-01-01T09:15:27.243860Z`, `2021-01-01T11:15:27+02:00`; `T`, `t` or a space between date and time) or naive `2021-01-01 09:15:27.243860` / `2021-01-01T09:15:27.243860`, read as UTC; 0-9 fractional digits; no leap second; in years 0000 and 9999 only in UTC (`Z`, `+00:00` or naive).";

fn string(pattern: &str, description: &str) -> Object {
    Object::builder()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .description(Some(description))
        .build()
}

fn reference<T: ToSchema>() -> RefOr<Schema> {
    Ref::from_schema_name(T::name()).into()
}

/// A session id, category, name, application or error code.
pub struct Identifier;

impl PartialSchema for Identifier {
    fn schema() -> RefOr<Schema> {
        identifier("1 to 128 characters, none of them a control character").into()
    }
}

/// A string of 1 to 128 characters, none of them a control character.
fn identifier(description: &str) -> Object {
    Object::builder()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_IDENTIFIER_CHARS))
        .pattern(Some(NO_CONTROL_CHARACTERS))
        .description(Some(description))
        .build()
}

impl ToSchema for Identifier {}

/// An event type in a query string: `CATEGORY/NAME`, split at the first `/`, each part an
/// identifier.
pub struct EventType;

impl PartialSchema for EventType {
    fn schema() -> RefOr<Schema> {
        string(
            r"^[^/\x00-\x1F\x7F-\x9F]{1,128}/[^\x00-\x1F\x7F-\x9F]{1,128}$",
            "`CATEGORY/NAME`: split at the first `/` (so the category holds none), each part 1 to \
             128 characters, none of them a control character",
        )
        .into()
    }
}

impl ToSchema for EventType {}

/// The client's idempotency key of an event.
pub struct EventId;

impl PartialSchema for EventId {
    fn schema() -> RefOr<Schema> {
        Object::builder()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_EVENT_ID_CHARS))
            .pattern(Some(NO_CONTROL_CHARACTERS))
            .description(Some(EVENT_ID_DESCRIPTION))
            .into()
    }
}

impl ToSchema for EventId {}

/// A timestamp in a JSON body.
pub struct Timestamp;

impl PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        string(&timestamp_pattern(), TIMESTAMP_DESCRIPTION).into()
    }
}

impl ToSchema for Timestamp {}

/// A timestamp in a query string.
pub struct QueryTimestamp;

impl PartialSchema for QueryTimestamp {
    fn schema() -> RefOr<Schema> {
        let description = format!(
            "{TIMESTAMP_DESCRIPTION} A `+` of an offset sent unencoded arrives as a space, read as `+`.{QUERY_DATE_DESCRIPTION}"
        );
        string(&query_timestamp_pattern(), &description).into()
    }
}

impl ToSchema for QueryTimestamp {}

/// Any JSON value whose strings, keys included, hold no NUL.
pub struct JsonWithoutNul;

impl PartialSchema for JsonWithoutNul {
    fn schema() -> RefOr<Schema> {
        RefOr::T(Schema::from(
            AnyOf::builder()
                .item(Object::with_type(SchemaType::from_iter([
                    Type::Null,
                    Type::Boolean,
                    Type::Number,
                ])))
                .item(string(NO_NUL, "No NUL (`\\u0000`)"))
                .item(Array::new(reference::<JsonWithoutNul>()))
                .item(object_without_nul())
                .build(),
        ))
    }
}

impl ToSchema for JsonWithoutNul {}

fn object_without_nul() -> Object {
    Object::builder()
        .schema_type(Type::Object)
        .property_names(Some(string(NO_NUL, "No NUL (`\\u0000`)")))
        .additional_properties(Some(AdditionalProperties::RefOr(
            reference::<JsonWithoutNul>(),
        )))
        .build()
}

const SENT_AT_DESCRIPTION: &str = "When the client sent the request, by its own clock (a timestamp form as for `timestamp`). Every event's timestamp is then corrected for the client's clock: stored as `received_at - (sent_at - timestamp)`, the timestamp as sent kept as `original_timestamp`. Send it from clients whose clock may be wrong (browsers, phones)";

/// The user id of an event.
pub struct UserId;

impl PartialSchema for UserId {
    fn schema() -> RefOr<Schema> {
        identifier(
            "The user the application knows (Segment's `userId`): 1 to 128 characters, none of them a control character. `GET /v1/events?user_id=` and `GET /v1/sessions?user_id=` find its events and sessions",
        )
        .into()
    }
}

impl ToSchema for UserId {}

/// The `context` of an event.
pub struct EventContext;

impl PartialSchema for EventContext {
    fn schema() -> RefOr<Schema> {
        let mut context = object_without_nul();
        context.description = Some(
            "Where and how the event was sent (page, user agent, library, locale...): a JSON object with no NUL in any string or key, at most 8 KiB serialized (else `invalid_field`). No schema judges it".to_owned(),
        );
        context.into()
    }
}

impl ToSchema for EventContext {}

/// The `data` of an event.
pub struct EventData;

impl PartialSchema for EventData {
    fn schema() -> RefOr<Schema> {
        let mut data = object_without_nul();
        data.description = Some(EVENT_DATA_DESCRIPTION.to_owned());
        data.into()
    }
}

impl ToSchema for EventData {}

/// A JSON Schema document.
pub struct JsonSchema;

impl PartialSchema for JsonSchema {
    fn schema() -> RefOr<Schema> {
        Object::builder()
            .schema_type(SchemaType::from_iter([Type::Object, Type::Boolean]))
            .description(Some(JSON_SCHEMA_DESCRIPTION))
            .into()
    }
}

impl ToSchema for JsonSchema {}

/// A scope of an API key.
pub struct Scope;

impl PartialSchema for Scope {
    fn schema() -> RefOr<Schema> {
        Object::builder()
            .schema_type(Type::String)
            .enum_values(Some(["ingest", "query", "admin"]))
            .into()
    }
}

impl ToSchema for Scope {}

/// One or more events, as `POST /v1/events` takes them.
pub struct EventArray;

impl PartialSchema for EventArray {
    fn schema() -> RefOr<Schema> {
        Array::builder()
            .items(reference::<Event>())
            .min_items(Some(1))
            .max_items(Some(DEFAULT_MAX_BATCH_EVENTS))
            .description(Some(
                "1 to `max_batch_events` (1,000 by default) events; each is judged on its own",
            ))
            .into()
    }
}

impl ToSchema for EventArray {}

/// `{"events": [...]}`, with `sent_at` for clock-skew correction.
pub struct EventBatch;

impl PartialSchema for EventBatch {
    fn schema() -> RefOr<Schema> {
        let sent_at = string(&timestamp_pattern(), SENT_AT_DESCRIPTION);
        Object::builder()
            .property("events", reference::<EventArray>())
            .property("sent_at", sent_at)
            .required("events")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .into()
    }
}

impl ToSchema for EventBatch {}

/// The body of `POST /v1/events`: one of three shapes.
pub struct IngestRequest;

impl PartialSchema for IngestRequest {
    fn schema() -> RefOr<Schema> {
        RefOr::T(Schema::from(
            OneOf::builder()
                .item(reference::<Event>())
                .item(reference::<EventArray>())
                .item(reference::<EventBatch>())
                .description(Some(
                    "One event object, an array of events, or `{\"events\": [...]}`",
                ))
                .build(),
        ))
    }
}

impl ToSchema for IngestRequest {}

/// One message of Segment's tracking API, as the single-message routes take it.
pub struct SegmentMessage;

impl PartialSchema for SegmentMessage {
    fn schema() -> RefOr<Schema> {
        Object::builder()
            .schema_type(Type::Object)
            .property(
                "type",
                Object::builder()
                    .schema_type(Type::String)
                    .description(Some("track, page, screen, identify, group or alias; on a single-message route, the route's type")),
            )
            .property(
                "writeKey",
                Object::builder()
                    .schema_type(Type::String)
                    .description(Some("The ingest key, when no Authorization header carries it")),
            )
            .additional_properties(Some(AdditionalProperties::FreeForm(true)))
            .description(Some(
                "A Segment message (`userId`, `anonymousId`, `messageId`, `timestamp`, `event`, `name`, `properties`, `traits`, `context`...): each is judged on its own, a message that cannot become an event is rejected in `results`",
            ))
            .into()
    }
}

impl ToSchema for SegmentMessage {}

/// The body of Segment's `POST /v1/batch`.
pub struct SegmentBatch;

impl PartialSchema for SegmentBatch {
    fn schema() -> RefOr<Schema> {
        Object::builder()
            .schema_type(Type::Object)
            .property(
                "batch",
                Array::builder()
                    .items(reference::<SegmentMessage>())
                    .max_items(Some(DEFAULT_MAX_BATCH_EVENTS))
                    .description(Some(
                        "The messages, at most `max_batch_events` (1,000 by default)",
                    )),
            )
            .property(
                "sentAt",
                Object::builder()
                    .schema_type(Type::String)
                    .description(Some("When the client sent the batch, by its clock: each message's timestamp is corrected by `received_at - sentAt` (a second or more)")),
            )
            .property(
                "context",
                Object::builder()
                    .schema_type(Type::Object)
                    .description(Some("Context for every message, under each message's own")),
            )
            .property(
                "writeKey",
                Object::builder()
                    .schema_type(Type::String)
                    .description(Some("The ingest key, when no Authorization header carries it")),
            )
            .required("batch")
            .additional_properties(Some(AdditionalProperties::FreeForm(true)))
            .into()
    }
}

impl ToSchema for SegmentBatch {}
