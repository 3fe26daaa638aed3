//! `/api/v1/instances/{id}/schedules`: messages a bot sends by itself, on a cron pattern, on days of the
//! week at a time of day, or once at an instant; and the log of their runs.
//!
//! The shape of each field is checked here (garde); what needs a calendar (the cron pattern, the time
//! zone, "exactly one of `cron`, `time`, `at`", `ends_at` after `starts_at`) is checked by the manager,
//! which answers 422 naming the field as well.

use garde::Validate;
use serde::{Deserialize, Serialize};

use crate::worker_api::ChatRef;

/// Longest message a schedule sends (the worker's limit; a provider with a lower one refuses more).
pub const MAX_MESSAGE_CHARS: usize = 4096;
/// Longest cron pattern taken.
pub const MAX_CRON_CHARS: usize = 128;
/// Longest time zone name taken.
pub const MAX_TIMEZONE_CHARS: usize = 64;
/// Longest schedule name.
pub const MAX_NAME_CHARS: usize = 100;
/// The longest grace period: a week.
pub const MAX_GRACE_SECS: u32 = 7 * 24 * 3600;
/// The grace period unless `grace_secs` says otherwise: an hour.
pub const DEFAULT_GRACE_SECS: u32 = 3600;
/// Schedules one instance may have.
pub const MAX_SCHEDULES_PER_INSTANCE: usize = 1000;
/// Most runs a page of the run log may ask for.
pub const MAX_RUNS: u32 = 500;
/// Runs in a page unless `limit` says otherwise.
pub const DEFAULT_RUNS: u32 = 50;

/// The schema's pattern of `time` (the manager checks exactly this shape).
pub const TIME_PATTERN: &str = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$";

/// A day of the week, by its three-letter English name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    pub const ALL: [Weekday; 7] = [
        Self::Mon,
        Self::Tue,
        Self::Wed,
        Self::Thu,
        Self::Fri,
        Self::Sat,
        Self::Sun,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mon => "mon",
            Self::Tue => "tue",
            Self::Wed => "wed",
            Self::Thu => "thu",
            Self::Fri => "fri",
            Self::Sat => "sat",
            Self::Sun => "sun",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// What happens to a run that could not be sent on time (the manager or the bot was down at its due
/// time, or the worker kept failing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MissedPolicy {
    /// Sent late, once, while within `grace_secs` of its due time; recorded `skipped_late` after that.
    #[default]
    SendLate,
    /// Never sent late: recorded `skipped_late`.
    Skip,
}

impl MissedPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendLate => "send_late",
            Self::Skip => "skip",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::SendLate, Self::Skip]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// `POST /api/v1/instances/{id}/schedules` and `PUT …/schedules/{schedule_id}` (a PUT replaces the
/// whole schedule). Exactly one of `cron`, `time` (with `days`) and `at` says when it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "chat_id": 123456789, "message": "Daily standup in 5 minutes", "cron": "55 8 * * mon-fri",
    "timezone": "Europe/Berlin", "name": "standup"
})))]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// A name to tell schedules apart (1 to 100 characters).
    #[serde(default)]
    #[garde(inner(length(chars, min = 1, max = MAX_NAME_CHARS), custom(crate::rules::not_blank)))]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 100, pattern = r"\S")
    )]
    pub name: Option<String>,
    /// The chat the message goes to, as the bot's provider names it.
    #[garde(skip)]
    pub chat_id: ChatRef,
    /// The text: 1 to 4096 characters (fewer where the provider takes fewer), not only spaces.
    #[garde(length(chars, min = 1, max = MAX_MESSAGE_CHARS), custom(crate::rules::not_blank))]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 4096, pattern = r"\S")
    )]
    pub message: String,
    /// A cron pattern in `timezone`: five fields (`minute hour day-of-month month day-of-week`), or six
    /// with seconds first (`second minute hour …`); names (`MON`, `JAN`), ranges, steps, `L`, `W`, `#`
    /// and `@daily`-style nicknames as the croner crate reads them.
    #[serde(default)]
    #[garde(inner(length(chars, min = 1, max = MAX_CRON_CHARS)))]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 128, example = "0 9 * * mon-fri")
    )]
    pub cron: Option<String>,
    /// With `time`: the days it runs on; empty or absent means every day.
    #[serde(default)]
    #[garde(inner(length(max = 7)))]
    #[cfg_attr(feature = "openapi", schema(max_items = 7))]
    pub days: Option<Vec<Weekday>>,
    /// `HH:MM` (or `HH:MM:SS`), 24-hour, in `timezone`: runs on `days` at this time.
    #[serde(default)]
    #[garde(inner(custom(time_of_day)))]
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$",
            example = "09:30"
        )
    )]
    pub time: Option<String>,
    /// A one-off: the instant it runs, RFC 3339 (`2026-12-01T09:00:00Z`, `2026-12-01T10:00:00+01:00`).
    #[serde(default)]
    #[garde(inner(length(max = 64)))]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 64, example = "2026-12-01T09:00:00Z")
    )]
    pub at: Option<String>,
    /// The IANA time zone `cron` and `time` are read in (`Europe/Berlin`); default `UTC`.
    #[serde(default)]
    #[garde(inner(length(min = 1, max = MAX_TIMEZONE_CHARS)))]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 64, example = "Europe/Berlin")
    )]
    pub timezone: Option<String>,
    /// No run before this instant (RFC 3339).
    #[serde(default)]
    #[garde(inner(length(max = 64)))]
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub starts_at: Option<String>,
    /// No run after this instant (RFC 3339); after `starts_at`.
    #[serde(default)]
    #[garde(inner(length(max = 64)))]
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub ends_at: Option<String>,
    /// Default true; false keeps the schedule but runs nothing.
    #[serde(default = "yes")]
    #[garde(skip)]
    #[cfg_attr(feature = "openapi", schema(default = true))]
    pub enabled: bool,
    /// What happens to a run that could not be sent on time; default `send_late`.
    #[serde(default)]
    #[garde(skip)]
    pub missed: MissedPolicy,
    /// How long after its due time a run may still be sent (`send_late`), 0 to 604800 seconds; default
    /// 3600.
    #[serde(default = "default_grace")]
    #[garde(range(max = MAX_GRACE_SECS))]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 604800, default = 3600)
    )]
    pub grace_secs: u32,
}

fn yes() -> bool {
    true
}

fn default_grace() -> u32 {
    DEFAULT_GRACE_SECS
}

/// garde rule: `HH:MM` or `HH:MM:SS`, 24-hour (exactly [`TIME_PATTERN`]).
fn time_of_day(value: &str, _: &()) -> garde::Result {
    parse_time_of_day(value)
        .map(|_| ())
        .ok_or_else(|| garde::Error::new("must be HH:MM or HH:MM:SS (24-hour)"))
}

/// `HH:MM[:SS]` as (hour, minute, second), when it has exactly that shape.
pub fn parse_time_of_day(value: &str) -> Option<(u32, u32, u32)> {
    let b = value.as_bytes();
    let two = |i: usize| -> Option<u32> {
        let (x, y) = (*b.get(i)?, *b.get(i + 1)?);
        (x.is_ascii_digit() && y.is_ascii_digit())
            .then(|| u32::from(x - b'0') * 10 + u32::from(y - b'0'))
    };
    if !(b.len() == 5 || b.len() == 8) || b[2] != b':' || (b.len() == 8 && b[5] != b':') {
        return None;
    }
    let (h, m) = (two(0)?, two(3)?);
    let s = if b.len() == 8 { two(6)? } else { 0 };
    (h < 24 && m < 60 && s < 60).then_some((h, m, s))
}

/// What became of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Taken by the scheduler and being sent, or waiting to be tried again (the worker could not be
    /// reached; `reason` says why).
    Pending,
    /// The worker sent it; `message_id` is the platform's id.
    Sent,
    /// The worker or the platform refused it (`reason`); not tried again.
    Failed,
    /// Not sent: it could not be sent within its grace period (or the schedule says `missed: skip`).
    SkippedLate,
    /// Not sent: the bot was paused (the worker answered 409).
    SkippedPaused,
    /// Not sent: the worker answered 409 for another reason (`reason`).
    Skipped,
}

impl RunStatus {
    pub const ALL: &'static [RunStatus] = &[
        Self::Pending,
        Self::Sent,
        Self::Failed,
        Self::SkippedLate,
        Self::SkippedPaused,
        Self::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::SkippedLate => "skipped_late",
            Self::SkippedPaused => "skipped_paused",
            Self::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.as_str() == s)
    }
}

/// One run of a schedule: one due time, sent at most once. Times are RFC 3339 UTC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunView {
    /// `<schedule id>-<due time in unix ms>`; also the `Idempotency-Key` the worker was sent.
    pub id: String,
    pub due_at: String,
    pub status: RunStatus,
    /// The platform's id of the message sent (`sent` only).
    pub message_id: Option<String>,
    /// Why it failed or was skipped, or (while `pending`) why the last attempt failed.
    pub reason: Option<String>,
    /// Requests made to the worker.
    pub attempts: i64,
    /// Earlier due times that passed while the manager or the bot was down and were not sent: only the
    /// newest missed one is run (this one).
    pub superseded: i64,
    /// When the scheduler took it.
    pub created_at: String,
    /// When its outcome was recorded; `null` while pending.
    pub finished_at: Option<String>,
}

/// A schedule as shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduleView {
    pub id: String,
    pub instance_id: String,
    pub name: Option<String>,
    pub chat_id: String,
    pub message: String,
    /// The cron pattern, when it runs on one.
    pub cron: Option<String>,
    /// With `time`: the days it runs on (empty: every day).
    pub days: Option<Vec<Weekday>>,
    /// `HH:MM` or `HH:MM:SS`, when it runs on days of the week.
    pub time: Option<String>,
    /// The instant of a one-off (RFC 3339 UTC).
    pub at: Option<String>,
    pub timezone: String,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    pub enabled: bool,
    pub missed: MissedPolicy,
    pub grace_secs: u32,
    /// When it runs next (RFC 3339 UTC); `null` when disabled, ended, or a one-off already run.
    pub next_run_at: Option<String>,
    /// The newest run, if any.
    pub last_run: Option<RunView>,
    pub created_at: String,
    pub updated_at: String,
}

/// `GET /api/v1/instances/{id}/schedules`: oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduleList {
    pub success: bool,
    pub count: usize,
    pub schedules: Vec<ScheduleView>,
}

/// `?limit=` of `GET …/schedules/{schedule_id}/runs`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    /// At most this many, 1 to 500 (default 50).
    #[garde(inner(range(min = 1, max = MAX_RUNS)))]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 500))]
    pub limit: Option<u32>,
}

impl RunsQuery {
    pub fn limit(&self) -> u32 {
        self.limit.unwrap_or(DEFAULT_RUNS)
    }
}

/// `GET …/schedules/{schedule_id}/runs`: newest due time first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunList {
    pub success: bool,
    pub count: usize,
    pub runs: Vec<RunView>,
}

#[cfg(all(test, feature = "server"))]
mod tests {
    use super::*;
    use crate::http::{parse_json, parse_query};

    fn field(body: serde_json::Value) -> Option<String> {
        parse_json::<ScheduleRequest>(body.to_string().as_bytes())
            .err()
            .and_then(|r| r.body.field)
    }

    #[test]
    fn a_body_takes_its_defaults() {
        let r: ScheduleRequest =
            parse_json(br#"{"chat_id": 42, "message": "hi", "cron": "0 9 * * *"}"#).unwrap();
        assert_eq!(r.chat_id.as_str(), "42");
        assert!(r.enabled);
        assert_eq!(r.missed, MissedPolicy::SendLate);
        assert_eq!(r.grace_secs, 3600);
        assert_eq!(r.timezone, None);
    }

    #[test]
    fn each_bad_field_is_named() {
        use serde_json::json;
        let ok = json!({"chat_id": "42", "message": "hi", "time": "09:30"});
        assert_eq!(field(ok.clone()), None);
        let with = |k: &str, v: serde_json::Value| {
            let mut b = ok.clone();
            b[k] = v;
            b
        };
        assert_eq!(field(with("message", json!(""))), Some("message".into()));
        assert_eq!(field(with("message", json!("  "))), Some("message".into()));
        assert_eq!(
            field(with("message", json!("x".repeat(4097)))),
            Some("message".into())
        );
        assert_eq!(field(with("chat_id", json!("a b"))), Some("chat_id".into()));
        assert_eq!(field(with("time", json!("24:00"))), Some("time".into()));
        assert_eq!(field(with("time", json!("9:30"))), Some("time".into()));
        assert_eq!(field(with("time", json!("09:30:60"))), Some("time".into()));
        assert_eq!(
            field(with("days", json!(["monday"]))),
            Some("days[0]".into())
        );
        assert_eq!(field(with("missed", json!("never"))), Some("missed".into()));
        assert_eq!(
            field(with("grace_secs", json!(-1))),
            Some("grace_secs".into())
        );
        assert_eq!(
            field(with("grace_secs", json!(604_801))),
            Some("grace_secs".into())
        );
        assert_eq!(field(with("timezone", json!(""))), Some("timezone".into()));
        assert_eq!(field(with("cron", json!(""))), Some("cron".into()));
        assert_eq!(field(with("nope", json!(1))), Some("nope".into()));
        let mut no_chat = ok.clone();
        no_chat.as_object_mut().unwrap().remove("chat_id");
        assert_eq!(field(no_chat), Some("chat_id".into()));
    }

    #[test]
    fn times_of_day_have_one_shape() {
        assert_eq!(parse_time_of_day("00:00"), Some((0, 0, 0)));
        assert_eq!(parse_time_of_day("23:59:59"), Some((23, 59, 59)));
        assert_eq!(parse_time_of_day("02:30"), Some((2, 30, 0)));
        for bad in [
            "", "2:30", "02:3", "02-30", "02:30:", "02:30:5", "24:00", "12:60", "+1:00", "02:30 ",
        ] {
            assert_eq!(parse_time_of_day(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_runs_query_is_bounded() {
        assert_eq!(parse_query::<RunsQuery>("").unwrap().limit(), 50);
        assert_eq!(parse_query::<RunsQuery>("limit=500").unwrap().limit(), 500);
        assert!(parse_query::<RunsQuery>("limit=0").is_err());
        assert!(parse_query::<RunsQuery>("limit=501").is_err());
    }

    #[test]
    fn names_round_trip() {
        for s in RunStatus::ALL {
            assert_eq!(
                serde_json::to_string(s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
            assert_eq!(RunStatus::parse(s.as_str()), Some(*s));
        }
        for d in Weekday::ALL {
            assert_eq!(Weekday::parse(d.as_str()), Some(d));
        }
        for p in [MissedPolicy::SendLate, MissedPolicy::Skip] {
            assert_eq!(MissedPolicy::parse(p.as_str()), Some(p));
        }
    }
}
