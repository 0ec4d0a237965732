#!/bin/sh
# Two builds of one commit give the same bytes: `make release` here (dist/)
# against `make release` in a fresh clone elsewhere, at another time, with
# another umask. The clone builds its own libraries from Debian's sources for
# REBUILD_ARCHES (this machine's and arm64: a native and a cross build, ~5
# minutes), and takes the others' already built libraries from this tree
# (their sources, flags and compilers are the same ones; compiling every
# library of five architectures twice would take ~25 minutes of make test).
# Everything of podvisor's own is compiled, linked and packed again.
#
#   tests/release/reproducible.sh DIST ARCH...
set -eu
DIST=$(cd "$1" && pwd)
shift
native=$(dpkg --print-architecture)
REBUILD_ARCHES=${REBUILD_ARCHES:-"$native arm64"}
here=$(pwd)
commit=$(git rev-parse HEAD)
git diff --quiet HEAD -- || { echo "reproducible: uncommitted changes; commit first" >&2; exit 1; }
tmp=$(mktemp -d /tmp/podvisor-reproducible-XXXXXXXX)
trap 'rm -rf "$tmp"' EXIT
other=$tmp/another/directory/podvisor
git clone -q "$here" "$other"
git -C "$other" checkout -q "$commit"
for arch in "$@"; do
    case " $REBUILD_ARCHES " in *" $arch "*) continue ;; esac
    dir=build/static-$arch
    [ "$arch" = "$native" ] && dir=build/static
    mkdir -p "$other/$dir"
    # The built libraries and the musl build, not podvisor's objects.
    (cd "$here/$dir" && tar --exclude=./build -cf - .) | (cd "$other/$dir" && tar -xf -)
done
sleep 1 # another second: no time stamp may leak in
(cd "$other" && umask 077 && make -s release DIST="$tmp/dist" >"$tmp/release.log" 2>&1) ||
    { tail -30 "$tmp/release.log" >&2; exit 1; }
fail=0
for f in "$DIST"/* "$tmp"/dist/*; do
    name=$(basename "$f")
    [ -f "$DIST/$name" ] && [ -f "$tmp/dist/$name" ] ||
        { echo "reproducible: $name is in one release only" >&2; fail=1; continue; }
    cmp -s "$DIST/$name" "$tmp/dist/$name" ||
        { echo "reproducible: $name differs between the two builds" >&2; fail=1; }
done
[ "$fail" = 0 ] || exit 1
echo "reproducible: $(ls "$DIST" | wc -l) files byte-identical between $here and $other" \
    "(rebuilt from Debian's sources: $REBUILD_ARCHES)"
