#!/bin/sh
# The Dockerfile's base image, docker.io/library/debian:bookworm, for podman
# builds with --pull=never (make image, tests/container/images.sh): when
# podman has none, made here with debootstrap from this machine's own Debian
# mirror (scripts/debian-mirror.sh), as root, once (the rootfs is cached in
# $WORK). With a registry at hand, `podman pull docker.io/library/debian:
# bookworm` gives the same image instead; this script never pulls.
#   WORK=build/container sh scripts/base-image.sh
set -eu
cd "$(dirname "$0")/.."
BASE=docker.io/library/debian:bookworm
WORK=${WORK:-$PWD/build/container}
say() { echo "base-image: $*" >&2; }
command -v podman >/dev/null || { say "podman is not installed (tests/deps.sh installs it)"; exit 1; }
podman image exists "$BASE" && exit 0
command -v debootstrap >/dev/null || {
    say "no $BASE in podman and no debootstrap to make it: podman pull $BASE, or install debootstrap (tests/deps.sh)"
    exit 1
}
[ "$(id -u)" = 0 ] || { say "making $BASE with debootstrap needs root"; exit 1; }
mkdir -p "$WORK"
if [ ! -f "$WORK/rootfs.done" ]; then
    mirror=$(sh scripts/debian-mirror.sh) || { say "no Debian mirror in the apt configuration"; exit 1; }
    say "making $BASE with debootstrap from $mirror (once; cached in $WORK)"
    rm -rf "$WORK/rootfs"
    if ! debootstrap --variant=minbase bookworm "$WORK/rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1; then
        tail -20 "$WORK/debootstrap.log" >&2
        say "debootstrap failed"
        exit 1
    fi
    touch "$WORK/rootfs.done"
fi
# An imported image has no PATH in its config (podman 4.3): the images
# built on it set one, and commands run in it are absolute.
tar -C "$WORK/rootfs" -c . |
    podman import -q -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$BASE" >/dev/null
say "made $BASE"
