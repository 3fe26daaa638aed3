//! A cuttable path to the Docker engine: a Unix socket that forwards every connection to the real
//! engine's socket. A test points one manager at it (`BOTFLEET_DOCKER_HOST`) and cuts it, which to that
//! manager looks exactly like the engine's socket going away, while the engine (and the bots) run on.

use std::path::{Path, PathBuf};

use tokio::{
    net::{UnixListener, UnixStream},
    task::JoinSet,
};

/// The engine's socket.
const ENGINE: &str = "/var/run/docker.sock";

pub struct DockerProxy {
    path: PathBuf,
    tasks: Option<JoinSet<()>>,
}

impl DockerProxy {
    /// Starts forwarding on a new socket under the system's temp folder.
    pub fn start() -> Self {
        let path =
            std::env::temp_dir().join(format!("bf-docker-{}.sock", uuid::Uuid::new_v4().simple()));
        let mut proxy = Self { path, tasks: None };
        proxy.resume();
        proxy
    }

    /// `unix://…`, for `BOTFLEET_DOCKER_HOST`.
    pub fn url(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Cuts every connection and removes the socket: the engine is gone, as far as clients can tell.
    pub fn cut(&mut self) {
        if let Some(mut tasks) = self.tasks.take() {
            tasks.abort_all();
        }
        let _ = std::fs::remove_file(&self.path);
    }

    /// Opens the socket again.
    pub fn resume(&mut self) {
        self.cut();
        let listener = UnixListener::bind(&self.path).expect("bind the proxy socket");
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    break;
                };
                connections.spawn(async move {
                    if let Ok(mut engine) = UnixStream::connect(ENGINE).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut engine).await;
                    }
                });
                while connections.try_join_next().is_some() {}
            }
        });
        self.tasks = Some(tasks);
    }
}

impl Drop for DockerProxy {
    fn drop(&mut self) {
        self.cut();
    }
}
