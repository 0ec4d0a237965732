#!/usr/bin/python3
"""PID-1 benchmark: podvisor side by side with tini, tini-static, dumb-init and
catatonit (Debian's), all run as ordinary processes on this machine.

Prints the README's table itself, row for row under the README's names and
with the same settings: per wrapper, the median wall time of
`W -- /bin/true` (many runs, round-robin), RSS while the child sleeps, idle
wakeups (context switches over a quiet window, all wrappers at once), and
the SIGTERM forward latency (kill() to the child's receipt, median). Then the
goals, checked on what the Dockerfile ships (podvisor-static, probe server
on): spawn at most 0.85x catatonit's, RSS under 600 KiB, no idle wakeups,
SIGTERM forwarded no slower than catatonit does.

usage: bench/pid1.py PODVISOR HELPERS [--static PATH] [--runs N] [--idle-seconds S]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import time

import sigterm

ap = argparse.ArgumentParser()
ap.add_argument("podvisor")
ap.add_argument("helpers")
ap.add_argument("--static", help="the static build, build/podvisor-static")
ap.add_argument("--runs", type=int, default=400)
ap.add_argument("--idle-seconds", type=float, default=10.0)
ap.add_argument("--latency-trials", type=int, default=400)
args = ap.parse_args()

def spare_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The README's rows, under its names; the probe server as it ships (on,
# here on a spare port) unless the row says off.
STATIC_ON = "podvisor-static (probe server on)"
WRAPPERS = {}
if args.static:
    WRAPPERS[STATIC_ON] = [args.static, "--probe-listen", f"127.0.0.1:{spare_port()}",
                           "--log-level", "error", "--"]
    WRAPPERS["podvisor-static (probe server off)"] = [args.static, "--probe-listen", "off",
                                                      "--log-level", "error", "--"]
WRAPPERS["podvisor, dynamic (probe server on)"] = [
    args.podvisor, "--probe-listen", f"127.0.0.1:{spare_port()}", "--log-level", "error", "--"]
WRAPPERS.update({
    "tini": ["/usr/bin/tini", "-s", "--"],
    "tini-static": ["/usr/bin/tini-static", "-s", "--"],
    "dumb-init": ["/usr/bin/dumb-init", "--"],
    "catatonit": ["/usr/bin/catatonit", "--"],
})
WRAPPERS = {k: v for k, v in WRAPPERS.items() if shutil.which(v[0]) or os.path.exists(v[0])}
DEVNULL = sigterm.DEVNULL


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


def rss_kb(prefix, samples=7):
    """The median VmRSS over a few starts: the file-backed part (the binary's
    pages the kernel maps around each fault) moves by 50 KiB between two
    starts of one binary."""
    got = []
    for _ in range(samples):
        p = spawn(prefix + ["sleep", "30"])
        time.sleep(0.4)
        got.append(status_field(p.pid, "VmRSS"))
        p.kill()
        p.wait()
    return int(statistics.median(got))


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


results = {}
print(f"# {args.runs} runs of W -- /bin/true; idle window {args.idle_seconds:.0f}s; "
      f"{args.latency_trials} SIGTERM trials", flush=True)
spawn_ms = wall_true(dict(WRAPPERS, env=["/usr/bin/env"]))
base = spawn_ms.pop("env")
for name, prefix in WRAPPERS.items():
    results[name] = {"true_ms": spawn_ms[name], "rss_kb": rss_kb(prefix)}
term_samples = sigterm.samples(WRAPPERS, os.path.join(args.helpers, "sigecho"),
                              args.latency_trials)
for name, v in term_samples.items():
    results[name]["term_us"] = statistics.median(v)
for name, rate in idle_wakeups(WRAPPERS).items():
    results[name]["idle_per_s"] = rate

rows = []
for name, r in results.items():
    rows.append(f"| {'**' + name + '**' if name == STATIC_ON else name} | {r['true_ms']:.2f} | "
                f"{r['rss_kb']} KiB | {r['idle_per_s']:.0f} | {r['term_us']:.0f} |")
print(f"(env, baseline: {base:.2f} ms)")
print("| | `W -- /bin/true` (ms, median of %d) | RSS, app sleeping | idle wakeups/s | "
      "SIGTERM forwarded (µs, median of %d) |" % (args.runs, args.latency_trials))
print("|---|---|---|---|---|")
print("\n".join(rows))
st, cat = results.get(STATIC_ON), results.get("catatonit")
if st and cat:
    ratio = st["true_ms"] / cat["true_ms"]
    term_diff = sigterm.paired_difference(term_samples[STATIC_ON], term_samples["catatonit"])
    goals = [
        ("spawn", f"{ratio:.2f}x catatonit", ratio <= 0.85, "<= 0.85x"),
        ("RSS", f"{st['rss_kb']} KiB", st["rss_kb"] < 600, "< 600 KiB"),
        ("idle wakeups", f"{st['idle_per_s']:.2f}/s", st["idle_per_s"] == 0, "0"),
        # Trial for trial: the medians of two noisy runs differ by as much
        # as the wrappers do. Slower only when the whole 95% interval is.
        ("SIGTERM forwarded", f"{st['term_us']:.0f} us, catatonit {cat['term_us']:.0f} us, "
         "paired difference %+.1f us (95%% interval %+.1f to %+.1f)" % term_diff,
         term_diff[1] <= 0, "no slower than catatonit"),
    ]
    print("goals, podvisor-static with the probe server on: " + "; ".join(
        f"{what} {got} ({'met' if ok else 'MISSED'}, goal {goal})"
        for what, got, ok, goal in goals))
