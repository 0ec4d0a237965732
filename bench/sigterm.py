"""The SIGTERM forwarding measure bench/pid1.py and bench/sigfloor.py share:
from kill(SIGTERM) to the wrapper until the child (tests/helpers/sigecho
--stamp) has taken the signal, by the child's own CLOCK_MONOTONIC stamp.

The stamp, not the moment this script reads the child's line: on a busy or
small machine the bench itself waits for a CPU before it can read, and
whether it does depends on who the scheduler ran first (a wrapper that
preempts the bench when woken, or one that waits for it to sleep), which is
not the wrapper's forwarding."""
import os
import random
import signal
import statistics
import subprocess
import sys
import time

DEVNULL = os.open(os.devnull, os.O_RDWR)


def latency_once(prefix, sigecho):
    """Nanoseconds from the kill() to the child's receipt, for one start of
    prefix."""
    r, w = os.pipe()
    p = subprocess.Popen(prefix + [sigecho, "x", "--stamp"], stdin=DEVNULL, stdout=w,
                         stderr=DEVNULL)
    os.close(w)
    buf = b""
    while b"ready" not in buf:
        chunk = os.read(r, 64)
        if not chunk:
            sys.exit(f"bench: {' '.join(prefix)} sigecho exited before it was ready")
        buf += chunk
    time.sleep(0.02)
    t0 = time.monotonic_ns()
    os.kill(p.pid, signal.SIGTERM)
    got = b""
    while True:
        chunk = os.read(r, 64)
        if not chunk:
            break
        got += chunk
    p.wait()
    os.close(r)
    for line in got.decode().splitlines():
        words = line.split()
        if words[:2] == ["x", "15"] and len(words) == 3:
            return int(words[2]) - t0
    sys.exit(f"bench: {' '.join(prefix)}: the child never said it got SIGTERM ({got!r})")


def samples(prefixes, sigecho, trials):
    """Each wrapper's kill()-to-receipt times, in µs, trial by trial. Trials
    go round-robin over the wrappers, so a drifting machine (frequency,
    other load) skews none of them, and trial i of one wrapper can be
    paired with trial i of another."""
    got = {name: [] for name in prefixes}
    for _ in range(trials):
        for name, prefix in prefixes.items():
            got[name].append(latency_once(prefix, sigecho) / 1e3)
    return got


def paired_difference(a, b, resamples=2000):
    """The median of a[i] - b[i] and its 95% bootstrap interval: how much
    slower a is than b, trial for trial, and how sure the run is of it. A
    fixed seed, so that the same samples give the same interval."""
    d = [x - y for x, y in zip(a, b)]
    rng = random.Random(1)
    boot = sorted(statistics.median(rng.choices(d, k=len(d))) for _ in range(resamples))
    return statistics.median(d), boot[int(resamples * 0.025)], boot[int(resamples * 0.975) - 1]
