#!/bin/sh
# make demo: podvisor as PID 1 of a fresh PID namespace, doing its job on
# real processes. Needs root (for unshare), like the tests.
set -u
PV=${1:-build/podvisor}
H=${2:-build/helpers}
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ns() { unshare --pid --fork --mount-proc --kill-child "$@"; }

say "1. podvisor is PID 1; the app is its child, the exit code comes back"
ns "$PV" --probe-listen off -- sh -c 'echo "app: my pid is $$, my parent is $PPID"; exit 3'
echo "podvisor exited with $? (the app's 3)"

say "2. 2000 orphaned grandchildren: podvisor reaps every one"
ns "$PV" --probe-listen off --log-level warn -- "$H/orphans" 2000

say "3. signals are forwarded (USR1 as-is, HUP rewritten to USR2); SIGTERM stops the app"
ns "$PV" --probe-listen off --rewrite HUP:USR2 -- "$H/sigecho" app &
sleep 0.5
PVPID=$(pgrep -f "podvisor --probe-listen off --rewrite HUP:USR2" | while read -r p; do
    [ "$(ps -o comm= -p "$p")" = podvisor ] && echo "$p"; done | head -1)
for s in USR1 HUP TERM; do echo "-> kill -$s podvisor"; kill -"$s" "$PVPID"; sleep 0.3; done
wait $!
echo "podvisor exited with $? (the app exited 0 on TERM)"

say "4. the app dies of a signal: podvisor exits 128+N, like a shell"
ns "$PV" --probe-listen off --log-level warn -- sh -c 'kill -KILL $$'
echo "podvisor exited with $? (128+9)"

say "5. a daemon left behind gets SIGTERM before podvisor exits: nothing is left"
# (the daemon waits on a background sleep: a foreground one killed by the
# same SIGTERM would make its shell print "Terminated")
ns "$PV" --probe-listen off -- sh -c '( setsid sh -c "trap \"echo daemon: got SIGTERM, bye; exit 0\" TERM; sleep 1000 & wait" & ); sleep 0.3; echo "app: exiting, leaving a daemon"'

say "6. bad input: one clear line, exit 2, no child started"
"$PV" --prestop-delay 5x -- true
echo "podvisor exited with $?"

say "7. the graceful stop, as a pod deletion: readiness fails at once, the app serves on for the delay"
PORT=18099
"$PV" --probe-listen 127.0.0.1:$PORT --prestop-delay 2s -- sh -c 'trap "echo app: got SIGTERM, stopping; exit 0" TERM; while :; do sleep 0.1; done' &
PVPID=$!
sleep 0.5
printf 'before:  /readyz -> '; curl -s "http://127.0.0.1:$PORT/readyz"
echo "-> kill -TERM podvisor"; kill -TERM "$PVPID"; sleep 0.2
printf 'after:   /readyz -> '; curl -s "http://127.0.0.1:$PORT/readyz?verbose" | tr '\n' ' '; echo
printf '         /livez  -> '; curl -s "http://127.0.0.1:$PORT/livez"
printf '         podvisor probe http://127.0.0.1:%s/readyz -> ' "$PORT"
"$PV" probe "http://127.0.0.1:$PORT/readyz" 2>&1
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^podvisor_(ready|drain_seconds|state\{state="draining"\})'
wait "$PVPID"
echo "podvisor exited with $? after the 2s delay"

say "8. a ConfigMap update (the kubelet's ..data swap): validated, then a graceful restart"
CM=$(mktemp -d)/config
mkdir -p "$CM/..v1" && echo "greeting=hello" > "$CM/..v1/app.conf"
ln -s ..v1 "$CM/..data" && ln -s ..data/app.conf "$CM/app.conf"
"$PV" --probe-listen 127.0.0.1:$PORT --watch "$CM" --debounce 200ms \
    --validate "grep -q ^greeting= $CM/app.conf" -- \
    sh -c "echo app: started with \$(cat $CM/app.conf); trap 'exit 0' TERM; while :; do sleep 0.1; done" &
PVPID=$!
sleep 0.5
swap() { # what the kubelet's AtomicWriter does: new dir, ..data_tmp renamed over ..data
    mkdir "$CM/..$1" && echo "$2" > "$CM/..$1/app.conf"
    ln -s "..$1" "$CM/..data_tmp" && mv -T "$CM/..data_tmp" "$CM/..data"
}
echo "-> update the ConfigMap: greeting=bonjour"; swap v2 "greeting=bonjour"; sleep 0.8
echo "-> update it with a broken config (validate refuses it; the app keeps running)"; swap v3 "oops"; sleep 0.8
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^podvisor_(config_refused_total|child_restarts_total\{reason="config"\})'
kill -TERM "$PVPID"; wait "$PVPID"
rm -rf "$(dirname "$CM")"
