//! Database access, one file per table. Queries are written once for both SQLite and PostgreSQL
//! (`$n` placeholders, `RETURNING`), run through sqlx's `Any` driver. Secrets are sealed in the row
//! mapping here (`crate::seal`, which columns: `sealing.rs`): callers see plaintext, the database never
//! does.

pub mod alerts;
pub mod analytics;
pub mod audit;
pub mod conversations;
pub mod events;
pub mod history;
pub mod instances;
pub mod messages;
pub mod peers;
pub mod platform_callbacks;
pub mod retention;
pub mod schedules;
pub mod sealing;
pub mod settings;
pub mod settings_history;
pub mod templates;
pub mod users;
pub mod webhooks;

use std::sync::Arc;

use sqlx::AnyPool;

use crate::seal::Sealer;

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    sealer: Arc<Sealer>,
    /// Set on PostgreSQL, where other managers may share the database: what this one writes is
    /// announced to them (`peers.rs`).
    peers: Option<peers::Peers>,
}

impl Store {
    /// A store that seals secrets with `sealer` (see `sealing::open` for the manager's own start).
    pub fn new(pool: AnyPool, sealer: Arc<Sealer>) -> Self {
        Self {
            pool,
            sealer,
            peers: None,
        }
    }

    /// This store, announcing its writes to the other managers on the database as `node`.
    pub fn announcing(mut self, node: String) -> Self {
        self.peers = Some(peers::Peers::new(node));
        self
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}
