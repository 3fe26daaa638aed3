//! Keeping this manager's caches in step with the other managers on the same PostgreSQL database. Each
//! of them announces what it writes (`store/peers.rs`); here every announcement from another manager is
//! read back from the database: an instance into the cache (each part replaced only by a newer version
//! of it, so a late announcement cannot roll anything back; a deleted one forgotten), users and keys into
//! the authentication directory. The leader also converges every instance another manager changed: a
//! verb answered by a follower records the wanted spec, and the leader's reconciler acts on it.
//!
//! Announcements can be missed while the listening connection is down, or a writer may have died between
//! its commit and its announcement; so everything is read again whenever the connection comes back,
//! whenever this manager takes the lead (before its reconciler's first pass: `app.rs`), and every
//! `RESYNC_EVERY`.

use std::{collections::HashSet, sync::Arc, time::Duration};

use sqlx::postgres::PgListener;
use tokio::sync::watch;

use crate::{
    auth::Auth,
    fleet::Fleet,
    leadership::stopped,
    reconcile::Reconciler,
    store::peers::{CHANNEL, Change},
};

/// How often everything is read again, in case an announcement was lost.
const RESYNC_EVERY: Duration = Duration::from_secs(60);

/// What a change reaches.
pub struct Peers {
    pub fleet: Arc<Fleet>,
    pub auth: Arc<Auth>,
    /// Converges what another manager changed (a no-op unless this manager leads).
    pub reconciler: Arc<Reconciler>,
}

impl Peers {
    /// Brings the cache's copy of instance `id` to what the database holds.
    async fn instance_changed(&self, id: &str) -> Result<(), sqlx::Error> {
        let fleet = &self.fleet;
        match fleet.store.get_instance(id).await? {
            Some(record) => {
                fleet.cache.put(record);
                // Another manager acted on the worker or stored messages: look again when asked.
                fleet.observed.worker_changed(id);
                fleet.observed.messages_stored(id);
                self.reconciler.trigger(id);
            }
            None => forget(fleet, id),
        }
        Ok(())
    }

    /// Reads every instance, users and keys again.
    pub async fn resync(&self) -> Result<(), sqlx::Error> {
        let fleet = &self.fleet;
        let stored = fleet.store.list_instances().await?;
        let ids: HashSet<&str> = stored.iter().map(|r| r.id.as_str()).collect();
        let missing: Vec<String> = fleet
            .cache
            .list()
            .iter()
            .filter(|r| !ids.contains(r.id.as_str()))
            .map(|r| r.id.clone())
            .collect();
        for record in stored {
            fleet.cache.put(record);
        }
        // Created here after the list was read, or deleted: only the second is forgotten.
        for id in missing {
            if fleet.store.get_instance(&id).await?.is_none() {
                forget(fleet, &id);
            }
        }
        self.auth.reload().await
    }

    async fn apply(&self, change: Change) -> Result<(), sqlx::Error> {
        match change {
            Change::Instance(id) => self.instance_changed(&id).await,
            Change::Auth => self.auth.reload().await,
        }
    }
}

fn forget(fleet: &Fleet, id: &str) {
    fleet.cache.remove(id);
    fleet.writes.forget(id);
    fleet.observed.forget(id);
}

/// Listens for the other managers' announcements on the database at `url` until `stop`.
pub async fn run(peers: Arc<Peers>, url: String, node: String, mut stop: watch::Receiver<bool>) {
    let mut listener: Option<PgListener> = None;
    let mut resync = tokio::time::interval(RESYNC_EVERY);
    resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    resync.tick().await;
    loop {
        let Some(listening) = listener.as_mut() else {
            match listen(&url).await {
                Ok(l) => {
                    listener = Some(l);
                    // Whatever was announced before now is read here.
                    log_failure(peers.resync().await);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for the other managers' changes; trying again");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stopped(&mut stop) => return,
                    }
                }
            }
            continue;
        };
        tokio::select! {
            received = listening.try_recv() => match received {
                Ok(Some(notification)) => match Change::parse(notification.payload()) {
                    Some((from, change)) if from != node => log_failure(peers.apply(change).await),
                    _ => {}
                },
                // The connection was lost and is made again at the next call: what was announced
                // meanwhile is read now.
                Ok(None) => log_failure(peers.resync().await),
                Err(e) => {
                    tracing::warn!(error = %e, "lost the other managers' changes; listening again");
                    listener = None;
                }
            },
            _ = resync.tick() => log_failure(peers.resync().await),
            _ = stopped(&mut stop) => return,
        }
    }
}

async fn listen(url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

fn log_failure(result: Result<(), sqlx::Error>) {
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not read another manager's change");
    }
}
