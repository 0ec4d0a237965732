"""--ready-check / --live-check: readiness that follows the app. Each kind
passing, failing and timing out (a hanging app delays neither /livez nor
SIGTERM), the failure threshold, /startupz, what /status and /metrics say,
and the point of it all: a `kubectl rollout restart` (maxSurge 1,
maxUnavailable 0) under load with an app that binds a second after it
starts loses no request with a ready check, and loses some without."""
import itertools
import json
import os
import signal
import socket
import subprocess
import threading
import time
import http.client

import pytest

from conftest import Podvisor, free_port, run, wait_for
from kubelet import Pod, http_probe

APP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps", "graceful_app.py")
PY = "/usr/bin/python3"


def probe(port, path):
    return http_probe(port, path, timeout=2)


def status(port):
    return json.loads(probe(port, "/status").body)


def late_server(port, delay):
    """An HTTP app that binds `delay` s after it starts."""
    return ["sh", "-c", f"sleep {delay}; exec {PY} {APP} {port} 0.001"]


def test_tcp_ready_check_gates_readiness_and_startup():
    app, pp = free_port(), free_port()
    pv = Podvisor(["--probe-listen", f"127.0.0.1:{pp}", "--check-interval", "100ms",
                   "--ready-check", f"tcp://127.0.0.1:{app}", "--", *late_server(app, 1)])
    try:
        wait_for(lambda: probe(pp, "/livez").ok, what="probe server")
        r = http_probe(pp, "/readyz?verbose")
        assert r.status == 503 and f"tcp://127.0.0.1:{app}" in r.body, r.body
        assert probe(pp, "/startupz").status == 503
        assert probe(pp, "/livez").ok       # started, live, not ready
        wait_for(lambda: probe(pp, "/readyz").ok, timeout=10, what="ready")
        # Ready means the app answers now.
        c = http.client.HTTPConnection("127.0.0.1", app, timeout=2)
        c.request("GET", "/")
        assert c.getresponse().status == 200
        assert probe(pp, "/startupz").ok
        (check,) = status(pp)["checks"]
        assert check["name"] == f"tcp://127.0.0.1:{app}" and check["ok"] is True
        assert check["kind"] == "ready" and check["failures"] >= 1 and check["runs"] >= 2
        metrics = probe(pp, "/metrics").body
        assert f'podvisor_check_failures_total{{check="tcp://127.0.0.1:{app}",kind="ready"}}' \
            in metrics
        assert pv.says("running -> ready (ready checks pass)")
    finally:
        pv.signal(signal.SIGTERM)
        pv.wait(timeout=10)


class StatusApp:
    """Answers GET with the status in self.code; hangs when code is None."""

    def __init__(self):
        self.code = 200
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.halt = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.halt:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.answer, args=(c,), daemon=True).start()

    def answer(self, c):
        with c:
            c.recv(4096)
            if self.code is None:
                time.sleep(30)  # a hanging app
                return
            c.sendall(b"HTTP/1.0 %d X\r\nContent-Length: 0\r\n\r\n" % self.code)

    def close(self):
        self.halt = True
        self.sock.close()


def test_http_ready_check_follows_the_status_and_says_why():
    app = StatusApp()
    pp = free_port()
    pv = Podvisor(["--probe-listen", f"127.0.0.1:{pp}", "--check-interval", "100ms",
                   "--ready-check", f"http://127.0.0.1:{app.port}/healthz", "--", "sleep", "60"])
    try:
        wait_for(lambda: probe(pp, "/readyz").ok, what="ready")
        app.code = 500
        wait_for(lambda: probe(pp, "/readyz").status == 503, what="unready on 500")
        assert "HTTP 500" in http_probe(pp, "/readyz?verbose").body
        assert probe(pp, "/startupz").ok    # it was ready once: startup is done
        app.code = 302                      # 200-399 passes, as for the kubelet
        wait_for(lambda: probe(pp, "/readyz").ok, what="ready again")
        assert pv.says("ready check http://127.0.0.1:") and pv.says("HTTP 500")
    finally:
        app.close()
        pv.signal(signal.SIGTERM)
        pv.wait(timeout=10)


def test_a_hanging_app_times_out_and_delays_neither_probes_nor_sigterm():
    app = StatusApp()
    app.code = None
    pp = free_port()
    pv = Podvisor(["--probe-listen", f"127.0.0.1:{pp}", "--check-interval", "200ms",
                   "--check-timeout", "2s", "--ready-check", f"http://127.0.0.1:{app.port}/",
                   "--", "sleep", "60"])
    try:
        wait_for(lambda: probe(pp, "/livez").ok, what="probe server")
        # Checks are in flight all along: the probe server still answers at once.
        worst = 0.0
        for _ in range(20):
            t0 = time.monotonic()
            assert probe(pp, "/livez").ok
            worst = max(worst, time.monotonic() - t0)
            time.sleep(0.05)
        assert worst < 0.5, worst
        wait_for(lambda: "timed out" in http_probe(pp, "/readyz?verbose").body.lower(),
                 timeout=10, what="the timeout reported")
        t0 = time.monotonic()
        pv.signal(signal.SIGTERM)
        assert pv.wait(timeout=10) == 143
        assert time.monotonic() - t0 < 1.5
    finally:
        app.close()
        if pv.proc.poll() is None:
            pv.kill()


def test_live_check_fails_after_the_threshold_and_never_while_draining(tmp_path):
    alive = tmp_path / "alive"
    alive.touch()
    pp = free_port()
    with Podvisor(["--probe-listen", f"127.0.0.1:{pp}", "--check-interval", "100ms",
                   "--failure-threshold", "3", "--prestop-delay", "3s",
                   "--live-check", f"file:{alive}", "--", "sleep", "60"]) as pv:
        wait_for(lambda: probe(pp, "/readyz").ok, what="ready")
        alive.unlink()
        t0 = time.monotonic()
        wait_for(lambda: probe(pp, "/livez").status == 503, what="live fails")
        # Three failures in a row at 100 ms, not the first one.
        assert time.monotonic() - t0 >= 0.15
        (check,) = status(pp)["checks"]
        assert check["kind"] == "live" and check["consecutive_failures"] >= 3
        assert "No such file" in check["last_error"]
        pv.signal(signal.SIGTERM)           # draining: liveness is not podvisor's to fail
        wait_for(lambda: status(pp)["state"] == "draining", what="draining")
        assert probe(pp, "/livez").ok


@pytest.mark.parametrize("args,why", [
    (["--ready-check", "tcp://localhost"], "tcp://HOST:PORT"),
    (["--ready-check", "tcp://localhost:99999"], "tcp://HOST:PORT"),
    (["--live-check", "file:relative"], "absolute path"),
    (["--ready-check", "ftp://x/"], "is not a check"),
    (["--failure-threshold", "0"], "count from 1"),
    (["--check-interval", "0s", "--ready-check", "file:/"], "more than 0"),
])
def test_bad_checks_are_usage_errors(args, why, tmp_path):
    made = tmp_path / "made"
    r = run([*args, "--", "touch", str(made)])
    assert r.returncode == 2 and why in r.stderr, r.stderr
    assert not made.exists()


def test_a_sidecar_has_no_checks(tmp_path):
    r = run(["--watch", str(tmp_path), "--on-change", "none", "--ready-check", "file:/"])
    assert r.returncode == 2 and "sidecar" in r.stderr, r.stderr


# --- kubectl rollout restart, simulated -----------------------------------

class Service:
    """The pods' endpoints as kube-proxy sees them: a pod joins when the
    kubelet's readiness probe passes, and leaves `lag` s after its deletion
    began. Requests go round-robin, a new connection each."""

    def __init__(self, lag):
        self.lag = lag
        self.ports = {}              # app port -> leaves at (monotonic) or None
        self.lock = threading.Lock()

    def add(self, port):
        with self.lock:
            self.ports[port] = None

    def remove(self, port):
        with self.lock:
            self.ports[port] = time.monotonic() + self.lag

    def serving(self):
        now = time.monotonic()
        with self.lock:
            return sorted(p for p, t in self.ports.items() if t is None or now < t)


class ServiceLoad:
    def __init__(self, service, workers=4):
        self.service, self.ok, self.failed, self.errors = service, 0, 0, []
        self.halt = threading.Event()
        self.lock = threading.Lock()
        self.turn = itertools.count()
        self.threads = [threading.Thread(target=self.work, daemon=True) for _ in range(workers)]

    def work(self):
        while not self.halt.is_set():
            ports = self.service.serving()
            if not ports:
                time.sleep(0.01)
                continue
            port = ports[next(self.turn) % len(ports)]
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/", headers={"Connection": "close"})
                good = c.getresponse().status == 200
                err = None
            except (OSError, http.client.HTTPException) as e:
                good, err = False, f"{port}: {type(e).__name__}: {e}"
            with self.lock:
                if good:
                    self.ok += 1
                else:
                    self.failed += 1
                    if err and len(self.errors) < 5:
                        self.errors.append(err)

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.halt.set()
        for t in self.threads:
            t.join(timeout=10)


def rollout_restart(with_check, replicas=3):
    """A Deployment of `replicas` pods rolled with maxSurge 1 and
    maxUnavailable 0: start a new pod, add it to the endpoints when the
    kubelet sees its /readyz 200, then delete an old pod (prestop delay
    covering the endpoint lag). Returns the load's (ok, failed, errors)."""
    service = Service(lag=0.3)

    def new_pod():
        app, pp = free_port(), free_port()
        args = ["--prestop-delay", "800ms", "--grace-period", "10s", "--check-interval", "50ms"]
        if with_check:
            args += ["--ready-check", f"tcp://127.0.0.1:{app}"]
        return Pod(late_server(app, 1), pp, args), app

    def kubelet_ready(pod, timeout=15):
        # The kubelet's readiness probe, period 100 ms.
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if pod.probe("/readyz").ok:
                return
            time.sleep(0.1)
        raise AssertionError("new pod never ready")

    pods = []
    load = ServiceLoad(service)
    try:
        for _ in range(replicas):
            pod, app = new_pod()
            pods.append((pod, app))
        for pod, app in pods:
            kubelet_ready(pod)
            wait_for(lambda: _answers(app), timeout=10, what="initial pods serving")
            service.add(app)
        load.start()
        time.sleep(0.5)
        for i in range(replicas):
            pod, app = new_pod()
            kubelet_ready(pod)
            service.add(app)
            old, old_app = pods[i]
            service.remove(old_app)
            d = old.delete(grace=10)
            assert not d.sigkilled and d.exit_code == 0
            pods[i] = (pod, app)
        time.sleep(0.5)
        load.stop()
        return load.ok, load.failed, load.errors
    finally:
        load.stop()
        for pod, _ in pods:
            pod.kill()


def _answers(port):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        c.request("GET", "/")
        return c.getresponse().status == 200
    except OSError:
        return False


def test_rollout_restart_loses_nothing_with_a_ready_check():
    ok, failed, errors = rollout_restart(with_check=True)
    print(f"\nrollout restart, 3 replicas, maxSurge 1, app binds 1s after start, "
          f"--ready-check tcp: ok={ok} failed={failed}")
    assert ok > 0, "the load did not run"
    assert failed == 0, errors


def test_rollout_restart_without_a_ready_check_loses_requests():
    # The baseline (podvisor before checks): each new pod is ready at once,
    # joins the endpoints before its app listens, and takes traffic it refuses.
    ok, failed, errors = rollout_restart(with_check=False)
    print(f"\nrollout restart baseline, no ready check: ok={ok} failed={failed}")
    assert failed > 0
