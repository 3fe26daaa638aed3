//! `GET /api/v1/events` (the operational event log, newest first) and `GET /api/v1/events/stream` (the
//! same events live, as Server-Sent Events).

use garde::Validate;
use serde::{Deserialize, Deserializer, Serialize};

use crate::events::EventType;

/// `?instance_id=&types=&limit=` of `GET /api/v1/events`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct EventListQuery {
    /// Only this instance's events.
    #[garde(skip)]
    pub instance_id: Option<String>,
    /// Only these types (comma-separated on the wire); empty: every type.
    #[serde(default, with = "comma_separated")]
    #[garde(skip)]
    pub types: Vec<EventType>,
    /// At most this many: 1 to 1000, default 50.
    #[garde(inner(range(min = 1, max = 1000)))]
    pub limit: Option<u32>,
}

impl EventListQuery {
    pub const DEFAULT_LIMIT: u32 = 50;

    pub fn limit(&self) -> u32 {
        self.limit.unwrap_or(Self::DEFAULT_LIMIT)
    }
}

/// `?instance_id=&types=` of `GET /api/v1/events/stream`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct EventStreamQuery {
    /// Only this instance's events.
    #[garde(skip)]
    pub instance_id: Option<String>,
    /// Only these types (comma-separated on the wire); empty: every type.
    #[serde(default, with = "comma_separated")]
    #[garde(skip)]
    pub types: Vec<EventType>,
}

impl EventStreamQuery {
    /// Whether an event of `event_type` about `instance_id` passes the filter.
    pub fn matches(&self, event_type: EventType, instance_id: Option<&str>) -> bool {
        self.instance_id
            .as_deref()
            .is_none_or(|id| instance_id == Some(id))
            && (self.types.is_empty() || self.types.contains(&event_type))
    }
}

/// `types=created,bot.error`: event types separated by commas, each as written on the wire or, for
/// instance events, without `instance.`; blanks around names and empty items are ignored.
pub mod comma_separated {
    use super::*;

    pub fn parse(value: &str) -> Result<Vec<EventType>, String> {
        let mut types = Vec::new();
        for name in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let t: EventType = name.parse()?;
            if !types.contains(&t) {
                types.push(t);
            }
        }
        Ok(types)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<EventType>, D::Error> {
        let value = Option::<String>::deserialize(d)?;
        parse(value.as_deref().unwrap_or_default()).map_err(serde::de::Error::custom)
    }

    pub fn serialize<S: serde::Serializer>(types: &[EventType], s: S) -> Result<S::Ok, S::Error> {
        let names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
        s.serialize_str(&names.join(","))
    }

    /// The document's pattern for the list: exactly what `parse` accepts.
    pub fn pattern() -> String {
        let names: Vec<String> = EventType::ALL
            .iter()
            .flat_map(|t| {
                let full = t.as_str();
                std::iter::once(full).chain(full.strip_prefix("instance."))
            })
            .map(|name| name.replace('.', r"\."))
            .collect();
        let item = format!(r"\s*(?:{})?\s*", names.join("|"));
        format!("^{item}(?:,{item})*$")
    }
}

/// One entry of the event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventView {
    pub id: String,
    /// RFC 3339.
    pub timestamp: String,
    pub event_type: EventType,
    /// `null` for an event about no one instance.
    pub instance_id: Option<String>,
    pub message: String,
}

/// `GET /api/v1/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventList {
    pub success: bool,
    pub count: u64,
    pub limit: u32,
    /// Newest first.
    pub events: Vec<EventView>,
}

#[cfg(feature = "openapi")]
mod params {
    use utoipa::openapi::{
        Required,
        path::{Parameter, ParameterBuilder, ParameterIn},
        schema::{ObjectBuilder, Type},
    };

    use super::{EventListQuery, EventStreamQuery, comma_separated};

    fn query(name: &str, description: &str, schema: ObjectBuilder) -> Parameter {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .description(Some(description))
            .schema(Some(schema.build()))
            .build()
    }

    fn instance_id() -> Parameter {
        query(
            "instance_id",
            "Only this instance's events.",
            ObjectBuilder::new().schema_type(Type::String),
        )
    }

    fn types() -> Parameter {
        query(
            "types",
            "Only these event types, comma-separated (`instance.started,bot.error`); instance events \
             may omit `instance.` (`created,deleted`). Absent or empty: every type.",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(comma_separated::pattern())),
        )
    }

    impl utoipa::IntoParams for EventListQuery {
        fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
            vec![
                instance_id(),
                types(),
                query(
                    "limit",
                    "At most this many: 1 to 1000, default 50.",
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                            utoipa::openapi::KnownFormat::Int32,
                        )))
                        .minimum(Some(1))
                        .maximum(Some(1000)),
                ),
            ]
        }
    }

    impl utoipa::IntoParams for EventStreamQuery {
        fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
            vec![instance_id(), types()]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_a_comma_separated_list_of_event_types() {
        assert_eq!(
            comma_separated::parse("created, bot.error,,instance.created").unwrap(),
            vec![EventType::InstanceCreated, EventType::BotError]
        );
        assert_eq!(comma_separated::parse("").unwrap(), vec![]);
        let err = comma_separated::parse("created,exploded").unwrap_err();
        assert!(err.contains("exploded"), "{err}");
        // Only instance events have a short name.
        assert!(comma_separated::parse("error").is_err());
    }

    #[test]
    fn the_pattern_names_every_type() {
        let pattern = comma_separated::pattern();
        for t in EventType::ALL {
            assert!(pattern.contains(&t.as_str().replace('.', r"\.")), "{t}");
        }
        assert!(pattern.contains("|started|"));
        assert!(!pattern.contains("|error|"));
    }

    #[cfg(feature = "server")]
    #[test]
    fn a_bad_type_is_a_422_naming_types() {
        use crate::http::parse_query;
        let q: EventListQuery = parse_query("types=created,bot.error&limit=5").unwrap();
        assert_eq!(
            q.types,
            vec![EventType::InstanceCreated, EventType::BotError]
        );
        assert_eq!(q.limit(), 5);
        let q: EventStreamQuery = parse_query("").unwrap();
        assert!(q.types.is_empty());
        for (query, field) in [
            ("types=exploded", "types"),
            ("types=created,nope", "types"),
            ("limit=0", "limit"),
            ("limit=1001", "limit"),
            ("typo=1", "typo"),
        ] {
            let r = parse_query::<EventListQuery>(query).unwrap_err();
            assert_eq!(
                (r.status.as_u16(), r.body.field.as_deref()),
                (422, Some(field)),
                "{query}: {}",
                r.body.error
            );
        }
        let r = parse_query::<EventListQuery>("types=exploded").unwrap_err();
        assert!(
            r.body.error.contains("unknown event type 'exploded'"),
            "{}",
            r.body.error
        );
        // The stream takes no limit.
        assert!(parse_query::<EventStreamQuery>("limit=5").is_err());
    }
}
