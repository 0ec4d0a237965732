#!/bin/sh
# The corresponding-source tarball (make licenses-source) does what NOTICE
# says: its relink recipe, followed as written, gives a working podvisor.
#
#   tests/release/relink.sh TARBALL
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -C "$tmp" -xzf "$1"
top=$(echo "$tmp"/podvisor-*-corresponding-source)
arch=$(dpkg --print-architecture)
for f in RELINK.txt podvisor/LICENSE podvisor/NOTICE relink/$arch/musl-gcc.specs relink/$arch/RELINK.txt; do
    [ -f "$top/$f" ] || { echo "relink: no $f in $1" >&2; exit 1; }
done
for pkg in nettle jansson libmicrohttpd curl mbedtls; do
    ls "$top"/debian-sources/"$pkg"_*.dsc >/dev/null 2>&1 ||
        { echo "relink: no Debian source package of $pkg" >&2; exit 1; }
done
# The command as RELINK.txt gives it (its continued lines joined).
cmd=$(sed -n '/^    .*gcc -specs/,/-lpthread$/p' "$top/relink/$arch/RELINK.txt" | sed 's/\\$//' | tr -d '\n')
[ -n "$cmd" ] || { echo "relink: no link command in RELINK.txt" >&2; exit 1; }
(cd "$top/relink/$arch" && sh -c "$cmd")
out=$("$top/relink/$arch/podvisor" --version | head -1)
case "$out" in
"podvisor $(cat VERSION) (commit "*) ;;
*) echo "relink: the relinked binary says \"$out\"" >&2; exit 1 ;;
esac
echo "relink: ok ($out, relinked from $(basename "$1"))"
