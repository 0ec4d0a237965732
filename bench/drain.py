#!/usr/bin/python3
"""Drain benchmark: what --drain-endpoints and --drain-idle save, and what
they cost in failed requests.

1. SIGTERM -> stop signal, the fixed --prestop-delay against watched
   endpoints (--drain-endpoints --drain-settle), for endpoint lags of 0.2,
   1, 2 and 5 s: the fake API server of the tests (tests/integration/
   fake_kube_api.py, over TLS) sets the deletionTimestamp at once and marks
   the endpoint not ready `lag` s later, as the EndpointSlice controller
   does; the load balancer (clients on new connections) stops sending
   DATA_PLANE s after the mark (kube-proxy's minSyncPeriod). Prints the
   wait, how far past the mark + settle it ended, and the failed requests.
2. Stop signal -> exit, with and without --drain-idle, for an app that
   keeps its idle keep-alive connections open after its stop signal and
   one that closes them (both linger without exiting, as an app whose
   shutdown waits on something): bench/drain_app.py.

usage: bench/drain.py PODVISOR
"""
import argparse
import http.client
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from fake_kube_api import SA_MOUNT, FakeKubeAPI  # noqa: E402

APP = os.path.join(HERE, "..", "tests", "integration", "apps", "graceful_app.py")
DRAIN_APP = os.path.join(HERE, "drain_app.py")
PY = "/usr/bin/python3"
DELAY = 15.0      # the fixed guess: --prestop-delay
SETTLE = 2.0      # --drain-settle
DATA_PLANE = 1.0  # the load balancer learns of the mark this much later

ap = argparse.ArgumentParser()
ap.add_argument("podvisor")
ap.add_argument("--lags", default="0.2,1,2,5")
args = ap.parse_args()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(pv_args, app, binds=(), env=None):
    """podvisor as PID 1 of its own namespaces; its stderr lines with the
    time each was read."""
    script = "".join(f'mkdir -p "{t}" && mount --bind "{s}" "{t}" && ' for s, t in binds)
    cmd = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "sh", "-c",
           script + 'exec "$@"', "sh", args.podvisor, *pv_args, "--", *app]
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                         env=dict(os.environ, **(env or {})))
    p.lines = queue.Queue()

    def pump():
        for line in p.stderr:
            p.lines.put((time.monotonic(), line))
        p.lines.put((time.monotonic(), None))
    threading.Thread(target=pump, daemon=True).start()
    # Signals go to podvisor itself, unshare's only child (unshare passes
    # none on).
    end = time.monotonic() + 10
    while time.monotonic() < end:
        try:
            with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
                kids = f.read().split()
        except OSError:
            kids = []
        if kids:
            p.podvisor = int(kids[0])
            return p
        time.sleep(0.01)
    raise SystemExit("podvisor did not start")


def wait_line(p, text, timeout=60):
    end = time.monotonic() + timeout
    while True:
        t, line = p.lines.get(timeout=max(0.01, end - time.monotonic()))
        if line is None:
            raise SystemExit(f"podvisor exited before saying {text!r}")
        if text in line:
            return t


def wait_port(port):
    end = time.monotonic() + 30
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f"nothing listens on {port}")


class Load:
    """Clients on new connections while the load balancer sends."""

    def __init__(self, port, until, clients=4):
        self.port, self.until, self.ok, self.failed = port, until, 0, 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.work, daemon=True) for _ in range(clients)]
        for t in self.threads:
            t.start()

    def work(self):
        while time.monotonic() < self.until():
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                c.request("GET", "/", headers={"Connection": "close"})
                r = c.getresponse()
                r.read()
                good = r.status == 200
            except (OSError, http.client.HTTPException):
                good = False
            finally:
                c.close()
            with self.lock:
                self.ok += good
                self.failed += not good

    def join(self):
        for t in self.threads:
            t.join()


def prestop(mode, lag):
    app_port = free_port()
    with FakeKubeAPI() as api:
        pv_args = ["--probe-listen", "off", "--prestop-delay", f"{int(DELAY * 1000)}ms",
                   "--grace-period", f"{int(DELAY) + 15}s", "--log-level", "info"]
        if mode == "endpoints":
            pv_args += ["--drain-endpoints", "--drain-settle", f"{int(SETTLE * 1000)}ms"]
        p = start(pv_args, [PY, APP, str(app_port), "0.002"], binds=[(api.sa_dir, SA_MOUNT)],
                  env=api.env())
        try:
            wait_port(app_port)
            stop_sending = [float("inf")]
            load = Load(app_port, lambda: stop_sending[0])
            time.sleep(0.5)
            api.delete_pod()
            t_term = time.monotonic()
            os.kill(p.podvisor, signal.SIGTERM)

            def mark():
                api.mark_not_ready()
                stop_sending[0] = time.monotonic() + DATA_PLANE
            threading.Timer(lag, mark).start()
            t_stop = wait_line(p, "sending stop signal", timeout=DELAY + 10)
            p.wait(timeout=30)
            load.join()
        finally:
            p.kill()
            p.wait()
    past = (t_stop - api.marked_at - SETTLE) * 1000 if mode == "endpoints" else None
    return t_stop - t_term, past, load.ok + load.failed, load.failed


def stop_to_exit(app_mode, idle):
    app_port = free_port()
    pv_args = ["--probe-listen", "off", "--stop-timeout", "10s", "--log-level", "info"]
    if idle:
        pv_args += ["--drain-idle", "--drain-port", str(app_port)]
    p = start(pv_args, [PY, DRAIN_APP, app_mode, str(app_port)])
    try:
        wait_port(app_port)
        conns = []
        for _ in range(4):  # keep-alive clients: one request each, then idle
            c = http.client.HTTPConnection("127.0.0.1", app_port, timeout=5)
            c.request("GET", "/")
            c.getresponse().read()
            conns.append(c)
        os.kill(p.podvisor, signal.SIGTERM)
        t_stop = wait_line(p, "sending stop signal")
        p.wait(timeout=30)
        took = time.monotonic() - t_stop
    finally:
        for c in conns:
            c.close()
        p.kill()
        p.wait()
    return took


print(f"drain: SIGTERM -> stop signal, --prestop-delay {DELAY:.0f}s fixed vs --drain-endpoints "
      f"--drain-settle {SETTLE:.0f}s;")
print(f"       the load balancer stops {DATA_PLANE:.0f}s after the endpoint is marked, "
      f"4 clients on new connections")
print(f"{'endpoint lag':>12} {'mode':<10} {'SIGTERM->stop':>13} {'past mark+settle':>16} "
      f"{'requests':>9} {'failed':>7}")
for lag in [float(x) for x in args.lags.split(",")]:
    for mode in ("fixed", "endpoints"):
        wait, past, n, failed = prestop(mode, lag)
        past_s = f"{past:.0f} ms" if past is not None else "-"
        print(f"{lag:>11.1f}s {mode:<10} {wait:>12.2f}s {past_s:>16} {n:>9} {failed:>7}")
print()
print("drain: stop signal -> exit (--stop-timeout 10s), 4 idle keep-alive connections")
print(f"{'app':<34} {'without --drain-idle':>21} {'with':>7}")
for app_mode, name in (("holds", "keeps its idle connections open"),
                       ("closes", "closes them, then lingers")):
    without = stop_to_exit(app_mode, False)
    with_ = stop_to_exit(app_mode, True)
    print(f"{name:<34} {without:>20.2f}s {with_:>6.2f}s")
