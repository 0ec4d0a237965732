#!/usr/bin/python3
"""PID-1 benchmark: podvisor side by side with tini, tini-static, dumb-init and
catatonit (Debian's), all run as ordinary processes on this machine.

Prints, per wrapper: median wall time of `W -- /bin/true` (many runs), RSS
while the child sleeps, idle wakeups (context switches over a quiet window,
all wrappers measured at once), and SIGTERM forward latency (kill() to the
child's echo). Then the ratios podvisor/tini and podvisor/catatonit.

With --static PATH, the static (musl) build joins as podvisor-static and
podvisor-static+probe, and the issue-9 goals are checked on it: spawn time
within 5% of catatonit's with the probe server on, RSS under 1.0 MB while
the app sleeps, no idle wakeups.

usage: bench/pid1.py PODVISOR HELPERS [--static PATH] [--runs N] [--idle-seconds S]
"""
import argparse
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("podvisor")
ap.add_argument("helpers")
ap.add_argument("--static", help="the static build, build/podvisor-static")
ap.add_argument("--runs", type=int, default=400)
ap.add_argument("--idle-seconds", type=float, default=10.0)
ap.add_argument("--latency-trials", type=int, default=50)
args = ap.parse_args()

WRAPPERS = {
    "podvisor": [args.podvisor, "--probe-listen", "off", "--log-level", "error", "--"],
    "tini": ["/usr/bin/tini", "-s", "--"],
    "tini-static": ["/usr/bin/tini-static", "-s", "--"],
    "dumb-init": ["/usr/bin/dumb-init", "--"],
    "catatonit": ["/usr/bin/catatonit", "--"],
}


def spare_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if os.path.exists(args.podvisor) and "--probe-listen" in subprocess.run(
        [args.podvisor, "--help"], capture_output=True, text=True).stdout:
    # the probe server as it ships (on :8099 by default; here a spare port)
    WRAPPERS["podvisor+probe"] = [args.podvisor, "--probe-listen", f"127.0.0.1:{spare_port()}",
                                  "--log-level", "error", "--"]
if args.static:
    WRAPPERS["podvisor-static"] = [args.static, "--probe-listen", "off", "--log-level", "error",
                                   "--"]
    WRAPPERS["pv-static+probe"] = [args.static, "--probe-listen", f"127.0.0.1:{spare_port()}",
                                   "--log-level", "error", "--"]
WRAPPERS = {k: v for k, v in WRAPPERS.items() if shutil.which(v[0]) or os.path.exists(v[0])}
DEVNULL = os.open(os.devnull, os.O_RDWR)


def spawn(argv, stdout=DEVNULL):
    return subprocess.Popen(argv, stdin=DEVNULL, stdout=stdout, stderr=DEVNULL)


def wall_true_once(prefix):
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(prefix[0], prefix + ["/bin/true"], os.environ,
                         file_actions=[(os.POSIX_SPAWN_DUP2, DEVNULL, 1),
                                       (os.POSIX_SPAWN_DUP2, DEVNULL, 2)])
    os.waitpid(pid, 0)
    return time.perf_counter_ns() - t0


def wall_true(prefixes):
    """Median ms per wrapper, runs round-robin over the wrappers so that a
    drifting machine skews none of them (a 5% goal needs that)."""
    samples = {name: [] for name in prefixes}
    for _ in range(args.runs):
        for name, prefix in prefixes.items():
            samples[name].append(wall_true_once(prefix))
    return {name: statistics.median(v) / 1e6 for name, v in samples.items()}


def status_field(pid, name):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    return 0


def rss_kb(prefix):
    p = spawn(prefix + ["sleep", "30"])
    time.sleep(0.4)
    rss = status_field(p.pid, "VmRSS")
    p.kill()
    p.wait()
    return rss


def idle_wakeups(prefixes):
    procs = {name: spawn(prefix + ["sleep", str(args.idle_seconds + 5)])
             for name, prefix in prefixes.items()}
    time.sleep(0.5)

    def switches(pid):
        return status_field(pid, "voluntary_ctxt_switches") + \
            status_field(pid, "nonvoluntary_ctxt_switches")

    before = {n: switches(p.pid) for n, p in procs.items()}
    time.sleep(args.idle_seconds)
    after = {n: switches(p.pid) for n, p in procs.items()}
    for p in procs.values():
        p.kill()
        p.wait()
    return {n: (after[n] - before[n]) / args.idle_seconds for n in procs}


def term_latency_once(prefix):
    r, w = os.pipe()
    p = subprocess.Popen(prefix + [os.path.join(args.helpers, "sigecho"), "x"],
                         stdin=DEVNULL, stdout=w, stderr=DEVNULL)
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


def term_latencies(prefixes):
    """Median kill()-to-echo time per wrapper. Trials go round-robin over the
    wrappers, so a drifting machine (frequency, other load) skews none of them."""
    samples = {name: [] for name in prefixes}
    for _ in range(args.latency_trials):
        for name, prefix in prefixes.items():
            samples[name].append(term_latency_once(prefix))
    return {name: statistics.median(v) / 1e3 for name, v in samples.items()}


results = {}
print(f"# {args.runs} runs of W -- /bin/true; idle window {args.idle_seconds:.0f}s; "
      f"{args.latency_trials} SIGTERM trials", flush=True)
spawn_ms = wall_true(dict(WRAPPERS, env=["/usr/bin/env"]))
base = spawn_ms.pop("env")
for name, prefix in WRAPPERS.items():
    results[name] = {"true_ms": spawn_ms[name], "rss_kb": rss_kb(prefix)}
for name, us in term_latencies(WRAPPERS).items():
    results[name]["term_us"] = us
for name, rate in idle_wakeups(WRAPPERS).items():
    results[name]["idle_per_s"] = rate

print(f"{'wrapper':<18}{'true (ms)':>11}{'RSS (KiB)':>11}{'idle wakeups/s':>16}"
      f"{'TERM fwd (us)':>15}")
print(f"{'(env, baseline)':<18}{base:>11.3f}")
for name, r in results.items():
    print(f"{name:<18}{r['true_ms']:>11.3f}{r['rss_kb']:>11}{r['idle_per_s']:>16.2f}"
          f"{r['term_us']:>15.0f}")
pv = results.get("podvisor")
for other in ("tini", "catatonit"):
    o = results.get(other)
    if pv and o:
        print(f"podvisor/{other}: true {pv['true_ms'] / o['true_ms']:.2f}x, "
              f"RSS {pv['rss_kb'] / o['rss_kb']:.2f}x, "
              f"TERM latency {pv['term_us'] / o['term_us']:.2f}x")
st, cat = results.get("pv-static+probe"), results.get("catatonit")
if st and cat:
    ratio = st["true_ms"] / cat["true_ms"]
    print(f"goals, podvisor-static with the probe server on: spawn {ratio:.3f}x catatonit "
          f"({'met' if ratio <= 1.05 else 'MISSED'}, goal <= 1.05x); "
          f"RSS {st['rss_kb']} KiB = {st['rss_kb'] * 1024 / 1e6:.2f} MB "
          f"({'met' if st['rss_kb'] * 1024 < 1e6 else 'MISSED'}, goal < 1.0 MB); "
          f"idle wakeups {st['idle_per_s']:.2f}/s "
          f"({'met' if st['idle_per_s'] == 0 else 'MISSED'}, goal 0)")
