//! `GET /api/v1/instances/{id}/analytics?from=&to=` (figures per UTC day and their totals),
//! `GET /api/v1/instances/{id}/insights` (the questions left unanswered and the resolution rate), and the
//! `llm` block of `GET /api/v1/instances/{id}` (seed 001's LLM figures). All are computed from the
//! messages the manager collected from the worker, with what the agent bridge reported of each
//! question (its outcome, latency and tokens).

use garde::Validate;
use serde::{Deserialize, Serialize};
use time::{Date, Duration, Month};

pub use crate::worker_api::Outcome;

/// Days shown when the query names no `from`.
pub const DEFAULT_ANALYTICS_DAYS: i64 = 30;
/// The longest range one query may span, in days (both ends included).
pub const MAX_ANALYTICS_DAYS: i64 = 366;
/// Questions `insights` lists at most.
pub const MAX_UNANSWERED: usize = 50;

/// `?from=&to=` of `GET /api/v1/instances/{id}/analytics`: UTC days, both included.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct AnalyticsQuery {
    /// First day, `YYYY-MM-DD` (default: 29 days before `to`, so 30 days are shown).
    #[garde(inner(custom(iso_date)))]
    #[cfg_attr(
        feature = "openapi",
        param(pattern = r"^\d{4}-\d{2}-\d{2}$", example = "2026-03-01")
    )]
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (default: today, UTC). At most 366 days after `from`, counting both.
    #[garde(inner(custom(iso_date)))]
    #[cfg_attr(
        feature = "openapi",
        param(pattern = r"^\d{4}-\d{2}-\d{2}$", example = "2026-03-30")
    )]
    pub to: Option<String>,
}

/// Why a range cannot be shown: the field at fault and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeError {
    pub field: &'static str,
    pub message: String,
}

impl AnalyticsQuery {
    /// The days asked for, both included, with `today` for the defaults.
    pub fn range(&self, today: Date) -> Result<(Date, Date), RangeError> {
        let parse = |field: &'static str, value: &Option<String>| {
            value
                .as_deref()
                .map(|v| {
                    parse_date(v).ok_or_else(|| RangeError {
                        field,
                        message: "must be a date, YYYY-MM-DD".into(),
                    })
                })
                .transpose()
        };
        let to = parse("to", &self.to)?.unwrap_or(today);
        let from = match parse("from", &self.from)? {
            Some(from) => from,
            None => to
                .checked_sub(Duration::days(DEFAULT_ANALYTICS_DAYS - 1))
                .unwrap_or(Date::MIN),
        };
        if from > to {
            return Err(RangeError {
                field: "from",
                message: format!("must not be after `to` ({to})"),
            });
        }
        if (to - from).whole_days() + 1 > MAX_ANALYTICS_DAYS {
            return Err(RangeError {
                field: "to",
                message: format!("the range may span at most {MAX_ANALYTICS_DAYS} days"),
            });
        }
        Ok((from, to))
    }
}

/// `YYYY-MM-DD`, a day of the calendar (no other spelling).
pub fn parse_date(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b[r.clone()]
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| s[r].parse::<u32>().ok())
            .flatten()
    };
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()
}

/// garde rule: a `YYYY-MM-DD` date.
pub fn iso_date(s: &str, _: &()) -> garde::Result {
    match parse_date(s) {
        Some(_) => Ok(()),
        None => Err(garde::Error::new("must be a date, YYYY-MM-DD")),
    }
}

/// What the bot did over a period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnalyticsFigures {
    /// Messages the bot received.
    pub messages_in: i64,
    /// Messages the bot sent (agent replies, welcomes, fallbacks and sends through the API).
    pub messages_out: i64,
    /// Conversations started.
    pub conversations: i64,
    /// People who wrote to the bot.
    pub unique_users: i64,
    /// Calls to the agent (answered or failed).
    pub agent_calls: i64,
    /// Mean time the agent took, over its calls (none without calls).
    pub avg_latency_ms: Option<f64>,
    /// 95th percentile (nearest rank) of the time the agent took (none without calls).
    pub p95_latency_ms: Option<f64>,
    /// Tokens of the agent calls, as the agent's `usage` reported them.
    pub tokens_in: i64,
    pub tokens_out: i64,
    /// Questions that got no answer: the agent failed (`fallback`) or the reply could not be sent
    /// (`failed`).
    pub errors: i64,
    /// Questions the chat's rate limit kept from the agent.
    pub dropped_rate: i64,
    /// Questions the spending cap kept from the agent.
    pub dropped_cap: i64,
}

/// One UTC day of analytics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnalyticsDay {
    /// `YYYY-MM-DD`.
    pub date: String,
    #[serde(flatten)]
    pub figures: AnalyticsFigures,
}

/// `GET /api/v1/instances/{id}/analytics`: every day of the range (days without activity too), oldest
/// first, and the totals over the range (its unique users and latencies over the whole range, not
/// summed per day).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnalyticsResponse {
    pub success: bool,
    pub instance_id: String,
    pub from: String,
    pub to: String,
    pub daily: Vec<AnalyticsDay>,
    pub summary: AnalyticsFigures,
}

/// A question that got no answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnansweredQuestion {
    /// What was asked (none when the manager did not see the question).
    pub question: Option<String>,
    /// What the bot said instead (the fallback message), or tried to say (`failed`).
    pub bot_response: Option<String>,
    /// `fallback` or `failed`.
    pub outcome: Outcome,
    pub created_at: String,
}

/// `GET /api/v1/instances/{id}/insights`: over everything the manager collected of the bot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InsightsResponse {
    pub success: bool,
    /// The latest 50 questions the agent did not answer (`fallback`) or whose answer could not be sent
    /// (`failed`), newest first.
    pub unanswered_questions: Vec<UnansweredQuestion>,
    /// `total_answered` in percent of `total_responses` (none before the first response).
    pub resolution_rate: Option<f64>,
    /// Questions answered by the agent and sent.
    pub total_answered: i64,
    /// Questions answered, fallen back or failed (welcomes and dropped questions aside).
    pub total_responses: i64,
}

/// The `llm` block of `GET /api/v1/instances/{id}` (seed 001's figures): the agent's day so far (UTC),
/// and its last success ever.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LlmStats {
    /// When the agent last answered (none if never).
    pub last_success_time: Option<String>,
    /// Mean time of today's agent calls, in milliseconds (none without calls).
    pub average_latency_ms: Option<f64>,
    /// Tokens in and out of today's agent calls.
    pub total_tokens_today: i64,
    /// Today's questions the agent answered.
    pub success_count: i64,
    /// Today's agent calls that failed (the fallback message went out instead).
    pub error_count: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Date {
        parse_date(s).unwrap()
    }

    #[test]
    fn dates_are_calendar_days_spelled_one_way() {
        assert_eq!(
            parse_date("2024-02-29"),
            Date::from_calendar_date(2024, Month::February, 29).ok()
        );
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-01-00",
            "2024-1-01",
            "24-01-01",
            "2024/01/01",
            "2024-01-01T00:00:00Z",
            "+202-01-01",
            "2024-01-0a",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
            assert!(iso_date(bad, &()).is_err());
        }
    }

    #[test]
    fn the_range_defaults_to_thirty_days_and_is_bounded() {
        let today = day("2026-03-15");
        let q = |from: Option<&str>, to: Option<&str>| AnalyticsQuery {
            from: from.map(str::to_string),
            to: to.map(str::to_string),
        };
        assert_eq!(
            q(None, None).range(today),
            Ok((day("2026-02-14"), today)),
            "30 days, today included"
        );
        assert_eq!(
            q(None, Some("2026-01-31")).range(today),
            Ok((day("2026-01-02"), day("2026-01-31")))
        );
        assert_eq!(
            q(Some("2026-03-01"), None).range(today),
            Ok((day("2026-03-01"), today))
        );
        assert_eq!(
            q(Some("2026-03-15"), Some("2026-03-15")).range(today),
            Ok((today, today))
        );
        // 366 days, both ends counted, is the most.
        assert!(
            q(Some("2024-01-01"), Some("2024-12-31"))
                .range(today)
                .is_ok()
        );
        let err = q(Some("2024-01-01"), Some("2025-01-01"))
            .range(today)
            .unwrap_err();
        assert_eq!(err.field, "to");
        let err = q(Some("2026-03-16"), None).range(today).unwrap_err();
        assert_eq!(err.field, "from", "after today");
        let err = q(Some("2026-03-02"), Some("2026-03-01"))
            .range(today)
            .unwrap_err();
        assert_eq!(err.field, "from");
        let err = q(Some("2026-02-30"), None).range(today).unwrap_err();
        assert_eq!(err.field, "from");
    }
}

#[cfg(all(test, feature = "server"))]
mod query_tests {
    use super::*;
    use crate::http::parse_query;

    #[test]
    fn bad_dates_are_refused_naming_the_field() {
        let field = |q: &str| {
            parse_query::<AnalyticsQuery>(q)
                .err()
                .and_then(|r| r.body.field)
        };
        assert_eq!(field("from=2026-13-01"), Some("from".into()));
        assert_eq!(field("to=yesterday"), Some("to".into()));
        assert_eq!(field("from=2026-01-01&to=2026-01-31"), None);
        assert_eq!(field("days=3"), Some("days".into()));
    }
}
