#!/usr/bin/python3
"""Probe-server benchmark: /readyz requests per second and latency under wrk
on loopback, podvisor's RSS with the server running (idle, and after the
load), and its idle wakeups with the server on and no checks configured.

usage: bench/probe.py PODVISOR [--seconds S] [--connections C] [--idle-seconds S]
"""
import argparse
import re
import shutil
import socket
import subprocess
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("podvisor")
ap.add_argument("--seconds", type=int, default=10)
ap.add_argument("--connections", type=int, default=20)
ap.add_argument("--idle-seconds", type=float, default=10.0)
args = ap.parse_args()

if not shutil.which("wrk"):
    sys.exit("bench/probe.py: wrk is not installed (sh tests/deps.sh installs it)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(pid, *names):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k = line.split(":")[0]
            if k in names:
                out[k] = int(line.split()[1])
    return out


port = free_port()
pv = subprocess.Popen([args.podvisor, "--log-level", "error", "--probe-listen",
                       f"127.0.0.1:{port}", "--", "sleep", "3600"])
try:
    time.sleep(0.5)
    rss_idle = status(pv.pid, "VmRSS")["VmRSS"]
    names = ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")
    before = status(pv.pid, *names)
    time.sleep(args.idle_seconds)
    after = status(pv.pid, *names)
    wakeups = sum(after[n] - before[n] for n in names) / args.idle_seconds

    def wrk(*extra):
        out = subprocess.run(["wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds}s",
                              "--latency", *extra, f"http://127.0.0.1:{port}/readyz"],
                             capture_output=True, text=True).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        lat = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)", out, re.M))
        errors = re.search(r"Socket errors:.*|Non-2xx.*", out)
        return rps, lat, errors.group(0) if errors else "none"

    runs = {"keep-alive": wrk(),
            "new connection each (as the kubelet)": wrk("-H", "Connection: close")}
    rss_after = status(pv.pid, "VmRSS")["VmRSS"]
finally:
    pv.kill()
    pv.wait()

print(f"# podvisor probe server on 127.0.0.1, wrk -t1 -c{args.connections} -d{args.seconds}s "
      f"/readyz; idle window {args.idle_seconds:.0f}s")
for name, (rps, lat, errors) in runs.items():
    print(f"{name}:")
    print(f"  requests/s           {rps:,.0f}")
    print(f"  latency p50/p90/p99  {lat.get('50')} / {lat.get('90')} / {lat.get('99')}")
    print(f"  errors               {errors}")
print(f"RSS idle             {rss_idle} KiB")
print(f"RSS after the load   {rss_after} KiB")
print(f"idle wakeups/s       {wakeups:.2f}")
