# The botfleet worker image: nothing but the static worker binary. Built offline by the manager (or by
# `scripts/build-image`) with the classic builder; the build context holds this file and `worker`.
FROM scratch
# In a directory of its own: the manager fills a volume from it, which every worker mounts there read-only,
# so that all of them share one copy of the binary in memory (manager/src/runtime/binary_volume.rs).
COPY worker /opt/botfleet/worker
# The mount point of the instance's volume; Docker copies its owner into a new volume, so the
# unprivileged worker can write there.
COPY --chown=65534:65534 data /data
USER 65534:65534
ENTRYPOINT ["/opt/botfleet/worker"]
