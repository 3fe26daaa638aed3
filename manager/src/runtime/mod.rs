//! The container runtime: worker containers and the worker image, through the Docker Engine API.
//! Nothing outside this module sees a bollard type.

pub mod docker;
pub mod image;

pub use docker::{
    ContainerUsage, ContainerView, DockerRuntime, RuntimeSettings, WorkerEvent, WorkerEventKind,
    WorkerSpec,
};

/// A failure of the container runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("Docker: {0}")]
    Docker(#[from] bollard::errors::Error),
    #[error(
        "worker image {image} is missing and the worker binary {binary} cannot be read: {source}"
    )]
    ImageUnavailable {
        image: String,
        binary: String,
        source: std::io::Error,
    },
    #[error("building the worker image failed: {0}")]
    Build(String),
}

impl RuntimeError {
    /// Docker could not publish the port because something else holds it on the host.
    pub fn is_port_taken(&self) -> bool {
        let text = self.to_string();
        text.contains("address already in use") || text.contains("port is already allocated")
    }
}

/// Connects to Docker at `host` (`unix://…`, `tcp://…`; default: DOCKER_HOST or the local socket) and
/// settles on an API version both sides speak (engines may be older than bollard's default).
pub async fn connect(host: Option<&str>) -> Result<bollard::Docker, RuntimeError> {
    use bollard::{API_DEFAULT_VERSION, Docker};
    const TIMEOUT_SECS: u64 = 120;
    let docker = match host {
        Some(h) if h.starts_with("unix://") => {
            Docker::connect_with_unix(h, TIMEOUT_SECS, API_DEFAULT_VERSION)?
        }
        Some(h) => Docker::connect_with_http(h, TIMEOUT_SECS, API_DEFAULT_VERSION)?,
        None => Docker::connect_with_local_defaults()?,
    };
    Ok(docker.negotiate_version().await?)
}

/// True for Docker's "no such object" answer, which idempotent verbs treat as done.
pub(crate) fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}
