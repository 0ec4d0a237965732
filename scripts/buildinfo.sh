#!/bin/sh
# Writes OUT, a C header naming the commit podvisor is built from (for
# --version), only when that changes: a new commit rebuilds one object and
# relinks, an unchanged tree rebuilds nothing. Outside a git checkout (the
# corresponding-source tarball) the commit is "unknown"; uncommitted changes
# add "+dirty".
#
#   scripts/buildinfo.sh OUT
set -eu
out=$1
if commit=$(git rev-parse --short=12 HEAD 2>/dev/null); then
    git diff --quiet HEAD -- 2>/dev/null || commit="$commit+dirty"
else
    commit=unknown
fi
new="#define PODVISOR_COMMIT \"$commit\""
[ -f "$out" ] && [ "$(cat "$out")" = "$new" ] || echo "$new" >"$out"
