//! The worker image: `docker/worker.Dockerfile` (`FROM scratch`) plus the static worker binary, sent to
//! the classic builder as an in-memory tar, so no base image or registry is needed. The image carries the
//! binary's SHA-256 as a label; a different binary means a rebuild.

use std::{collections::HashMap, path::Path};

use bollard::{
    Docker, body_full,
    query_parameters::{BuildImageOptionsBuilder, BuilderVersion, RemoveImageOptions},
};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use shared::labels;

use super::{RuntimeError, is_not_found};
use crate::config::ImageArgs;

const DOCKERFILE: &str = include_str!("../../../docker/worker.Dockerfile");

/// Makes sure `image` exists and was built from `binary`; builds it when missing or stale. When the
/// binary cannot be read, an existing image is used as it is (an operator may ship the image alone).
pub async fn ensure(docker: &Docker, image: &str, binary: &Path) -> Result<(), RuntimeError> {
    let (previous_id, existing) = match docker.inspect_image(image).await {
        Ok(info) => (
            info.id,
            Some(
                info.config
                    .and_then(|c| c.labels)
                    .and_then(|l| l.get(labels::BINARY_SHA256).cloned()),
            ),
        ),
        Err(e) if is_not_found(&e) => (None, None),
        Err(e) => return Err(e.into()),
    };
    let bytes = match tokio::fs::read(binary).await {
        Ok(bytes) => bytes,
        Err(_) if existing.is_some() => return Ok(()),
        Err(source) => {
            return Err(RuntimeError::ImageUnavailable {
                image: image.to_string(),
                binary: binary.display().to_string(),
                source,
            });
        }
    };
    let digest = context_digest(&bytes);
    if existing.flatten().as_deref() == Some(digest.as_str()) {
        return Ok(());
    }
    build(docker, image, bytes, &digest).await?;
    // The image this one replaced has no name any more; remove it unless containers still use it.
    if let Some(old) = previous_id
        && let Err(e) = docker
            .remove_image(&old, None::<RemoveImageOptions>, None)
            .await
    {
        tracing::debug!(image = %old, error = %e, "previous worker image kept");
    }
    Ok(())
}

/// `manager image build`: builds the image from the binary, even when one exists.
pub async fn build_on_demand(args: &ImageArgs) -> anyhow::Result<String> {
    let docker = super::connect(args.docker_host.as_deref()).await?;
    let image = args.image();
    let binary = args.binary();
    let bytes = tokio::fs::read(&binary)
        .await
        .map_err(|e| anyhow::anyhow!("cannot read worker binary {}: {e}", binary.display()))?;
    let digest = context_digest(&bytes);
    build(&docker, &image, bytes, &digest).await?;
    Ok(image)
}

async fn build(
    docker: &Docker,
    image: &str,
    binary: Vec<u8>,
    digest: &str,
) -> Result<(), RuntimeError> {
    tracing::info!(image, "building the worker image");
    let context = build_context(&binary).map_err(|e| RuntimeError::Build(e.to_string()))?;
    let image_labels = HashMap::from([(labels::BINARY_SHA256, digest)]);
    let options = BuildImageOptionsBuilder::new()
        .dockerfile("Dockerfile")
        .t(image)
        .rm(true)
        .forcerm(true)
        .labels(&image_labels)
        .version(BuilderVersion::BuilderV1)
        .build();
    let mut stream = docker.build_image(options, None, Some(body_full(context.into())));
    while let Some(step) = stream.next().await {
        let info = step?;
        if let Some(detail) = info.error_detail {
            return Err(RuntimeError::Build(detail.message.unwrap_or_default()));
        }
    }
    Ok(())
}

/// SHA-256 over the Dockerfile and the binary: a change to either means a rebuild.
fn context_digest(binary: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(DOCKERFILE.as_bytes());
    hasher.update(binary);
    hex::encode(hasher.finalize())
}

/// A tar holding `Dockerfile`, the executable `worker`, and `data/` (the image's `/data`, from which
/// Docker fills each worker's new volume, owned by the worker's user).
fn build_context(binary: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    append(&mut tar, "Dockerfile", DOCKERFILE.as_bytes(), 0o644)?;
    append(&mut tar, "worker", binary, 0o755)?;
    append(&mut tar, "data/.keep", b"", 0o600)?;
    tar.into_inner()
}

fn append(
    tar: &mut tar::Builder<Vec<u8>>,
    name: &str,
    data: &[u8],
    mode: u32,
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(mode);
    header.set_cksum();
    tar.append_data(&mut header, name, data)
}
