"""The SIGTERM forwarding measure bench/pid1.py and bench/sigfloor.py share:
from kill(SIGTERM) to the wrapper until the child (tests/helpers/sigecho)
has echoed the signal on its stdout."""
import os
import select
import signal
import statistics
import subprocess
import sys
import time

DEVNULL = os.open(os.devnull, os.O_RDWR)


def latency_once(prefix, sigecho):
    """Nanoseconds from the kill() to the echo, for one start of prefix."""
    r, w = os.pipe()
    p = subprocess.Popen(prefix + [sigecho, "x"], stdin=DEVNULL, stdout=w, stderr=DEVNULL)
    os.close(w)
    buf = b""
    while b"ready" not in buf:
        chunk = os.read(r, 64)
        if not chunk:
            sys.exit(f"bench: {' '.join(prefix)} sigecho exited before it was ready")
        buf += chunk
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


def latencies(prefixes, sigecho, trials):
    """Median kill()-to-echo time per wrapper, in µs. Trials go round-robin
    over the wrappers, so a drifting machine (frequency, other load) skews
    none of them."""
    samples = {name: [] for name in prefixes}
    for _ in range(trials):
        for name, prefix in prefixes.items():
            samples[name].append(latency_once(prefix, sigecho))
    return {name: statistics.median(v) / 1e3 for name, v in samples.items()}
