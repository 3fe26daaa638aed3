//! Database access, one file per table. Queries are written once for both SQLite and PostgreSQL
//! (`$n` placeholders, `RETURNING`), run through sqlx's `Any` driver.

pub mod alerts;
pub mod audit;
pub mod events;
pub mod history;
pub mod instances;
pub mod messages;
pub mod platform_callbacks;
pub mod settings;
pub mod users;
pub mod webhooks;

use sqlx::AnyPool;

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
}

impl Store {
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}
