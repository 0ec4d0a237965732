#!/bin/sh
# Writes what a release of podvisor-static must offer next to the binary
# (NOTICE): the corresponding source of the libraries it links, as built
# (Debian's source packages that scripts/static-deps.sh unpacked), podvisor's
# own source and, for each architecture, its object files and the recipe to
# relink the binary with a changed library.
#
#   scripts/corresponding-source.sh STATIC_DIR VERSION OUT_TARBALL
#       (make licenses-source: this machine's build, as a tarball)
#   scripts/corresponding-source.sh --dir OUT VERSION STATIC_DIR...
#       (scripts/release.sh: every architecture's, as a tree under OUT)
set -eu
if [ "$1" = --dir ]; then
    OUTDIR=$2 VERSION=$3 TARBALL=
    shift 3
else
    OUTDIR= VERSION=$2 TARBALL=$3
    set -- "$1"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
top=$tmp/podvisor-$VERSION-corresponding-source
mkdir -p "$top/debian-sources" "$top/podvisor" "$top/relink"
# podvisor's own source, as this tree has it.
cp -r Makefile VERSION LICENSE NOTICE cmd src scripts "$top/podvisor/"
for STATIC in "$@"; do
    [ -d "$STATIC/src" ] && [ -d "$STATIC/build/obj" ] ||
        { echo "corresponding-source: run make static first ($STATIC has no build)" >&2; exit 1; }
    # The libraries: Debian's source packages, exactly those built (the
    # same for every architecture; a cross build adds musl's).
    for f in "$STATIC"/src/*.dsc "$STATIC"/src/*.orig.tar.* "$STATIC"/src/*.debian.tar.*; do
        [ -f "$f" ] && cp "$f" "$top/debian-sources/"
    done
    # Relinking: podvisor's objects, the musl specs used, the libraries' .a.
    # A cross build's musl is its own build (the specs name it relatively).
    arch=$(sed -n 's/^# arch: //p' "$STATIC/toolchain.mk")
    gcc=$(sed -n 's/^STATIC_GCC := //p' "$STATIC/toolchain.mk")
    r=$top/relink/$arch
    mkdir -p "$r/obj" "$r/lib"
    cp "$STATIC"/build/obj/*.o "$r/obj/"
    if [ -d "$STATIC/musl/lib" ]; then
        mkdir -p "$r/musl"
        cp -r "$STATIC/musl/lib" "$r/musl/"
        rm -f "$r/musl/lib/musl-gcc.specs"
        sed "s|$(cd "$STATIC" && pwd)/musl|musl|g" "$STATIC/musl-gcc.specs" >"$r/musl-gcc.specs"
    else
        cp "$STATIC/musl-gcc.specs" "$r/"
    fi
    for l in libmicrohttpd libcurl libjansson libnettle libmbedtls libmbedx509 libmbedcrypto; do
        cp "$STATIC/prefix/lib/$l.a" "$r/lib/"
    done
    cat >"$r/RELINK.txt" <<TXT
Relinking podvisor-static for $arch, in this directory:

    $gcc -specs musl-gcc.specs -static -no-pie -Wl,--gc-sections -s \\
        -Wl,-z,relro,-z,now -o podvisor obj/*.o \\
        lib/libmicrohttpd.a lib/libjansson.a lib/libnettle.a -lc lib/libcurl.a \\
        lib/libmbedtls.a lib/libmbedx509.a lib/libmbedcrypto.a -lpthread
TXT
done
cat >"$top/RELINK.txt" <<TXT
podvisor $VERSION: rebuilding the libraries and relinking podvisor-static
=====================================================================

The binary links musl, libmicrohttpd, nettle, jansson, libcurl and mbedTLS
statically. debian-sources/ holds Debian's source packages of the
libraries as they were built (bookworm's; libcurl and mbedTLS from trixie,
see scripts/static-deps.sh; unpack one with \`dpkg-source -x NAME.dsc\`);
podvisor/ holds podvisor's source.

Rebuild every library and the binary, on Debian bookworm as root:

    cd podvisor && make static      # scripts/static-deps.sh, then the link
    make static ARCH=arm64          # the same for another architecture

To link a changed library instead: build it as scripts/static-deps.sh does
(its configure flags are there), then follow relink/ARCH/RELINK.txt in
relink/ARCH (podvisor's own objects as built, the libraries' archives, and
the musl specs that were used), replacing lib/NAME.a with your build. The
compiler it names is Debian's (gcc, or gcc-TRIPLE for another
architecture); this machine's musl-gcc.specs names musl's files under
/usr/lib/x86_64-linux-musl (musl-tools), another architecture's names the
musl build beside it.
TXT
if [ -n "$TARBALL" ]; then
    tar -C "$tmp" -czf "$TARBALL" "podvisor-$VERSION-corresponding-source"
    echo "corresponding-source: $TARBALL ($(du -h "$TARBALL" | cut -f1))" >&2
else
    mkdir -p "$OUTDIR"
    cp -r "$top" "$OUTDIR/"
fi
