"""The probe server: every endpoint, method and status code, the /status
JSON shape, the /metrics text format, start-up errors and flood limits."""
import errno
import json
import os
import re
import socket
import time

import pytest

from conftest import not_emulated
from conftest import free_port, run, says_errno
from kubelet import Pod, http_probe

METRIC_LINE = re.compile(
    r'^(?:# (?:HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+|'
    r'[a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"'
    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*")*\})? -?[0-9.eE+]+)$')


@pytest.fixture
def pod():
    port = free_port()
    with Pod(["sleep", "60"], port, ["--prestop-delay", "10s"]) as p:
        p.wait_ready()
        yield p


def raw(port, request, timeout=2.0):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk


@pytest.mark.parametrize("path,status,ctype,body", [
    ("/livez", 200, "text/plain; charset=utf-8", "ok\n"),
    ("/healthz", 200, "text/plain; charset=utf-8", "ok\n"),
    ("/readyz", 200, "text/plain; charset=utf-8", "ok\n"),
    ("/readyz?verbose", 200, "text/plain; charset=utf-8",
     "[+]child ok\n[+]ready-checks ok\n[+]shutdown ok\nreadyz check passed\n"),
    ("/startupz", 200, "text/plain; charset=utf-8", "ok\n"),
    ("/nope", 404, "text/plain; charset=utf-8", "not found\n"),
    ("/livez/x", 404, "text/plain; charset=utf-8", "not found\n"),
])
def test_get_and_head(pod, path, status, ctype, body):
    import http.client
    for method in ("GET", "HEAD"):
        c = http.client.HTTPConnection("127.0.0.1", pod.probe_port, timeout=2)
        c.request(method, path)
        r = c.getresponse()
        got = r.read().decode()
        assert r.status == status, (method, path)
        assert r.getheader("Content-Type") == ctype
        assert r.getheader("Cache-Control") == "no-store"
        assert r.getheader("Content-Length") == str(len(body))
        assert got == (body if method == "GET" else "")
        c.close()


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_get_405_with_allow(pod, method):
    # a body is sent but never read: the answer comes anyway
    resp = raw(pod.probe_port, f"{method} /readyz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
               f"Connection: close\r\n\r\nhello".encode())
    head = resp.split(b"\r\n\r\n")[0].decode()
    assert head.startswith("HTTP/1.1 405"), head
    assert "\r\nAllow: GET, HEAD" in head


def test_readyz_verbose_while_draining(pod):
    import signal
    pod.pv.signal(signal.SIGTERM)
    r = pod.probe("/readyz?verbose")
    assert r.status == 503
    lines = r.body.splitlines()
    assert lines[0] == "[+]child ok"
    assert lines[1] == "[+]ready-checks ok"
    assert re.match(r"^\[-\]shutdown failed: draining since SIGTERM \d+\.\ds ago$", lines[2])
    assert lines[3] == "readyz check failed"
    # a kubelet probe counts 503 as failure
    assert not r.ok
    s = json.loads(pod.probe("/status").body)
    assert s["state"] == "draining" and s["ready"] is False and s["live"] is True
    assert s["drain"]["active"] is True


def test_status_json_shape(pod):
    r = pod.probe("/status")
    assert r.status == 200
    s = json.loads(r.body)
    assert s["state"] == "ready"
    assert s["ready"] is True and s["live"] is True and s["started"] is True
    assert re.match(r"^\d+\.\d+\.\d+", s["version"])
    child = s["child"]
    assert isinstance(child["pid"], int) and child["pid"] > 0
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", child["started_at"])
    assert child["restarts"] == 0
    assert child["last_exit"] is None
    assert s["children"] == [{"role": "main", "pid": child["pid"], "exec_pending": False,
                              "stopped_by": None}]
    assert set(s["config"]) == {"hash", "last_change", "changes", "reloads", "refused",
                                "last_refused_change", "last_action"}
    assert s["config"]["hash"] is None  # nothing watched
    assert s["mode"] == "wrap"
    assert child["restarts_by_reason"] == {"config": 0, "crash": 0, "admin": 0}
    assert s["checks"] == []
    assert s["drain"] == {"active": False, "seconds": 0.0, "connections": None,
                          "endpoints": None}


def test_metrics_parse_line_by_line(pod):
    import signal
    pod.pv.signal(signal.SIGWINCH)  # forwarded (sleep ignores it): a labelled sample
    time.sleep(0.1)
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", pod.probe_port, timeout=2)
    c.request("GET", "/metrics")
    r = c.getresponse()
    text = r.read().decode()
    assert r.getheader("Content-Type") == "text/plain; version=0.0.4; charset=utf-8"
    assert text.endswith("\n")
    declared = {}
    samples = {}
    for line in text.splitlines():
        assert METRIC_LINE.match(line), f"not Prometheus text format: {line!r}"
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ")
            assert typ in ("gauge", "counter")
            declared[name] = typ
        elif line.startswith("# HELP "):
            continue
        else:
            name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
            assert name in declared, f"{name} has no TYPE line before it"
            samples[line.rsplit(" ", 1)[0]] = float(line.rsplit(" ", 1)[1])
    for required in ("podvisor_ready", "podvisor_child_restarts_total", "podvisor_drain_seconds",
                     "podvisor_state", "podvisor_signals_forwarded_total",
                     "podvisor_build_info"):
        assert required in declared, required
    for name, typ in declared.items():
        assert name.endswith("_total") == (typ == "counter"), name


def test_metrics_counts_forwarded_signals():
    port = free_port()
    with Pod(["sh", "-c", "trap : USR2 HUP; while :; do sleep 0.05; done"], port) as pod:
        pod.wait_ready()
        import signal
        # one at a time: standard signals sent faster than they are read
        # coalesce in the kernel, before podvisor could count them
        for _ in range(3):
            pod.pv.signal(signal.SIGUSR2)
            time.sleep(0.1)
        pod.pv.signal(signal.SIGHUP)
        time.sleep(0.2)
        m = pod.probe("/metrics").body
        assert 'podvisor_signals_forwarded_total{signal="USR2"} 3' in m
        assert 'podvisor_signals_forwarded_total{signal="HUP"} 1' in m


def test_unbindable_address_is_exit_2_before_the_child(tmp_path):
    made = tmp_path / "made"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run(["--probe-listen", f"127.0.0.1:{port}", "--", "touch", str(made)])
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert f"127.0.0.1:{port}" in lines[0] and says_errno(lines[0], errno.EADDRINUSE)
    assert not made.exists()
    r = run(["--probe-listen", "nonexistent.invalid:80", "--", "touch", str(made)])
    assert r.returncode == 2 and "nonexistent.invalid" in r.stderr
    assert not made.exists()


def test_all_addresses_form_answers_on_v4_and_v6():
    port = free_port()
    from conftest import Podvisor
    with Podvisor(["--probe-listen", f":{port}", "--", "sleep", "30"]) as pv:
        end = time.monotonic() + 5
        while not http_probe(port, "/livez").ok and time.monotonic() < end:
            time.sleep(0.02)
        assert http_probe(port, "/livez", host="127.0.0.1").ok
        if socket.has_ipv6:
            assert http_probe(port, "/livez", host="::1").ok


def test_probe_answered_promptly_under_a_flood_of_idle_connections(pod):
    # 1,100 idle connections from one address (more than the server's
    # connection limit), half with headers never finished, the kubelet's
    # probe from another address (the node's): it is never locked out.
    idle = []
    try:
        for i in range(1100):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.settimeout(2)
            try:
                s.connect(("127.0.0.1", pod.probe_port))
                if i % 2:
                    s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n")  # never finished
            except OSError:
                pass  # refused or reset once this address holds its share
            idle.append(s)
        time.sleep(0.2)
        for _ in range(5):
            r = pod.probe("/readyz", timeout=1.0, source="127.0.0.2")
            assert r.ok, r
            assert r.elapsed < 0.5, f"probe took {r.elapsed:.3f}s"
    finally:
        for s in idle:
            s.close()


def test_unfinished_headers_get_a_short_time(pod):
    # A client that never finishes its headers is dropped after a few
    # seconds of silence (the keep-alive idle timeout is 10 s).
    with socket.create_connection(("127.0.0.1", pod.probe_port), timeout=15) as s:
        s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        try:
            data = s.recv(100)
        except ConnectionResetError:
            data = b""
        took = time.monotonic() - t0
    assert data == b""
    assert 1.5 < took < 7, f"dropped after {took:.1f}s"


def _fill(port, n, net="127.0.1"):
    """n idle connections, 16 per source address (under the per-address limit)."""
    conns = []
    for i in range(n):
        s = socket.socket()
        s.bind((f"{net}.{1 + i // 16}", 0))
        s.connect(("127.0.0.1", port))
        conns.append(s)
    return conns


def test_a_freed_slot_is_usable_at_once():
    # At the connection limit libmicrohttpd takes its listening socket out
    # of its epoll set; podvisor runs it again as soon as a connection
    # closes, so the next client does not wait in the backlog.
    import resource
    port = free_port()
    # nofile 160: podvisor's connection limit is 160 - 64 = 96
    with Pod(["sleep", "60"], port, preexec_fn=lambda: resource.setrlimit(
        resource.RLIMIT_NOFILE, (160, 160))) as p:
        p.wait_ready()
        conns = _fill(port, 96)
        time.sleep(0.3)
        late = socket.create_connection(("127.0.0.1", port), timeout=5)  # waits in the backlog
        late.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        time.sleep(0.3)
        for s in conns:
            s.close()
        t0 = time.monotonic()
        data = late.recv(100)
        late.close()
        assert data.startswith(b"HTTP/1.1 200"), data
        assert time.monotonic() - t0 < 1.0, "the freed slots were not used at once"
        r = p.probe("/livez", source="127.0.0.2")
        assert r.ok and r.elapsed < 0.5, r


def test_a_signal_storm_does_not_starve_probes(tmp_path):
    # Real-time signals queue, one per send: a sender that outpaces podvisor
    # keeps its signalfd readable for as long as it sends. Probes and timers
    # must still get their turn.
    import subprocess
    from conftest import HELPERS, base_env
    port = free_port()
    with Pod(["sh", "-c", "trap '' 40; while :; do sleep 1; done"], port) as p:
        p.wait_ready()
        storm = subprocess.Popen([f"{HELPERS}/sigstorm", str(p.pv.pid), "40", "3000"],
                                 stdout=subprocess.PIPE, text=True, env=base_env())
        time.sleep(0.5)
        slow = []
        for _ in range(10):
            r = p.probe("/livez", timeout=1.0)
            if not r.ok or r.elapsed > 0.5:
                slow.append(r)
            time.sleep(0.1)
        sent = int(storm.communicate(timeout=10)[0])
        assert sent > 10000, "the storm was too small to prove anything"
        assert not slow, slow


@not_emulated("a way to run out of fds at start: qemu-user opens its own first")
def test_out_of_fds_at_start_is_exit_1_not_2():
    # Not a usage error: the machine could not give podvisor what it needs.
    import subprocess
    from conftest import PODVISOR, base_env
    # Each limit runs out somewhere else: the probe server, the exec-result
    # pipe, the child's own fd shuffle before its exec (F_DUPFD above the
    # limit is EINVAL there).
    for nofile in (6, 7, 8, 9):
        r = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c",
                            f"ulimit -n {nofile}; exec {PODVISOR} --probe-listen "
                            f"127.0.0.1:0 -- true"], capture_output=True, text=True,
                           env=base_env(), timeout=10)
        assert r.returncode == 1, (nofile, r.stderr)
        assert says_errno(r.stderr, errno.EMFILE), r.stderr


def test_oversized_headers_are_refused(pod):
    big = b"GET /readyz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 64000 + b"\r\n\r\n"
    try:
        resp = raw(pod.probe_port, big)
    except (ConnectionResetError, BrokenPipeError):
        resp = b""
    assert not resp.startswith(b"HTTP/1.1 200"), resp[:100]
    assert pod.probe("/readyz").ok   # and the server is still fine


def test_keep_alive_for_get(pod):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", pod.probe_port, timeout=2)
    for path in ("/livez", "/readyz", "/metrics", "/status"):
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        assert r.status == 200
        assert (r.getheader("Connection") or "").lower() != "close"
    sock = c.sock
    c.request("HEAD", "/livez")
    c.getresponse().read()
    assert c.sock is sock, "the connection was not kept alive"
    c.close()


def test_get_with_a_body_is_answered_without_reading_it(pod):
    resp = raw(pod.probe_port, b"GET /livez HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"
               b"only a little of the body")
    assert resp.startswith(b"HTTP/1.1 200"), resp[:80]
    assert resp.endswith(b"ok\n")


def _cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_destroyed_listener_is_recreated_without_spinning():
    # `ss -K` destroys the listening socket: it stays readable (EPOLLERR) in
    # libmicrohttpd's epoll set, which used to spin podvisor at 100 % CPU
    # with a dead probe server and no log line.
    import subprocess
    port = free_port()
    with Pod(["sleep", "60"], port) as p:
        p.wait_ready()
        r = subprocess.run(["ss", "-K", "-t", "-l", f"sport = :{port}"], capture_output=True,
                           text=True)
        if r.returncode != 0 or str(port) not in r.stdout:
            pytest.skip(f"ss -K cannot destroy sockets here: {r.stderr.strip()}")
        cpu0 = _cpu_seconds(p.pv.pid)
        time.sleep(1.0)
        spent = _cpu_seconds(p.pv.pid) - cpu0
        assert spent < 0.2, f"podvisor used {spent:.2f}s of CPU in 1s: spinning"
        p.wait_ready(timeout=5)  # listening again
        assert any("listening socket on" in l and "re-creating" in l for l in p.pv._err), \
            "".join(p.pv._err)
