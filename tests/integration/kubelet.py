"""A kubelet simulator, following docs/kubernetes.md.

It runs podvisor as the container's PID 1 (a fresh PID namespace), probes it
with the kubelet's semantics (User-Agent kube-probe, Accept */*, no
keep-alive, success on 200-399, period/timeout/failure threshold), and
deletes the pod as the kubelet does: the deletion starts the endpoint
removal (which reaches the load balancers only after a lag), the preStop
hook runs, then SIGTERM goes to PID 1, and SIGKILL follows when the grace
period (counted from the deletion, preStop included) runs out.

Endpoints and LoadGenerator play the rest of the cluster: traffic keeps
arriving until the endpoint removal has propagated.
"""
import http.client
import os
import signal
import subprocess
import threading
import time

from conftest import KilledOnExit, Podvisor

KUBE_UA = "kube-probe/1.31"


class ProbeResult:
    def __init__(self, ok, status, body, error=None, elapsed=0.0):
        self.ok, self.status, self.body, self.error, self.elapsed = ok, status, body, error, elapsed

    def __repr__(self):
        return f"ProbeResult(ok={self.ok}, status={self.status}, error={self.error!r})"


def http_probe(port, path, timeout=1.0, host="127.0.0.1", method="GET", source=None):
    """One probe as the kubelet sends it (from `source`, a local address
    such as 127.0.0.2, standing for the node's address)."""
    t0 = time.monotonic()
    conn = http.client.HTTPConnection(host, port, timeout=timeout,
                                      source_address=(source, 0) if source else None)
    try:
        conn.request(method, path, headers={"User-Agent": KUBE_UA, "Accept": "*/*",
                                            "Connection": "close"})
        r = conn.getresponse()
        body = r.read().decode("utf-8", "replace")
        return ProbeResult(200 <= r.status < 400, r.status, body,
                           elapsed=time.monotonic() - t0)
    except (OSError, http.client.HTTPException) as e:
        return ProbeResult(False, None, "", error=str(e) or type(e).__name__,
                           elapsed=time.monotonic() - t0)
    finally:
        conn.close()


class StoppedOnExit:
    """`with X(...) as x:` stops x (x.stop()) however the block ends."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


class ProbeLoop(StoppedOnExit, threading.Thread):
    """A periodic probe with the kubelet's thresholds. `healthy` is the
    kubelet's view: it turns false after failure_threshold failures in a row
    and true after success_threshold successes."""

    def __init__(self, port, path, period=0.1, timeout=1.0, failure_threshold=3,
                 success_threshold=1):
        super().__init__(daemon=True)
        self.port, self.path, self.period, self.timeout = port, path, period, timeout
        self.failure_threshold, self.success_threshold = failure_threshold, success_threshold
        self.healthy = False
        self.history = []          # (monotonic time, ProbeResult)
        self.transitions = []      # (monotonic time, healthy)
        self._halt = threading.Event()
        self._fails = self._oks = 0

    def run(self):
        while not self._halt.is_set():
            r = http_probe(self.port, self.path, self.timeout)
            now = time.monotonic()
            self.history.append((now, r))
            if r.ok:
                self._oks, self._fails = self._oks + 1, 0
                if not self.healthy and self._oks >= self.success_threshold:
                    self.healthy = True
                    self.transitions.append((now, True))
            else:
                self._fails, self._oks = self._fails + 1, 0
                if self.healthy and self._fails >= self.failure_threshold:
                    self.healthy = False
                    self.transitions.append((now, False))
            self._halt.wait(self.period)

    def stop(self):
        self._halt.set()
        if self.is_alive():
            self.join(timeout=5)


class Endpoints:
    """The pod's endpoint as the load balancers see it: serving until the
    removal that the deletion started has propagated (after `lag` s)."""

    def __init__(self, lag):
        self.lag = lag
        self.removed_at = None

    def start_removal(self, now):
        self.removed_at = now + self.lag

    def serving(self):
        return self.removed_at is None or time.monotonic() < self.removed_at


class LoadGenerator(StoppedOnExit):
    """Continuous requests, a new connection each (as a load balancer that
    spreads new connections), from `workers` threads, while the endpoint is
    serving. Every request that fails (refused, reset, timeout, non-2xx) is
    counted."""

    def __init__(self, port, endpoints, workers=4, path="/", timeout=5.0):
        self.port, self.endpoints, self.path, self.timeout = port, endpoints, path, timeout
        self.ok = 0
        self.failed = 0
        self.errors = []
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._threads = [threading.Thread(target=self._work, daemon=True)
                         for _ in range(workers)]

    def _work(self):
        while not self._halt.is_set() and self.endpoints.serving():
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                conn.request("GET", self.path, headers={"Connection": "close"})
                r = conn.getresponse()
                r.read()
                good = 200 <= r.status < 300
                err = None if good else f"status {r.status}"
            except (OSError, http.client.HTTPException) as e:
                good, err = False, f"{type(e).__name__}: {e}"
            finally:
                conn.close()
            with self._lock:
                if good:
                    self.ok += 1
                else:
                    self.failed += 1
                    if len(self.errors) < 10:
                        self.errors.append(err)

    def start(self):
        for t in self._threads:
            t.start()

    def progressed(self, since, timeout=30.0):
        """Waits until a request completed after `since` (an earlier
        self.ok): what must hold (the app served, a new generation served),
        never how many a machine managed in a time."""
        end = time.monotonic() + timeout
        while self.ok <= since:
            if time.monotonic() > end:
                raise AssertionError(f"no request completed within {timeout}s "
                                     f"(ok {self.ok}, failed {self.failed}: {self.errors[:3]})")
            time.sleep(0.01)

    def stop(self):
        self._halt.set()
        for t in self._threads:
            t.join(timeout=10)


class Deletion:
    def __init__(self):
        self.t_delete = self.t_term = self.t_exit = None
        self.exit_code = None
        self.sigkilled = False


class Pod(KilledOnExit):
    """One container: podvisor (PID 1) around `command`, with its probe
    server on 127.0.0.1:probe_port."""

    def __init__(self, command, probe_port, podvisor_args=(), env=None, **popen):
        self.probe_port = probe_port
        self.pv = Podvisor(["--probe-listen", f"127.0.0.1:{probe_port}", *podvisor_args, "--",
                            *command], pid1=True, env=env, **popen)

    def probe(self, path, timeout=1.0, source=None):
        return http_probe(self.probe_port, path, timeout, source=source)

    def wait_ready(self, timeout=15.0, path="/readyz"):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.probe(path).ok:
                return
            time.sleep(0.02)
        raise AssertionError(f"pod not ready within {timeout}s")

    def delete(self, grace=30.0, prestop=None, endpoints=None):
        """Deletes the pod as the kubelet does; returns a Deletion."""
        d = Deletion()
        d.t_delete = time.monotonic()
        if endpoints is not None:
            endpoints.start_removal(d.t_delete)
        if prestop is not None:
            # Hooks count against the grace period (docs/kubernetes.md, point 4).
            try:
                subprocess.run(prestop, timeout=grace, check=False)
            except subprocess.TimeoutExpired:
                pass
        left = grace - (time.monotonic() - d.t_delete)
        d.t_term = time.monotonic()
        if left > 0:
            self.pv.signal(signal.SIGTERM)
            try:
                d.exit_code = self.pv.proc.wait(timeout=left)
            except subprocess.TimeoutExpired:
                pass
        if d.exit_code is None:
            # Grace period over: SIGKILL to the container. Killing PID 1
            # tears down its whole PID namespace.
            d.sigkilled = True
            os.kill(self.pv.pid, signal.SIGKILL)
            d.exit_code = self.pv.proc.wait(timeout=10)
        d.t_exit = time.monotonic()
        self.stderr = self.pv.wait(timeout=10) is not None and self.pv.stderr
        return d

    def kill(self):
        self.pv.kill()
