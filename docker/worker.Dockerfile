# The botfleet worker image: nothing but the static worker binary. Built offline by the manager (or by
# `scripts/build-image`) with the classic builder; the build context holds this file and `worker`.
FROM scratch
COPY worker /worker
USER 65534:65534
ENTRYPOINT ["/worker"]
