#!/usr/bin/python3
"""Restart benchmark: N ConfigMap updates with --on-change restart while
clients send requests on new connections without pause, for each mode:

  baseline     stop-first, the app binds its own port
  stop-first   stop-first, podvisor holds the socket (--socket)
  start-first  --restart-mode start-first --socket, READY=1 over sd_notify
  tableflip    the app's own hot restart: a tableflip server (Go, from
               tests/integration/apps/go) upgraded by --on-change signal:HUP,
               followed with --pid-file

Prints, per mode: requests, failed requests, p50 and p99 latency over the
whole run, and the time from the `..data` rename to the new generation
ready (/status: restarts counted and state ready), median and max.

The app is tests/integration/apps/graceful_app.py (a Python threading
HTTP server that drains on SIGTERM, 2 ms of work per request).

usage: bench/restarts.py PODVISOR [--updates N] [--clients C]
"""
import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from atomic_writer import ConfigMapVolume  # noqa: E402

APP = os.path.join(HERE, "..", "tests", "integration", "apps", "graceful_app.py")
PY = "/usr/bin/python3"

ap = argparse.ArgumentParser()
ap.add_argument("podvisor")
ap.add_argument("--updates", type=int, default=20)
ap.add_argument("--clients", type=int, default=4)
ap.add_argument("--goapps", default=os.path.join(HERE, "..", "build", "goapps"))
args = ap.parse_args()


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as r:
        return json.load(r)


class Load:
    def __init__(self, port, clients):
        self.port, self.lat, self.failed = port, [], 0
        self.halt = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.work, daemon=True) for _ in range(clients)]

    def work(self):
        while not self.halt.is_set():
            t0 = time.monotonic()
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                c.request("GET", "/", headers={"Connection": "close"})
                r = c.getresponse()
                r.read()
                ok = r.status == 200
            except (OSError, http.client.HTTPException) as e:
                ok = False
                if os.environ.get("BENCH_DEBUG"):
                    print("failed: %.3f" % time.monotonic(), type(e).__name__, file=sys.stderr)
            finally:
                c.close()
            with self.lock:
                if ok:
                    self.lat.append(time.monotonic() - t0)
                else:
                    self.failed += 1

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.halt.set()
        for t in self.threads:
            t.join()


def wait(pred, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if pred():
                return True
        except OSError:
            pass
        time.sleep(0.005)
    raise SystemExit("timed out")


def one(mode):
    tmp = tempfile.mkdtemp(prefix="pv-restarts-")
    app_port, probe_port = free_port(), free_port()
    vol = ConfigMapVolume(os.path.join(tmp, "cm"))
    vol.update({"app.conf": "v0"})
    pv_args = ["--watch", os.path.join(tmp, "cm"), "--debounce", "50ms",
               "--probe-listen", f"127.0.0.1:{probe_port}", "--log-level", "warn"]
    if mode != "baseline":
        pv_args += ["--socket", f"tcp://127.0.0.1:{app_port}"]
    if mode == "start-first":
        pv_args += ["--restart-mode", "start-first", "--ready-check", "notify"]
    app = [PY, APP, str(app_port), "0.002"]
    if mode == "tableflip":
        pid_file = os.path.join(tmp, "app.pid")
        pv_args = [a for a in pv_args if not a.startswith("--socket") and "tcp://" not in a]
        pv_args += ["--on-change", "signal:HUP", "--pid-file", pid_file]
        app = [os.path.join(args.goapps, "flipapp"), "-listen", f"127.0.0.1:{app_port}",
               "-pid-file", pid_file]
        counter = "successions"
    else:
        counter = "restarts"
    env = dict(os.environ, APP_CONFIG=os.path.join(tmp, "cm", "app.conf"))
    pv = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
                           args.podvisor, *pv_args, "--", *app],
                          env=env, stdout=subprocess.DEVNULL)
    try:
        wait(lambda: status(probe_port)["ready"])
        # the app itself serving (without --socket it binds after it starts)
        wait(lambda: urllib.request.urlopen(f"http://127.0.0.1:{app_port}/", timeout=1).status
             == 200)
        load = Load(app_port, args.clients)
        load.start()
        to_ready = []
        for i in range(1, args.updates + 1):
            t0 = vol.update({"app.conf": f"v{i}"})
            if os.environ.get("BENCH_DEBUG"):
                print("update %.3f" % t0, file=sys.stderr)
            wait(lambda: (lambda s: s["child"][counter] == i and s["state"] == "ready" and
                          len(s["children"]) == 1)(status(probe_port)))
            to_ready.append(time.monotonic() - t0)
            if os.environ.get("BENCH_DEBUG"):
                print("ready %.3f" % time.monotonic(), file=sys.stderr)
            time.sleep(0.2)
        load.stop()
    finally:
        pv.kill()
        pv.wait()
    lat = sorted(load.lat)
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
    return (len(lat) + load.failed, load.failed, p(0.5), p(0.99),
            statistics.median(to_ready) * 1000, max(to_ready) * 1000)


print(f"restarts: {args.updates} ConfigMap updates, {args.clients} clients on new connections")
print(f"{'mode':<12} {'requests':>9} {'failed':>7} {'p50 ms':>7} {'p99 ms':>7} "
      f"{'change->ready ms (median, max)':>31}")
modes = os.environ.get("BENCH_MODES", "baseline stop-first start-first").split()
if os.path.exists(os.path.join(args.goapps, "flipapp")):
    modes.append("tableflip")
else:
    print(f"(tableflip: no {args.goapps}/flipapp; tests/integration/apps/go/build.sh makes it)")
for mode in modes:
    n, failed, p50, p99, med, mx = one(mode)
    print(f"{mode:<12} {n:>9} {failed:>7} {p50:>7.1f} {p99:>7.1f} {med:>20.0f} {mx:>10.0f}")
