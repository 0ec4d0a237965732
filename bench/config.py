#!/usr/bin/python3
"""Config-change benchmark: how long from the kubelet's `..data` rename to
the action, with the debounce subtracted (median and p90 over N updates),
for each kind of action; and the CPU podvisor uses while 1000 files churn
in a watched directory.

  webhook   sidecar mode: the POST received by a local HTTP server
  signal    --on-change signal:USR1: the signal received by the child
  restart   --on-change restart: the stop signal (TERM) received by the child

Updates are made by tests/integration/atomic_writer.py, exactly as the
kubelet's AtomicWriter makes them. All times are CLOCK_MONOTONIC, shared by
every process here.

usage: bench/config.py PODVISOR [--updates N] [--debounce-ms D] [--churn-seconds S]
"""
import argparse
import http.server
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from atomic_writer import ConfigMapVolume  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("podvisor")
ap.add_argument("--updates", type=int, default=50)
ap.add_argument("--debounce-ms", type=int, default=100)
ap.add_argument("--churn-seconds", type=float, default=5.0)
args = ap.parse_args()
PY = "/usr/bin/python3"
DEBOUNCE = args.debounce_ms / 1000.0

# The child: prints (monotonic time, signal) for USR1 and TERM, exits on TERM.
CHILD = r"""
import os, signal, sys, time
def on(sig, _):
    os.write(1, b"%f %d\n" % (time.monotonic(), sig))
    if sig == signal.SIGTERM:
        os._exit(0)
signal.signal(signal.SIGUSR1, on)
signal.signal(signal.SIGTERM, on)
os.write(1, b"up\n")
while True:
    signal.pause()
"""


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summary(name, lat):
    lat_ms = sorted(x * 1000 for x in lat)
    p90 = lat_ms[int(len(lat_ms) * 0.9) - 1] if len(lat_ms) >= 10 else max(lat_ms)
    print(f"  {name:8} median {statistics.median(lat_ms):6.2f} ms   p90 {p90:6.2f} ms   "
          f"max {max(lat_ms):6.2f} ms   (n={len(lat_ms)})")


def bench_child_action(kind, tmp):
    vol = ConfigMapVolume(os.path.join(tmp, kind))
    vol.update({"key": "0"})
    on_change = {"signal": "signal:USR1", "restart": "restart"}[kind]
    pv = subprocess.Popen([args.podvisor, "--probe-listen", "off", "--log-level", "warn",
                           "--watch", vol.path, "--debounce", f"{args.debounce_ms}ms",
                           "--on-change", on_change, "--", PY, "-c", CHILD],
                          stdout=subprocess.PIPE, text=True, bufsize=1)
    lat = []
    try:
        assert pv.stdout.readline().strip() == "up"
        for i in range(args.updates):
            t = vol.update({"key": str(i + 1)})
            line = pv.stdout.readline().split()
            lat.append(float(line[0]) - t - DEBOUNCE)
            if kind == "restart":
                assert pv.stdout.readline().strip() == "up"
            time.sleep(0.05)
    finally:
        pv.send_signal(signal.SIGTERM)
        pv.wait(timeout=30)
    return lat


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.server.got.append(time.monotonic())
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.server.event.set()

    def log_message(self, *a):
        pass


def bench_webhook(tmp):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    srv.got, srv.event = [], threading.Event()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    vol = ConfigMapVolume(os.path.join(tmp, "webhook"))
    vol.update({"key": "0"})
    pv = subprocess.Popen([args.podvisor, "--probe-listen", "off", "--log-level", "warn",
                           "--watch", vol.path, "--debounce", f"{args.debounce_ms}ms",
                           "--on-change", f"webhook:http://127.0.0.1:{srv.server_address[1]}/"])
    lat = []
    try:
        time.sleep(0.3)
        for i in range(args.updates):
            srv.event.clear()
            t = vol.update({"key": str(i + 1)})
            if not srv.event.wait(5):
                sys.exit("bench/config.py: no webhook within 5s")
            lat.append(srv.got[-1] - t - DEBOUNCE)
            time.sleep(0.05)
    finally:
        pv.send_signal(signal.SIGTERM)
        pv.wait(timeout=30)
        srv.shutdown()
    return lat


def bench_churn(tmp):
    d = os.path.join(tmp, "churn")
    os.mkdir(d)
    names = [os.path.join(d, f"f{i:04d}") for i in range(1000)]
    for n in names:
        with open(n, "w") as f:
            f.write("0")
    pv = subprocess.Popen([args.podvisor, "--probe-listen", "off", "--log-level", "warn",
                           "--watch", d, "--on-change", "none", "--", "sleep", "1000"])
    time.sleep(0.3)
    c0, t0 = cpu_seconds(pv.pid), time.monotonic()
    rounds = 0
    while time.monotonic() - t0 < args.churn_seconds:
        for n in names:  # rewrite, then replace by rename: 4 events per file
            with open(n, "w") as f:
                f.write(str(rounds))
            os.rename(n, n + ".tmp")
            os.rename(n + ".tmp", n)
        rounds += 1
    wall = time.monotonic() - t0
    busy = cpu_seconds(pv.pid) - c0
    time.sleep(0.8)  # the debounce fires once the churn stops: one hash of 1000 files
    after = cpu_seconds(pv.pid) - c0
    pv.send_signal(signal.SIGTERM)
    pv.wait(timeout=30)
    changes = rounds * len(names)
    print(f"  churn: {changes} file rewrites+renames ({changes * 4 / wall:,.0f} inotify "
          f"events/s) for {wall:.1f}s")
    print(f"  podvisor CPU during the churn: {busy:.2f}s = {100 * busy / wall:.1f}% of one "
          f"core; with the final rescan (1000 files hashed): {after:.2f}s")


def main():
    ver = subprocess.run([args.podvisor, "--version"], capture_output=True, text=True).stdout
    print(f"config-change benchmark: {ver.strip()}, debounce {args.debounce_ms} ms "
          f"(subtracted), {args.updates} AtomicWriter updates per action")
    tmp = tempfile.mkdtemp(prefix="podvisor-bench-")
    try:
        print("rename of ..data -> action:")
        summary("webhook", bench_webhook(tmp))
        summary("signal", bench_child_action("signal", tmp))
        summary("restart", bench_child_action("restart", tmp))
        bench_churn(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


main()
