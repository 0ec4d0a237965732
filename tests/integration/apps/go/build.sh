#!/bin/sh
# Builds the Go test servers offline from Debian's packages (golang-go and
# golang-github-*-dev, GOPATH mode): tests/deps.sh installs them.
# usage: build.sh OUTDIR
set -eu
out=$(realpath -m "$1")
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
export GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$out/.gocache"
for app in ginsd graceapp flipapp devapp; do
    if [ ! -x "$out/$app" ] || [ -n "$(find "$here/$app" -newer "$out/$app" -name "*.go")" ]; then
        (cd "$here/$app" && go build -o "$out/$app" .)
    fi
done
