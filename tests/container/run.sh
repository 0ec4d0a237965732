#!/bin/bash
# Container test (part of `make test`): builds the Dockerfile with podman and
# runs podvisor the two ways users meet it:
#   1. an app image with podvisor as ENTRYPOINT, PID 1, run hardened
#      (--read-only --cap-drop=ALL --user 65534): /readyz through a published
#      port, then `podman stop` drains it gracefully (exit 0, logs in order);
#   2. injection: the podvisor image installs itself into a volume, a second
#      container (an image without podvisor) runs its app through that copy.
# There is no registry here: the debian:bookworm base is made locally with
# debootstrap (cached under build/container) and `podman import`ed.
#
#   tests/container/run.sh [VERSION]
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=${1:-dev}
WORK=$PWD/build/container
mkdir -p "$WORK"
say() { echo "container-test: $*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

bash tests/container/images.sh "$VERSION"
export CONTAINERS_CONF=$WORK/containers.conf
BASE=docker.io/library/debian:bookworm
IMAGE=localhost/podvisor:test
APP=localhost/podvisor-app:test
NAME=podvisor-ct-$$
VOL=podvisor-ct-$$
cleanup() {
    podman rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
    podman volume rm -f "$VOL" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# FROM scratch with the binary and the licences only.
files=$(podman create --name "$NAME-ls" "$IMAGE" >/dev/null && podman export "$NAME-ls" | tar -t | sort)
podman rm -f "$NAME-ls" >/dev/null
echo "$files" | grep -qx 'podvisor' || fail "no /podvisor in the image: $files"
echo "$files" | grep -Evq '^(podvisor|licenses/.*|dev/|etc/|proc/|sys/|run/|dev/.*|etc/.*|run/.*)$' &&
    fail "the image holds more than /podvisor and /licenses: $files"
for lib in curl jansson libmicrohttpd nettle mbedtls musl podvisor.LICENSE podvisor.NOTICE LGPL-2.1 LGPL-3 GPL-3 GPL-2 Apache-2.0; do
    echo "$files" | grep -q "^licenses/$lib" || fail "no licence for $lib in the image"
done
label=$(podman image inspect -f '{{index .Labels "org.opencontainers.image.version"}}' "$IMAGE")
[ "$label" = "$VERSION" ] || fail "version label is \"$label\", not $VERSION"
# One source: the binary says the version the label says.
said=$(podman run --rm "$IMAGE" --version 2>&1 | head -1)
case "$said" in *" $VERSION"*) ;; *) fail "the binary says \"$said\", the label $VERSION" ;; esac
# and the commit it was built from, though the build context has no .git
commit=$(sh scripts/buildinfo.sh --commit)
case "$said" in *"(commit $commit)") ;; *) fail "the binary says \"$said\", the tree is $commit" ;; esac
# podman 4.3's layer cache once kept the first build's label for every
# later version: two builds with other versions must each say their own.
for v in 1.1 2.2; do
    make --no-print-directory image VERSION=$v IMAGE=localhost/podvisor-label:$v \
        IMAGE_ARCHES="$(dpkg --print-architecture)" >/dev/null 2>&1 ||
        fail "make image VERSION=$v"
    l=$(podman image inspect -f '{{index .Labels "org.opencontainers.image.version"}}' localhost/podvisor-label:$v)
    podman rmi localhost/podvisor-label:$v >/dev/null
    [ "$l" = "$v" ] || fail "make image VERSION=$v is labelled \"$l\""
done
licenses=$(podman image inspect -f '{{index .Labels "org.opencontainers.image.licenses"}}' "$IMAGE")
case "$licenses" in Apache-2.0\ AND\ *) ;; *) fail "licenses label is \"$licenses\"" ;; esac

# The manifest list, and the arm64 image in it: its own platform, labels
# and licences, and an aarch64 binary that works, run here by qemu-user.
list=$(podman manifest inspect localhost/podvisor:test-multiarch)
platforms=$(echo "$list" | python3 -c '
import json, sys
print(" ".join(sorted(m["platform"]["architecture"] for m in json.load(sys.stdin)["manifests"])))')
[ "$platforms" = "$(echo "$(dpkg --print-architecture) arm64" | tr " " "\n" | sort | tr "\n" " " | sed "s/ $//")" ] ||
    fail "the manifest list names \"$platforms\""
ARM=localhost/podvisor:test-arm64
[ "$(podman image inspect -f '{{.Architecture}}' "$ARM")" = arm64 ] || fail "$ARM is not arm64"
[ "$(podman image inspect -f '{{index .Labels "org.opencontainers.image.version"}}' "$ARM")" = "$VERSION" ] ||
    fail "$ARM has no version label $VERSION"
rm -rf "$WORK/arm64" && mkdir -p "$WORK/arm64"
cid=$(podman create --platform linux/arm64 "$ARM" 2>/dev/null)
podman export "$cid" | tar -C "$WORK/arm64" -xf -
podman rm "$cid" >/dev/null
for lib in curl jansson libmicrohttpd nettle mbedtls musl podvisor.LICENSE Apache-2.0; do
    ls "$WORK/arm64/licenses/$lib"* >/dev/null 2>&1 || fail "no licence for $lib in $ARM"
done
file -b "$WORK/arm64/podvisor" 2>/dev/null | grep -q "ARM aarch64" ||
    [ "$(od -An -tu2 -j18 -N2 "$WORK/arm64/podvisor" | tr -d ' ')" = 183 ] ||
    fail "$ARM's /podvisor is not an aarch64 binary"
said=$(qemu-aarch64-static "$WORK/arm64/podvisor" --version 2>&1 | sed -n 2p)
case "$said" in "built for aarch64 (arm64), static, musl "*) ;; *) fail "$ARM's binary says \"$said\"" ;; esac
code=0
unshare --pid --fork --mount-proc qemu-aarch64-static "$WORK/arm64/podvisor" --probe-listen off \
    -- sh -c 'exit 7' 2>"$WORK/arm64.log" || code=$?
[ "$code" = 7 ] || fail "$ARM's binary as PID 1 passed exit status $code on, not 7: $(cat "$WORK/arm64.log")"
say "manifest list: $platforms; $ARM's binary ran as PID 1 under qemu-aarch64-static (exit 7 passed on)"

# 1. An app image with podvisor as its ENTRYPOINT.
say "building an app image with podvisor as ENTRYPOINT"
ctx=$WORK/app
rm -rf "$ctx" && mkdir -p "$ctx"
cat >"$ctx/app.sh" <<'EOF'
#!/bin/sh
# The app: says what it got, exits 0 on TERM.
trap 'echo "app: TERM received, exiting"; exit 0' TERM
echo "app: up as uid $(id -u), PID 1 is $(tr '\0' ' ' </proc/1/cmdline)"
while :; do sleep 1 & wait $!; done
EOF
chmod 0755 "$ctx/app.sh"
cat >"$ctx/Containerfile" <<EOF
FROM $BASE
COPY --from=$IMAGE /podvisor /podvisor
COPY app.sh /app.sh
ENTRYPOINT ["/podvisor", "--prestop-delay", "1s", "--stop-timeout", "5s", "--"]
CMD ["/app.sh"]
EOF
podman build -q --pull=never -t "$APP" "$ctx" >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
podman run -d --name "$NAME" --read-only --cap-drop=ALL --user 65534 \
    -p "127.0.0.1:$port:8099" "$APP" >/dev/null
ready=""
for _ in $(seq 1 100); do
    ready=$(curl -s -m 1 "http://127.0.0.1:$port/readyz" || true)
    [ "$ready" = ok ] && break
    sleep 0.1
done
[ "$ready" = ok ] || fail "/readyz through the published port said \"$ready\" ($(podman logs "$NAME" 2>&1))"
status=$(curl -s -m 2 "http://127.0.0.1:$port/status")
echo "$status" | grep -q '"state": "ready"' || fail "/status: $status"
pid1=$(podman exec "$NAME" cat /proc/1/cmdline | tr '\0' ' ')
case "$pid1" in /podvisor\ *) ;; *) fail "PID 1 is \"$pid1\", not podvisor" ;; esac
say "ready through 127.0.0.1:$port; PID 1 is: $pid1"

t0=$(date +%s%N)
podman stop -t 20 "$NAME" >/dev/null
took_ms=$((($(date +%s%N) - t0) / 1000000))
code=$(podman inspect -f '{{.State.ExitCode}}' "$NAME")
logs=$(podman logs "$NAME" 2>&1)
[ "$code" = 0 ] || fail "exit code $code after podman stop; logs: $logs"
# The prestop delay (1s) is kept, and the stop is not podman's SIGKILL (20s).
[ "$took_ms" -ge 1000 ] && [ "$took_ms" -lt 15000 ] || fail "podman stop took ${took_ms}ms"
echo "$logs" | grep -q 'app: up as uid 65534, PID 1 is /podvisor' || fail "app start: $logs"
# podvisor's lines in order. The app's line comes through another pipe
# (stdout), so its place among them is not kept by podman; its time is: it
# got TERM only after the prestop delay (1s) that began with the drain.
order=$(echo "$logs" | grep -oE 'ready -> draining|sending stop signal SIGTERM' | tr '\n' ',')
[ "$order" = "ready -> draining,sending stop signal SIGTERM," ] ||
    fail "drain out of order: \"$order\"; logs: $logs"
gap=$(podman logs -t "$NAME" 2>&1 | python3 -c '
import sys, datetime
t = {}
for line in sys.stdin:
    stamp, _, text = line.partition(" ")
    for key in ("ready -> draining", "app: TERM received"):
        if key in text:
            t[key] = datetime.datetime.fromisoformat(stamp[:26].rstrip("Z"))
print((t["app: TERM received"] - t["ready -> draining"]).total_seconds())') ||
    fail "no drain or TERM line with a time: $logs"
python3 -c "import sys; sys.exit(0 if 0.9 <= $gap < 10 else 1)" ||
    fail "the app got TERM ${gap}s after the drain began, not after the 1s prestop delay"
say "podman stop: exit 0 after ${took_ms}ms; the app got TERM ${gap}s after the drain began"
podman rm -f "$NAME" >/dev/null

# 2. Injection: install into a volume, then run an app through the copy.
podman volume create "$VOL" >/dev/null
podman run --rm --read-only --cap-drop=ALL -v "$VOL:/shared" "$IMAGE" install /shared/podvisor \
    >"$WORK/install.log" 2>&1 || fail "podvisor install: $(cat "$WORK/install.log")"
out=$(podman run --rm --read-only --cap-drop=ALL --user 65534 -v "$VOL:/pv:ro" "$BASE" \
    /pv/podvisor --probe-listen off -- sh -c 'echo "PID 1: $(readlink /proc/1/exe)"; exit 7' 2>&1) &&
    code=0 || code=$?
[ "$code" = 7 ] || fail "injected run exited $code, not 7: $out"
echo "$out" | grep -qx 'PID 1: /pv/podvisor' || fail "injected podvisor is not PID 1: $out"
say "injection: installed into a volume, ran the app as PID 1, exit status 7 passed through"
say "ok"
