//! Which network a plain-Docker worker joins. A Linux bridge holds at most 1,024 ports, so one network
//! cannot carry a big fleet. With `--network auto` (the default) workers join Docker's default `bridge`
//! while it has room, then bridge networks of the manager's own, `<fleet>-net-1`, `-2`, … (labelled
//! with the fleet), each up to `--bots-per-network` endpoints; one of its own that holds no container any
//! more is removed at the reconciler's next pass ([`NetworkPool::prune`]). Any other `--network` is used
//! as it is (`bridge`, `host`, or a network the operator made).
//!
//! Placement is serialized and counted in memory, from the containers made to join each network (running
//! or not); the counts are read from the engine again after a worker was removed.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use bollard::{
    Docker,
    models::NetworkCreateRequest,
    query_parameters::{
        InspectNetworkOptions, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    },
};
use shared::labels;

use super::{RuntimeError, is_not_found};

/// `--network` value for the managed layout.
pub const AUTO: &str = "auto";
/// The engine's default bridge, where an `auto` fleet starts.
const DEFAULT_BRIDGE: &str = "bridge";
/// Label value marking a network the manager made for its workers.
const POOL_LABEL: &str = "botfleet.network";
/// The bridge driver's MTU option, copied from the default bridge so workers see one MTU everywhere.
const MTU_OPTION: &str = "com.docker.network.driver.mtu";
/// A network given to a worker this recently is kept even if empty: its container may not exist yet.
const FRESH: Duration = Duration::from_secs(15);

pub struct NetworkPool {
    fleet: String,
    per_network: usize,
    state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Networks in the order they fill, with the endpoints each holds or was promised; `None`: to be
    /// counted from the engine.
    counts: Option<Vec<(String, usize)>>,
    /// When each network was last given to a worker.
    placed: HashMap<String, Instant>,
}

impl NetworkPool {
    pub fn new(fleet: &str, per_network: usize) -> Self {
        Self {
            fleet: fleet.to_string(),
            per_network: per_network.max(1),
            state: Default::default(),
        }
    }

    /// The network the next worker joins (made if every one is full); counts it as taken.
    pub async fn place(&self, docker: &Docker) -> Result<String, RuntimeError> {
        let mut state = self.state.lock().await;
        let state = &mut *state;
        if state.counts.is_none() {
            state.counts = Some(self.count(docker).await?);
        }
        let nets = state.counts.as_mut().expect("counted just now");
        let name = match nets.iter_mut().find(|(_, n)| *n < self.per_network) {
            Some((name, n)) => {
                *n += 1;
                name.clone()
            }
            None => {
                let name = self.network_name(next_index(&self.fleet, nets));
                self.create(docker, &name).await?;
                tracing::info!(network = %name, "worker network created: the others are full");
                nets.push((name.clone(), 1));
                name
            }
        };
        state.placed.insert(name.clone(), Instant::now());
        Ok(name)
    }

    /// A worker was removed: the counts are read again before the next placement.
    pub async fn worker_removed(&self) {
        self.state.lock().await.counts = None;
    }

    /// Removes the networks of this fleet that no container uses (running or not) and that no worker
    /// was given lately.
    pub async fn prune(&self, docker: &Docker) -> Result<usize, RuntimeError> {
        let mut state = self.state.lock().await;
        let mut removed = 0;
        for name in self.own_networks(docker).await? {
            let fresh = state
                .placed
                .get(&name)
                .is_some_and(|at| at.elapsed() < FRESH);
            if fresh || containers_on(docker, &name).await? > 0 {
                continue;
            }
            match docker.remove_network(&name).await {
                Ok(()) => {
                    tracing::info!(network = %name, "empty worker network removed");
                    removed += 1;
                }
                Err(e) if is_not_found(&e) => {}
                // A container joined meanwhile (a create racing the prune), or the engine refused.
                Err(e) => tracing::warn!(network = %name, error = %e, "worker network kept"),
            }
        }
        state.counts = None;
        state.placed.retain(|_, at| at.elapsed() < FRESH);
        Ok(removed)
    }

    fn network_name(&self, index: usize) -> String {
        format!("{}-net-{index}", self.fleet)
    }

    /// The default bridge, then the fleet's own networks by number, each with the containers made to
    /// join it (running or not: a created container is no endpoint yet, but will be).
    async fn count(&self, docker: &Docker) -> Result<Vec<(String, usize)>, RuntimeError> {
        let mut own = self.own_networks(docker).await?;
        own.sort_by_key(|name| index_of(&self.fleet, name).unwrap_or(usize::MAX));
        let options = ListContainersOptionsBuilder::new().all(true).build();
        let mut joined: HashMap<String, usize> = HashMap::new();
        for c in docker.list_containers(Some(options)).await? {
            let mode = c.host_config.and_then(|h| h.network_mode);
            let network = match mode.as_deref() {
                None | Some("default") => DEFAULT_BRIDGE,
                Some(name) => name,
            };
            *joined.entry(network.to_string()).or_default() += 1;
        }
        Ok(std::iter::once(DEFAULT_BRIDGE.to_string())
            .chain(own)
            .map(|name| {
                let n = joined.get(&name).copied().unwrap_or(0);
                (name, n)
            })
            .collect())
    }

    async fn own_networks(&self, docker: &Docker) -> Result<Vec<String>, RuntimeError> {
        let filters = HashMap::from([(
            "label",
            vec![
                format!("{}={}", labels::FLEET, self.fleet),
                format!("{POOL_LABEL}=pool"),
            ],
        )]);
        let options = ListNetworksOptionsBuilder::new().filters(&filters).build();
        Ok(docker
            .list_networks(Some(options))
            .await?
            .into_iter()
            .filter_map(|n| n.name)
            .collect())
    }

    async fn create(&self, docker: &Docker, name: &str) -> Result<(), RuntimeError> {
        let bridge = docker
            .inspect_network(DEFAULT_BRIDGE, None::<InspectNetworkOptions>)
            .await?;
        let options: HashMap<String, String> = bridge
            .options
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| k == MTU_OPTION)
            .collect();
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".into()),
            labels: Some(HashMap::from([
                (labels::FLEET.to_string(), self.fleet.clone()),
                (POOL_LABEL.to_string(), "pool".to_string()),
            ])),
            options: (!options.is_empty()).then_some(options),
            ..Default::default()
        };
        match docker.create_network(request).await {
            Ok(_) => Ok(()),
            // Made by a manager of the same fleet a moment ago (or left from before): use it.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Containers, running or not, made to join `name` (a created container is no endpoint yet).
async fn containers_on(docker: &Docker, name: &str) -> Result<usize, RuntimeError> {
    let filters = HashMap::from([("network", vec![name.to_string()])]);
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&filters)
        .build();
    Ok(docker.list_containers(Some(options)).await?.len())
}

/// The number in `<fleet>-net-<n>`.
fn index_of(fleet: &str, name: &str) -> Option<usize> {
    name.strip_prefix(fleet)?
        .strip_prefix("-net-")?
        .parse()
        .ok()
}

/// The first number after those in use (numbers start at 1).
fn next_index(fleet: &str, nets: &[(String, usize)]) -> usize {
    nets.iter()
        .filter_map(|(name, _)| index_of(fleet, name))
        .max()
        .unwrap_or(0)
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_networks_are_numbered_after_the_fleet() {
        assert_eq!(index_of("bf", "bf-net-3"), Some(3));
        assert_eq!(index_of("bf", "bf-x-net-3"), None);
        assert_eq!(index_of("bf", "bridge"), None);
        let nets = |names: &[&str]| -> Vec<(String, usize)> {
            names.iter().map(|n| (n.to_string(), 0)).collect()
        };
        assert_eq!(next_index("bf", &nets(&["bridge"])), 1);
        assert_eq!(
            next_index("bf", &nets(&["bridge", "bf-net-1", "bf-net-4"])),
            5
        );
    }
}
