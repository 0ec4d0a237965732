#!/bin/sh
# Installs (with apt-get, as root) what podvisor needs to build, test, demo
# and benchmark on Debian. Installs only what is missing, so a second run is
# quick. Used by `make demo`, `make deps` and .ci/run.
set -eu
PKGS="make gcc clang clang-format libclang-rt-14-dev pkg-config libmicrohttpd-dev libjansson-dev
nettle-dev libcurl4-openssl-dev libcmocka-dev valgrind python3 python3-pytest util-linux procps
curl nginx wrk tini dumb-init catatonit openssl iproute2 man-db stress-ng entr
podman runc fuse-overlayfs uidmap slirp4netns debootstrap python3-yaml gunicorn uvicorn systemd
golang-go golang-github-gin-gonic-gin-dev golang-github-coreos-go-systemd-dev
golang-github-facebookgo-grace-dev golang-github-cloudflare-tableflip-dev
qemu-user-static gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf gcc-powerpc64le-linux-gnu
gcc-s390x-linux-gnu python3-license-expression"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
# npm fetches helm and kubectl (scripts/k8s-tools.sh); the machine's own
# Node.js usually brings it, Debian's package otherwise.
command -v npm >/dev/null || missing="$missing npm"
[ -z "$missing" ] && exit 0
echo "podvisor: installing:$missing" >&2
if [ "$(id -u)" != 0 ]; then
    echo "podvisor: need root to install:$missing (run: sudo sh tests/deps.sh)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
