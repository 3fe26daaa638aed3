//! `GET/POST /api/v1/instances/{id}/schedules`, `GET/PUT/DELETE …/schedules/{schedule_id}` and
//! `GET …/schedules/{schedule_id}/runs`: messages the bot sends by itself, and their run log. The
//! scheduler (`crate::schedules`) does the sending; these routes write the schedules and wake it.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use shared::{
    ErrorBody,
    api::schedules::{
        MAX_SCHEDULES_PER_INSTANCE, RunList, RunView, RunsQuery, ScheduleList, ScheduleRequest,
        ScheduleView, Weekday,
    },
    http::{ValidJson, ValidQuery},
};

use super::{AppState, views::rfc3339};
use crate::{
    domain::InstanceRecord,
    error::ApiError,
    fleet::now_ms,
    schedules::plan::{self, Plan, PlanError},
    store::schedules::{RunRow, ScheduleRow, run_id},
};

/// How far in the past a new one-off's `at` may be (a clock a little behind); it then runs at once.
const AT_PAST_TOLERANCE_MS: i64 = 60_000;

impl From<PlanError> for ApiError {
    fn from(e: PlanError) -> Self {
        ApiError::validation(e.field, e.message)
    }
}

#[utoipa::path(get, path = "/api/v1/instances/{id}/schedules", tag = "schedules", summary = "The instance's scheduled messages, oldest first",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "Schedules, each with its next run and its last run's outcome", body = ScheduleList)),
    security(("admin_key" = [])))]
pub async fn list_schedules(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ScheduleList>, ApiError> {
    state.fleet.get(&id)?;
    let mut last = state.fleet.store.last_runs(&id).await?;
    let schedules: Vec<ScheduleView> = state
        .fleet
        .store
        .schedules(&id)
        .await?
        .iter()
        .map(|s| view(s, last.remove(&s.id).as_ref()))
        .collect();
    Ok(Json(ScheduleList {
        success: true,
        count: schedules.len(),
        schedules,
    }))
}

#[utoipa::path(post, path = "/api/v1/instances/{id}/schedules", tag = "schedules", summary = "Schedule a message: on a cron pattern, on days at a time, or once",
    params(("id" = String, Path, description = "Instance id")),
    request_body = ScheduleRequest,
    responses((status = 201, description = "Scheduled", body = ScheduleView),
        (status = 409, description = "The instance has 1000 schedules already", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn create_schedule(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ValidJson(request): ValidJson<ScheduleRequest>,
) -> Result<(StatusCode, Json<ScheduleView>), ApiError> {
    let record = state.fleet.get(&id)?;
    let now = now_ms();
    let row = schedule_row(
        &record,
        uuid::Uuid::new_v4().to_string(),
        &request,
        now,
        None,
    )?;
    if !state
        .fleet
        .store
        .insert_schedule(&row, MAX_SCHEDULES_PER_INSTANCE as i64)
        .await?
    {
        return Err(ApiError::Conflict(format!(
            "instance {id} has {MAX_SCHEDULES_PER_INSTANCE} schedules already; delete one first"
        )));
    }
    state.schedules.notify_one();
    tracing::info!(instance_id = %id, schedule_id = %row.id, next_due_at = ?row.next_due_at, "schedule created");
    Ok((StatusCode::CREATED, Json(view(&row, None))))
}

#[utoipa::path(get, path = "/api/v1/instances/{id}/schedules/{schedule_id}", tag = "schedules", summary = "One scheduled message",
    params(("id" = String, Path, description = "Instance id"), ("schedule_id" = String, Path, description = "Schedule id")),
    responses((status = 200, description = "The schedule, with its next run and its last run's outcome", body = ScheduleView),
        (status = 404, description = "No such instance, or it has no such schedule", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn get_schedule(
    State(state): State<AppState>,
    Path((id, schedule_id)): Path<(String, String)>,
) -> Result<Json<ScheduleView>, ApiError> {
    state.fleet.get(&id)?;
    let row = find(&state, &id, &schedule_id).await?;
    let last = state.fleet.store.runs(&row.id, 1).await?;
    Ok(Json(view(&row, last.first())))
}

#[utoipa::path(put, path = "/api/v1/instances/{id}/schedules/{schedule_id}", tag = "schedules", summary = "Replace a scheduled message (the whole body, as created)",
    params(("id" = String, Path, description = "Instance id"), ("schedule_id" = String, Path, description = "Schedule id")),
    request_body = ScheduleRequest,
    responses((status = 200, description = "Saved; its next run is counted from now", body = ScheduleView),
        (status = 404, description = "No such instance, or it has no such schedule", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn update_schedule(
    State(state): State<AppState>,
    Path((id, schedule_id)): Path<(String, String)>,
    ValidJson(request): ValidJson<ScheduleRequest>,
) -> Result<Json<ScheduleView>, ApiError> {
    let record = state.fleet.get(&id)?;
    let previous = find(&state, &id, &schedule_id).await?;
    let row = schedule_row(&record, schedule_id, &request, now_ms(), Some(&previous))?;
    if !state.fleet.store.replace_schedule(&row).await? {
        return Err(schedule_not_found(&id, &row.id));
    }
    state.schedules.notify_one();
    let last = state.fleet.store.runs(&row.id, 1).await?;
    Ok(Json(view(&row, last.first())))
}

#[utoipa::path(delete, path = "/api/v1/instances/{id}/schedules/{schedule_id}", tag = "schedules", summary = "Delete a scheduled message and its run log",
    params(("id" = String, Path, description = "Instance id"), ("schedule_id" = String, Path, description = "Schedule id")),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such instance, or it has no such schedule", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn delete_schedule(
    State(state): State<AppState>,
    Path((id, schedule_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.fleet.get(&id)?;
    if !state.fleet.store.delete_schedule(&id, &schedule_id).await? {
        return Err(schedule_not_found(&id, &schedule_id));
    }
    state.schedules.notify_one();
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/instances/{id}/schedules/{schedule_id}/runs", tag = "schedules", summary = "A schedule's runs, newest due time first",
    params(("id" = String, Path, description = "Instance id"), ("schedule_id" = String, Path, description = "Schedule id"), RunsQuery),
    responses((status = 200, description = "Runs", body = RunList),
        (status = 404, description = "No such instance, or it has no such schedule", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn list_schedule_runs(
    State(state): State<AppState>,
    Path((id, schedule_id)): Path<(String, String)>,
    ValidQuery(query): ValidQuery<RunsQuery>,
) -> Result<Json<RunList>, ApiError> {
    state.fleet.get(&id)?;
    let row = find(&state, &id, &schedule_id).await?;
    let runs: Vec<RunView> = state
        .fleet
        .store
        .runs(&row.id, i64::from(query.limit()))
        .await?
        .iter()
        .map(run_view)
        .collect();
    Ok(Json(RunList {
        success: true,
        count: runs.len(),
        runs,
    }))
}

async fn find(state: &AppState, id: &str, schedule_id: &str) -> Result<ScheduleRow, ApiError> {
    state
        .fleet
        .store
        .schedule(id, schedule_id)
        .await?
        .ok_or_else(|| schedule_not_found(id, schedule_id))
}

fn schedule_not_found(id: &str, schedule_id: &str) -> ApiError {
    ApiError::NotFound(format!("instance {id} has no schedule {schedule_id}"))
}

/// An RFC 3339 instant as unix ms; 422 naming `field`.
fn instant(field: &'static str, value: &str) -> Result<i64, ApiError> {
    chrono::DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            ApiError::validation(
                field,
                "must be an RFC 3339 instant, like 2026-12-01T09:00:00Z or 2026-12-01T10:00:00+01:00",
            )
        })
}

/// The stored schedule `id` of `instance` as `request` says, its next due time counted from `now`.
/// Every rule that needs a calendar is checked here (422 naming the field).
fn schedule_row(
    instance: &InstanceRecord,
    id: String,
    request: &ScheduleRequest,
    now: i64,
    previous: Option<&ScheduleRow>,
) -> Result<ScheduleRow, ApiError> {
    let max_chars = instance.provider.capabilities().max_text_chars;
    if request.message.chars().count() > max_chars as usize {
        return Err(ApiError::validation(
            "message",
            format!(
                "{} takes at most {max_chars} characters in one message",
                instance.provider.display_name()
            ),
        ));
    }
    // Exactly one timing; `days` belongs to `time`.
    if request.days.is_some() && request.time.is_none() {
        return Err(ApiError::validation(
            "time",
            "`days` needs `time` (HH:MM): the time of day it runs at",
        ));
    }
    let given: Vec<&str> = [
        ("cron", request.cron.is_some()),
        ("time", request.time.is_some()),
        ("at", request.at.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, present)| present.then_some(name))
    .collect();
    match given.as_slice() {
        [] => {
            return Err(ApiError::validation(
                "cron",
                "say when it runs: `cron`, or `time` (with `days`), or `at` for a one-off",
            ));
        }
        [_] => {}
        [first, second, ..] => {
            return Err(ApiError::validation(
                *second,
                format!(
                    "give only one of `cron`, `time` (with `days`) and `at`, not both `{first}` and `{second}`"
                ),
            ));
        }
    }
    let timezone = request
        .timezone
        .as_deref()
        .map(str::trim)
        .unwrap_or("UTC")
        .to_string();
    let tz = plan::zone(&timezone)?;
    let starts_at = request
        .starts_at
        .as_deref()
        .map(|v| instant("starts_at", v))
        .transpose()?;
    let ends_at = request
        .ends_at
        .as_deref()
        .map(|v| instant("ends_at", v))
        .transpose()?;
    let mut days = None;
    let (plan, at) = if let Some(at) = &request.at {
        let at = instant("at", at)?;
        for (field, given) in [("starts_at", starts_at), ("ends_at", ends_at)] {
            if given.is_some() {
                return Err(ApiError::validation(
                    field,
                    "a one-off (`at`) runs once: it has no start or end",
                ));
            }
        }
        let unchanged = previous.is_some_and(|p| p.at == Some(at));
        if at < now - AT_PAST_TOLERANCE_MS && !unchanged {
            return Err(ApiError::validation("at", "is in the past"));
        }
        (Plan::once(at, tz), Some(at))
    } else {
        let pattern = match (&request.cron, &request.time) {
            (Some(cron), _) => cron.trim().to_string(),
            (None, Some(time)) => {
                let hms = shared::api::schedules::parse_time_of_day(time)
                    .ok_or_else(|| ApiError::validation("time", "must be HH:MM or HH:MM:SS"))?;
                let mut list: Vec<Weekday> = request.days.clone().unwrap_or_default();
                list.sort();
                list.dedup();
                let pattern = plan::days_pattern(&list, hms);
                days = Some(list);
                pattern
            }
            (None, None) => unreachable!("one timing was given"),
        };
        let cron = plan::parse_cron(&pattern)?;
        if Plan::cron(cron.clone(), tz, None, None)?
            .next_after(now)
            .is_none()
        {
            return Err(ApiError::validation(
                if request.cron.is_some() {
                    "cron"
                } else {
                    "days"
                },
                "never matches a date",
            ));
        }
        if let Some(end) = ends_at
            && end < now
        {
            return Err(ApiError::validation("ends_at", "is in the past"));
        }
        (Plan::cron(cron, tz, starts_at, ends_at)?, None)
    };
    let next_due_at = if request.enabled {
        match at {
            Some(at) if at < now - AT_PAST_TOLERANCE_MS => None,
            Some(at) => Some(at),
            None => plan.next_after(now - 1),
        }
    } else {
        None
    };
    Ok(ScheduleRow {
        id,
        instance_id: instance.id.clone(),
        name: request.name.clone(),
        chat_id: request.chat_id.to_string(),
        message: request.message.clone(),
        cron: request.cron.as_deref().map(|c| c.trim().to_string()),
        days,
        time: request.time.clone(),
        at,
        timezone,
        starts_at,
        ends_at,
        enabled: request.enabled,
        missed: request.missed,
        grace_secs: i64::from(request.grace_secs),
        next_due_at,
        created_at: previous.map_or(now, |p| p.created_at),
        updated_at: now,
    })
}

fn view(s: &ScheduleRow, last_run: Option<&RunRow>) -> ScheduleView {
    ScheduleView {
        id: s.id.clone(),
        instance_id: s.instance_id.clone(),
        name: s.name.clone(),
        chat_id: s.chat_id.clone(),
        message: s.message.clone(),
        cron: s.cron.clone(),
        days: s.days.clone(),
        time: s.time.clone(),
        at: s.at.map(rfc3339),
        timezone: s.timezone.clone(),
        starts_at: s.starts_at.map(rfc3339),
        ends_at: s.ends_at.map(rfc3339),
        enabled: s.enabled,
        missed: s.missed,
        grace_secs: u32::try_from(s.grace_secs).unwrap_or(u32::MAX),
        next_run_at: s.next_due_at.map(rfc3339),
        last_run: last_run.map(run_view),
        created_at: rfc3339(s.created_at),
        updated_at: rfc3339(s.updated_at),
    }
}

fn run_view(r: &RunRow) -> RunView {
    RunView {
        id: run_id(&r.schedule_id, r.due_at),
        due_at: rfc3339(r.due_at),
        status: r.status,
        message_id: r.message_id.clone(),
        reason: r.reason.clone(),
        attempts: r.attempts,
        superseded: r.superseded,
        created_at: rfc3339(r.created_at),
        finished_at: r.finished_at.map(rfc3339),
    }
}
