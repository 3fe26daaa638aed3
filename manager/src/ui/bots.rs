//! `/ui/bots`: the bots table (search, filters by status and provider, sort, paging, CPU and memory
//! from the latest sample) and the bulk verbs on the selected bots.

use std::collections::HashMap;

use axum::{
    extract::{Query, RawForm},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use maud::{Markup, html};
use mcp::{RestCall, segment};
use serde::Deserialize;
use shared::api::{
    instances::{InstanceList, InstanceStatus},
    resources::{InstanceResourcesResponse, InstanceUsage},
};

use super::{ApiFailure, Caller, Ui, UiState, layout, refusal};

/// Rows per page of the table.
const PAGE_SIZE: usize = 50;

/// `?q=&status=&provider=&sort=&dir=&page=` of the table.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct TableQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    dir: String,
    #[serde(default)]
    page: usize,
}

impl TableQuery {
    fn link(&self, change: impl FnOnce(&mut TableQuery)) -> String {
        let mut q = self.clone();
        change(&mut q);
        let pairs = [
            ("q", q.q),
            ("status", q.status),
            ("provider", q.provider),
            ("sort", q.sort),
            ("dir", q.dir),
            (
                "page",
                if q.page > 0 {
                    q.page.to_string()
                } else {
                    String::new()
                },
            ),
        ];
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter().filter(|(_, v)| !v.is_empty()))
            .finish();
        format!("/ui/bots?{query}")
    }

    /// The API's page of the table: its filters, order and page passed on, so the API reads the cache
    /// once and only the 50 rows shown are turned into views, however many bots there are.
    fn api_path(&self, page: usize) -> String {
        let sort = if self.sort.is_empty() {
            "name"
        } else {
            self.sort.as_str()
        };
        let order = if self.dir == "desc" { "desc" } else { "asc" };
        let limit = PAGE_SIZE.to_string();
        let offset = (page * PAGE_SIZE).to_string();
        let q = self.q.trim();
        let pairs = [
            ("limit", limit.as_str()),
            ("offset", offset.as_str()),
            ("q", q),
            ("status", self.status.as_str()),
            ("provider", self.provider.as_str()),
            ("sort", sort),
            ("order", order),
        ];
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter().filter(|(_, v)| !v.is_empty()))
            .finish();
        format!("/api/v1/instances?{query}")
    }
}

pub fn status_badge(status: InstanceStatus) -> Markup {
    let class = match status {
        InstanceStatus::Running => "badge ok",
        InstanceStatus::Failed | InstanceStatus::Degraded => "badge bad",
        _ => "badge warn",
    };
    html! { span class=(class) data-status=(status.as_str()) { (status.as_str()) } }
}

/// `GET /ui/bots`.
pub async fn list(
    ui: UiState,
    caller: Caller,
    Query(query): Query<TableQuery>,
) -> Result<Response, ApiFailure> {
    table_page(&ui.0, &caller, query, None).await
}

async fn table_page(
    ui: &Ui,
    caller: &Caller,
    query: TableQuery,
    notice: Option<String>,
) -> Result<Response, ApiFailure> {
    let mut listed: InstanceList = ui
        .read(caller, RestCall::get(query.api_path(query.page)))
        .await?;
    let pages = listed.total.div_ceil(PAGE_SIZE).max(1);
    let page = query.page.min(pages - 1);
    if page != query.page {
        // Past the last page (the fleet shrank): the last one.
        listed = ui.read(caller, RestCall::get(query.api_path(page))).await?;
    }
    // Each row's latest CPU and memory (none before the first sample: the API answers 503 then).
    let mut usage: HashMap<String, InstanceUsage> = HashMap::new();
    for b in &listed.instances {
        let path = format!("/api/v1/instances/{}/resources", segment(&b.id));
        if let Ok(InstanceResourcesResponse { usage: Some(u), .. }) =
            ui.read(caller, RestCall::get(path)).await
        {
            usage.insert(b.id.clone(), u);
        }
    }
    let rows = listed.instances.iter();
    let sort_link = |key: &str, label: &str| {
        let desc = query.sort == key && query.dir != "desc";
        let href = query.link(|q| {
            q.sort = key.into();
            q.dir = if desc { "desc".into() } else { String::new() };
            q.page = 0;
        });
        html! { a href=(href) { (label) } }
    };
    let body = html! {
        h1 { "Bots" }
        @if let Some(notice) = &notice { p role="status" id="notice" { (notice) } }
        form class="filters" method="get" action="/ui/bots" role="search" {
            div { label for="q" { "Search" }
                input id="q" name="q" type="search" value=(query.q) placeholder="name, id, owner, @handle"; }
            div { label for="status" { "Status" }
                select id="status" name="status" {
                    option value="" { "any" }
                    @for s in InstanceStatus::ALL {
                        option value=(s.as_str()) selected[query.status == s.as_str()] { (s.as_str()) }
                    }
                } }
            div { label for="provider" { "Provider" }
                select id="provider" name="provider" {
                    option value="" { "any" }
                    @for p in shared::Provider::ALL {
                        option value=(p.as_str()) selected[query.provider == p.as_str()] { (p.display_name()) }
                    }
                } }
            div { button type="submit" { "Apply" } }
            div { a class="button secondary" href="/ui/bots/new" { "New bot" } }
        }
        form method="post" action="/ui/bots/bulk" {
            div class="actions" {
                label for="bulk-action" { "With the selected bots:" }
                select id="bulk-action" name="action" {
                    option value="start" { "start" }
                    option value="stop" { "stop" }
                    option value="restart" { "restart" }
                }
                button type="submit" { "Apply to selected" }
            }
            div class="table-wrap" {
                table id="bots" {
                    caption class="visually-hidden" { "Bots" }
                    thead { tr {
                        th scope="col" { span class="visually-hidden" { "Select" } }
                        th scope="col" { (sort_link("name", "Name")) }
                        th scope="col" { (sort_link("status", "Status")) }
                        th scope="col" { "Health" }
                        th scope="col" { (sort_link("provider", "Provider")) }
                        th scope="col" { (sort_link("restarts", "Restarts")) }
                        th scope="col" { (sort_link("messages", "Messages")) }
                        th scope="col" { (sort_link("cpu", "CPU")) }
                        th scope="col" { (sort_link("memory", "Memory")) }
                        th scope="col" { (sort_link("port", "Port")) }
                        th scope="col" { (sort_link("created", "Created")) }
                    } }
                    tbody {
                        @for b in rows {
                            tr data-id=(b.id) {
                                td { input type="checkbox" name="id" value=(b.id)
                                    aria-label=(format!("select {}", b.display_name)); }
                                td { a href=(format!("/ui/bots/{}", segment(&b.id))) { (b.display_name) } }
                                td { (status_badge(b.status)) }
                                td { @if b.health.healthy { span class="ok" { "healthy" } }
                                     @else { span class="bad" { "unhealthy" } } }
                                td { (b.provider.display_name()) }
                                td { (b.restart_count) }
                                td { (b.sent_count) " out · " (b.received_count) " in" }
                                @if let Some(u) = usage.get(&b.id) {
                                    td class="cpu" { (format!("{:.1} %", u.cpu_percent)) }
                                    td class="memory" { (megabytes(u.memory_bytes)) }
                                } @else {
                                    td class="cpu" { "—" } td class="memory" { "—" }
                                }
                                td { (b.port_api) @if let Some(p) = b.port_mcp { " · mcp " (p) } }
                                td { (b.created_at.get(..10).unwrap_or(&b.created_at)) }
                            }
                        }
                    }
                }
            }
        }
        nav class="pager" aria-label="Pages" {
            @if page > 0 { a href=(query.link(|q| q.page = page - 1)) rel="prev" { "← Previous" } }
            span id="page-info" { "Page " (page + 1) " of " (pages) " · " (listed.total) " bots" }
            @if page + 1 < pages { a href=(query.link(|q| q.page = page + 1)) rel="next" { "Next →" } }
        }
    };
    Ok(layout::page("Bots", Some(layout::Section::Bots), body).into_response())
}

/// `POST /ui/bots/bulk`: `action` (start, stop, restart) on every selected `id`.
pub async fn bulk(
    ui: UiState,
    caller: Caller,
    RawForm(form): RawForm,
) -> Result<Response, ApiFailure> {
    let ui = &ui.0;
    let mut action = String::new();
    let mut ids = Vec::new();
    for (key, value) in form_urlencoded::parse(&form) {
        match key.as_ref() {
            "action" => action = value.into_owned(),
            "id" => ids.push(value.into_owned()),
            _ => {}
        }
    }
    if !matches!(action.as_str(), "start" | "stop" | "restart") {
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, "unknown action").into_response());
    }
    let (mut done, mut refused) = (0, Vec::new());
    for id in &ids {
        let path = format!("/api/v1/instances/{}/{action}", segment(id));
        let (status, body) = ui.call(Some(&caller), RestCall::post(path, None)).await?;
        if status.is_success() {
            done += 1;
        } else if let ApiFailure::Refused(_, e) = refusal(status, &body) {
            refused.push(format!("{id}: {}", e.error));
        }
    }
    let notice = if refused.is_empty() {
        format!("{action}: {done} of {} done", ids.len())
    } else {
        format!(
            "{action}: {done} of {} done; refused: {}",
            ids.len(),
            refused.join("; ")
        )
    };
    table_page(ui, &caller, TableQuery::default(), Some(notice)).await
}

/// `bytes` as megabytes, one decimal.
pub fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_048_576.0)
}
