"""make release's SPDX 2.3 document, checked against what the SPDX 2.3
specification requires of a document in JSON (clauses 6 to 11: the document
creation fields, each package's mandatory fields, relationships), with every
licence expression parsed and its identifiers looked up by Debian's
python3-license-expression, which carries the SPDX licence list. Neither
Debian nor npm has a validator of whole SPDX documents (docs/release.md).

Also: the SHA256SUMS file covers every file of dist/ and matches them, and
each architecture's tarball holds the binary for that architecture with its
licences."""
import hashlib
import json
import os
import re
import subprocess
import tarfile

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DIST = os.environ.get("DIST", os.path.join(ROOT, "dist"))
VERSION = open(os.path.join(ROOT, "VERSION")).read().strip()
SPDX = os.path.join(DIST, f"podvisor-{VERSION}.spdx.json")
ELF_MACHINE = {"amd64": 62, "arm64": 183, "armhf": 40, "ppc64el": 21, "s390x": 22}

# SPDX 2.3, clause 11.1: the relationship types.
RELATIONSHIP_TYPES = set("""DESCRIBES DESCRIBED_BY CONTAINS CONTAINED_BY DEPENDS_ON DEPENDENCY_OF
DEPENDENCY_MANIFEST_OF BUILD_DEPENDENCY_OF DEV_DEPENDENCY_OF OPTIONAL_DEPENDENCY_OF
PROVIDED_DEPENDENCY_OF TEST_DEPENDENCY_OF RUNTIME_DEPENDENCY_OF EXAMPLE_OF GENERATES
GENERATED_FROM ANCESTOR_OF DESCENDANT_OF VARIANT_OF DISTRIBUTION_ARTIFACT PATCH_FOR
PATCH_APPLIED COPY_OF FILE_ADDED FILE_DELETED FILE_MODIFIED EXPANDED_FROM_ARCHIVE
DYNAMIC_LINK STATIC_LINK DATA_FILE_OF TEST_CASE_OF BUILD_TOOL_OF DEV_TOOL_OF TEST_OF
TEST_TOOL_OF DOCUMENTATION_OF OPTIONAL_COMPONENT_OF METAFILE_OF PACKAGE_OF AMENDS
PREREQUISITE_FOR HAS_PREREQUISITE REQUIREMENT_DESCRIPTION_FOR SPECIFICATION_FOR OTHER""".split())
PURPOSES = {"APPLICATION", "FRAMEWORK", "LIBRARY", "CONTAINER", "OPERATING-SYSTEM", "DEVICE",
            "FIRMWARE", "SOURCE", "ARCHIVE", "FILE", "INSTALL", "OTHER"}
SPDX_ID = re.compile(r"^SPDXRef-[A-Za-z0-9.-]+$")
# Clause 7.5 / 7.7: NONE, NOASSERTION, or a supplier/location of a given form.
LOCATION = re.compile(r"^(NONE|NOASSERTION|(git|hg|svn|bzr)\+\S+|https?://\S+)$")
ACTOR = re.compile(r"^(Person|Organization|Tool): \S.*$")

pytestmark = pytest.mark.skipif(not os.path.exists(SPDX), reason="no dist/: run make release")


@pytest.fixture(scope="module")
def doc():
    with open(SPDX) as f:
        return json.load(f)


def licence_errors(expr):
    from license_expression import get_spdx_licensing
    if expr in ("NONE", "NOASSERTION"):
        return []
    return get_spdx_licensing().validate(expr).errors


def test_document_creation_fields(doc):
    assert doc["spdxVersion"] == "SPDX-2.3"
    assert doc["dataLicense"] == "CC0-1.0"
    assert doc["SPDXID"] == "SPDXRef-DOCUMENT"
    assert doc["name"] == f"podvisor-{VERSION}"
    assert re.match(r"^[a-z][a-z0-9+.-]*://[^#\s]+$", doc["documentNamespace"])
    info = doc["creationInfo"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", info["created"])
    assert info["creators"] and all(ACTOR.match(c) for c in info["creators"])


def test_every_package_has_the_mandatory_fields(doc):
    ids = set()
    for p in doc["packages"]:
        assert SPDX_ID.match(p["SPDXID"]), p["SPDXID"]
        assert p["SPDXID"] not in ids
        ids.add(p["SPDXID"])
        assert p["name"]
        assert LOCATION.match(p["downloadLocation"]), p["downloadLocation"]
        assert isinstance(p["filesAnalyzed"], bool)
        assert p["filesAnalyzed"] is False or "packageVerificationCode" in p
        for field in ("licenseConcluded", "licenseDeclared"):
            assert licence_errors(p[field]) == [], (p["name"], field, p[field])
        assert p["copyrightText"]
        assert p.get("primaryPackagePurpose", "OTHER") in PURPOSES
        if "supplier" in p:
            assert ACTOR.match(p["supplier"]) or p["supplier"] == "NOASSERTION"
        for c in p.get("checksums", []):
            assert c["algorithm"] == "SHA256" and re.match(r"^[0-9a-f]{64}$", c["checksumValue"])
        for r in p.get("externalRefs", []):
            assert r["referenceCategory"] == "PACKAGE-MANAGER" and r["referenceType"] == "purl"
            assert re.match(r"^pkg:deb/debian/[a-z0-9.+-]+@[^?\s]+\?arch=source$",
                            r["referenceLocator"])


def test_relationships_name_what_the_document_holds(doc):
    ids = {p["SPDXID"] for p in doc["packages"]} | {"SPDXRef-DOCUMENT"}
    described = set()
    for r in doc["relationships"]:
        assert r["relationshipType"] in RELATIONSHIP_TYPES
        assert r["spdxElementId"] in ids and r["relatedSpdxElement"] in ids, r
        if r["relationshipType"] == "DESCRIBES":
            described.add(r["relatedSpdxElement"])
    assert described, "the document describes nothing"


def test_each_binary_names_its_digest_and_every_linked_debian_source(doc):
    by_id = {p["SPDXID"]: p for p in doc["packages"]}
    links = {}
    for r in doc["relationships"]:
        if r["relationshipType"] == "STATIC_LINK":
            links.setdefault(r["spdxElementId"], set()).add(by_id[r["relatedSpdxElement"]]["name"])
    binaries = [p for p in doc["packages"] if p["name"].startswith("podvisor-linux-")]
    assert binaries
    for b in binaries:
        arch = b["name"].rsplit("-", 1)[1]
        with tarfile.open(os.path.join(DIST, f"podvisor-{VERSION}-linux-{arch}.tar.gz")) as t:
            data = t.extractfile(f"podvisor-{VERSION}-linux-{arch}/podvisor").read()
        assert b["checksums"][0]["checksumValue"] == hashlib.sha256(data).hexdigest()
        assert links[b["SPDXID"]] == {"musl", "nettle", "jansson", "libmicrohttpd", "mbedtls",
                                      "curl"}
    for p in doc["packages"]:
        if p["SPDXID"].startswith("SPDXRef-Package-debian-source-"):
            assert p["versionInfo"] and p["downloadLocation"].startswith("https://deb.debian.org/")


def test_sha256sums_covers_every_file_and_matches():
    with open(os.path.join(DIST, "SHA256SUMS")) as f:
        listed = dict(reversed(line.split()) for line in f)
    assert set(listed) == set(os.listdir(DIST)) - {"SHA256SUMS"}
    r = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=DIST, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_each_tarball_holds_its_architectures_binary_and_the_licences():
    tarballs = [f for f in os.listdir(DIST) if re.match(rf"podvisor-{VERSION}-linux-\w+\.tar\.gz$", f)]
    assert tarballs
    for name in tarballs:
        arch = name[len(f"podvisor-{VERSION}-linux-"):-len(".tar.gz")]
        with tarfile.open(os.path.join(DIST, name)) as t:
            members = {m.name: m for m in t.getmembers()}
            top = f"podvisor-{VERSION}-linux-{arch}"
            for must in ("podvisor", "LICENSE", "NOTICE", "licenses/Apache-2.0",
                         "licenses/LGPL-2.1"):
                assert f"{top}/{must}" in members, (name, must)
            assert all(m.uid == 0 and m.gid == 0 for m in members.values())
            copyrights = [n for n in members if n.endswith(".copyright")]
            for lib in ("musl", "nettle", "jansson", "libmicrohttpd", "mbedtls", "curl"):
                assert any(f"/licenses/{lib}-" in n for n in copyrights), (name, lib)
            elf = t.extractfile(f"{top}/podvisor").read(20)
            order = "little" if elf[5] == 1 else "big"
            assert int.from_bytes(elf[18:20], order) == ELF_MACHINE[arch], (name, elf[18:20])
