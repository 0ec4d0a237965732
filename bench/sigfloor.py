#!/usr/bin/python3
"""SIGTERM forwarding: podvisor-static against catatonit and against the
floor of each shape of PID 1 (bench/sigfloor.c: a blocking read of a
signalfd, as catatonit does; an epoll loop; an epoll loop that arms a
timer after the kill, as podvisor does to bound the stop). The same
measure as bench/pid1.py (kill() to the child's receipt), more trials,
round-robin, each wrapper's median and its difference from catatonit
trial for trial, with a 95% interval.

Twice: on every core, and with the bench and everything it starts held to
one core (a pod with one CPU), where whatever the wrapper does between
its kill() and its next sleep can delay the app.

usage: bench/sigfloor.py PODVISOR_STATIC SIGFLOOR HELPERS [--trials N]
"""
import argparse
import os
import statistics

import sigterm

ap = argparse.ArgumentParser()
ap.add_argument("podvisor")
ap.add_argument("sigfloor")
ap.add_argument("helpers")
ap.add_argument("--trials", type=int, default=600)
args = ap.parse_args()
WRAPPERS = {
    "podvisor-static (probe server on)": [args.podvisor, "--probe-listen", "127.0.0.1:0",
                                          "--log-level", "error", "--"],
    "catatonit": ["/usr/bin/catatonit", "--"],
    "floor: read, kill (catatonit's shape)": [args.sigfloor, "read", "--"],
    "floor: epoll, read, kill": [args.sigfloor, "epoll", "--"],
    "floor: epoll, read, kill, arm a timer (podvisor's shape)": [args.sigfloor, "timer", "--"],
}


def table(title):
    got = sigterm.samples(WRAPPERS, os.path.join(args.helpers, "sigecho"), args.trials)
    print(f"# {title}: SIGTERM forwarded, kill() to the child's receipt, {args.trials} trials (µs)")
    print("  median  minus catatonit (95% interval)")
    for name, v in got.items():
        d = sigterm.paired_difference(v, got["catatonit"])
        print(f"{statistics.median(v):8.1f}  %+6.1f (%+.1f to %+.1f)  {name}" % d)


table(f"{len(os.sched_getaffinity(0))} cores")
one = max(os.sched_getaffinity(0))
os.sched_setaffinity(0, {one})
table(f"one core (cpu {one})")
