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
#   scripts/static-deps.sh [OUT]        (default: build/static)
#
# Needs root the first time (apt-get: musl-tools, dpkg-dev, a deb-src entry).
set -eu
OUT=${1:-build/static}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PREFIX=$OUT/prefix
SRC=$OUT/src
JOBS=$(nproc 2>/dev/null || echo 2)
log() { echo "static-deps: $*" >&2; }

need_pkgs=""
for p in musl-tools dpkg-dev make m4 cmake curl; do
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
# and podvisor itself need the kernel's uapi headers (linux/, asm/).
KINC=$OUT/kernel-include
if [ ! -d "$KINC" ]; then
    mkdir -p "$KINC"
    ln -s /usr/include/linux /usr/include/asm-generic "$KINC/"
    ln -s "/usr/include/$(gcc -dumpmachine)/asm" "$KINC/asm"
fi
# Debian's musl-gcc.specs knows no -static-pie (it always names the dynamic
# loader and Scrt1.o): a copy that starts a static PIE from rcrt1.o and
# links it with no interpreter, as gcc's own specs do.
MUSL_LIB=/usr/lib/$(gcc -dumpmachine | sed 's/-gnu$/-musl/')
sed -e "s|%{!shared: $MUSL_LIB/Scrt1.o}|%{static-pie: $MUSL_LIB/rcrt1.o} %{!static-pie:%{!shared: $MUSL_LIB/Scrt1.o}}|" \
    -e "s|^-dynamic-linker \([^ ]*\)|%{!static-pie:-dynamic-linker \1} %{static-pie:-static -pie --no-dynamic-linker -z text}|" \
    "$MUSL_LIB/musl-gcc.specs" >"$OUT/musl-gcc.specs"
grep -q rcrt1 "$OUT/musl-gcc.specs" || { log "cannot adapt $MUSL_LIB/musl-gcc.specs for -static-pie"; exit 1; }
export CC="musl-gcc -isystem $KINC"
export CFLAGS="-O2 -fPIE -ffunction-sections -fdata-sections"
export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig PKG_CONFIG_LIBDIR=$PREFIX/lib/pkgconfig
COMMON="--prefix=$PREFIX --disable-shared --enable-static --host=$(gcc -dumpmachine | sed 's/-gnu$/-musl/')"

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
    built "$pkg" "${PINNED:-} $*" && return 0
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
    echo "${PINNED:-} $*" >"$OUT/stamp-$pkg"
}

# build_cmake PKG CMAKE-ARGS...: the same for a CMake project (jansson's
# Debian source has no generated configure).
build_cmake() {
    pkg=$1; shift
    built "$pkg" "$*" && return 0
    dir=$(fetch "$pkg")
    log "building $pkg ($(basename "$dir")) with musl"
    (
        cd "$dir" && rm -rf build-musl && mkdir build-musl && cd build-musl
        CC=musl-gcc cmake .. -DCMAKE_INSTALL_PREFIX="$PREFIX" -DCMAKE_INSTALL_LIBDIR=lib \
            -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS="$CFLAGS -isystem $KINC" \
            "$@" >"$OUT/$pkg.configure.log" 2>&1 || { tail -20 "$OUT/$pkg.configure.log" >&2; exit 1; }
        make -j"$JOBS" install >"$OUT/$pkg.make.log" 2>&1 || { tail -30 "$OUT/$pkg.make.log" >&2; exit 1; }
    ) || { log "$pkg failed; logs in $OUT"; exit 1; }
    echo "$*" >"$OUT/stamp-$pkg"
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
        make -j"$JOBS" lib CC=musl-gcc CFLAGS="$MBEDTLS_CFLAGS -isystem $KINC" \
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
