//! `GET /api/v1/instances/{id}/analytics?from=&to=` (figures per UTC day and their totals) and
//! `GET /api/v1/instances/{id}/insights` (questions left unanswered, resolution rate), computed from the
//! messages the manager collected; and the `llm` block of the instance's detail.

use axum::{
    Json,
    extract::{Path, State},
};
use shared::{
    api::analytics::{
        AnalyticsDay, AnalyticsFigures, AnalyticsQuery, AnalyticsResponse, InsightsResponse,
        LlmStats, MAX_UNANSWERED, Outcome, UnansweredQuestion,
    },
    http::ValidQuery,
};
use time::{Date, Duration, OffsetDateTime};

use super::{AppState, views::rfc3339};
use crate::{
    error::ApiError,
    fleet::Fleet,
    store::{
        Store,
        conversations::{DAY_MS, DayCounts, mean, p95},
    },
};

/// The unix day number of `date` (days since 1970-01-01).
fn unix_day(date: Date) -> i64 {
    i64::from(date.to_julian_day() - OffsetDateTime::UNIX_EPOCH.date().to_julian_day())
}

fn figures(d: &DayCounts) -> AnalyticsFigures {
    AnalyticsFigures {
        messages_in: d.messages_in,
        messages_out: d.messages_out,
        conversations: d.conversations,
        unique_users: d.unique_users,
        agent_calls: d.agent_calls,
        avg_latency_ms: mean(&d.latencies),
        p95_latency_ms: p95(&d.latencies),
        tokens_in: d.tokens_in,
        tokens_out: d.tokens_out,
        errors: d.errors,
        dropped_rate: d.dropped_rate,
        dropped_cap: d.dropped_cap,
    }
}

#[utoipa::path(get, path = "/api/v1/instances/{id}/analytics", tag = "conversations",
    summary = "The bot's figures per UTC day and in all over a range (default the last 30 days)",
    params(("id" = String, Path, description = "Instance id"), AnalyticsQuery),
    responses((status = 200, description = "Every day of the range, oldest first, and the totals", body = AnalyticsResponse)),
    security(("admin_key" = [])))]
pub async fn get_analytics(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ValidQuery(query): ValidQuery<AnalyticsQuery>,
) -> Result<Json<AnalyticsResponse>, ApiError> {
    state.fleet.get(&id)?;
    let (from, to) = query
        .range(OffsetDateTime::now_utc().date())
        .map_err(|e| ApiError::validation(e.field, e.message))?;
    let (first, last) = (unix_day(from), unix_day(to));
    let analytics = state.fleet.store.analytics(&id, first..last + 1).await?;
    let none = DayCounts::default();
    let daily = (0..=last - first)
        .map(|i| AnalyticsDay {
            date: (from + Duration::days(i)).to_string(),
            figures: figures(analytics.days.get(&(first + i)).unwrap_or(&none)),
        })
        .collect();
    Ok(Json(AnalyticsResponse {
        success: true,
        instance_id: id,
        from: from.to_string(),
        to: to.to_string(),
        daily,
        summary: figures(&analytics.summary),
    }))
}

#[utoipa::path(get, path = "/api/v1/instances/{id}/insights", tag = "conversations",
    summary = "Questions the bot left unanswered, and its resolution rate",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "Insights", body = InsightsResponse)),
    security(("admin_key" = [])))]
pub async fn get_insights(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<InsightsResponse>, ApiError> {
    state.fleet.get(&id)?;
    let insights = state
        .fleet
        .store
        .insights(&id, MAX_UNANSWERED as i64)
        .await?;
    let total = insights.answered + insights.fallback + insights.failed;
    let unanswered_questions = insights
        .unanswered
        .into_iter()
        .map(|u| {
            let outcome = Outcome::parse(&u.outcome).ok_or_else(|| {
                ApiError::Database(sqlx::Error::Decode(
                    format!("a message has outcome {:?}", u.outcome).into(),
                ))
            })?;
            Ok(UnansweredQuestion {
                question: u.question,
                bot_response: u.bot_response,
                outcome,
                created_at: rfc3339(u.at),
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Json(InsightsResponse {
        success: true,
        unanswered_questions,
        resolution_rate: resolution_rate(insights.answered, total),
        total_answered: insights.answered,
        total_responses: total,
    }))
}

/// `answered` in percent of `total`, to a tenth; none when there were none.
fn resolution_rate(answered: i64, total: i64) -> Option<f64> {
    (total > 0).then(|| (answered as f64 * 1000.0 / total as f64).round() / 10.0)
}

/// The `llm` block of the instance's detail: today's (UTC) agent calls and the last success.
/// Today's figures from what the manager remembers, computed from the messages only when new ones were
/// stored since (or on a new day).
pub async fn llm_today(fleet: &Fleet, id: &str) -> Result<LlmStats, ApiError> {
    let today = unix_day(OffsetDateTime::now_utc().date());
    let ticket = match fleet.observed.llm(id, today) {
        Ok(stats) => return Ok(stats),
        Err(ticket) => ticket,
    };
    let stats = compute_llm_stats(&fleet.store, id, today).await?;
    fleet
        .observed
        .computed_llm(id, ticket, today, stats.clone());
    Ok(stats)
}

async fn compute_llm_stats(store: &Store, id: &str, day: i64) -> Result<LlmStats, ApiError> {
    let row = store.llm_stats(id, day * DAY_MS).await?;
    Ok(LlmStats {
        last_success_time: row.last_success_at.map(rfc3339),
        average_latency_ms: row.average_latency_ms,
        total_tokens_today: row.tokens_today,
        success_count: row.success_count,
        error_count: row.error_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_count_from_the_unix_epoch() {
        let day = |s: &str| shared::api::analytics::parse_date(s).unwrap();
        assert_eq!(unix_day(day("1970-01-01")), 0);
        assert_eq!(unix_day(day("1970-01-02")), 1);
        // 2026-03-15T00:00:00Z is 1773532800 s.
        assert_eq!(unix_day(day("2026-03-15")) * DAY_MS, 1_773_532_800_000);
    }

    #[test]
    fn the_resolution_rate_is_a_percentage_to_a_tenth() {
        assert_eq!(resolution_rate(0, 0), None);
        assert_eq!(resolution_rate(2, 3), Some(66.7));
        assert_eq!(resolution_rate(312, 400), Some(78.0));
        assert_eq!(resolution_rate(5, 5), Some(100.0));
    }
}
