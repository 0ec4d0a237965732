#!/bin/bash
# The images the podman tiers run (tests/container/run.sh, tests/runtime),
# made here without a registry, each cached in podman's storage:
#   docker.io/library/debian:bookworm  debootstrap from this machine's own
#                                      Debian mirror (scripts/debian-mirror.sh)
#   localhost/podvisor:test            the Dockerfile (make image); also tagged
#                                      as the chart's examples name it
#   docker.io/library/nginx:1.25       a stand-in for the examples' nginx:
#                                      Debian's nginx-light, same CMD
#   registry.example/nginx-podvisor:1.25  the stand-in with podvisor inside
#                                      (the README's COPY --from pattern)
#
#   tests/container/images.sh VERSION
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=${1:?VERSION}
WORK=$PWD/build/container
mkdir -p "$WORK"
say() { echo "images: $*" >&2; }
fail() { say "FAIL: $*"; exit 1; }
command -v podman >/dev/null || fail "podman is not installed (tests/deps.sh installs it)"
export CONTAINERS_CONF=$WORK/containers.conf
# podman as root in this sandbox: runc, and ulimits the sandbox can grant.
cat >"$CONTAINERS_CONF" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
CONF

BASE=docker.io/library/debian:bookworm
WORK=$WORK sh scripts/base-image.sh || fail "the base image $BASE"

say "building the podvisor image (make image)"
# This machine's and arm64's (the container test runs the arm64 image's
# binary under qemu); every architecture would take a quarter of an hour.
make --no-print-directory image IMAGE=localhost/podvisor:test \
    IMAGE_ARCHES="$(dpkg --print-architecture) arm64" >/dev/null
podman tag localhost/podvisor:test "registry.example/podvisor:$VERSION"

say "building the nginx stand-in and the image with podvisor inside"
ctx=$WORK/nginx
rm -rf "$ctx" && mkdir -p "$ctx"
cat >"$ctx/Containerfile" <<CONF
FROM $BASE
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends nginx-light >/dev/null && rm -rf /var/lib/apt/lists/*
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
CONF
podman build -q --pull=never -t docker.io/library/nginx:1.25 "$ctx" >/dev/null
cat >"$ctx/Containerfile.podvisor" <<CONF
FROM docker.io/library/nginx:1.25
COPY --from=localhost/podvisor:test /podvisor /usr/local/bin/podvisor
CONF
podman build -q --pull=never -t registry.example/nginx-podvisor:1.25 -f "$ctx/Containerfile.podvisor" "$ctx" >/dev/null
say "ok"
