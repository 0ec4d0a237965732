#!/bin/sh
# make bench: PID-1 figures for podvisor beside tini, dumb-init, catatonit.
set -eu
dir=$(dirname "$0")
exec /usr/bin/python3 "$dir/pid1.py" "$@"
