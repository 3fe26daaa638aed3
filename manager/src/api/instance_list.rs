//! `GET /api/v1/instances`: the bots the caller may see, filtered (status, provider, owner, label, text),
//! ordered and paged over the cache; only the page is turned into views. Without a `limit` the whole list
//! is streamed: views are made and written a chunk at a time, so the first bytes leave at once and memory
//! stays flat whatever the fleet's size.

use std::{cmp::Ordering, collections::HashMap, convert::Infallible, io, sync::Arc};

use axum::{
    Json,
    body::{Body, Bytes},
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use serde::{Serialize, Serializer};
use shared::{
    api::instances::{InstanceList, InstanceListQuery, InstanceSort, SortOrder},
    http::ValidQuery,
};

use super::{AppState, views};
use crate::{auth::Principal, domain::InstanceRecord};

/// Bytes gathered before a chunk of the streamed list is sent.
const CHUNK: usize = 32 * 1024;

#[utoipa::path(get, path = "/api/v1/instances", tag = "instances", summary = "Instances the caller may see: filtered, ordered (oldest first unless `sort` says otherwise), all unless paged",
    params(InstanceListQuery),
    responses((status = 200, description = "A page of the matching instances (`total` counts every match)", body = InstanceList)),
    security(("admin_key" = [])))]
pub async fn list_instances(
    State(state): State<AppState>,
    principal: Principal,
    ValidQuery(query): ValidQuery<InstanceListQuery>,
) -> Response {
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
    let total = matching.len();
    let page = matching.into_iter().skip(query.offset as usize);
    let Some(limit) = query.limit else {
        return streamed(page.collect(), total, query.offset);
    };
    let instances: Vec<_> = page
        .take(limit as usize)
        .map(|r| views::instance(&r))
        .collect();
    Json(InstanceList {
        success: true,
        total,
        count: instances.len(),
        offset: query.offset,
        instances,
    })
    .into_response()
}

/// [`InstanceList`] as it is written out: the same fields, the views made while serializing.
#[derive(Serialize)]
struct Listing {
    success: bool,
    total: usize,
    count: usize,
    offset: u32,
    instances: Views,
}

struct Views(Vec<Arc<InstanceRecord>>);

impl Serialize for Views {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|r| views::instance(r)))
    }
}

/// The list serialized on a blocking thread into chunks that the body sends as they come; a client
/// that goes away stops the serializing.
fn streamed(rows: Vec<Arc<InstanceRecord>>, total: usize, offset: u32) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    tokio::task::spawn_blocking(move || {
        let listing = Listing {
            success: true,
            total,
            count: rows.len(),
            offset,
            instances: Views(rows),
        };
        let mut out = Chunks {
            buf: Vec::with_capacity(CHUNK),
            tx,
        };
        if let Err(e) = serde_json::to_writer(&mut out, &listing)
            .map_err(io::Error::from)
            .and_then(|()| io::Write::flush(&mut out))
        {
            tracing::debug!(error = %e, "instance list not sent in full");
        }
    });
    let body = tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok::<_, Infallible>);
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response()
}

/// Writes into chunks of about [`CHUNK`] bytes, each handed to the response body.
struct Chunks {
    buf: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<Bytes>,
}

impl Chunks {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl io::Write for Chunks {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
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
fn order(state: &AppState, query: &InstanceListQuery, rows: &mut [Arc<InstanceRecord>]) {
    let sample = matches!(query.sort, InstanceSort::Cpu | InstanceSort::Memory)
        .then(|| state.resources.latest())
        .flatten();
    let usage: HashMap<&str, (f64, u64)> = sample
        .as_ref()
        .map(|s| {
            s.instances
                .iter()
                .map(|i| (&*i.instance_id, (i.usage.cpu_percent, i.usage.memory_bytes)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writes::tests::running;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_streamed_list_is_the_list_as_one_body_would_be() {
        let rows: Vec<_> = (1..=300).map(|n| Arc::new(running(n))).collect();
        let whole = InstanceList {
            success: true,
            total: 310,
            count: 298,
            offset: 2,
            instances: rows[2..].iter().map(|r| views::instance(r)).collect(),
        };
        let response = streamed(rows[2..].to_vec(), 310, 2);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert!(body.len() > 2 * CHUNK, "several chunks were sent");
        let parsed: InstanceList = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed, whole);
        assert_eq!(body, serde_json::to_vec(&whole).unwrap());
    }
}
