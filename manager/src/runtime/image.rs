//! The worker image: `docker/worker.Dockerfile` (`FROM scratch`) plus the static worker binary, streamed
//! to the classic builder as a tar, so no base image or registry is needed. The image carries the
//! binary's SHA-256 as a label; a different binary means a rebuild. The binary is hashed and sent a piece
//! at a time: held whole (once read, once in the tar, once in the HTTP write buffer) it made a startup
//! peak of three times its size that the allocator kept as the manager's resident memory.

use std::{collections::HashMap, io, path::Path};

use bollard::{
    Docker, body_try_stream,
    query_parameters::{BuildImageOptionsBuilder, BuilderVersion, RemoveImageOptions},
};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use shared::labels;
use tokio::io::AsyncReadExt;

use super::{RuntimeError, is_not_found};
use crate::config::ImageArgs;

pub(super) const DOCKERFILE: &str = include_str!("../../../docker/worker.Dockerfile");

/// Makes sure `image` exists and was built from `binary`; builds it when missing or stale. When the
/// binary cannot be read, an existing image is used as it is (an operator may ship the image alone).
pub async fn ensure(docker: &Docker, image: &str, binary: &Path) -> Result<(), RuntimeError> {
    let (previous_id, existing) = match docker.inspect_image(image).await {
        Ok(info) => (info.id, Some(digest_label(info.config))),
        Err(e) if is_not_found(&e) => (None, None),
        Err(e) => return Err(e.into()),
    };
    let digest = match file_digest(binary).await {
        Ok(digest) => digest,
        Err(_) if existing.is_some() => return Ok(()),
        Err(source) => {
            return Err(RuntimeError::ImageUnavailable {
                image: image.to_string(),
                binary: binary.display().to_string(),
                source,
            });
        }
    };
    if existing.flatten().as_deref() == Some(digest.as_str()) {
        return Ok(());
    }
    build(docker, image, binary, &digest).await?;
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

/// The digest of the binary `image` was built from (its label), when it has one.
pub async fn binary_digest(docker: &Docker, image: &str) -> Result<Option<String>, RuntimeError> {
    Ok(digest_label(docker.inspect_image(image).await?.config))
}

/// The binary digest label of an image's configuration.
fn digest_label(config: Option<bollard::models::ImageConfig>) -> Option<String> {
    config
        .and_then(|c| c.labels)
        .and_then(|mut l| l.remove(labels::BINARY_SHA256))
}

/// A hasher that has taken the Dockerfile: fed the binary, it gives the image's digest.
pub(super) fn digest_hasher() -> Sha256 {
    let mut hasher = Sha256::new();
    hasher.update(DOCKERFILE.as_bytes());
    hasher
}

/// `manager image build`: builds the image from the binary, even when one exists.
pub async fn build_on_demand(args: &ImageArgs) -> anyhow::Result<String> {
    let docker = super::connect(args.docker_host.as_deref()).await?;
    let image = args.image();
    let binary = args.binary();
    let digest = file_digest(&binary)
        .await
        .map_err(|e| anyhow::anyhow!("cannot read worker binary {}: {e}", binary.display()))?;
    build(&docker, &image, &binary, &digest).await?;
    Ok(image)
}

async fn build(
    docker: &Docker,
    image: &str,
    binary: &Path,
    digest: &str,
) -> Result<(), RuntimeError> {
    tracing::info!(image, "building the worker image");
    let context = context_stream(binary)
        .await
        .map_err(|e| RuntimeError::Build(format!("cannot read {}: {e}", binary.display())))?;
    let image_labels = HashMap::from([(labels::BINARY_SHA256, digest)]);
    let options = BuildImageOptionsBuilder::new()
        .dockerfile("Dockerfile")
        .t(image)
        .rm(true)
        .forcerm(true)
        .labels(&image_labels)
        .version(BuilderVersion::BuilderV1)
        .build();
    let mut stream = docker.build_image(options, None, Some(body_try_stream(context)));
    while let Some(step) = stream.next().await {
        let info = step?;
        if let Some(detail) = info.error_detail {
            return Err(RuntimeError::Build(detail.message.unwrap_or_default()));
        }
    }
    Ok(())
}

/// SHA-256 over the Dockerfile and the binary file (read a piece at a time): a change to either means a
/// rebuild.
async fn file_digest(binary: &Path) -> io::Result<String> {
    let binary = binary.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut hasher = digest_hasher();
        io::copy(&mut std::fs::File::open(binary)?, &mut hasher)?;
        Ok(hex::encode(hasher.finalize()))
    })
    .await
    .map_err(io::Error::other)?
}

/// The build context, a tar holding `Dockerfile`, the executable `worker`, and `data/` (the image's
/// `/data`, from which Docker fills each worker's new volume, owned by the worker's user), made as it is
/// sent: the binary is read 64 KiB at a time.
async fn context_stream(
    binary: &Path,
) -> io::Result<impl Stream<Item = io::Result<Bytes>> + Send + 'static> {
    let file = tokio::fs::File::open(binary).await?;
    let size = file.metadata().await?.len();
    let dockerfile = DOCKERFILE.as_bytes();
    let before = [
        entry_header("Dockerfile", dockerfile.len() as u64, 0o644)?,
        Bytes::from_static(dockerfile),
        padding(dockerfile.len() as u64),
        entry_header("worker", size, 0o755)?,
    ];
    let after = [
        padding(size),
        entry_header("data/.keep", 0, 0o600)?,
        // The end of the archive: two empty blocks.
        Bytes::from_static(&[0; 1024]),
    ];
    // Exactly `size` bytes, whatever happens to the file meanwhile (a short one makes a broken archive,
    // which the builder refuses).
    let chunks = futures::stream::try_unfold(file.take(size), |mut file| async move {
        let mut buf = vec![0; 64 * 1024];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some((Bytes::from(buf), file)))
    });
    Ok(futures::stream::iter(before.map(Ok))
        .chain(chunks)
        .chain(futures::stream::iter(after.map(Ok))))
}

/// A tar header block for a file entry.
fn entry_header(name: &str, size: u64, mode: u32) -> io::Result<Bytes> {
    let mut header = tar::Header::new_gnu();
    header.set_path(name)?;
    header.set_size(size);
    header.set_mode(mode);
    header.set_cksum();
    Ok(Bytes::copy_from_slice(header.as_bytes()))
}

/// Zeros up to the next 512-byte block after `size` bytes of data.
fn padding(size: u64) -> Bytes {
    Bytes::from(vec![0; ((512 - size % 512) % 512) as usize])
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt;

    use super::*;

    /// The streamed context is a tar that holds the Dockerfile, the binary as it is on disk, and `data/`.
    #[tokio::test]
    async fn the_context_streams_a_tar_with_the_binary_as_it_is() {
        let path = std::env::temp_dir().join(format!("botfleet-context-{}", std::process::id()));
        // Not a multiple of the chunk or of a tar block.
        let binary: Vec<u8> = (0..150_001u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &binary).unwrap();
        let chunks: Vec<Bytes> = context_stream(&path)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let digest = file_digest(&path).await.unwrap();
        std::fs::remove_file(&path).unwrap();
        let tar: Vec<u8> = chunks.concat();
        assert_eq!(tar.len() % 512, 0);
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().display().to_string();
            let mode = entry.header().mode().unwrap();
            let mut data = Vec::new();
            io::Read::read_to_end(&mut entry, &mut data).unwrap();
            match name.as_str() {
                "Dockerfile" => assert_eq!(data, DOCKERFILE.as_bytes()),
                "worker" => assert!(data == binary && mode == 0o755),
                "data/.keep" => assert!(data.is_empty() && mode == 0o600),
                other => panic!("unexpected entry {other}"),
            }
            seen.push(name);
        }
        assert_eq!(seen, ["Dockerfile", "worker", "data/.keep"]);
        let mut whole = Sha256::new();
        whole.update(DOCKERFILE.as_bytes());
        whole.update(&binary);
        assert_eq!(digest, hex::encode(whole.finalize()));
    }
}
