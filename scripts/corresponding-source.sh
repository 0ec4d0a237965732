#!/bin/sh
# Writes what a release of podvisor-static must offer next to the binary
# (NOTICE): the corresponding source of the libraries it links, as built
# (Debian's source packages that scripts/static-deps.sh unpacked), podvisor's
# own source and object files, and the recipe to rebuild the libraries and
# relink the binary with a changed one. Used by `make licenses-source`.
#
#   scripts/corresponding-source.sh STATIC_DIR VERSION OUT_TARBALL
set -eu
STATIC=$1
VERSION=$2
OUT=$3
[ -d "$STATIC/src" ] && [ -d "$STATIC/build/obj" ] ||
    { echo "corresponding-source: run make static first ($STATIC has no build)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
top=$tmp/podvisor-$VERSION-corresponding-source
mkdir -p "$top/debian-sources" "$top/podvisor" "$top/relink/obj"
# The libraries: Debian's source packages, exactly those built.
for f in "$STATIC"/src/*.dsc "$STATIC"/src/*.orig.tar.* "$STATIC"/src/*.debian.tar.*; do
    [ -f "$f" ] && cp "$f" "$top/debian-sources/"
done
# podvisor's own source, as this tree has it.
cp -r Makefile VERSION LICENSE NOTICE cmd src scripts "$top/podvisor/"
# Relinking: podvisor's objects, the musl specs used, the libraries' .a.
cp "$STATIC"/build/obj/*.o "$top/relink/obj/"
cp "$STATIC/musl-gcc.specs" "$top/relink/"
mkdir -p "$top/relink/lib"
for l in libmicrohttpd libcurl libjansson libnettle libmbedtls libmbedx509 libmbedcrypto; do
    cp "$STATIC/prefix/lib/$l.a" "$top/relink/lib/"
done
cat >"$top/RELINK.txt" <<TXT
podvisor $VERSION: rebuilding the libraries and relinking podvisor-static
=====================================================================

The binary links musl, libmicrohttpd, nettle, jansson, libcurl and mbedTLS
statically. debian-sources/ holds Debian's source packages of the five
libraries as they were built (bookworm's; libcurl and mbedTLS from trixie,
see scripts/static-deps.sh; unpack one with \`dpkg-source -x NAME.dsc\`);
podvisor/ holds podvisor's source.

Rebuild every library and the binary, on Debian bookworm as root:

    cd podvisor && make static      # scripts/static-deps.sh, then the link

To link a changed library instead: build it as scripts/static-deps.sh does
(its configure flags are there), then, in relink/ (podvisor's own objects as
built, the libraries' archives, and the musl specs that were used):

    gcc -specs musl-gcc.specs -static -no-pie -Wl,--gc-sections -s \\
        -Wl,-z,relro,-z,now -o podvisor obj/*.o \\
        lib/libmicrohttpd.a lib/libjansson.a lib/libnettle.a -lc lib/libcurl.a \\
        lib/libmbedtls.a lib/libmbedx509.a lib/libmbedcrypto.a -lpthread

replacing lib/NAME.a with your build (musl-tools, gcc; musl-gcc.specs
names musl's files under /usr/lib/x86_64-linux-musl).
TXT
tar -C "$tmp" -czf "$OUT" "podvisor-$VERSION-corresponding-source"
echo "corresponding-source: $OUT ($(du -h "$OUT" | cut -f1))" >&2
