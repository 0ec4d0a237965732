"""Shared fixtures for podvisor's integration tests.

podvisor runs for real: as PID 1 of a fresh PID namespace (`unshare --pid
--fork --mount-proc`), or as an ordinary process (then it is a subreaper),
around real children (helpers from tests/helpers, shells, python servers).
"""
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

PODVISOR = os.environ.get("PODVISOR", os.path.abspath("build/podvisor"))
HELPERS = os.environ.get("HELPERS", os.path.abspath("build/helpers"))


def helper(name):
    return os.path.join(HELPERS, name)


def base_env(**extra):
    env = dict(os.environ)
    # The probe server is tested on its own ports; elsewhere it stays off so
    # parallel or repeated runs never fight over :8099.
    env.setdefault("PODVISOR_PROBE_LISTEN", "off")
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def podvisor_cmd(args, pid1):
    cmd = [PODVISOR] + list(args)
    if pid1:
        # --kill-child: if the test dies, the namespace dies with it.
        cmd = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"] + cmd
    return cmd


def run(args, pid1=True, timeout=60, env=None, **kw):
    """Runs podvisor to completion; returns CompletedProcess (text)."""
    return subprocess.run(podvisor_cmd(args, pid1), capture_output=True, text=True,
                          timeout=timeout, env=env or base_env(), **kw)


def children_of(pid):
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[1]) == pid:
            kids.append(int(d))
    return kids


def proc_state(pid):
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    return stat[stat.rfind(")") + 2]


def wait_for(pred, timeout=10.0, interval=0.01, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Podvisor:
    """A running podvisor (as PID 1 or not) with line-buffered stdout access."""

    def __init__(self, args, pid1=True, env=None, stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, **kw):
        self.pid1 = pid1
        self.proc = subprocess.Popen(podvisor_cmd(args, pid1), stdout=stdout, stderr=stderr,
                                     text=True, env=env or base_env(), bufsize=1, **kw)
        self.lines = queue.Queue()
        if self.proc.stdout is not None:
            threading.Thread(target=self._pump, daemon=True).start()
        if pid1:
            # podvisor is unshare's only child; its pid here is the host pid.
            self.pid = wait_for(lambda: (children_of(self.proc.pid) or [None])[0],
                                what="podvisor to start in its namespace")
        else:
            self.pid = self.proc.pid

    def child_pid(self):
        return wait_for(lambda: (children_of(self.pid) or [None])[0], what="podvisor's child")

    def signal(self, sig):
        os.kill(self.pid, sig)

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def readline(self, timeout=10.0):
        """One stdout line, or AssertionError after timeout."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no output line within %.1fs" % timeout) from None
        if line is None:
            self.lines.put(None)
            raise AssertionError("stdout closed (podvisor exited?)")
        return line

    def wait(self, timeout=30):
        rc = self.proc.wait(timeout=timeout)
        self.stderr = self.proc.stderr.read() if self.proc.stderr else ""
        return rc

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture
def podvisor_factory():
    started = []

    def start(args, **kw):
        p = Podvisor(args, **kw)
        started.append(p)
        return p

    yield start
    for p in started:
        p.kill()


def free_port():
    """A loopback port nobody listens on right now."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def procs_with_argv(*argv):
    """Pids whose command line is exactly argv (pgrep -f would also match any
    process that merely mentions it, such as the shell that started it)."""
    want = "\0".join(argv) + "\0"
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline") as f:
                    if f.read() == want:
                        found.append(int(d))
            except OSError:
                pass
    return found
