"""Shared fixtures for podvisor's integration tests.

podvisor runs for real: as PID 1 of a fresh PID namespace (`unshare --pid
--fork --mount-proc`), or as an ordinary process (then it is a subreaper),
around real children (helpers from tests/helpers, shells, python servers).
"""
import ctypes
import os
import errno
import queue
import signal
import struct
import subprocess
import sys
import threading
import time
import weakref

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# Paths from the repository's root, wherever pytest was started from.
ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PODVISOR = os.environ.get("PODVISOR", os.path.join(ROOT, "build", "podvisor"))
# A foreign architecture's build (make integration-qemu): PODVISOR is then
# a script that execs PODVISOR_EMULATOR (qemu-user) on PODVISOR_BINARY, the
# ELF file itself; the processes podvisor starts are this machine's.
PODVISOR_BINARY = os.environ.get("PODVISOR_BINARY", PODVISOR)
EMULATOR = os.environ.get("PODVISOR_EMULATOR", "")
HELPERS = os.environ.get("HELPERS", os.path.join(ROOT, "build", "helpers"))
# Set by `make integration-asan`: podvisor was built with ASan+UBSan.
SANITIZER = os.environ.get("PODVISOR_SANITIZER_BUILD") == "1"

# Every process a test starts through base_env() carries this mark in its
# environment, so that anything left running after a test can be found
# (and the test fails): tests must clean up their whole process tree.
RUN_MARK = f"PVTEST_RUN={os.getpid()}-{int(time.time())}"


# The test process is a subreaper: what a test orphans (a grandchild of a
# podvisor run without a PID namespace of its own) comes here, not to the
# machine's init, which may reap it late (a zombie of an earlier test was
# then found by name). reap_orphans() reaps it; no test depends on the
# machine's init.
PR_SET_CHILD_SUBREAPER = 36
ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)

# Every Popen of this process, to tell its own children (reaped by their
# Popen) from adopted orphans (reaped by reap_orphans).
_popens = weakref.WeakSet()
_popen_init = subprocess.Popen.__init__


def _clean_signals():
    """In every process the tests start, before its exec: the signal mask
    emptied and ignored signals back at their default, whatever the test
    run was started with (under `nohup make test` HUP is ignored, and
    podvisor passes that on to its app by design)."""
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    for sig in range(1, signal.NSIG):
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            if signal.getsignal(sig) == signal.SIG_IGN:
                signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # the C library's own (32, 33)


def _tracked_init(self, *args, **kw):
    # The caller's preexec_fn (a test dirtying a parent on purpose) runs
    # after the clean-up, so what it sets is what the child gets.
    theirs = kw.pop("preexec_fn", None)

    def preexec():
        _clean_signals()
        if theirs is not None:
            theirs()

    kw["preexec_fn"] = preexec
    _popen_init(self, *args, **kw)
    _popens.add(self)


subprocess.Popen.__init__ = _tracked_init


def reap_orphans():
    """Reaps the zombies this process adopted (never a Popen's own child)."""
    own = {p.pid for p in list(_popens) if p.returncode is None}
    for kid in children_of(os.getpid()):
        if kid not in own and proc_state(kid) == "Z":
            try:
                os.waitpid(kid, os.WNOHANG)
            except ChildProcessError:
                pass


def helper(name):
    return os.path.join(HELPERS, name)


# What the test run's own environment may hold that would change what
# podvisor or its app does: socket activation and sd_notify meant for the
# run itself, podvisor's own settings (PODVISOR_*: flags from the
# environment). The tests set what they need.
_LEAKY = ("LISTEN_", "NOTIFY_SOCKET", "WATCHDOG_", "PODVISOR_", "TINI_", "DUMB_INIT_",
          "KUBERNETES_", "POD_NAME", "POD_NAMESPACE", "POD_UID")


def base_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(_LEAKY)}
    # The probe server is tested on its own ports; elsewhere it stays off so
    # parallel or repeated runs never fight over :8099.
    env.setdefault("PODVISOR_PROBE_LISTEN", "off")
    env.pop("PODVISOR_SANITIZER_BUILD", None)  # the test run's, not podvisor's
    key, value = RUN_MARK.split("=", 1)
    env[key] = value
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


# pid1 is True (PID 1 of a new PID namespace), False (an ordinary process,
# then a subreaper), or PROBE_ON: PID 1 with the probe server at its
# default, :8099, in a network namespace of its own so that runs never
# fight over the port. (The pod's default configuration.)
PROBE_ON = "probe-on"


def _is_static(path):
    """True when the ELF file has no PT_INTERP: the static musl build, which
    links libmicrohttpd and libcurl in (nothing to take away at run time).
    Any ELF class and byte order: the foreign builds are read too."""
    with open(path, "rb") as f:
        head = f.read(64)
        bits64, order = head[4] == 2, "<" if head[5] == 1 else ">"
        if bits64:
            phoff, = struct.unpack_from(order + "Q", head, 32)
            phentsize, phnum = struct.unpack_from(order + "HH", head, 54)
        else:
            phoff, = struct.unpack_from(order + "I", head, 28)
            phentsize, phnum = struct.unpack_from(order + "HH", head, 42)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return all(struct.unpack_from(order + "I", table, i * phentsize)[0] != 3 for i in range(phnum))


# What the binary is, read from its ELF header: nothing is run at import
# (test_pid1 and test_tools check that podvisor itself agrees).
STATIC = _is_static(PODVISOR_BINARY)
# What qemu-user lacks: a test that needs it is skipped under emulation,
# with the missing piece named (docs/release.md lists them).
# Guest signals qemu-user 7.2 (Debian 12) never delivers, whatever the
# architecture: found by sending each to a podvisor under it (all of
# arm64, armhf, ppc64el and s390x lose 35 and 36, musl's RTMIN and RTMIN+1).
EMULATOR_LOST_SIGNALS = [35, 36] if EMULATOR else []


def not_emulated(what):
    return pytest.mark.skipif(bool(EMULATOR), reason=f"{EMULATOR} lacks {what}")
# The signals the binary's C library keeps for itself: glibc 32-33, musl
# (the static build) 32-34. podvisor refuses them by name.
RESERVED_SIGNALS = [32, 33, 34] if STATIC else [32, 33]
needs_dynamic = pytest.mark.skipif(STATIC, reason="a static binary loads no library")

# strerror() texts differ between glibc and musl.
ERRNO_TEXTS = {
    errno.EADDRINUSE: ("Address already in use", "Address in use"),
    errno.EMFILE: ("Too many open files", "No file descriptors available"),
}


def says_errno(text, err):
    return any(t in text for t in ERRNO_TEXTS[err])


def podvisor_cmd(args, pid1, binds=(), setup="", userns=False):
    """binds: (source, target) directories bind-mounted in podvisor's own
    mount namespace (a service account at the kubelet's path), so that
    nothing in podvisor needs a test's way in. setup: more shell run there
    first (an overlay mount). userns: in a user namespace of its own, whose
    limits (/proc/sys/user) setup may lower."""
    if EMULATOR and not pid1:
        pytest.skip(f"{EMULATOR} lacks PR_SET_CHILD_SUBREAPER: podvisor, not PID 1, "
                    "cannot adopt orphans under it")
    cmd = [PODVISOR] + list(args)
    if binds or setup:
        assert pid1, "binds and setup need podvisor's own mount namespace"
        script = "".join(f'mkdir -p "{t}" && mount --bind "{s}" "{t}" && ' for s, t in binds)
        if setup:
            script += f"{setup} && "
        # exec: podvisor stays unshare's only child, PID 1 of the namespace.
        cmd = ["sh", "-c", "set -e; " + script + 'exec "$@"', "sh"] + cmd
    if pid1:
        # --kill-child: if the test dies, the namespace dies with it.
        cmd = (["unshare"] + (["--user", "--map-root-user"] if userns else []) +
               ["--pid", "--fork", "--mount-proc", "--kill-child"] +
               (["--net"] if pid1 == PROBE_ON else []) + cmd)
    return cmd


def podvisor_env(env, pid1):
    env = dict(env or base_env())
    if pid1 == PROBE_ON:
        env.pop("PODVISOR_PROBE_LISTEN", None)
    return env


def run(args, pid1=True, timeout=60, env=None, **kw):
    """Runs podvisor to completion; returns CompletedProcess (text)."""
    return subprocess.run(podvisor_cmd(args, pid1), capture_output=True, text=True,
                          timeout=timeout, env=podvisor_env(env, pid1), **kw)


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
    """The state letter, or "" when pid is gone (reaped meanwhile)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return ""
    return stat[stat.rfind(")") + 2]


def wait_for(pred, timeout=10.0, interval=0.01, what="condition", err=None):
    """pred()'s first true value within timeout. err: a callable whose text
    (podvisor's stderr so far) the failure carries, to say why."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    why = f"\npodvisor's stderr so far:\n{err()}" if err is not None else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}{why}")


class KilledOnExit:
    """`with X(...) as x:` ends x (x.kill()) however the block ends."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        return False


class Podvisor(KilledOnExit):
    """A running podvisor (as PID 1 or not) with line-buffered stdout access."""

    def __init__(self, args, pid1=True, env=None, stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, binds=(), setup="", userns=False, **kw):
        self.pid1 = pid1
        self.proc = subprocess.Popen(podvisor_cmd(args, pid1, binds, setup, userns),
                                     stdout=stdout, stderr=stderr,
                                     text=True, env=podvisor_env(env, pid1), bufsize=1, **kw)
        self.lines = queue.Queue()
        self.err_lines = queue.Queue()
        self._err = []
        self._err_pump = None
        if self.proc.stdout is not None:
            threading.Thread(target=self._pump, daemon=True).start()
        if self.proc.stderr is not None:
            self._err_pump = threading.Thread(target=self._pump_err, daemon=True)
            self._err_pump.start()
        if pid1:
            # podvisor is unshare's only child; its pid here is the host pid.
            # A constructor that fails leaves nothing running.
            try:
                self.pid = wait_for(lambda: (children_of(self.proc.pid) or [None])[0],
                                    what="podvisor to start in its namespace",
                                    err=self.stderr_so_far)
            except BaseException:
                self.pid = self.proc.pid
                self.kill()
                raise
        else:
            self.pid = self.proc.pid

    def child_pid(self):
        return wait_for(lambda: (children_of(self.pid) or [None])[0], what="podvisor's child")

    def signal(self, sig):
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            # Gone before the test meant it to be: say how, not just ESRCH.
            try:
                rc = self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                rc = None
            time.sleep(0.2)  # the stderr pump's last lines
            raise AssertionError(f"podvisor (pid {self.pid}) is gone (exit {rc}) before "
                                 f"{signal.Signals(sig).name}; its stderr:\n"
                                 f"{self.stderr_so_far()}") from None

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _pump_err(self):
        for line in self.proc.stderr:
            self._err.append(line)
            self.err_lines.put(line.rstrip("\n"))
        self.err_lines.put(None)

    def probe_port(self, timeout=10.0):
        """The port of `--probe-listen HOST:0`, from podvisor's log line."""
        end = time.monotonic() + timeout
        while True:
            try:
                line = self.err_lines.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError("no 'probe server listening' line; podvisor's stderr so "
                                     f"far:\n{self.stderr_so_far()}") from None
            if line is None:
                raise AssertionError("stderr closed before the probe server listened; "
                                     f"podvisor's stderr:\n{self.stderr_so_far()}")
            if "probe server listening on" in line:
                return int(line.rsplit(":", 1)[1])

    def readline(self, timeout=10.0):
        """One stdout line, or AssertionError after timeout."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output line within {timeout:.1f}s; podvisor's stderr so "
                                 f"far:\n{self.stderr_so_far()}") from None
        if line is None:
            self.lines.put(None)
            raise AssertionError("stdout closed (podvisor exited?); its stderr:\n"
                                 f"{self.stderr_so_far()}")
        return line

    def stderr_so_far(self):
        return "".join(self._err)

    def says(self, text, timeout=10.0):
        """Whether podvisor's stderr holds text, waiting for it: a thread
        reads stderr, and on a busy machine it can lag behind what the
        probe server already shows. Raises with the stderr so far."""
        wait_for(lambda: text in self.stderr_so_far(), timeout=timeout,
                 what=f"podvisor to say {text!r}", err=self.stderr_so_far)
        return True

    def wait(self, timeout=30):
        rc = self.proc.wait(timeout=timeout)
        if self._err_pump is not None:
            self._err_pump.join(timeout=10)
        self.stderr = "".join(self._err)
        return rc

    def kill(self):
        """Ends podvisor and everything under it. As PID 1 its namespace
        dies with it; otherwise its tree is collected first, or the app
        would live on, re-parented, after podvisor's SIGKILL."""
        if self.proc.poll() is None:
            tree = [] if self.pid1 else descendants(self.pid)
            for pid in [self.pid] + tree:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.kill()
        self.proc.wait(timeout=10)


def descendants(pid):
    """Every process below pid, depth first."""
    out = []
    for kid in children_of(pid):
        out.append(kid)
        out.extend(descendants(kid))
    return out


def marked_processes():
    """Live processes (not zombies) that carry this run's mark."""
    found = {}
    want = RUN_MARK.encode()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/environ", "rb") as f:
                if want not in f.read().split(b"\0"):
                    continue
            if proc_state(int(d)) == "Z":
                continue
            with open(f"/proc/{d}/cmdline", "rb") as f:
                found[int(d)] = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, IndexError):
            pass
    return found


@pytest.fixture(autouse=True)
def nothing_left_behind():
    """Fails a test that leaves any process it started still running, and
    reaps the zombies it orphaned."""
    reap_orphans()
    yield
    reap_orphans()
    left = marked_processes()
    end = time.monotonic() + 3
    while left and time.monotonic() < end:  # still on their way out
        time.sleep(0.05)
        left = marked_processes()
    if left:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
        reap_orphans()
        pytest.fail(f"left running after the test: {left}")


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


NGINX_CONF = """
worker_processes 1;
daemon off;
master_process on;
pid {run}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "{body}\\n"; }}
    }}
    {extra}
}}
"""


def nginx_conf(run, port, body="ok", extra=""):
    """A foreground nginx serving `body` on 127.0.0.1:port, its pid file and
    temporary files under `run` (which must be writable)."""
    return NGINX_CONF.format(run=run, port=port, body=body, extra=extra)


def podvisor_status(port):
    """podvisor's /status on 127.0.0.1:port, parsed (raises while nothing
    answers there)."""
    import json
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as r:
        return json.load(r)


def app_body(port):
    """The app's answer to GET / on 127.0.0.1:port."""
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
        return r.read().decode()


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


_EPHEMERAL = _ephemeral_range()
_next_port = [0]


def free_port():
    """A port nobody listens on right now, outside the kernel's ephemeral
    range: a port the kernel picked for bind(0) is the kind it also hands
    out as the source port of an outgoing connection (the load generators
    open thousands), so it could be taken before podvisor binds it. Taken
    in turn from a range of its own per test run."""
    import socket
    lo, hi = 20000, 32000
    if _EPHEMERAL[0] < hi:  # an unusual ephemeral range: below it, then
        lo, hi = 1024 + 1000, max(2048, _EPHEMERAL[0])
    span = hi - lo
    if not _next_port[0]:
        _next_port[0] = lo + (os.getpid() * 97) % span
    for _ in range(span):
        port = _next_port[0]
        _next_port[0] = lo + (port + 1 - lo) % span
        ok = True
        for family, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            try:
                with socket.socket(family) as s:
                    if family == socket.AF_INET6:
                        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    s.bind((addr, port))
            except OSError as e:
                if family == socket.AF_INET6 and e.errno in (errno.EAFNOSUPPORT,
                                                             errno.EADDRNOTAVAIL):
                    continue
                ok = False
                break
        if ok:
            return port
    raise AssertionError(f"no free port in {lo}..{hi}")


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
