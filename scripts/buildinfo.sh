#!/bin/sh
# Writes OUT, a C header naming the commit podvisor is built from (for
# --version), only when that changes: a new commit rebuilds one object and
# relinks, an unchanged tree rebuilds nothing. Outside a git checkout (the
# corresponding-source tarball) the commit is "unknown"; uncommitted changes
# add "+dirty". PODVISOR_COMMIT, when set, is taken as it is (an image build,
# which has no .git: make image passes what --commit prints here).
#
#   scripts/buildinfo.sh OUT
#   scripts/buildinfo.sh --commit
set -eu
if [ -n "${PODVISOR_COMMIT:-}" ]; then
    commit=$PODVISOR_COMMIT
elif commit=$(git rev-parse --short=12 HEAD 2>/dev/null); then
    git diff --quiet HEAD -- 2>/dev/null || commit="$commit+dirty"
else
    commit=unknown
fi
if [ "$1" = --commit ]; then
    echo "$commit"
    exit 0
fi
out=$1
new="#define PODVISOR_COMMIT \"$commit\""
[ -f "$out" ] && [ "$(cat "$out")" = "$new" ] || echo "$new" >"$out"
