//! The engine's hosts as last seen. A read asks the runtime (for a few seconds at most); when the engine
//! does not answer, it gets the last list the engine gave, marked stale, so a manager cut off from its
//! engine still answers host reads while writes get 503.

use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use crate::{
    error::ApiError,
    fleet::now_ms,
    runtime::{HostView, RuntimeReader},
};

/// How long a read waits for the engine before falling back to the last list.
const ENGINE_WAIT: Duration = Duration::from_secs(5);

/// The hosts the engine reported, and when.
#[derive(Debug, Clone)]
pub struct Observed {
    pub hosts: Vec<HostView>,
    /// Unix ms.
    pub at: i64,
}

/// A read's answer: the engine's list now (`fresh`), or the last one it gave.
#[derive(Debug, Clone)]
pub struct Seen {
    pub observed: Arc<Observed>,
    pub fresh: bool,
}

impl Seen {
    pub fn find(&self, id: &str) -> Option<&HostView> {
        self.observed.hosts.iter().find(|h| h.id == id)
    }

    /// The host, or 404 naming it.
    pub fn get(&self, id: &str) -> Result<&HostView, ApiError> {
        self.find(id)
            .ok_or_else(|| ApiError::NotFound(format!("host {id} not found")))
    }

    /// The host the manager runs on, if the engine listed it.
    pub fn local(&self) -> Option<&HostView> {
        self.observed.hosts.iter().find(|h| h.local)
    }
}

#[derive(Default)]
pub struct KnownHosts {
    last: RwLock<Option<Arc<Observed>>>,
}

impl KnownHosts {
    /// The engine's hosts now, or the last list when the engine does not answer (503 when there is
    /// none yet). An engine that answers with a refusal is an error, not a reason to serve old data.
    pub async fn read(&self, runtime: &RuntimeReader) -> Result<Seen, ApiError> {
        let unreachable = match tokio::time::timeout(ENGINE_WAIT, runtime.hosts()).await {
            Ok(Ok(hosts)) => {
                let observed = Arc::new(Observed {
                    hosts,
                    at: now_ms(),
                });
                *self.last.write().unwrap_or_else(|e| e.into_inner()) = Some(observed.clone());
                return Ok(Seen {
                    observed,
                    fresh: true,
                });
            }
            Ok(Err(e)) if !e.is_unreachable() => return Err(e.into()),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} s", ENGINE_WAIT.as_secs()),
        };
        tracing::warn!(error = %unreachable, "the engine did not list its hosts; serving the last list");
        match self.last.read().unwrap_or_else(|e| e.into_inner()).clone() {
            Some(observed) => Ok(Seen {
                observed,
                fresh: false,
            }),
            None => Err(ApiError::EngineUnavailable(format!(
                "the {} engine does not answer ({unreachable}) and has not listed its hosts since the \
                 manager started",
                runtime.kind().as_str()
            ))),
        }
    }
}
