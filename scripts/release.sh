#!/bin/sh
# Writes a release into DIST (make release): for each architecture a
# tarball of the static binary with LICENSE, NOTICE and the licences of what
# it links; the corresponding source of those libraries; an SPDX 2.3 bill of
# materials (scripts/sbom.py); SHA256SUMS over them all.
#
#   scripts/release.sh VERSION DIST ARCH...     (make static ARCH=... first)
#
# The same commit gives the same bytes wherever and whenever it is built
# (tests/release/reproducible.sh): every time stamp is SOURCE_DATE_EPOCH,
# the commit's time unless given; archive members are sorted, owned by
# 0:0, with modes that do not depend on the umask; gzip stores no name or
# time; the binary itself carries no path or date (-ffile-prefix-map, no
# __DATE__).
set -eu
VERSION=$1
DIST=$2
shift 2
[ $# -gt 0 ] || { echo "release: no architecture given" >&2; exit 2; }
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null) ||
        { echo "release: not a git checkout: set SOURCE_DATE_EPOCH" >&2; exit 2; }
fi
export SOURCE_DATE_EPOCH
native=$(dpkg --print-architecture)
static_dir() { if [ "$1" = "$native" ]; then echo build/static; else echo "build/static-$1"; fi; }

# pack DIR NAME OUT: a tarball of DIR/NAME that depends on nothing but
# the files' contents and names.
pack() {
    find "$1/$2" -type d -exec chmod 0755 {} + -o -type f -perm -u+x -exec chmod 0755 {} + \
        -o -type f -exec chmod 0644 {} +
    tar -C "$1" --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
        --format=gnu -cf - "$2" | gzip -n -9 >"$3"
}

rm -rf "$DIST"
mkdir -p "$DIST"
DIST=$(cd "$DIST" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for arch in "$@"; do
    dir=$(static_dir "$arch")
    bin=$dir/build/podvisor
    [ -x "$bin" ] || { echo "release: no $bin (make static ARCH=$arch)" >&2; exit 1; }
    name=podvisor-$VERSION-linux-$arch
    mkdir -p "$tmp/$name"
    cp "$bin" "$tmp/$name/podvisor"
    cp LICENSE NOTICE "$tmp/$name/"
    sh scripts/licenses.sh "$dir" "$tmp/$name/licenses"
    pack "$tmp" "$name" "$DIST/$name.tar.gz"
done

# The libraries' corresponding source and the relink recipe, for every
# architecture shipped.
dirs=""
for arch in "$@"; do dirs="$dirs $(static_dir "$arch")"; done
# shellcheck disable=SC2086
sh scripts/corresponding-source.sh --dir "$tmp/src" "$VERSION" $dirs
pack "$tmp/src" "podvisor-$VERSION-corresponding-source" \
    "$DIST/podvisor-$VERSION-corresponding-source.tar.gz"

"${PYTHON:-/usr/bin/python3}" scripts/sbom.py "$VERSION" "$DIST" "$@" >"$DIST/podvisor-$VERSION.spdx.json"
(cd "$DIST" && sha256sum -- * | LC_ALL=C sort -k2 >"$tmp/SHA256SUMS") && mv "$tmp/SHA256SUMS" "$DIST/"
echo "release: $DIST" >&2
(cd "$DIST" && cat SHA256SUMS) >&2
