//! `GET /api/v1/instances`: the bots the caller may see, filtered (status, provider, owner, label, text),
//! ordered and paged over the cache; only the page is turned into views.

use std::{cmp::Ordering, collections::HashMap};

use axum::{Json, extract::State};
use shared::{
    api::instances::{InstanceList, InstanceListQuery, InstanceSort, SortOrder},
    http::ValidQuery,
};

use super::{AppState, views};
use crate::{auth::Principal, domain::InstanceRecord};

#[utoipa::path(get, path = "/api/v1/instances", tag = "instances", summary = "Instances the caller may see: filtered, ordered (oldest first unless `sort` says otherwise), all unless paged",
    params(InstanceListQuery),
    responses((status = 200, description = "A page of the matching instances (`total` counts every match)", body = InstanceList)),
    security(("admin_key" = [])))]
pub async fn list_instances(
    State(state): State<AppState>,
    principal: Principal,
    ValidQuery(query): ValidQuery<InstanceListQuery>,
) -> Json<InstanceList> {
    let text = query
        .q
        .as_deref()
        .map(|q| q.trim().to_lowercase())
        .filter(|q| !q.is_empty());
    let mut matching: Vec<_> = state
        .fleet
        .cache
        .list()
        .into_iter()
        .filter(|r| principal.may_see(&r.id, &r.user_id))
        .filter(|r| matches(&query, text.as_deref(), r))
        .collect();
    order(&state, &query, &mut matching);
    let instances: Vec<_> = matching
        .iter()
        .skip(query.offset as usize)
        .take(query.limit.map_or(usize::MAX, |l| l as usize))
        .map(|r| views::instance(r))
        .collect();
    Json(InstanceList {
        success: true,
        total: matching.len(),
        count: instances.len(),
        offset: query.offset,
        instances,
    })
}

/// Whether `r` passes the query's filters (`text`: its search, lowercased).
fn matches(query: &InstanceListQuery, text: Option<&str>, r: &InstanceRecord) -> bool {
    let found = text.is_none_or(|q| {
        [
            r.display_name.as_str(),
            r.id.as_str(),
            r.user_id.as_str(),
            r.account.as_deref().unwrap_or_default(),
            r.bot_username.as_deref().unwrap_or_default(),
        ]
        .iter()
        .any(|f| f.to_lowercase().contains(q))
    });
    let labelled = query
        .label
        .as_deref()
        .is_none_or(|selector| match selector.split_once('=') {
            Some((key, value)) => r.labels.get(key).is_some_and(|v| v == value),
            None => r.labels.contains_key(selector),
        });
    found
        && labelled
        && query.status.is_none_or(|s| r.status == s)
        && query.provider.is_none_or(|p| r.provider == p)
        && query.owner.as_deref().is_none_or(|o| r.user_id == o)
}

/// Sorts `rows` as the query asks; ties keep the cache's order (oldest first). Bots without a resource
/// sample come last by CPU or memory, either way.
fn order(state: &AppState, query: &InstanceListQuery, rows: &mut [std::sync::Arc<InstanceRecord>]) {
    let sample = matches!(query.sort, InstanceSort::Cpu | InstanceSort::Memory)
        .then(|| state.resources.latest())
        .flatten();
    let usage: HashMap<&str, (f64, u64)> = sample
        .as_ref()
        .map(|s| {
            s.instances
                .iter()
                .map(|i| {
                    (
                        i.instance_id.as_str(),
                        (i.usage.cpu_percent, i.usage.memory_bytes),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let desc = query.order == SortOrder::Desc;
    let directed = |o: Ordering| if desc { o.reverse() } else { o };
    // A figure missing sorts last whichever way the rest goes.
    let measured = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => directed(a.total_cmp(&b)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    match query.sort {
        InstanceSort::Created => {
            if desc {
                rows.reverse();
            }
        }
        InstanceSort::Name => rows.sort_by_cached_key(|r| r.display_name.to_lowercase()),
        InstanceSort::Status => rows.sort_by_key(|r| r.status.as_str()),
        InstanceSort::Provider => rows.sort_by_key(|r| r.provider.as_str()),
        InstanceSort::Owner => rows.sort_by(|a, b| a.user_id.cmp(&b.user_id)),
        InstanceSort::Port => rows.sort_by_key(|r| r.port),
        InstanceSort::Restarts => rows.sort_by_key(|r| r.restart_count),
        InstanceSort::Messages => rows.sort_by_key(|r| r.sent_count + r.received_count),
        InstanceSort::Cpu => rows.sort_by(|a, b| {
            measured(
                usage.get(a.id.as_str()).map(|u| u.0),
                usage.get(b.id.as_str()).map(|u| u.0),
            )
        }),
        InstanceSort::Memory => rows.sort_by(|a, b| {
            measured(
                usage.get(a.id.as_str()).map(|u| u.1 as f64),
                usage.get(b.id.as_str()).map(|u| u.1 as f64),
            )
        }),
    }
    let sorted_by_key = !matches!(
        query.sort,
        InstanceSort::Created | InstanceSort::Cpu | InstanceSort::Memory
    );
    if desc && sorted_by_key {
        rows.reverse();
    }
}
