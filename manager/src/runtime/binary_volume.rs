//! The worker binary on a volume of its own, mounted read-only by every worker container (plain Docker).
//!
//! Run from the image, each container maps the binary through its own root filesystem. With the
//! `fuse-overlayfs` storage driver every container's root is a FUSE mount of its own, so the kernel keeps
//! one copy of the binary's pages per container: ≈ 10 MB a bot. A named volume is one host directory
//! bind-mounted into every container: one file, its pages shared by all the workers.
//!
//! One volume per binary (its name carries the digest), shared by every fleet on the engine. It is filled
//! once: Docker copies the image's content at the mount point into an empty volume when a container that
//! mounts it is created, and doing that once, with one container, keeps two creates from copying into the
//! same empty volume at the same time. A fill container of a fixed name makes managers that start together
//! take turns (Docker refuses a second container of one name); the copy is read back and checked against
//! the image's binary digest, and a second, empty volume (`…-checked`) records that it was. A manager
//! that finds that record uses the volume at once. A volume that does not hold the image's binary is not
//! used: workers then run the binary from the image. Volumes of other binaries are removed when no
//! container uses them any more (should one go while a worker of its binary is still to be created,
//! Docker makes it again, filled from that worker's image).

use std::{collections::HashMap, time::Duration};

use bollard::{
    Docker,
    models::{ContainerCreateBody, HostConfig, Mount, MountType, VolumeCreateRequest},
    query_parameters::{
        CreateContainerOptionsBuilder, DownloadFromContainerOptionsBuilder,
        ListVolumesOptionsBuilder, RemoveContainerOptionsBuilder,
    },
};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use shared::labels;

use super::{RuntimeError, image, is_conflict, is_not_found};

/// Where the worker image keeps its binary (`docker/worker.Dockerfile`), and so where the volume is
/// mounted.
pub const BINARY_DIR: &str = "/opt/botfleet";
/// The binary's file name in [`BINARY_DIR`].
const BINARY_FILE: &str = "worker";

/// How long a manager waits for another one's fill container before it takes it for a leftover.
const FILL_WAIT: Duration = Duration::from_secs(30);

/// The binary volume for `image_ref`, filled and checked; `None` when the image carries no digest or the
/// copy does not hold its binary (workers then run the image's own).
pub async fn prepare(docker: &Docker, image_ref: &str) -> Result<Option<String>, RuntimeError> {
    let Some(digest) = image::binary_digest(docker, image_ref).await? else {
        return Ok(None);
    };
    let name = format!("botfleet-worker-binary-{}", &digest[..digest.len().min(16)]);
    let checked = format!("{name}-checked");
    let create = |volume: &str| {
        docker.create_volume(VolumeCreateRequest {
            name: Some(volume.to_string()),
            labels: Some(HashMap::from([
                (labels::MANAGED.to_string(), "true".to_string()),
                (labels::BINARY_SHA256.to_string(), digest.clone()),
            ])),
            ..Default::default()
        })
    };
    let fill = format!("{name}-fill");
    let mut waited = Duration::ZERO;
    loop {
        if exists(docker, &checked).await? && exists(docker, &name).await? {
            break;
        }
        create(&name).await?;
        let body = ContainerCreateBody {
            image: Some(image_ref.to_string()),
            network_disabled: Some(true),
            host_config: Some(HostConfig {
                network_mode: Some("none".into()),
                mounts: Some(vec![Mount {
                    target: Some(BINARY_DIR.to_string()),
                    source: Some(name.clone()),
                    typ: Some(MountType::VOLUME),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::new().name(&fill).build();
        match docker.create_container(Some(options), body).await {
            Ok(_) => {
                let held = volume_digest(docker, &fill).await;
                remove_container(docker, &fill).await?;
                match held {
                    Ok(held) if held == digest => {
                        create(&checked).await?;
                        break;
                    }
                    Ok(held) => {
                        tracing::warn!(volume = %name, held, expected = %digest, "the binary volume holds another binary; workers run the image's own");
                        return Ok(None);
                    }
                    Err(e) => {
                        tracing::warn!(volume = %name, error = %e, "could not check the binary volume; workers run the image's own");
                        return Ok(None);
                    }
                }
            }
            Err(e) if is_conflict(&e) && waited < FILL_WAIT => {
                // Another manager is filling or checking the volume.
                tokio::time::sleep(Duration::from_millis(250)).await;
                waited += Duration::from_millis(250);
            }
            Err(e) if is_conflict(&e) => {
                tracing::warn!(container = %fill, "removing a fill container left behind");
                remove_container(docker, &fill).await?;
                waited = Duration::ZERO;
            }
            Err(e) => return Err(e.into()),
        }
    }
    remove_older(docker, &digest).await;
    Ok(Some(name))
}

/// Whether a volume of this name exists.
async fn exists(docker: &Docker, volume: &str) -> Result<bool, RuntimeError> {
    match docker.inspect_volume(volume).await {
        Ok(_) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The digest (as `image::file_digest` makes it) of the binary in the fill container's volume, read
/// back through Docker as the tar it answers, a piece at a time.
async fn volume_digest(docker: &Docker, container: &str) -> Result<String, RuntimeError> {
    let options = DownloadFromContainerOptionsBuilder::new()
        .path(&format!("{BINARY_DIR}/{BINARY_FILE}"))
        .build();
    let mut archive = docker.download_from_container(container, Some(options));
    let mut reader = FirstFile::default();
    while let Some(chunk) = archive.next().await {
        if reader.feed(&chunk?) {
            break;
        }
    }
    reader.finish().ok_or_else(|| {
        RuntimeError::BinaryVolume(format!("{BINARY_DIR}/{BINARY_FILE} is not in the volume"))
    })
}

/// Hashes the first regular file of a tar stream, as `image::file_digest` hashes the binary.
struct FirstFile {
    hasher: Sha256,
    pending: Vec<u8>,
    /// Bytes of the current entry's data still to come (hashed for the file, skipped otherwise), and
    /// its padding.
    left: u64,
    padding: u64,
    in_file: bool,
    done: bool,
}

impl Default for FirstFile {
    fn default() -> Self {
        Self {
            hasher: image::digest_hasher(),
            pending: Vec::new(),
            left: 0,
            padding: 0,
            in_file: false,
            done: false,
        }
    }
}

impl FirstFile {
    /// Takes the next piece of the archive; `true` once the file was read whole.
    fn feed(&mut self, mut chunk: &[u8]) -> bool {
        while !chunk.is_empty() && !self.done {
            if self.left > 0 {
                let n = chunk.len().min(self.left as usize);
                if self.in_file {
                    self.hasher.update(&chunk[..n]);
                }
                (self.left, chunk) = (self.left - n as u64, &chunk[n..]);
                if self.left == 0 && self.in_file {
                    self.done = true;
                }
                continue;
            }
            if self.padding > 0 {
                let n = chunk.len().min(self.padding as usize);
                (self.padding, chunk) = (self.padding - n as u64, &chunk[n..]);
                continue;
            }
            // A header block.
            let n = chunk.len().min(512 - self.pending.len());
            self.pending.extend_from_slice(&chunk[..n]);
            chunk = &chunk[n..];
            if self.pending.len() < 512 {
                continue;
            }
            let header = tar::Header::from_byte_slice(&self.pending);
            let size = header.entry_size().unwrap_or(0);
            let is_file = header.entry_type().is_file();
            if header.as_bytes().iter().all(|b| *b == 0) {
                // The end of the archive.
                self.done = true;
            }
            self.pending.clear();
            (self.left, self.padding, self.in_file) = (size, (512 - size % 512) % 512, is_file);
            if is_file && size == 0 {
                self.done = true;
            }
        }
        self.done
    }

    fn finish(self) -> Option<String> {
        (self.done && self.in_file && self.left == 0).then(|| hex::encode(self.hasher.finalize()))
    }
}

/// Removes a container, running or not; a missing one is fine.
async fn remove_container(docker: &Docker, name: &str) -> Result<(), RuntimeError> {
    let options = RemoveContainerOptionsBuilder::new()
        .force(true)
        .v(false)
        .build();
    match docker.remove_container(name, Some(options)).await {
        Err(e) if !is_not_found(&e) => Err(e.into()),
        _ => Ok(()),
    }
}

/// Removes the binary volumes (and their records) of other binaries that no container uses.
async fn remove_older(docker: &Docker, digest: &str) {
    let filters = HashMap::from([("label", vec![labels::BINARY_SHA256.to_string()])]);
    let options = ListVolumesOptionsBuilder::new().filters(&filters).build();
    let Ok(list) = docker.list_volumes(Some(options)).await else {
        return;
    };
    for volume in list.volumes.unwrap_or_default() {
        if volume.labels.get(labels::BINARY_SHA256).map(String::as_str) != Some(digest) {
            let removed = docker
                .remove_volume(
                    &volume.name,
                    None::<bollard::query_parameters::RemoveVolumeOptions>,
                )
                .await;
            tracing::debug!(volume = %volume.name, removed = removed.is_ok(), "the volume of another worker binary");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, size: u64, kind: tar::EntryType) -> Vec<u8> {
        let mut h = tar::Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_size(size);
        h.set_entry_type(kind);
        h.set_cksum();
        h.as_bytes().to_vec()
    }

    #[test]
    fn the_first_file_of_a_tar_is_hashed_as_the_image_hashes_the_binary() {
        let content: Vec<u8> = (0..1500u32).map(|i| (i % 251) as u8).collect();
        // An extended header first (as Go's tar writes for some files), then the file, then the end.
        let mut archive = header("././@PaxHeader", 20, tar::EntryType::XHeader);
        archive.extend([b'x'; 20]);
        archive.extend(vec![0; 512 - 20]);
        archive.extend(header(
            "worker",
            content.len() as u64,
            tar::EntryType::Regular,
        ));
        archive.extend(&content);
        archive.extend(vec![0; (512 - content.len() % 512) % 512]);
        archive.extend(vec![0; 1024]);
        let mut expected = image::digest_hasher();
        expected.update(&content);
        let expected = hex::encode(expected.finalize());
        // Whatever the pieces the stream comes in.
        for piece in [1, 7, 512, 4096] {
            let mut reader = FirstFile::default();
            for chunk in archive.chunks(piece) {
                if reader.feed(chunk) {
                    break;
                }
            }
            assert_eq!(
                reader.finish().as_deref(),
                Some(expected.as_str()),
                "{piece}"
            );
        }
        // A cut archive is no file.
        let mut reader = FirstFile::default();
        reader.feed(&archive[..512 + 512 + 700]);
        assert_eq!(reader.finish(), None);
    }
}
