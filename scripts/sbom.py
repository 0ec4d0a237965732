#!/usr/bin/python3
"""An SPDX 2.3 bill of materials (JSON) for a release (scripts/release.sh):
podvisor's source, each architecture's binary (its SHA-256) and every Debian
source package linked into it, with version, licence, download location and
package URL, and how they relate (the binary GENERATED_FROM podvisor's
source, STATIC_LINK to each library).

    scripts/sbom.py VERSION DIST ARCH...     (prints the document)

Deterministic: the creation time is SOURCE_DATE_EPOCH, the namespace is
derived from the version and the binaries' digests, and keys are sorted."""
import datetime
import glob
import hashlib
import json
import os
import subprocess
import sys

VERSION, DIST, ARCHES = sys.argv[1], sys.argv[2], sys.argv[3:]
NATIVE = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                        check=True).stdout.strip()
MIRROR = "https://deb.debian.org/debian"

# Each linked library's licence as Debian's copyright file gives it, in
# SPDX terms; concluded is the one podvisor takes it under (NOTICE).
LIBRARIES = {
    "musl": ("MIT", "MIT", "the C library"),
    "nettle": ("LGPL-3.0-or-later OR GPL-2.0-or-later", "LGPL-3.0-or-later OR GPL-2.0-or-later",
               "SHA-256 only"),
    "jansson": ("MIT", "MIT", "JSON"),
    "libmicrohttpd": ("LGPL-2.1-or-later", "LGPL-2.1-or-later", "the probe server, without TLS"),
    "mbedtls": ("Apache-2.0 OR GPL-2.0-or-later", "Apache-2.0", "TLS for libcurl"),
    "curl": ("curl", "curl", "libcurl: HTTP and HTTPS only"),
}


# The binary's: podvisor's and each library's as taken, each once (the
# image's org.opencontainers.image.licenses label says the same).
BINARY_LICENCE = " AND ".join(dict.fromkeys(
    ["Apache-2.0"] + [f"({c})" if " " in c else c for _, c, _ in
                      sorted(LIBRARIES.values(), key=lambda v: (" " not in v[1], v[1]))]))


def static_dir(arch):
    return "build/static" if arch == NATIVE else f"build/static-{arch}"


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def dsc_version(path):
    with open(path) as f:
        for line in f:
            if line.startswith("Version: "):
                return line.split(" ", 1)[1].strip()
    raise SystemExit(f"sbom: {path} has no Version")


def source_packages():
    """name -> (version, .dsc path) of every source package built, over
    all architectures (musl comes from a cross build's own, or from this
    machine's musl-dev package)."""
    found = {}
    for arch in ARCHES:
        for dsc in sorted(glob.glob(os.path.join(static_dir(arch), "src", "*.dsc"))):
            name = os.path.basename(dsc).split("_", 1)[0]
            found.setdefault(name, (dsc_version(dsc), dsc))
    if "musl" not in found:
        v = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "musl-dev"], capture_output=True,
                           text=True, check=True).stdout.strip()
        found["musl"] = (v, None)
    missing = set(LIBRARIES) - set(found)
    if missing:
        raise SystemExit(f"sbom: no source package of {', '.join(sorted(missing))}")
    return found


def pool_url(name, version):
    prefix = name[:4] if name.startswith("lib") else name[0]
    upstream = version.split(":", 1)[-1]
    return f"{MIRROR}/pool/main/{prefix}/{name}/{name}_{upstream}.dsc"


def main():
    epoch = int(os.environ["SOURCE_DATE_EPOCH"])
    created = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    packages, relationships = [], []
    podvisor_id = "SPDXRef-Package-podvisor-source"
    packages.append({
        "SPDXID": podvisor_id,
        "name": "podvisor",
        "versionInfo": VERSION,
        "packageFileName": f"podvisor-{VERSION}-corresponding-source.tar.gz",
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "licenseConcluded": "Apache-2.0",
        "licenseDeclared": "Apache-2.0",
        "copyrightText": "Copyright 2026 The podvisor authors",
        "primaryPackagePurpose": "SOURCE",
    })
    libs = source_packages()
    lib_ids = {}
    for name, (version, dsc) in sorted(libs.items()):
        declared, concluded, what = LIBRARIES[name]
        pid = f"SPDXRef-Package-debian-source-{name}"
        lib_ids[name] = pid
        pkg = {
            "SPDXID": pid,
            "name": name,
            "versionInfo": version,
            "supplier": "Organization: Debian",
            "downloadLocation": pool_url(name, version),
            "filesAnalyzed": False,
            "licenseDeclared": declared,
            "licenseConcluded": concluded,
            "copyrightText": "NOASSERTION",
            "comment": f"Debian source package, built by scripts/static-deps.sh: {what}",
            "primaryPackagePurpose": "LIBRARY",
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": f"pkg:deb/debian/{name}@{version}?arch=source",
            }],
        }
        if dsc:
            pkg["packageFileName"] = os.path.basename(dsc)
            pkg["checksums"] = [{"algorithm": "SHA256", "checksumValue": sha256(dsc)}]
        if declared != concluded:
            pkg["licenseComments"] = f"podvisor takes it under {concluded} (NOTICE)."
        packages.append(pkg)
    digests = []
    for arch in ARCHES:
        binary = os.path.join(static_dir(arch), "build", "podvisor")
        digest = sha256(binary)
        digests.append(digest)
        bid = f"SPDXRef-Package-podvisor-linux-{arch}"
        packages.append({
            "SPDXID": bid,
            "name": f"podvisor-linux-{arch}",
            "versionInfo": VERSION,
            "packageFileName": f"podvisor-{VERSION}-linux-{arch}.tar.gz:podvisor",
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False,
            "checksums": [{"algorithm": "SHA256", "checksumValue": digest}],
            "licenseConcluded": BINARY_LICENCE,
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "comment": f"the static binary for Debian's {arch} (musl, every library linked in)",
            "primaryPackagePurpose": "APPLICATION",
        })
        relationships.append({"spdxElementId": "SPDXRef-DOCUMENT",
                              "relationshipType": "DESCRIBES", "relatedSpdxElement": bid})
        relationships.append({"spdxElementId": bid, "relationshipType": "GENERATED_FROM",
                              "relatedSpdxElement": podvisor_id})
        for name in sorted(LIBRARIES):
            relationships.append({"spdxElementId": bid, "relationshipType": "STATIC_LINK",
                                  "relatedSpdxElement": lib_ids[name]})
    namespace = hashlib.sha256(" ".join([VERSION] + digests).encode()).hexdigest()[:32]
    doc = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"podvisor-{VERSION}",
        "documentNamespace": f"https://spdx.org/spdxdocs/podvisor-{VERSION}-{namespace}",
        "creationInfo": {
            "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "creators": ["Tool: podvisor-scripts/sbom.py", "Organization: The podvisor authors"],
        },
        "packages": packages,
        "relationships": relationships,
    }
    json.dump(doc, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


main()
