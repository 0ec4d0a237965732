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

import sigterm

ap = argparse.ArgumentParser()
ap.add_argument("podvisor")
ap.add_argument("sigfloor")
ap.add_argument("helpers")
ap.add_argument("--trials", type=int, default=600)
args = ap.parse_args()
WRAPPERS = {
    "podvisor-static (probe server on)": [args.podvisor, "--probe-listen", "127.0.0.1:18911",
                                          "--log-level", "error", "--"],
    "catatonit": ["/usr/bin/catatonit", "--"],
    "floor: read, kill (catatonit's shape)": [args.sigfloor, "read", "--"],
    "floor: epoll, read, kill": [args.sigfloor, "epoll", "--"],
    "floor: epoll, read, kill, arm a timer (podvisor's shape)": [args.sigfloor, "timer", "--"],
}


medians = sigterm.latencies(WRAPPERS, os.path.join(args.helpers, "sigecho"), args.trials)
print(f"# SIGTERM forwarded, kill() to the child's echo, median of {args.trials} (µs)")
for name, us in medians.items():
    print(f"{us:7.0f}  {name}")
