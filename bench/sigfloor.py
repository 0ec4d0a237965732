#!/usr/bin/python3
"""SIGTERM forwarding: podvisor-static against catatonit and against the
floor of each shape of PID 1 (bench/sigfloor.c: a blocking read of a
signalfd, as catatonit does; an epoll loop; an epoll loop that arms a
timer after the kill, as podvisor does to bound the stop). The same
measure as bench/pid1.py (kill() to the child's echo, median), more
trials, round-robin.

usage: bench/sigfloor.py PODVISOR_STATIC SIGFLOOR HELPERS [--trials N]
"""
import argparse
import os
import select
import signal
import statistics
import subprocess
import time

ap = argparse.ArgumentParser()
ap.add_argument("podvisor")
ap.add_argument("sigfloor")
ap.add_argument("helpers")
ap.add_argument("--trials", type=int, default=600)
args = ap.parse_args()
DEVNULL = os.open(os.devnull, os.O_RDWR)
WRAPPERS = {
    "podvisor-static (probe server on)": [args.podvisor, "--probe-listen", "127.0.0.1:18911",
                                          "--log-level", "error", "--"],
    "catatonit": ["/usr/bin/catatonit", "--"],
    "floor: read, kill (catatonit's shape)": [args.sigfloor, "read", "--"],
    "floor: epoll, read, kill": [args.sigfloor, "epoll", "--"],
    "floor: epoll, read, kill, arm a timer (podvisor's shape)": [args.sigfloor, "timer", "--"],
}


def once(prefix):
    r, w = os.pipe()
    p = subprocess.Popen(prefix + [os.path.join(args.helpers, "sigecho"), "x"],
                         stdin=DEVNULL, stdout=w, stderr=DEVNULL)
    os.close(w)
    buf = b""
    while b"ready" not in buf:
        buf += os.read(r, 64)
    time.sleep(0.02)
    t0 = time.perf_counter_ns()
    os.kill(p.pid, signal.SIGTERM)
    got = b""
    while b"x 15" not in got:
        select.select([r], [], [], 5)
        chunk = os.read(r, 64)
        if not chunk:
            break
        got += chunk
    took = time.perf_counter_ns() - t0
    p.wait()
    os.close(r)
    return took


samples = {n: [] for n in WRAPPERS}
for _ in range(args.trials):
    for name, prefix in WRAPPERS.items():
        samples[name].append(once(prefix))
print(f"# SIGTERM forwarded, kill() to the child's echo, median of {args.trials} (µs)")
for name, v in samples.items():
    print(f"{statistics.median(v) / 1e3:7.0f}  {name}")
