#!/bin/sh
# Writes into OUT the licences a static build (STATIC_DIR) carries: Debian's
# copyright file of every library it links and of musl (this machine's
# package, or the source a cross build built it from: notices, and the MIT
# and curl texts), and the full texts they refer to: LGPL-2.1
# (libmicrohttpd), LGPL-3 with the GPL-3 it builds on and GPL-2 (nettle's
# two choices, mbedTLS's second), Apache-2.0 (mbedTLS, taken under it).
# Used by scripts/release.sh (each tarball's licenses/) and the Dockerfile
# (the image's /licenses).
#
#   scripts/licenses.sh STATIC_DIR OUT
set -eu
STATIC=$1
OUT=$2
mkdir -p "$OUT"
for d in "$STATIC"/src/*/debian; do
    cp "$d/copyright" "$OUT/$(basename "$(dirname "$d")").copyright"
done
if ! ls -d "$STATIC"/src/musl-* >/dev/null 2>&1; then
    v=$(dpkg-query -W -f='${Version}' musl-dev)
    cp /usr/share/doc/musl/copyright "$OUT/musl-${v%-*}.copyright"
fi
for l in LGPL-2.1 LGPL-3 GPL-3 GPL-2 Apache-2.0; do
    cp "/usr/share/common-licenses/$l" "$OUT/$l"
done
