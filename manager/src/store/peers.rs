//! Telling the other managers on the same PostgreSQL database what this one wrote, so their caches
//! follow (`crate::coherence` listens). An instance write announces the instance in its own transaction
//! (PostgreSQL delivers the notification when, and only if, the transaction commits); a write of users,
//! keys or sessions announces `auth` after it. A manager skips what it announced itself.

use sqlx::AnyConnection;

use super::Store;

/// The channel every manager of a database listens on.
pub const CHANNEL: &str = "botfleet_changes";

/// `pg_notify` returns `void`, which the `Any` driver cannot describe: it is called in a subquery.
const NOTIFY: &str = "SELECT CAST(1 AS BIGINT) FROM (SELECT pg_notify($1, $2)) AS announced";

/// Who announces: this manager's node id, random per process.
#[derive(Clone, Debug)]
pub struct Peers {
    node: String,
}

impl Peers {
    pub fn new(node: String) -> Self {
        Self { node }
    }
}

/// What changed, as announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The instance's rows (spec, status, counters, or the instance itself).
    Instance(String),
    /// Users, API keys or revoked sessions.
    Auth,
}

impl Change {
    fn payload(&self, node: &str) -> String {
        match self {
            Self::Instance(id) => format!("{node} i {id}"),
            Self::Auth => format!("{node} a"),
        }
    }

    /// The change and its announcer from a payload; `None` for anything else.
    pub fn parse(payload: &str) -> Option<(&str, Self)> {
        let mut parts = payload.splitn(3, ' ');
        let node = parts.next()?;
        match (parts.next()?, parts.next()) {
            ("i", Some(id)) if !id.is_empty() => Some((node, Self::Instance(id.to_string()))),
            ("a", None) => Some((node, Self::Auth)),
            _ => None,
        }
    }
}

impl Store {
    /// This manager's node id when it shares the database with others.
    pub fn node(&self) -> Option<&str> {
        self.peers.as_ref().map(|p| p.node.as_str())
    }

    /// Announces `change` within the transaction on `conn` (nothing without peers).
    pub(crate) async fn announce_in(
        &self,
        conn: &mut AnyConnection,
        change: &Change,
    ) -> Result<(), sqlx::Error> {
        let Some(peers) = &self.peers else {
            return Ok(());
        };
        sqlx::query(NOTIFY)
            .bind(CHANNEL)
            .bind(change.payload(&peers.node))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Announces `change` on its own; a failure is logged (the peers' periodic resync repairs it).
    pub(crate) async fn announce(&self, change: Change) {
        let Some(peers) = &self.peers else {
            return;
        };
        let sent = sqlx::query(NOTIFY)
            .bind(CHANNEL)
            .bind(change.payload(&peers.node))
            .execute(&self.pool)
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, ?change, "could not announce a change to the other managers");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_read_back() {
        for change in [Change::Instance("a b".into()), Change::Auth] {
            let payload = change.payload("n1");
            assert_eq!(Change::parse(&payload), Some(("n1", change)));
        }
        assert_eq!(Change::parse("n1 x"), None);
        assert_eq!(Change::parse("n1 i "), None);
        assert_eq!(Change::parse("n1 a extra"), None);
    }
}
