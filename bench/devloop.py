#!/usr/bin/python3
"""Dev-loop benchmark (issue 26): the same Gin app (tests/integration/apps/go/
devapp), N edits of its message.go under a steady load, for each way of
rebuilding and restarting it:

  podvisor     --watch src --watch-include '*.go' --debounce 50ms, --validate
               'go build -o BIN .' (the build: go renames its output into
               place), --socket: podvisor holds the port, stop-first
  entr         Debian's entr, as a Go developer wraps a server with it:
               `ls *.go | entr -r sh -c 'go build -o BIN . && exec BIN'`;
               the app binds its own port
  entr-tilt    entr as Tilt's restart_process uses it: the build runs
               outside (Tilt's live_update `run` step; here the benchmark
               runs it on each edit), then a trigger file is touched and
               `entr -rz` restarts the binary

Prints, per mode: edit -> the new code serving (median, max), the build
under the same load (median), requests and failed requests during the
edits; then the
CPU each watcher takes while idle on a 10,000-file tree (podvisor with
inotify before any edit, when it looks every 10 s whether inotify is
silent, and after one, when it knows; podvisor with --watch-poll 1s; entr),
over the same seconds.

usage: bench/devloop.py PODVISOR [--edits N] [--clients C] [--rate R]
"""
import argparse
import http.client
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEVAPP = os.path.join(HERE, "..", "tests", "integration", "apps", "go", "devapp")
GOCACHE = os.path.abspath(os.path.join(HERE, "..", "build", "goapps", ".gocache"))

ap = argparse.ArgumentParser()
ap.add_argument("podvisor")
ap.add_argument("--edits", type=int, default=20)
ap.add_argument("--clients", type=int, default=4)
ap.add_argument("--idle-seconds", type=float, default=10.0)
ap.add_argument("--debounce", default="50ms")
ap.add_argument("--rate", type=float, default=50.0, help="requests per second per client")
args = ap.parse_args()

if shutil.which("go") is None or shutil.which("entr") is None:
    print("devloop: needs golang-go and entr (tests/deps.sh installs them); skipped")
    sys.exit(0)

ENV = dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode", GOCACHE=GOCACHE)
for k in list(ENV):
    if k.startswith(("LISTEN_", "PODVISOR_")) or k == "NOTIFY_SOCKET":
        del ENV[k]


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Load:
    """Requests on new connections at a steady rate; the time each body was
    first seen; failures (refused, reset, timeout, non-200) counted."""

    def __init__(self, port, clients):
        self.port, self.first_seen, self.failed, self.ok = port, {}, 0, 0
        self.errors = []
        self.lock = threading.Lock()
        self.halt = threading.Event()
        self.threads = [threading.Thread(target=self.work, daemon=True) for _ in range(clients)]

    def work(self):
        interval, due = 1.0 / args.rate, time.monotonic()
        while not self.halt.is_set():
            # A steady rate, the same for every mode: a build competes with
            # the same serving work whichever way the app is restarted.
            due += interval
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            else:
                due = time.monotonic()
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                conn.request("GET", "/", headers={"Connection": "close"})
                r = conn.getresponse()
                body = r.read().decode().strip()
                good = r.status == 200
            except (OSError, http.client.HTTPException) as e:
                good, body = False, f"{type(e).__name__}"
            finally:
                conn.close()
            now = time.monotonic()
            with self.lock:
                if good:
                    self.ok += 1
                    self.first_seen.setdefault(body, now)
                else:
                    self.failed += 1
                    if len(self.errors) < 5:
                        self.errors.append(body)

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.halt.set()
        for t in self.threads:
            t.join(timeout=60)


def set_message(src, text):
    path = os.path.join(src, "message.go")
    with open(path + ".tmp", "w") as f:
        f.write(f'package main\n\nconst Message = "{text}"\n')
    os.rename(path + ".tmp", path)   # as an editor saves


def go_build(src, out):
    t0 = time.monotonic()
    subprocess.run(["go", "build", "-o", out, "."], cwd=src, env=ENV, check=True,
                   capture_output=True, timeout=600)
    return time.monotonic() - t0


def wait_serving(load, text, timeout=120):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with load.lock:
            if text in load.first_seen:
                return load.first_seen[text]
        time.sleep(0.005)
    raise SystemExit(f"devloop: {text!r} never served")


def run_mode(mode, work):
    src = os.path.join(work, mode, "src")
    shutil.copytree(DEVAPP, src)
    binary = os.path.join(work, mode, "app")
    go_build(src, binary)
    port = free_port()
    trigger = os.path.join(work, mode, "restart")
    log, times = os.path.join(work, mode, "log"), os.path.join(work, mode, "times")
    open(trigger, "w").close()
    env = dict(ENV, PORT=str(port))
    if mode == "podvisor":
        # The build's time as podvisor logs it ("--validate passed ... in").
        cmd = [args.podvisor, "--probe-listen", "off", "--watch", src, "--watch-include",
               "*.go", "--debounce", args.debounce, "--validate", f"go build -o {binary} .",
               "--validate-timeout", "5m", "--socket", f"tcp://127.0.0.1:{port}", "--", binary]
        proc = subprocess.Popen(cmd, cwd=src, env=env, stdin=subprocess.DEVNULL,
                                stderr=open(log, "w"), start_new_session=True)
    elif mode == "entr":
        files = "\n".join(os.path.join(src, f) for f in sorted(os.listdir(src))
                          if f.endswith(".go")) + "\n"
        timed = (f"t0=$(date +%s%N); go build -o {binary} . && "
                 f"echo $(( $(date +%s%N) - t0 )) >> {times} && exec {binary}")
        proc = subprocess.Popen(["entr", "-rn", "sh", "-c", timed],
                                cwd=src, env=env, stdin=subprocess.PIPE, start_new_session=True)
        proc.stdin.write(files.encode())
        proc.stdin.close()
    else:  # entr-tilt
        proc = subprocess.Popen(["entr", "-rnz", binary], cwd=src, env=env,
                                stdin=subprocess.PIPE, start_new_session=True)
        proc.stdin.write((trigger + "\n").encode())
        proc.stdin.close()
    load = Load(port, args.clients)
    builds, swaps = [], []
    try:
        # Up before the load starts: the first start is not a swap.
        end = time.monotonic() + 120
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/")
                c.getresponse().read()
                c.close()
                break
            except OSError:
                if time.monotonic() > end:
                    raise SystemExit(f"devloop: {mode} never served")
                time.sleep(0.05)
        load.start()
        time.sleep(0.5)
        for i in range(2, args.edits + 2):
            text = f"hello, version {i}"
            t0 = time.monotonic()
            set_message(src, text)
            if mode == "entr-tilt":
                builds.append(go_build(src, binary + ".next"))
                os.rename(binary + ".next", binary)
                with open(trigger, "w") as f:   # as Tilt's restart_process does
                    f.write(f"{time.time()}\n")
            swaps.append(wait_serving(load, text) - t0)
            time.sleep(0.5)
    finally:
        load.stop()
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if mode == "podvisor":   # the builds under the same load, as podvisor timed them
        with open(log) as f:
            builds = [float(m) for m in re.findall(r"--validate passed for \S+ in ([0-9.]+)s",
                                                   f.read())]
    elif mode == "entr":
        with open(times) as f:
            builds = [int(x) / 1e9 for x in f.read().split()][1:]   # not the first start's
    return swaps, builds, load


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(work):
    """10,000 files in 100 directories; each watcher idle on it."""
    tree = os.path.join(work, "tree")
    for d in range(100):
        os.makedirs(os.path.join(tree, f"pkg{d:03}"))
        for f in range(100):
            with open(os.path.join(tree, f"pkg{d:03}", f"f{f:03}.go"), "w") as fh:
                fh.write(f"package pkg{d:03}\n// {f}\n")
    files = []
    for root, _, names in os.walk(tree):
        files += [os.path.join(root, n) for n in names]
    rows = []
    watch = [args.podvisor, "--probe-listen", "off", "--watch", tree, "--watch-include", "*.go",
             "--", "sleep", "1000"]
    watchers = [
        ("podvisor, before an edit", watch),
        ("podvisor, after one", watch),
        ("podvisor --watch-poll 1s", [args.podvisor, "--probe-listen", "off", "--watch", tree,
                                      "--watch-include", "*.go", "--watch-poll", "1s", "--",
                                      "sleep", "1000"]),
        ("entr", ["entr", "-n", "sleep", "1000"]),
    ]
    for name, cmd in watchers:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=ENV, start_new_session=True)
        if cmd[0] == "entr":
            proc.stdin.write(("\n".join(files) + "\n").encode())
        proc.stdin.close()
        time.sleep(2)  # set up (entr opens every file; podvisor hashes the tree)
        if name == "podvisor, after one":
            # The first change inotify reports ends podvisor's looks for a
            # silent mount (one pass of stats every 10 s until then).
            with open(os.path.join(tree, "pkg000", "f000.go"), "a") as fh:
                fh.write("// edited\n")
            time.sleep(12)
        start = cpu_seconds(proc.pid)
        time.sleep(args.idle_seconds)
        used = cpu_seconds(proc.pid) - start
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        rows.append((name, used / args.idle_seconds * 100))
    return len(files), rows


def ms(x):
    return f"{x * 1000:.0f} ms"


def main():
    work = tempfile.mkdtemp(prefix="podvisor-devloop-")
    try:
        subprocess.run(["sh", os.path.join(HERE, "..", "tests", "integration", "apps", "go",
                                           "build.sh"), os.path.dirname(GOCACHE)],
                       check=True, capture_output=True, timeout=900)
        print(f"dev loop: the Gin app, {args.edits} edits of message.go, {args.clients} "
              f"clients x {args.rate:.0f} requests/s on new connections")
        print(f"{'mode':<11} {'edit->serving p50':>18} {'max':>8} {'build p50':>10} "
              f"{'requests':>9} {'failed':>7}")
        for mode in ("podvisor", "entr", "entr-tilt"):
            swaps, builds, load = run_mode(mode, work)
            print(f"{mode:<11} {ms(statistics.median(swaps)):>18} {ms(max(swaps)):>8} "
                  f"{ms(statistics.median(builds)):>10} {load.ok + load.failed:>9} "
                  f"{load.failed:>7}" + (f"  ({', '.join(sorted(set(load.errors)))})"
                                         if load.errors else ""))
        n, rows = idle_cpu(work)
        print(f"idle on a {n}-file tree, CPU over {args.idle_seconds:.0f} s:")
        for name, pct in rows:
            print(f"  {name:<26} {pct:.2f}% of a core")
    finally:
        shutil.rmtree(work, ignore_errors=True)


main()
