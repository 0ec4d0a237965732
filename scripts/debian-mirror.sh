#!/bin/sh
# Prints the Debian mirror this machine's apt uses (deb822 .sources or
# one-line sources.list), for debootstrap: a test never names a host itself.
set -eu
for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk '
        /^[ \t]*$/ { if (uri != "" && suite ~ /(^| )(bookworm|stable)( |$)/ && uri !~ /security/) { print uri; exit } uri=""; suite=""; next }
        /^URIs:/ { uri=$2 } /^Suites:/ { $1=""; suite=$0 }
        END { if (uri != "" && uri !~ /security/) print uri }' "$f"
done | head -1 | grep . && exit 0
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' "$f"
done | head -1 | grep . && exit 0
echo "debian-mirror: no Debian mirror in the apt configuration" >&2
exit 1
