"""`podvisor probe` and `podvisor sleep`: the subcommands for images that
have no curl and no sleep (distroless)."""
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import PODVISOR


class Recorder(BaseHTTPRequestHandler):
    seen = []

    def do_GET(self):
        Recorder.seen.append(dict(self.headers))
        if self.path == "/slow":
            time.sleep(3)
        status = {"/ok": 200, "/redirect": 302, "/fail": 503, "/slow": 200,
                  "/notfound": 404}.get(self.path, 500)
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "http://127.0.0.1:1/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


@pytest.fixture(scope="module")
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()


def probe(*args, timeout=10):
    return subprocess.run([PODVISOR, "probe", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("path,code", [("/ok", 0), ("/redirect", 0), ("/fail", 1),
                                       ("/notfound", 1), ("/other", 1)])
def test_http_status_decides(server, path, code):
    r = probe(f"http://127.0.0.1:{server}{path}")
    assert r.returncode == code, r.stderr
    if code:
        assert "HTTP status" in r.stderr and path in r.stderr


def test_user_agent_and_headers(server):
    Recorder.seen.clear()
    r = probe("--header", "X-Probe: yes", "--header", "Authorization: Bearer t",
              f"http://127.0.0.1:{server}/ok")
    assert r.returncode == 0
    h = Recorder.seen[-1]
    assert h["User-Agent"].startswith("podvisor-probe/")
    assert h["X-Probe"] == "yes"
    assert h["Authorization"] == "Bearer t"


def test_timeout(server):
    t0 = time.monotonic()
    r = probe("--timeout", "300ms", f"http://127.0.0.1:{server}/slow")
    took = time.monotonic() - t0
    assert r.returncode == 1
    assert took < 2.5, took
    assert "timed out" in r.stderr.lower() or "timeout" in r.stderr.lower()


def test_refused():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = probe(f"http://127.0.0.1:{port}/")
    assert r.returncode == 1 and r.stderr.startswith("podvisor probe: ")
    r = probe(f"tcp://127.0.0.1:{port}")
    assert r.returncode == 1 and "refused" in r.stderr.lower()


def test_tcp_open(server):
    assert probe(f"tcp://127.0.0.1:{server}").returncode == 0
    assert probe(f"tcp://localhost:{server}").returncode == 0


@pytest.mark.parametrize("args", [[], ["ftp://x"], ["--timeout", "5x", "http://x"],
                                  ["--timeout"], ["--header", "novalue", "http://x"],
                                  ["--bogus", "http://x"], ["http://a", "http://b"],
                                  ["tcp://nohost"], ["tcp://h:99999"]])
def test_usage_errors_exit_2(args):
    r = probe(*args)
    assert r.returncode == 2, (args, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1


def test_sleep():
    t0 = time.monotonic()
    r = subprocess.run([PODVISOR, "sleep", "300ms"], capture_output=True, text=True)
    assert r.returncode == 0
    assert time.monotonic() - t0 >= 0.3
    for bad in (["sleep"], ["sleep", "5x"], ["sleep", "1s", "2s"]):
        r = subprocess.run([PODVISOR, *bad], capture_output=True, text=True)
        assert r.returncode == 2 and r.stderr


def test_subcommands_only_as_first_argument():
    # after --, "sleep" is the command to supervise, not the subcommand
    r = subprocess.run([PODVISOR, "--probe-listen", "off", "--log-level", "error", "--",
                        "sleep", "0.1"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0


def _libdir_file(soname_prefix):
    import glob
    hits = sorted(glob.glob(f"/usr/lib/*/{soname_prefix}*") + glob.glob(f"/usr/lib/{soname_prefix}*"))
    real = [h for h in hits if not h.endswith(".so")]
    return real[0] if real else None


def _without(lib, *cmd):
    """Runs cmd in a private mount namespace where lib is an empty file."""
    return subprocess.run(["unshare", "--mount", "sh", "-c",
                           f'mount --bind /dev/null "{lib}" && exec "$@"', "sh", *cmd],
                          capture_output=True, text=True, timeout=20)


def test_without_libcurl_tcp_probes_work_and_http_probes_say_why(server):
    lib = _libdir_file("libcurl.so.")
    if lib is None:
        pytest.skip("libcurl not found")
    r = _without(lib, PODVISOR, "probe", f"tcp://127.0.0.1:{server}")
    assert r.returncode == 0, r.stderr
    r = _without(lib, PODVISOR, "probe", f"http://127.0.0.1:{server}/ok")
    assert r.returncode == 1
    assert r.stderr.startswith("podvisor probe: cannot load libcurl")


def test_without_libmicrohttpd_the_probe_server_is_a_start_up_error(tmp_path):
    from conftest import free_port
    lib = _libdir_file("libmicrohttpd.so.")
    if lib is None:
        pytest.skip("libmicrohttpd not found")
    made = tmp_path / "made"
    r = _without(lib, PODVISOR, "--probe-listen", f"127.0.0.1:{free_port()}", "--", "touch",
                 str(made))
    assert r.returncode == 2
    assert "cannot load libmicrohttpd" in r.stderr and not made.exists()
    r = _without(lib, PODVISOR, "--probe-listen", "off", "--", "true")
    assert r.returncode == 0, r.stderr   # podvisor itself does not need it
