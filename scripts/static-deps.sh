#!/bin/sh
# Builds the static (musl) libraries podvisor-static links: nettle, jansson,
# libmicrohttpd, mbedTLS and libcurl, from Debian's own source packages (the
# versions and patches Debian ships and tracks for security), with only the
# features podvisor uses. mbedTLS and libcurl come from Debian 13 (trixie):
# bookworm's mbedTLS 2.28 cannot verify an IP-address SAN (the Kubernetes
# API is reached by IP) and is out of upstream support, and bookworm's
# libcurl 7.88 speaks neither TLS 1.3 nor mbedTLS 3 (docs/static.md). Installs them under $OUT/prefix and leaves a stamp per
# library, so a second run costs nothing. Used by `make static`.
#
#   scripts/static-deps.sh [OUT [ARCH]]  (default: build/static, this machine's)
#
# ARCH is a Debian architecture: amd64, arm64, armhf, ppc64el or s390x. For
# another than this machine's, Debian's cross compiler (gcc-TRIPLE) builds
# musl itself from Debian's musl source package first (the same 1.2.3-1
# Debian's musl-tools ships for this machine), then the libraries with it.
# Besides the libraries, OUT gets musl-gcc.specs, kernel-include and
# toolchain.mk (the compiler and the libc the Makefile links with).
#
# Needs root the first time (apt-get: musl-tools, dpkg-dev, a deb-src entry).
set -eu
OUT=${1:-build/static}
NATIVE=$(dpkg --print-architecture)
DEB_ARCH=${2:-$NATIVE}
# Run from make, ARCH=... and make's flags are in the environment, where
# musl's and the libraries' own makefiles would take them for theirs.
unset ARCH MAKEFLAGS MFLAGS MAKELEVEL
# musl supports ppc64le only with a 64-bit long double (its configure
# refuses gcc's default IBM double-double); every object then must agree.
CPU_FLAGS=
case $DEB_ARCH in
amd64) TRIPLE=x86_64-linux-gnu MUSL_TRIPLE=x86_64-linux-musl ;;
arm64) TRIPLE=aarch64-linux-gnu MUSL_TRIPLE=aarch64-linux-musl ;;
armhf) TRIPLE=arm-linux-gnueabihf MUSL_TRIPLE=arm-linux-musleabihf ;;
ppc64el) TRIPLE=powerpc64le-linux-gnu MUSL_TRIPLE=powerpc64le-linux-musl CPU_FLAGS=-mlong-double-64 ;;
s390x) TRIPLE=s390x-linux-gnu MUSL_TRIPLE=s390x-linux-musl ;;
*)
    echo "static-deps: no such architecture: \"$DEB_ARCH\" (amd64, arm64, armhf, ppc64el, s390x)" >&2
    exit 2
    ;;
esac
CROSS=
[ "$DEB_ARCH" = "$NATIVE" ] || CROSS=1
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PREFIX=$OUT/prefix
SRC=$OUT/src
JOBS=$(nproc 2>/dev/null || echo 2)
log() { echo "static-deps: $*" >&2; }

need_pkgs=""
for p in musl-tools dpkg-dev make m4 cmake curl ${CROSS:+gcc-$TRIPLE linux-libc-dev-$DEB_ARCH-cross}; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        need_pkgs="$need_pkgs $p"
done

# apt-get source needs a deb-src line for the mirror already configured.
# Debian images use deb822 (debian.sources) or the one-line sources.list.
have_src() { grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; }
if [ -n "$need_pkgs" ] || ! have_src; then
    [ "$(id -u)" = 0 ] || { log "need root to install$need_pkgs and add a deb-src entry"; exit 1; }
    export DEBIAN_FRONTEND=noninteractive
    if ! have_src; then
        if [ -f /etc/apt/sources.list.d/debian.sources ]; then
            sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
                >/etc/apt/sources.list.d/podvisor-src.sources
        else
            sed -n 's/^deb /deb-src /p' /etc/apt/sources.list >/etc/apt/sources.list.d/podvisor-src.list
        fi
        log "added a deb-src entry for the configured mirror"
    fi
    apt-get update -qq
    # shellcheck disable=SC2086
    [ -z "$need_pkgs" ] || apt-get install -y -qq --no-install-recommends $need_pkgs >/dev/null
fi

# musl-gcc searches musl's headers only; the libraries' configure scripts
# and podvisor itself need the kernel's uapi headers (linux/, asm/): this
# machine's, or those of the cross compiler's target (linux-libc-dev-*-cross).
KINC=$OUT/kernel-include
if [ ! -d "$KINC" ]; then
    mkdir -p "$KINC"
    if [ -n "$CROSS" ]; then
        ln -s "/usr/$TRIPLE/include/linux" "/usr/$TRIPLE/include/asm-generic" \
            "/usr/$TRIPLE/include/asm" "$KINC/"
    else
        ln -s /usr/include/linux /usr/include/asm-generic "$KINC/"
        ln -s "/usr/include/$TRIPLE/asm" "$KINC/asm"
    fi
fi

# fetch PKG: unpacks Debian's source package (patches applied) once.
fetch() {
    dir=$(find "$SRC" -maxdepth 1 -type d -name "$1-[0-9]*" 2>/dev/null | head -1)
    if [ -z "$dir" ]; then
        mkdir -p "$SRC"
        (cd "$SRC" && apt-get source -qq "$1" >/dev/null 2>&1) ||
            { log "apt-get source $1 failed (is there a deb-src entry?)"; exit 1; }
        dir=$(find "$SRC" -maxdepth 1 -type d -name "$1-[0-9]*" | head -1)
    fi
    echo "$dir"
}

# musl: Debian's build for this machine; for another, Debian's source of
# the same version (what musl-tools was built from), built with the cross
# compiler into $OUT/musl, which then holds what /usr/lib/$MUSL_TRIPLE
# holds natively.
MUSL_VERSION=$(dpkg-query -W -f='${Version}' musl-dev)
if [ -n "$CROSS" ]; then
    MUSL_LIB=$OUT/musl/lib
    if [ "$(cat "$OUT/stamp-musl" 2>/dev/null)" != "$MUSL_VERSION $TRIPLE" ]; then
        dir=$(fetch musl)
        log "building musl ($(basename "$dir")) for $DEB_ARCH with $TRIPLE-gcc"
        (
            cd "$dir"
            [ ! -f config.mak ] || make distclean >/dev/null 2>&1 || true
            ./configure --prefix="$OUT/musl" --target="$TRIPLE" CROSS_COMPILE="$TRIPLE-" \
                CC="$TRIPLE-gcc $CPU_FLAGS" \
                --disable-shared --enable-wrapper=gcc >"$OUT/musl.configure.log" 2>&1 ||
                { tail -20 "$OUT/musl.configure.log" >&2; exit 1; }
            make -j"$JOBS" >"$OUT/musl.make.log" 2>&1 || { tail -30 "$OUT/musl.make.log" >&2; exit 1; }
            make install >"$OUT/musl.install.log" 2>&1 || { tail -20 "$OUT/musl.install.log" >&2; exit 1; }
        ) || { log "musl failed; logs in $OUT"; exit 1; }
        echo "$MUSL_VERSION $TRIPLE" >"$OUT/stamp-musl"
        echo "$OUT/musl" >"$OUT/musl/prefix"
    fi
    # musl's specs name where it was built: a tree copied elsewhere (as
    # tests/release/reproducible.sh does) names its own copy.
    MUSL_WAS=$(cat "$OUT/musl/prefix" 2>/dev/null || echo "$OUT/musl")
    MUSL_NOW=$OUT/musl
    GCC="$TRIPLE-gcc${CPU_FLAGS:+ $CPU_FLAGS}"
else
    MUSL_LIB=/usr/lib/$MUSL_TRIPLE
    MUSL_WAS=$MUSL_LIB MUSL_NOW=$MUSL_LIB
    GCC=gcc
fi
# Debian's musl-gcc.specs knows no -static-pie (it always names the dynamic
# loader and Scrt1.o): a copy that starts a static PIE from rcrt1.o and
# links it with no interpreter, as gcc's own specs do.
sed -e "s|$MUSL_WAS|$MUSL_NOW|g" \
    -e "s|%{!shared: $MUSL_LIB/Scrt1.o}|%{static-pie: $MUSL_LIB/rcrt1.o} %{!static-pie:%{!shared: $MUSL_LIB/Scrt1.o}}|" \
    -e "s|^-dynamic-linker \([^ ]*\)|%{!static-pie:-dynamic-linker \1} %{static-pie:-static -pie --no-dynamic-linker -z text}|" \
    "$MUSL_LIB/musl-gcc.specs" >"$OUT/musl-gcc.specs"
grep -q rcrt1 "$OUT/musl-gcc.specs" || { log "cannot adapt $MUSL_LIB/musl-gcc.specs for -static-pie"; exit 1; }
# A cross build's musl is libc.a only, so every link is static in effect,
# but gcc orders libgcc and libc as one group only for -static: armhf's
# libgcc calls raise() back in libc, and the configure scripts' test
# programs and curl's tools link without -static.
# (First in the file: gcc refuses it after musl's empty specs at the end.)
if [ -n "$CROSS" ]; then
    { printf '*link_gcc_c_sequence:\n--start-group %%G %%L --end-group\n\n'; cat "$OUT/musl-gcc.specs"; } \
        >"$OUT/musl-gcc.specs.tmp" && mv "$OUT/musl-gcc.specs.tmp" "$OUT/musl-gcc.specs"
fi
# What the Makefile compiles and links podvisor with (STATIC=1).
printf '# arch: %s\nSTATIC_GCC := %s\nSTATIC_LIBC := musl %s\n' "$DEB_ARCH" "$GCC" "$MUSL_VERSION" \
    >"$OUT/toolchain.mk"
MUSL_CC="$GCC -specs $OUT/musl-gcc.specs"
# Paths of this build tree never reach an object (nor so the binary):
# two builds in two directories give the same bytes (make release).
export CC="$MUSL_CC -isystem $KINC"
export CFLAGS="-O2 -fPIE -ffunction-sections -fdata-sections -ffile-prefix-map=$OUT=."
export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig PKG_CONFIG_LIBDIR=$PREFIX/lib/pkgconfig
COMMON="--prefix=$PREFIX --disable-shared --enable-static --host=$MUSL_TRIPLE"
[ -z "$CROSS" ] || COMMON="$COMMON --build=$(gcc -dumpmachine)"

# fetch_pinned PKG VERSION DSC-SHA256: a source package of another Debian
# release, from this machine's mirror (scripts/debian-mirror.sh), its .dsc
# checked against the SHA-256 pinned here and the files against the .dsc
# (dpkg-source does). Other versions of PKG left in $SRC are removed, so
# that licences and the corresponding source name only what is built.
fetch_pinned() {
    pkg=$1 ver=$2 sum=$3
    upstream=${ver%-*}
    dir=$SRC/$pkg-$upstream
    if [ ! -d "$dir" ]; then
        mkdir -p "$SRC"
        find "$SRC" -maxdepth 1 -name "${pkg}[-_]*" -exec rm -rf {} + 2>/dev/null || true
        mirror=$(sh "$(dirname "$0")/debian-mirror.sh")
        pool=$mirror/pool/main/$(echo "$pkg" | cut -c1)/$pkg
        dsc=${pkg}_$ver.dsc
        (cd "$SRC" && curl -fsS -o "$dsc" "$pool/$dsc") ||
            { log "cannot download $pool/$dsc"; exit 1; }
        echo "$sum  $SRC/$dsc" | sha256sum -c --quiet - ||
            { log "$dsc does not match its pinned SHA-256"; exit 1; }
        for f in $(awk '/^Checksums-Sha256:/{p=1; next} /^[^ ]/{p=0} p{print $3}' "$SRC/$dsc"); do
            (cd "$SRC" && curl -fsS -o "$f" "$pool/$f") || { log "cannot download $pool/$f"; exit 1; }
        done
        (cd "$SRC" && dpkg-source -x --no-check "$dsc" "$pkg-$upstream" >/dev/null) ||
            { log "dpkg-source -x $dsc failed"; exit 1; }
        # --no-check skips only the OpenPGP signature (the pin stands for
        # it); the files' checksums are the .dsc's, checked here.
        (cd "$SRC" && awk '/^Checksums-Sha256:/{p=1; next} /^[^ ]/{p=0} p{print $1 "  " $3}' "$dsc" |
            sha256sum -c --quiet -) || { log "$pkg's files do not match $dsc"; exit 1; }
    fi
    echo "$dir"
}

# A library's stamp holds the arguments it was built with: a change of
# them here rebuilds it on a machine that built the old ones.
built() { [ -f "$OUT/stamp-$1" ] && [ "$(cat "$OUT/stamp-$1")" = "$2" ]; }

# build PKG CONFIGURE-ARGS...: configure, make, install; skipped when built.
# With $PINNED set ("VERSION SHA256"), the source comes from fetch_pinned.
build() {
    pkg=$1; shift
    built "$pkg" "${PINNED:-} $* $CFLAGS ${LDFLAGS:-}" && return 0
    if [ -n "${PINNED:-}" ]; then
        # shellcheck disable=SC2086
        dir=$(fetch_pinned "$pkg" $PINNED)
    else
        dir=$(fetch "$pkg")
    fi
    log "building $pkg ($(basename "$dir")) with musl"
    (
        cd "$dir"
        [ ! -f Makefile ] || make distclean >/dev/null 2>&1 || true
        # shellcheck disable=SC2086
        ./configure $COMMON "$@" >"$OUT/$pkg.configure.log" 2>&1 ||
            { tail -20 "$OUT/$pkg.configure.log" >&2; exit 1; }
        # Debian's patches leave configure.ac as new as configure; the
        # generated files are already right, so never regenerate them.
        regen="AUTOCONF=true AUTOHEADER=true ACLOCAL=true AUTOMAKE=true"
        # shellcheck disable=SC2086
        make -j"$JOBS" $regen >"$OUT/$pkg.make.log" 2>&1 || { tail -30 "$OUT/$pkg.make.log" >&2; exit 1; }
        # shellcheck disable=SC2086
        make install $regen >"$OUT/$pkg.install.log" 2>&1 || { tail -20 "$OUT/$pkg.install.log" >&2; exit 1; }
    ) || { log "$pkg failed; logs in $OUT"; exit 1; }
    echo "${PINNED:-} $* $CFLAGS ${LDFLAGS:-}" >"$OUT/stamp-$pkg"
}

# build_cmake PKG CMAKE-ARGS...: the same for a CMake project (jansson's
# Debian source has no generated configure).
build_cmake() {
    pkg=$1; shift
    built "$pkg" "$* $CFLAGS ${LDFLAGS:-}" && return 0
    dir=$(fetch "$pkg")
    log "building $pkg ($(basename "$dir")) with musl"
    (
        cd "$dir" && rm -rf build-musl && mkdir build-musl && cd build-musl
        # shellcheck disable=SC2086
        CC=$GCC cmake .. -DCMAKE_INSTALL_PREFIX="$PREFIX" -DCMAKE_INSTALL_LIBDIR=lib \
            -DCMAKE_BUILD_TYPE=Release \
            -DCMAKE_C_FLAGS="-specs $OUT/musl-gcc.specs $CFLAGS -isystem $KINC" \
            ${CROSS:+-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=$DEB_ARCH -DCMAKE_EXE_LINKER_FLAGS=-static} "$@" >"$OUT/$pkg.configure.log" 2>&1 || { tail -20 "$OUT/$pkg.configure.log" >&2; exit 1; }
        make -j"$JOBS" install >"$OUT/$pkg.make.log" 2>&1 || { tail -30 "$OUT/$pkg.make.log" >&2; exit 1; }
    ) || { log "$pkg failed; logs in $OUT"; exit 1; }
    echo "$* $CFLAGS ${LDFLAGS:-}" >"$OUT/stamp-$pkg"
}

# nettle: SHA-256 only; no GMP, so no public-key half (hogweed). Not
# "fat": a fat nettle picks its code at every start with CPUID, which
# traps to the hypervisor on a virtual machine (the node of most pods);
# that cost about 0.07 ms of each start (bench/pid1.py), for a hash of a
# few config files that plain x86-64 code does as well.
build nettle --disable-public-key --disable-openssl --disable-documentation \
    --disable-gcov --disable-fat --libdir="$PREFIX/lib"
build_cmake jansson -DJANSSON_BUILD_SHARED_LIBS=OFF -DJANSSON_BUILD_DOCS=OFF \
    -DJANSSON_EXAMPLES=OFF -DJANSSON_WITHOUT_TESTS=ON
# libmicrohttpd: a plain-HTTP probe server on epoll; no TLS, auth, upgrade.
build libmicrohttpd --disable-https --without-gnutls --disable-curl --disable-doc \
    --disable-examples --disable-dauth --disable-bauth \
    --disable-httpupgrade --disable-postprocessor \
    --disable-nls --enable-epoll=yes
# mbedTLS, for libcurl's https (--drain-endpoints reaches the API server,
# webhook:https, https checks): a TLS 1.2 and 1.3 client with X.509
# verification, and nothing else: no server side, DTLS, session cache,
# certificate writing (a public key is still written: libcurl pins with
# it) or the ciphers no API server offers. Apache-2.0 (of
# its two licences). Its own Makefile: plain C, no configure.
MBEDTLS_VERSION="3.6.6-0.1~deb13u1"
MBEDTLS_DSC_SHA256=eb9ed1adbbddcb0d00276fac6fcee0056c64ce01481c2522a16dca75792eb5eb
MBEDTLS_OFF="MBEDTLS_SSL_SRV_C MBEDTLS_SSL_PROTO_DTLS MBEDTLS_SSL_DTLS_ANTI_REPLAY
    MBEDTLS_SSL_DTLS_HELLO_VERIFY MBEDTLS_SSL_DTLS_CLIENT_PORT_REUSE
    MBEDTLS_SSL_DTLS_CONNECTION_ID MBEDTLS_SSL_DTLS_SRTP MBEDTLS_SSL_CACHE_C
    MBEDTLS_SSL_COOKIE_C MBEDTLS_SSL_TICKET_C MBEDTLS_ECJPAKE_C
    MBEDTLS_KEY_EXCHANGE_ECJPAKE_ENABLED MBEDTLS_LMS_C MBEDTLS_PKCS7_C
    MBEDTLS_X509_CSR_PARSE_C MBEDTLS_X509_CSR_WRITE_C MBEDTLS_X509_CRT_WRITE_C
    MBEDTLS_X509_CREATE_C MBEDTLS_PEM_WRITE_C
    MBEDTLS_SSL_CONTEXT_SERIALIZATION MBEDTLS_NET_C MBEDTLS_TIMING_C
    MBEDTLS_CAMELLIA_C MBEDTLS_ARIA_C MBEDTLS_SSL_RENEGOTIATION"
MBEDTLS_CFLAGS="-Os -fPIE -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables"
if ! built mbedtls "$MBEDTLS_VERSION $MBEDTLS_OFF $MBEDTLS_CFLAGS"; then
    dir=$(fetch_pinned mbedtls "$MBEDTLS_VERSION" "$MBEDTLS_DSC_SHA256")
    log "building mbedtls ($(basename "$dir")) with musl"
    (
        cd "$dir"
        make -C library clean >/dev/null 2>&1 || true
        cfg=include/mbedtls/mbedtls_config.h
        [ -f "$cfg.debian" ] || cp "$cfg" "$cfg.debian"
        cp "$cfg.debian" "$cfg"
        for o in $MBEDTLS_OFF; do sed -i "s|^#define $o\b|//#define $o|" "$cfg"; done
        make -j"$JOBS" lib CC="$MUSL_CC" AR="${CROSS:+$TRIPLE-}ar" CFLAGS="$MBEDTLS_CFLAGS -isystem $KINC" \
            >"$OUT/mbedtls.make.log" 2>&1 || { tail -30 "$OUT/mbedtls.make.log" >&2; exit 1; }
        # By hand: its install target builds the programs and tests first,
        # which need python to generate their sources.
        mkdir -p "$PREFIX/include" "$PREFIX/lib"
        cp -r include/mbedtls include/psa "$PREFIX/include/"
        cp library/libmbedtls.a library/libmbedx509.a library/libmbedcrypto.a "$PREFIX/lib/"
    ) || { log "mbedtls failed; logs in $OUT"; exit 1; }
    echo "$MBEDTLS_VERSION $MBEDTLS_OFF $MBEDTLS_CFLAGS" >"$OUT/stamp-mbedtls"
    rm -f "$OUT/stamp-curl" # built against the old one
fi
# libcurl: HTTP and HTTPS (mbedTLS) only (probes, checks, webhooks, the
# Kubernetes API). The threaded resolver keeps a slow DNS answer off
# podvisor's event loop. The CA bundle by default is Debian's path (an
# image with ca-certificates); --webhook-ca and the service account's CA
# are given by file.
PINNED="8.14.1-2+deb13u5 9a9a2c95cdc8b5d76892c70858f25eaf2dc0b0a475a1e43e0b4ad428414752df"
build curl --with-mbedtls="$PREFIX" --without-zlib --without-brotli --without-zstd \
    --without-nghttp2 --without-libidn2 --without-libpsl --without-librtmp \
    --without-libssh2 --without-libgsasl --disable-ldap --disable-ldaps \
    --disable-rtsp --disable-dict --disable-telnet --disable-tftp --disable-pop3 \
    --disable-imap --disable-smtp --disable-gopher --disable-mqtt --disable-ftp \
    --disable-file --disable-smb --disable-manual --disable-ntlm \
    --disable-alt-svc --disable-netrc --disable-hsts --disable-doh --disable-mime \
    --disable-form-api --disable-dateparse --disable-progress-meter --disable-websockets \
    --enable-threaded-resolver --disable-libcurl-option --disable-docs --disable-ipfs \
    --with-ca-bundle=/etc/ssl/certs/ca-certificates.crt --without-ca-path --without-ca-embed
PINNED=
log "static libraries ready in $PREFIX"

# --tests: cmocka too, for the unit tests of a foreign build (make
# qemu-unit), apart from what the binary links: its own prefix and source
# directory, so that no licence, bill of materials or corresponding source
# names it.
if [ "${3:-}" = --tests ]; then
    SRC=$OUT/test-src PREFIX=$OUT/test-prefix
    # cmocka.h defines uintptr_t itself, from __WORDSIZE, which musl has
    # not: the C library's own, by the guard cmocka.h offers for it (the
    # tests are compiled so too: PKG_CFLAGS_TEST in the Makefile).
    CFLAGS="$CFLAGS -D_UINTPTR_T_DEFINED -include stdint.h"
    build_cmake cmocka -DWITH_STATIC_LIB=ON -DWITH_EXAMPLES=OFF -DUNIT_TESTING=OFF
    # What -lcmocka finds in a static link.
    cp "$PREFIX/lib/libcmocka-static.a" "$PREFIX/lib/libcmocka.a"
    log "cmocka ready in $PREFIX"
fi
