"""docs/dev-loop.md's podman recipe, run as written: Debian's image, the
machine's Go toolchain and libraries mounted read-only, the source
bind-mounted, podvisor-static as PID 1 building with --validate and holding
the port. An edit on the host serves from the container; a broken edit
keeps the last build serving; `podman stop` ends it with exit 0 (the
app's own, after its drain). Nothing is simulated."""
import http.client
import os
import shutil
import subprocess
import time
import uuid

import pytest

from test_play import ROOT, podman

GOROOT = "/usr/lib/go-1.19"

pytestmark = pytest.mark.skipif(not os.path.isdir(GOROOT) or shutil.which("podman") is None,
                                reason="needs golang-go 1.19 and podman (tests/deps.sh)")


def free_port():
    """A free port on the host network (the container uses it)."""
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def body(port):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/")
        text = c.getresponse().read().decode().strip()
        c.close()
        return text
    except OSError:
        return None


def wait_body(port, want, timeout, logs):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if body(port) == want:
            return
        time.sleep(0.1)
    raise AssertionError(f"never served {want!r}; now {body(port)!r}; logs:\n{logs()}")


def test_the_podman_recipe_builds_and_swaps_an_edit(tmp_path):
    r = subprocess.run(["make", "-s", "static"], cwd=ROOT, capture_output=True, text=True,
                       timeout=1800)
    assert r.returncode == 0, r.stderr
    src = tmp_path / "src"
    shutil.copytree(os.path.join(ROOT, "tests", "integration", "apps", "go", "devapp"), src)
    port = free_port()
    name = f"podvisor-devloop-{uuid.uuid4().hex[:8]}"
    # GOROOT's src is a link into /usr/share/go-1.19: both are mounted.
    share = os.path.dirname(os.path.realpath(os.path.join(GOROOT, "src")))
    podman("run", "-d", "--name", name, "--network", "host", "-w", "/src",
           "-v", f"{GOROOT}:{GOROOT}:ro", "-v", f"{share}:{share}:ro",
           "-v", "/usr/share/gocode:/usr/share/gocode:ro", "-v", f"{src}:/src",
           "-v", f"{ROOT}/build/podvisor-static:/podvisor:ro",
           "-e", "GO111MODULE=off", "-e", "GOPATH=/usr/share/gocode",
           "-e", "GOCACHE=/tmp/gocache", "-e", f"PATH={GOROOT}/bin:/usr/bin:/bin",
           "docker.io/library/debian:bookworm",
           "/podvisor", "--probe-listen", "off", "--socket", f"tcp://127.0.0.1:{port}",
           "--watch", "/src", "--watch-include", "*.go", "--debounce", "100ms",
           "--validate", "go build -o /tmp/app .", "--validate-timeout", "10m",
           "--", "sh", "-c", "test -x /tmp/app || go build -o /tmp/app .; exec /tmp/app")

    def logs():
        return podman("logs", name, check=False).stderr[-3000:]

    try:
        # The first start builds Gin from source with a cold cache.
        wait_body(port, "hello, version 1", 600, logs)
        (src / "message.go").write_text('package main\n\nconst Message = "hello, version 2"\n')
        wait_body(port, "hello, version 2", 300, logs)
        (src / "message.go").write_text("package main\n\nconst Message = \n")
        end = time.monotonic() + 300
        while "config change refused" not in logs() and time.monotonic() < end:
            time.sleep(0.2)
        assert "config change refused" in logs(), logs()
        assert body(port) == "hello, version 2"
        assert "--validate: " in logs()           # the compiler's words, streamed
        podman("stop", "-t", "20", name, timeout=60)
        rc = podman("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip()
        assert rc == "0", logs()
    finally:
        podman("rm", "-f", name, check=False)
