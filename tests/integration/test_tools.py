"""`podvisor probe` and `podvisor sleep`: the subcommands for images that
have no curl and no sleep (distroless)."""
import os
import re
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import PODVISOR, base_env, needs_dynamic, run


class Recorder(BaseHTTPRequestHandler):
    seen = []
    endless_sent = 0

    def do_GET(self):
        Recorder.seen.append(dict(self.headers))
        port = self.server.server_address[1]
        if self.path == "/slow":
            time.sleep(3)
        if self.path == "/endless":
            # a 200 whose body never ends: the status decides, after 10 KiB
            self.send_response(200)
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b"x" * 65536)
                    Recorder.endless_sent += 65536
            except OSError:
                return
        if self.path == "/stall":
            # a 200 whose body stops coming: the kubelet fails it at its timeout
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"x" * 10)
            self.wfile.flush()
            time.sleep(3)
            return
        redirects = {
            "/redirect": f"http://127.0.0.1:{port}/ok",          # same host: followed
            "/redirect-twice": f"http://127.0.0.1:{port}/redirect",
            "/redirect-loop": f"http://127.0.0.1:{port}/redirect-loop",
            "/redirect-other": "http://other-host.invalid:1/x",   # not followed: success
            "/redirect-dead": "http://127.0.0.1:1/x",             # same host, followed: refused
        }
        status = {"/ok": 200, "/fail": 503, "/slow": 200, "/notfound": 404}.get(
            self.path, 302 if self.path in redirects else 500)
        self.send_response(status)
        if status == 302:
            self.send_header("Location", redirects[self.path])
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


# One server per test: twice on CI a probe of a module-wide server got no
# answer right after the dead-DNS tests (not understood; see the issue note).
@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()


def probe(*args, timeout=30):
    # A generous --timeout unless the test is about it: the default (1s,
    # the kubelet's) failed a header test once on a busy CI machine.
    if "--timeout" not in args and "--" not in args:
        args = ("--timeout", "5s", *args)
    return subprocess.run([PODVISOR, "probe", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("path,code", [("/ok", 0), ("/fail", 1), ("/notfound", 1),
                                       ("/other", 1)])
def test_http_status_decides(server, path, code):
    r = probe(f"http://127.0.0.1:{server}{path}")
    assert r.returncode == code, r.stderr
    if code:
        assert "HTTP status" in r.stderr and path in r.stderr


# docs/kubernetes.md: the kubelet follows redirects to the same host (at most
# 10); a redirect to another host ends the probe as success, with a warning.
@pytest.mark.parametrize("path,code,says", [
    ("/redirect", 0, None), ("/redirect-twice", 0, None),
    ("/redirect-loop", 1, "stopped after 10 redirects"),
    ("/redirect-other", 0, "redirects to another host"),
    ("/redirect-dead", 1, "127.0.0.1:1")])
def test_redirects_as_the_kubelet(server, path, code, says):
    r = probe(f"http://127.0.0.1:{server}{path}")
    assert r.returncode == code, r.stderr
    if says:
        assert says in r.stderr, r.stderr


def test_body_is_read_up_to_10_kib(server):
    Recorder.endless_sent = 0
    t0 = time.monotonic()
    r = probe("--timeout", "5s", f"http://127.0.0.1:{server}/endless")
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 < 2
    time.sleep(0.2)
    assert Recorder.endless_sent < 16 * 1024 * 1024, "the probe kept downloading"
    r = probe("--timeout", "500ms", f"http://127.0.0.1:{server}/stall")
    assert r.returncode == 1, r.stderr   # as the kubelet: an error reading the body


@pytest.fixture(scope="module")
def proxy():
    """A 'proxy' that answers 200 to anything: a probe sent to it would pass."""
    class Yes(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_CONNECT = do_GET

        def log_message(self, *a):
            pass
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Yes)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_proxies_are_never_used(proxy):
    import os
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        env = dict(os.environ, **{var: proxy})
        for target in [f"http://127.0.0.1:{dead}/", f"http://localhost:{dead}/",
                       f"https://127.0.0.1:{dead}/"]:
            r = subprocess.run([PODVISOR, "probe", target], capture_output=True, text=True,
                               env=env, timeout=10)
            assert r.returncode == 1, (var, target, "a dead app passed through the proxy")


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    import ssl
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=some-other-name", "-keyout", str(d / "key.pem"),
                    "-out", str(d / "cert.pem")], check=True, capture_output=True)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    srv.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(d / "cert.pem"), str(d / "key.pem"))
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()


def test_every_build_speaks_tls():
    # The static one too (mbedTLS): an https target is tried, not refused.
    r = subprocess.run([PODVISOR, "probe", "https://127.0.0.1:1/"], capture_output=True,
                       text=True, timeout=10, env=base_env())
    assert r.returncode == 1 and "needs TLS" not in r.stderr, r.stderr


def test_https_certificates_are_not_verified_unless_asked(tls_server):
    # The kubelet does not verify: an in-pod endpoint has no certificate
    # valid for 127.0.0.1 (this one is self-signed, for another name).
    r = probe(f"https://127.0.0.1:{tls_server}/ok")
    assert r.returncode == 0, r.stderr
    r = probe("--verify-tls", f"https://127.0.0.1:{tls_server}/ok")
    assert r.returncode == 1 and "certificate" in r.stderr.lower(), r.stderr


def _with_dead_dns(*cmd):
    """Runs cmd where every DNS query goes to a server that never answers."""
    import tempfile
    dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dns.bind(("127.0.0.77", 53))
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as conf:
            conf.write("nameserver 127.0.0.77\noptions timeout:5 attempts:3\n")
            conf.flush()
            t0 = time.monotonic()
            r = subprocess.run(["unshare", "--mount", "sh", "-c",
                                f'mount --bind "{conf.name}" /etc/resolv.conf && exec "$@"',
                                "sh", *cmd], capture_output=True, text=True, timeout=40)
            return r, time.monotonic() - t0
    finally:
        dns.close()


def test_long_timeouts_do_not_overflow(server):
    t0 = time.monotonic()
    assert probe("--timeout", "600h", f"http://127.0.0.1:{server}/ok").returncode == 0
    assert probe("--timeout", "600h", f"tcp://127.0.0.1:{server}").returncode == 0
    assert time.monotonic() - t0 < 5


def test_double_dash_and_header_injection(server):
    assert probe("--", f"http://127.0.0.1:{server}/ok").returncode == 0
    for bad in ("X-A: 1\r\nX-Injected: 2", "X-A: 1\nX-B: 2", "X-A: 1\r"):
        r = probe("--header", bad, f"http://127.0.0.1:{server}/ok")
        assert r.returncode == 2, bad
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr





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


@needs_dynamic
def test_without_libcurl_tcp_probes_work_and_http_probes_say_why(server):
    lib = _libdir_file("libcurl.so.")
    if lib is None:
        pytest.skip("libcurl not found")
    r = _without(lib, PODVISOR, "probe", f"tcp://127.0.0.1:{server}")
    assert r.returncode == 0, r.stderr
    r = _without(lib, PODVISOR, "probe", f"http://127.0.0.1:{server}/ok")
    assert r.returncode == 1
    assert r.stderr.startswith("podvisor probe: cannot load libcurl")


@needs_dynamic
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


def test_install_copies_the_binary_for_injection(tmp_path):
    """The injection pattern: an init container runs `podvisor install` into
    an emptyDir; the app container runs the copy."""
    shared = tmp_path / "shared"
    shared.mkdir()
    old = os.umask(0o077)  # a restrictive umask must not drop the execute bits
    try:
        r = subprocess.run([PODVISOR, "install", str(shared)], capture_output=True, text=True)
    finally:
        os.umask(old)
    assert r.returncode == 0, r.stderr
    dest = shared / "podvisor"
    assert oct(dest.stat().st_mode & 0o777) == "0o755"
    assert dest.read_bytes() == open(PODVISOR, "rb").read()
    assert [p.name for p in shared.iterdir()] == ["podvisor"]  # no temporary left
    r = subprocess.run([str(dest), "--", "sh", "-c", "exit 3"], capture_output=True, text=True,
                       env=dict(os.environ, PODVISOR_PROBE_LISTEN="off"))
    assert r.returncode == 3
    # A file path works too; a missing directory is a clear error.
    assert subprocess.run([PODVISOR, "install", str(tmp_path / "pv")]).returncode == 0
    r = subprocess.run([PODVISOR, "install", str(tmp_path / "no" / "pv")], capture_output=True,
                       text=True)
    assert r.returncode == 1 and "No such file or directory" in r.stderr
    assert subprocess.run([PODVISOR, "install"], capture_output=True).returncode == 2


def test_install_as_pid_1_past_a_leftover_temporary(tmp_path):
    """As PID 1 the pid is always 1: a DEST.tmp1 left by an install killed
    midway made every later install fail with "File exists"."""
    (tmp_path / "podvisor.tmp1").write_text("half a binary")
    r = run(["install", str(tmp_path)], pid1=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "podvisor").read_bytes() == open(PODVISOR, "rb").read()


REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def test_make_install_and_the_man_page(tmp_path):
    r = subprocess.run(["make", "-s", "-C", REPO, "install", f"DESTDIR={tmp_path}",
                        "PREFIX=/usr"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    binary = tmp_path / "usr" / "bin" / "podvisor"
    page = tmp_path / "usr" / "share" / "man" / "man1" / "podvisor.1"
    assert oct(binary.stat().st_mode & 0o777) == "0o755"
    assert subprocess.run([str(binary), "--version"], capture_output=True,
                          text=True).stdout.startswith("podvisor ")
    r = subprocess.run(["man", "--warnings", "-l", str(page)], capture_output=True, text=True,
                       env=dict(os.environ, MANWIDTH="80", MANPAGER="cat", PAGER="cat"))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    for option in ("--watch", "--on-change", "--prestop-delay", "--restart-policy"):
        assert option in r.stdout.replace("\u2010", "-"), option


# Last in the module: right after them, twice on CI, the next probe of the
# test server got no answer.
@pytest.mark.parametrize("target", ["tcp://never-answers.example:80",
                                    "http://never-answers.example/"])
def test_timeout_bounds_name_resolution(target):
    r, took = _with_dead_dns(PODVISOR, "probe", "--timeout", "500ms", target)
    assert r.returncode == 1, r.stderr
    assert took < 3, f"took {took:.1f}s: resolution was not bounded"
    assert "timed out after 500ms" in r.stderr, r.stderr


def _listener(family, host):
    s = socket.socket(family, socket.SOCK_STREAM)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((host, 0))
    s.listen(16)
    return s


def test_tcp_probe_and_tcp_checks_agree():
    """`probe tcp://` connects by itself (it needs no libcurl, so it works
    in a dynamic build's image without it), while --ready-check and wait-for
    connect through libcurl (its threaded resolver keeps a slow DNS answer
    off the event loop). Both must give the same verdict on the same
    target: v4, v6 only, a name with both families where one listens, a
    refused port, a name that does not resolve."""
    v4 = _listener(socket.AF_INET, "127.0.0.1")
    try:
        v6 = _listener(socket.AF_INET6, "::1")
    except OSError:
        v6 = None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    p4 = v4.getsockname()[1]
    cases = [(f"tcp://127.0.0.1:{p4}", True), (f"tcp://localhost:{p4}", True),
             (f"tcp://127.0.0.1:{closed}", False), ("tcp://no-such-host.invalid:80", False)]
    if v6 is not None:
        p6 = v6.getsockname()[1]
        cases += [(f"tcp://[::1]:{p6}", True), (f"tcp://[::1]:{p4}", False)]
        # localhost names ::1 too in /etc/hosts on Debian; one family listening is enough
        hosts = open("/etc/hosts").read()
        if any(line.split()[:1] == ["::1"] and "localhost" in line.split()[1:]
               for line in hosts.splitlines()):
            cases.append((f"tcp://localhost:{p6}", True))
    try:
        for target, up in cases:
            r = probe("--timeout", "3s", target)
            w = subprocess.run([PODVISOR, "wait-for", "--timeout", "2s", "--interval", "200ms",
                                target], capture_output=True, text=True, timeout=30)
            assert (r.returncode == 0) == up, (target, r.stderr)
            assert (w.returncode == 0) == up, (target, w.stdout, w.stderr)
    finally:
        v4.close()
        if v6 is not None:
            v6.close()


def test_version_says_what_ran():
    # A bug report's first lines: the version and commit, the build, and
    # every library with its version (curl -V's way).
    import platform
    from conftest import STATIC
    r = subprocess.run([PODVISOR, "--version"], capture_output=True, text=True, timeout=10,
                       env=base_env())
    assert r.returncode == 0, r.stderr
    first, built, libs = r.stdout.splitlines()
    assert re.fullmatch(r"podvisor \d+\.\d+\.\d+ \(commit ([0-9a-f]{12}(\+dirty)?|unknown)\)",
                        first), first
    arch = {"x86_64": "x86_64 (amd64)", "aarch64": "aarch64 (arm64)"}.get(platform.machine())
    if arch:
        assert built.startswith(f"built for {arch}, "), built
    assert (", static, musl " in built) if STATIC else (", dynamic, glibc " in built), built
    for lib in ("libmicrohttpd", "libcurl", "jansson", "nettle"):
        assert re.search(rf"\b{lib} \d+\.\d+", libs), (lib, libs)
    assert "(no TLS)" not in libs, libs
    if STATIC:
        assert re.search(r"libcurl \d+\.\d+\.\d+ \(mbedTLS/3\.\d+\.\d+\)", libs), libs


@needs_dynamic
def test_version_names_a_library_that_cannot_be_loaded():
    lib = _libdir_file("libmicrohttpd.so.")
    if lib is None:
        pytest.skip("libmicrohttpd not found")
    r = _without(lib, PODVISOR, "--version")
    assert r.returncode == 0, r.stderr
    assert "libmicrohttpd: cannot load libmicrohttpd" in r.stdout, r.stdout
    assert "the probe server needs it" in r.stdout
    assert re.search(r"libcurl \d+\.\d+", r.stdout), r.stdout
