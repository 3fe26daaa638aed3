//! When a schedule runs: its timing (a cron pattern — the `{days, time}` form is turned into one — or a
//! single instant) read in its IANA time zone, within its `starts_at`/`ends_at` bounds. Pure, so every
//! rule is unit-tested, DST included.
//!
//! Occurrences are whole seconds. Daylight saving time is croner's (the Open Cron Pattern Specification,
//! as Vixie cron does it): a fixed time that falls in the hour skipped in spring runs at the first
//! minute after the gap (02:30 in `Europe/Berlin` on the last Sunday of March runs at 03:00 CEST); a
//! fixed time in the hour repeated in autumn runs once, at its first pass (02:30 CEST). Patterns with
//! wildcards or steps in the second, minute or hour field skip the times that do not exist and run
//! in both passes of the repeated hour.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::{
    Cron,
    parser::{CronParser, Seconds, Year},
};
use shared::api::schedules::Weekday;

/// Why a timing is refused: the request field at fault and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    pub field: &'static str,
    pub message: String,
}

impl PlanError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone)]
enum Timing {
    Cron(Box<Cron>),
    Once(i64),
}

/// A schedule's occurrences.
#[derive(Debug, Clone)]
pub struct Plan {
    timing: Timing,
    tz: Tz,
    starts_at: Option<i64>,
    ends_at: Option<i64>,
}

/// The IANA zone named `name` (`UTC`, `Europe/Berlin`); refused naming `timezone`.
pub fn zone(name: &str) -> Result<Tz, PlanError> {
    name.parse::<Tz>().map_err(|_| {
        PlanError::new(
            "timezone",
            format!("`{name}` is not an IANA time zone (like `Europe/Berlin` or `UTC`)"),
        )
    })
}

/// A cron pattern of 5 fields, or 6 with seconds first (no year field); refused naming `cron`.
pub fn parse_cron(pattern: &str) -> Result<Cron, PlanError> {
    let fields = pattern.split_whitespace().count();
    if !pattern.trim_start().starts_with('@') && !(5..=6).contains(&fields) {
        return Err(PlanError::new(
            "cron",
            format!(
                "must have 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), \
                 not {fields}"
            ),
        ));
    }
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
        .parse(pattern)
        .map_err(|e| PlanError::new("cron", format!("is not a cron pattern: {e}")))
}

/// The cron pattern of the `{days, time}` form: `S M H * * DAYS` (every day when `days` is empty).
pub fn days_pattern(days: &[Weekday], (h, m, s): (u32, u32, u32)) -> String {
    let mut names: Vec<&str> = Vec::new();
    for d in Weekday::ALL {
        if days.contains(&d) {
            names.push(d.as_str());
        }
    }
    let dow = if names.is_empty() || names.len() == 7 {
        "*".to_string()
    } else {
        names.join(",").to_uppercase()
    };
    format!("{s} {m} {h} * * {dow}")
}

impl Plan {
    /// Runs on `cron` in `tz`.
    pub fn cron(
        cron: Cron,
        tz: Tz,
        starts_at: Option<i64>,
        ends_at: Option<i64>,
    ) -> Result<Self, PlanError> {
        Self::bounded(Timing::Cron(Box::new(cron)), tz, starts_at, ends_at)
    }

    /// Runs once, at `at` (unix ms).
    pub fn once(at: i64, tz: Tz) -> Self {
        Self {
            timing: Timing::Once(at),
            tz,
            starts_at: None,
            ends_at: None,
        }
    }

    fn bounded(
        timing: Timing,
        tz: Tz,
        starts_at: Option<i64>,
        ends_at: Option<i64>,
    ) -> Result<Self, PlanError> {
        if let (Some(s), Some(e)) = (starts_at, ends_at)
            && e <= s
        {
            return Err(PlanError::new("ends_at", "must be after starts_at"));
        }
        Ok(Self {
            timing,
            tz,
            starts_at,
            ends_at,
        })
    }

    fn at_second(&self, secs: i64) -> Option<DateTime<Tz>> {
        Utc.timestamp_opt(secs, 0)
            .single()
            .map(|t| t.with_timezone(&self.tz))
    }

    /// The first occurrence strictly after `after` (unix ms), within the bounds.
    pub fn next_after(&self, after: i64) -> Option<i64> {
        let lower = after
            .saturating_add(1)
            .max(self.starts_at.unwrap_or(i64::MIN));
        let found = match &self.timing {
            Timing::Once(at) => (*at >= lower).then_some(*at),
            Timing::Cron(cron) => {
                // The first whole second at or after `lower`.
                let start = self
                    .at_second(lower.div_euclid(1000) + i64::from(lower.rem_euclid(1000) != 0))?;
                let next = cron.find_next_occurrence(&start, true).ok()?;
                Some(next.timestamp() * 1000)
            }
        }?;
        (found <= self.ends_at.unwrap_or(i64::MAX)).then_some(found)
    }

    /// The newest occurrence at or before `until` (unix ms), within the bounds.
    pub fn latest_until(&self, until: i64) -> Option<i64> {
        let upper = until.min(self.ends_at.unwrap_or(i64::MAX));
        let found = match &self.timing {
            Timing::Once(at) => (*at <= upper).then_some(*at),
            Timing::Cron(cron) => {
                let start = self.at_second(upper.div_euclid(1000))?;
                let previous = cron.find_previous_occurrence(&start, true).ok()?;
                Some(previous.timestamp() * 1000)
            }
        }?;
        (found >= self.starts_at.unwrap_or(i64::MIN)).then_some(found)
    }

    /// How many occurrences fall in `[from, until)`, counting at most `cap`.
    pub fn count_between(&self, from: i64, until: i64, cap: i64) -> i64 {
        let mut n = 0;
        let mut t = self.next_after(from.saturating_sub(1));
        while let Some(at) = t {
            if at >= until || n >= cap {
                break;
            }
            n += 1;
            t = self.next_after(at);
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix ms of a UTC wall time.
    fn utc(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    fn show(ms: i64) -> String {
        Utc.timestamp_millis_opt(ms)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    }

    fn plan(pattern: &str, tz: &str) -> Plan {
        Plan::cron(parse_cron(pattern).unwrap(), zone(tz).unwrap(), None, None).unwrap()
    }

    fn next_n(p: &Plan, from: &str, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut t = utc(from);
        for _ in 0..n {
            t = p.next_after(t).unwrap();
            out.push(show(t));
        }
        out
    }

    #[test]
    fn a_daily_0230_in_berlin_runs_at_0300_on_the_spring_forward_day() {
        // 2026-03-29: 02:00 CET becomes 03:00 CEST; 02:30 does not exist that day.
        let p = plan(&days_pattern(&[], (2, 30, 0)), "Europe/Berlin");
        assert_eq!(
            next_n(&p, "2026-03-27T12:00:00Z", 4),
            [
                "2026-03-28T01:30:00Z", // 02:30 CET
                "2026-03-29T01:00:00Z", // 03:00 CEST: the first minute after the gap
                "2026-03-30T00:30:00Z", // 02:30 CEST
                "2026-03-31T00:30:00Z",
            ]
        );
    }

    #[test]
    fn a_daily_0230_in_berlin_runs_once_on_the_fall_back_day() {
        // 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens twice, the run only at the first.
        let p = plan("30 2 * * *", "Europe/Berlin");
        assert_eq!(
            next_n(&p, "2026-10-23T12:00:00Z", 3),
            [
                "2026-10-24T00:30:00Z", // 02:30 CEST
                "2026-10-25T00:30:00Z", // 02:30 CEST, the first pass; not again at 01:30Z (CET)
                "2026-10-26T01:30:00Z", // 02:30 CET
            ]
        );
        // Looking back from after the second pass finds the first pass, once.
        assert_eq!(
            show(p.latest_until(utc("2026-10-25T01:45:00Z")).unwrap()),
            "2026-10-25T00:30:00Z"
        );
    }

    #[test]
    fn an_hourly_pattern_skips_the_missing_hour_and_runs_in_both_repeated_ones() {
        let p = plan("15 * * * *", "Europe/Berlin");
        // Spring: 01:15 CET (00:15Z), then 03:15 CEST (01:15Z): no 02:15.
        assert_eq!(
            next_n(&p, "2026-03-29T00:00:00Z", 2),
            ["2026-03-29T00:15:00Z", "2026-03-29T01:15:00Z"]
        );
        // Autumn: 02:15 CEST (00:15Z) and 02:15 CET (01:15Z), one real hour apart.
        assert_eq!(
            next_n(&p, "2026-10-25T00:00:00Z", 2),
            ["2026-10-25T00:15:00Z", "2026-10-25T01:15:00Z"]
        );
    }

    #[test]
    fn days_and_time_run_on_those_days_only() {
        let p = plan(
            &days_pattern(&[Weekday::Wed, Weekday::Mon], (9, 0, 0)),
            "UTC",
        );
        // 2026-11-27 is a Friday.
        assert_eq!(
            next_n(&p, "2026-11-27T10:00:00Z", 3),
            [
                "2026-11-30T09:00:00Z", // Monday
                "2026-12-02T09:00:00Z", // Wednesday
                "2026-12-07T09:00:00Z",
            ]
        );
        assert_eq!(days_pattern(&[], (9, 5, 7)), "7 5 9 * * *");
        assert_eq!(days_pattern(&Weekday::ALL, (9, 5, 0)), "0 5 9 * * *");
        assert_eq!(
            days_pattern(&[Weekday::Sun, Weekday::Mon, Weekday::Mon], (0, 0, 0)),
            "0 0 0 * * MON,SUN"
        );
    }

    #[test]
    fn a_time_zone_moves_the_run() {
        let p = plan("0 9 * * *", "America/New_York");
        assert_eq!(
            next_n(&p, "2026-07-01T00:00:00Z", 1),
            ["2026-07-01T13:00:00Z"]
        );
        assert_eq!(
            next_n(&p, "2026-12-01T00:00:00Z", 1),
            ["2026-12-01T14:00:00Z"]
        );
    }

    #[test]
    fn six_fields_have_seconds_and_next_is_strictly_after() {
        let p = plan("*/5 * * * * *", "UTC");
        let t = utc("2026-01-01T00:00:05Z");
        assert_eq!(show(p.next_after(t).unwrap()), "2026-01-01T00:00:10Z");
        assert_eq!(show(p.next_after(t - 1).unwrap()), "2026-01-01T00:00:05Z");
        assert_eq!(show(p.next_after(t + 999).unwrap()), "2026-01-01T00:00:10Z");
        assert_eq!(show(p.latest_until(t).unwrap()), "2026-01-01T00:00:05Z");
        assert_eq!(show(p.latest_until(t - 1).unwrap()), "2026-01-01T00:00:00Z");
        assert_eq!(p.count_between(t, t + 30_000, 100), 6);
        assert_eq!(p.count_between(t, t + 30_000, 4), 4);
        assert_eq!(p.count_between(t, t, 100), 0);
    }

    #[test]
    fn a_one_off_runs_once() {
        let at = utc("2026-12-01T09:00:00Z");
        let p = Plan::once(at, Tz::UTC);
        assert_eq!(p.next_after(at - 1), Some(at));
        assert_eq!(p.next_after(at), None);
        assert_eq!(p.latest_until(at), Some(at));
        assert_eq!(p.latest_until(at - 1), None);
    }

    #[test]
    fn bounds_hold_runs_between_them() {
        let cron = parse_cron("0 9 * * *").unwrap();
        let (s, e) = (utc("2026-12-03T00:00:00Z"), utc("2026-12-05T09:00:00Z"));
        let p = Plan::cron(cron.clone(), Tz::UTC, Some(s), Some(e)).unwrap();
        assert_eq!(
            next_n(&p, "2026-11-01T00:00:00Z", 3),
            [
                "2026-12-03T09:00:00Z",
                "2026-12-04T09:00:00Z",
                "2026-12-05T09:00:00Z", // ends_at is inclusive
            ]
        );
        assert_eq!(p.next_after(e), None);
        assert_eq!(p.latest_until(utc("2026-12-02T12:00:00Z")), None);
        assert_eq!(
            show(p.latest_until(utc("2027-01-01T00:00:00Z")).unwrap()),
            "2026-12-05T09:00:00Z"
        );
        let refused = Plan::cron(cron, Tz::UTC, Some(e), Some(s)).unwrap_err();
        assert_eq!(refused.field, "ends_at");
    }

    #[test]
    fn patterns_and_zones_are_checked() {
        for bad in [
            "",
            "* * * *",
            "* * * * * * *",
            "61 * * * *",
            "* * * * mon-",
            "every day",
        ] {
            assert_eq!(parse_cron(bad).unwrap_err().field, "cron", "{bad:?}");
        }
        for good in [
            "*/5 * * * *",
            "0 9 * * mon-fri",
            "0 0 9 * * MON",
            "@daily",
            "0 0 L * *",
        ] {
            assert!(parse_cron(good).is_ok(), "{good:?}");
        }
        assert_eq!(zone("Mars/Olympus").unwrap_err().field, "timezone");
        assert!(zone("Europe/Berlin").is_ok());
        assert!(zone("UTC").is_ok());
    }

    #[test]
    fn a_pattern_that_never_matches_has_no_next_run() {
        let started = std::time::Instant::now();
        let p = plan("0 0 30 2 *", "UTC");
        assert_eq!(p.next_after(utc("2026-01-01T00:00:00Z")), None);
        assert_eq!(p.latest_until(utc("2026-01-01T00:00:00Z")), None);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "searching took {:?}",
            started.elapsed()
        );
    }
}
