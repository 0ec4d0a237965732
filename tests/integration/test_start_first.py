"""--restart-mode start-first: the next generation starts beside the
current one (both on the socket podvisor holds), the current one stops once
the next says READY=1, and a next generation that fails is stopped while
the current one keeps serving (the rollback). /readyz never drops."""
import os
import signal
import time
import urllib.error
import urllib.request

import pytest

from atomic_writer import ConfigMapVolume
from conftest import KilledOnExit, Podvisor, app_body, free_port, podvisor_status, run, wait_for
from kubelet import Endpoints, LoadGenerator, ProbeLoop, http_probe

PY = "/usr/bin/python3"
APP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps", "graceful_app.py")




class StartFirst(KilledOnExit):
    """podvisor --restart-mode start-first around graceful_app.py, which
    answers with its ConfigMap's content and says READY=1 over sd_notify."""

    def __init__(self, tmp_path, content="v0", extra=()):
        self.app_port, self.probe_port = free_port(), free_port()
        self.admin_port = free_port()
        self.vol = ConfigMapVolume(tmp_path / "cm")
        self.vol.update({"app.conf": content})
        self.pv = Podvisor(
            ["--restart-mode", "start-first", "--ready-check", "notify",
             "--socket", f"tcp://127.0.0.1:{self.app_port}",
             "--watch", str(tmp_path / "cm"), "--debounce", "50ms",
             "--probe-listen", f"127.0.0.1:{self.probe_port}",
             "--admin-listen", f"127.0.0.1:{self.admin_port}", *extra,
             "--", PY, APP, str(self.app_port), "0.002"])
        try:
            wait_for(lambda: http_probe(self.probe_port, "/readyz").ok, what="ready",
                     err=self.pv.stderr_so_far)
        except BaseException:
            self.kill()
            raise

    def status(self):
        return podvisor_status(self.probe_port)

    def kill(self):
        self.pv.kill()


@pytest.fixture
def app_env(monkeypatch, tmp_path):
    # graceful_app.py reads its content from APP_CONFIG (through podvisor's
    # environment: every generation reads the file when it starts)
    monkeypatch.setenv("APP_CONFIG", str(tmp_path / "cm" / "app.conf"))


def test_start_first_restarts_lose_nothing_and_stay_ready(tmp_path, app_env):
    with (StartFirst(tmp_path) as sf,
          ProbeLoop(sf.probe_port, "/readyz", period=0.02) as readiness,
          LoadGenerator(sf.app_port, Endpoints(lag=1e9), workers=4, timeout=10) as load):
        assert app_body(sf.app_port) == "v0"
        readiness.start()
        load.start()
        for i in range(1, 21):
            sf.vol.update({"app.conf": f"v{i}"})
            wait_for(lambda: sf.status()["child"]["restarts"] == i and
                     sf.status()["state"] == "ready" and len(sf.status()["children"]) == 1,
                     timeout=20, what=f"restart {i} and the old generation gone")
            assert app_body(sf.app_port) == f"v{i}"
            load.progressed(load.ok)  # the load is served by the new generation too
        last = sf.status()["child"]["last_restart"]
        assert last["reason"] == "config" and last["seconds"] > 0, last
        time.sleep(0.2)
    assert load.failed == 0, (load.failed, load.errors)
    bad = [r for _, r in readiness.history if not r.ok]
    assert not bad and readiness.history, bad[:5]
    wait_for(lambda: sf.pv.stderr_so_far().count("the next generation is ready") >= 20,
             what="20 promotions said", err=sf.pv.stderr_so_far)


def test_a_next_generation_that_crashes_is_rolled_back(tmp_path, app_env):
    with (StartFirst(tmp_path) as sf,
          LoadGenerator(sf.app_port, Endpoints(lag=1e9), workers=4, timeout=10) as load):
        load.start()
        pid = sf.status()["child"]["pid"]
        sf.vol.update({"app.conf": "crash"})
        wait_for(lambda: sf.status()["child"]["rollbacks"] == 1, timeout=10, what="the rollback")
        st = sf.status()
        assert st["state"] == "ready" and st["ready"]
        assert st["child"]["pid"] == pid  # the current generation kept serving
        rb = st["child"]["last_rollback"]
        assert rb["why"] == "the next generation exited before it was ready"
        assert st["config"]["last_action"]["ok"] is False
        assert "rolled back" in st["config"]["last_action"]["result"]
        assert app_body(sf.app_port) == "v0"
        with urllib.request.urlopen(f"http://127.0.0.1:{sf.probe_port}/metrics") as r:
            assert "podvisor_restart_rollbacks_total 1" in r.read().decode()
        # the same content is not tried again: /reload is refused
        req = urllib.request.Request(f"http://127.0.0.1:{sf.admin_port}/reload", method="POST",
                                     data=b"")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=5)
        assert e.value.code == 409 and b"rolled back" in e.value.read()
        # the next good change goes through
        sf.vol.update({"app.conf": "v1"})
        wait_for(lambda: app_body(sf.app_port) == "v1", timeout=10, what="the good change")
        assert sf.status()["child"]["restarts"] == 1
        time.sleep(0.2)
    assert load.failed == 0, (load.failed, load.errors)
    wait_for(lambda: "restart rolled back" in sf.pv.stderr_so_far() or
             "the next generation exited before it was ready" in sf.pv.stderr_so_far(),
             what="the rollback said", err=sf.pv.stderr_so_far)


def test_a_next_generation_never_ready_is_rolled_back_after_ready_timeout(tmp_path, app_env):
    with (StartFirst(tmp_path, extra=["--ready-timeout", "1s"]) as sf,
          LoadGenerator(sf.app_port, Endpoints(lag=1e9), workers=2, timeout=10) as load):
        load.start()
        sf.vol.update({"app.conf": "hang"})
        wait_for(lambda: sf.status()["child"]["rollbacks"] == 1, timeout=10, what="the rollback")
        assert sf.status()["child"]["last_rollback"]["why"] == \
            "the next generation was not ready within --ready-timeout"
        # the rolled-back generation is stopped: its group goes
        wait_for(lambda: len(sf.status()["children"]) == 1, timeout=10,
                 what="the rolled-back generation to go")
        assert http_probe(sf.probe_port, "/readyz").ok
        # its exit is said as what it was (it was "the old generation")
        wait_for(lambda: "(the rolled-back next generation)" in sf.pv.stderr_so_far(),
                 what="its exit logged", err=sf.pv.stderr_so_far)
        time.sleep(0.2)
    # a hanging generation accepted from the shared socket while it ran:
    # what it took it answered (it serves, it only never says READY=1)
    assert load.failed == 0, (load.failed, load.errors)


def test_sigterm_while_the_next_generation_starts(tmp_path, app_env):
    with StartFirst(tmp_path, extra=["--prestop-delay", "200ms"]) as sf:
        sf.vol.update({"app.conf": "slow"})  # READY=1 only after 1.5 s
        wait_for(lambda: len(sf.status()["children"]) == 2, what="the next generation")
        assert sf.status()["child"]["restart_phase"] == "next"
        sf.pv.signal(signal.SIGTERM)
        assert sf.pv.wait(timeout=20) == 0
    err = sf.pv.stderr
    assert "SIGTERM during a start-first restart: stopping the next generation" in err
    assert "-> draining (SIGTERM during a restart)" in err


def test_sigterm_while_the_old_generation_stops(tmp_path, app_env):
    with StartFirst(tmp_path, content="stubborn") as sf:  # takes 1.5 s to stop
        sf.vol.update({"app.conf": "v1"})
        wait_for(lambda: sf.status()["child"]["restarts"] == 1, what="the promotion")
        assert [c["role"] for c in sf.status()["children"]] in (["main", "old"], ["old", "main"])
        sf.pv.signal(signal.SIGTERM)
        assert sf.pv.wait(timeout=20) == 0
    assert "stopping the old one" in sf.pv.stderr


def test_the_current_generation_exiting_hands_over_to_the_next(tmp_path, app_env):
    with StartFirst(tmp_path) as sf:
        old = sf.status()["child"]["pid"]
        sf.vol.update({"app.conf": "slow"})
        wait_for(lambda: len(sf.status()["children"]) == 2, what="the next generation")
        # the serving generation dies while the next starts: not the pod's end
        next_pid = [c["pid"] for c in sf.status()["children"] if c["role"] == "next"][0]
        os.kill(host_pid_of(sf, old), signal.SIGKILL)
        wait_for(lambda: sf.status()["child"]["pid"] == next_pid and
                 sf.status()["state"] == "ready", timeout=10, what="the next to take over")
        assert old != next_pid
    assert "the current generation exited while the next one started: the next one takes " \
        "over" in sf.pv.stderr_so_far()


def host_pid_of(sf, ns_pid):
    """The host pid of a process podvisor's namespace calls ns_pid."""
    with open(f"/proc/{sf.pv.pid}/task/{sf.pv.pid}/children") as f:
        kids = f.read().split()
    for k in kids:
        try:  # a child may exit between the two reads
            with open(f"/proc/{k}/status") as st:
                for line in st:
                    if line.startswith("NSpid:") and int(line.split()[-1]) == ns_pid:
                        return int(k)
        except OSError:
            continue
    return None


def test_start_first_needs_a_readiness_signal_bound_to_the_process():
    r = run(["--restart-mode", "start-first", "--", "true"])
    assert r.returncode == 2
    assert "needs a readiness signal bound to the new process" in r.stderr
    r = run(["--restart-mode", "start-first", "--ready-check", "notify", "--", "true"])
    assert r.returncode == 0 and "without --socket" in r.stderr, r.stderr
    r = run(["--restart-mode", "sideways", "--", "true"])
    assert r.returncode == 2 and "stop-first or start-first" in r.stderr


CGROUP_V1 = "/sys/fs/cgroup/memory"


def _restart_under_a_memory_limit(tmp_path, ballast_mb, extra):
    """One config change of an app holding ballast_mb under a 64 MiB cgroup
    v1 limit; podvisor's stderr."""
    group = f"{CGROUP_V1}/pvtest-{os.getpid()}"
    try:
        os.mkdir(group)
        with open(f"{group}/memory.limit_in_bytes", "w") as f:
            f.write(str(64 << 20))
    except OSError as e:
        pytest.skip(f"no cgroup v1 memory controller to limit here: {e}")
    app_port, probe_port = free_port(), free_port()
    vol = ConfigMapVolume(tmp_path / "cm")
    vol.update({"app.conf": "v0"})
    pv = Podvisor(["--restart-mode", "start-first", "--ready-check", "notify",
                   "--socket", f"tcp://127.0.0.1:{app_port}", "--watch", str(tmp_path / "cm"),
                   "--debounce", "50ms", "--probe-listen", f"127.0.0.1:{probe_port}", *extra,
                   "--", "sh", "-c",
                   f"echo $$ > {group}/cgroup.procs; BALLAST_MB={ballast_mb} exec {PY} {APP} {app_port}"],
                  pid1=False)
    try:
        with open(f"{group}/cgroup.procs", "a") as f:
            f.write(str(pv.pid))
        try:
            wait_for(lambda: http_probe(probe_port, "/readyz").ok, what="ready")
        except AssertionError:
            raise AssertionError(pv.stderr_so_far())
        vol.update({"app.conf": "v1"})
        wait_for(lambda: podvisor_status(probe_port)["child"]["restarts"] == 1, timeout=15,
                 what="the restart")
    finally:
        pv.kill()
        for _ in range(50):
            try:
                os.rmdir(group)
                break
            except OSError:
                time.sleep(0.1)
    return pv.stderr_so_far()


def test_too_little_memory_for_two_generations_restarts_stop_first(tmp_path, app_env):
    """Both generations share the container's memory limit: without room
    for a second copy of the working set, the restart is stop-first (never
    "it may not fit": the OOM killer would take the serving one)."""
    # the app holds 40 MiB, so 64 MiB leaves no room for a second one
    err = _restart_under_a_memory_limit(tmp_path, 40, [])
    assert "the next generation needs" in err, err
    assert "(as much as runs now)" in err, err
    assert "memory limit beside the current one: restarting stop-first" in err, err
    assert "restarting -> running (child started again)" in err


def test_restart_memory_is_the_budget_a_next_generation_needs(tmp_path, app_env):
    """--restart-memory states what a second generation needs: a 10 MiB app
    under 64 MiB fits by its working set, not by a 50 MiB budget."""
    err = _restart_under_a_memory_limit(tmp_path, 10, [])
    assert "restarting stop-first" not in err, err
    assert "the next generation is ready" in err, err
    err = _restart_under_a_memory_limit(tmp_path, 10, ["--restart-memory", "50Mi"])
    assert "needs 50 MiB (--restart-memory)" in err, err
    assert "restarting stop-first" in err, err


NOTIFY_APP = r'''
import os, signal, socket, sys, time

def notify(msg):
    addr = os.environ["NOTIFY_SOCKET"]
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(msg.encode(), addr)
    s.close()

mode = sys.argv[1]
if mode == "daemonize":
    # the parent names its child with MAINPID= and exits; the child says
    # READY=1 once it is on its own
    pid = os.fork()
    if pid == 0:
        os.setsid()
        time.sleep(0.3)
        notify("READY=1")
        while True:
            time.sleep(1)
    notify(f"MAINPID={pid}")
    os._exit(0)
if mode == "detached":
    # READY=1 from a process that left the generation's tree and group
    # (setsid, then a double fork: re-parented to podvisor)
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(0.3)
            notify("READY=1")
            time.sleep(30)
        os._exit(0)
else:
    # Says STOPPING=1 when its config changes (it expects to be replaced):
    # that lands while the next generation starts, before its READY=1.
    conf = sys.argv[2]
    seen = open(conf).read()
    time.sleep(1.0)
    notify("READY=1")
    while open(conf).read() == seen:
        time.sleep(0.02)
    time.sleep(0.3)  # podvisor's restart (50ms debounce) is under way by now
    notify("STOPPING=1")
while True:
    time.sleep(1)
'''


def _notify_app(tmp_path, mode):
    app = tmp_path / "notify_app.py"
    app.write_text(NOTIFY_APP)
    probe_port = free_port()
    vol = ConfigMapVolume(tmp_path / "cm")
    vol.update({"app.conf": "v0"})
    pv = Podvisor(["--restart-mode", "start-first", "--ready-check", "notify",
                   "--ready-timeout", "8s", "--watch", str(tmp_path / "cm"), "--debounce", "50ms",
                   "--probe-listen", f"127.0.0.1:{probe_port}", "--", PY, str(app), mode,
                   str(tmp_path / "cm" / "app.conf")])
    return pv, vol, probe_port


def test_a_ready_from_a_process_that_left_its_tree_promotes_the_next_generation(tmp_path):
    """READY=1 from a process that left the next generation's tree and
    group: as PID 1 every sender is some generation's, and the next one is
    the one waiting for READY=1: credited (and said), not rolled back."""
    pv, vol, probe_port = _notify_app(tmp_path, "detached")
    with pv:
        wait_for(lambda: http_probe(probe_port, "/readyz").ok, what="ready")
        vol.update({"app.conf": "v1"})
        wait_for(lambda: podvisor_status(probe_port)["child"]["restarts"] == 1, timeout=15,
                 what="the promotion", err=pv.stderr_so_far)
        assert pv.says("credited to the next generation")
        assert "rolled back" not in pv.stderr_so_far(), pv.stderr_so_far()


def test_the_old_generation_stopping_does_not_unready_the_promoted_one(tmp_path):
    """The serving generation says STOPPING=1 while the next one starts:
    that is about itself. The next one's READY=1 promotes it and is its
    readiness: the pod is ready (it was 503 for good)."""
    pv, vol, probe_port = _notify_app(tmp_path, "stopping")
    with pv:
        wait_for(lambda: http_probe(probe_port, "/readyz").ok, what="ready")
        vol.update({"app.conf": "v1"})
        wait_for(lambda: podvisor_status(probe_port)["child"]["restarts"] == 1 and
                 len(podvisor_status(probe_port)["children"]) == 1, timeout=15,
                 what="the promotion and the old generation gone", err=pv.stderr_so_far)
        wait_for(lambda: http_probe(probe_port, "/readyz").ok, timeout=5,
                 what="the promoted generation ready", err=pv.stderr_so_far)
        assert pv.says("STOPPING=1") and pv.says("the next generation is ready")


def test_a_crash_restart_onto_rolled_back_content_says_so(tmp_path, app_env):
    """The current generation crashes after a rollback: the restart must
    read the files as they are (they cannot be un-written), and said so;
    it said nothing."""
    sf = StartFirst(tmp_path, extra=["--ready-timeout", "1s", "--restart-policy", "on-failure"])
    with sf.pv:
        sf.vol.update({"app.conf": "hang: never ready"})
        wait_for(lambda: sf.status()["child"].get("last_rollback") and
                 len(sf.status()["children"]) == 1, timeout=15, what="the rollback",
                 err=sf.pv.stderr_so_far)
        os.kill(sf.pv.child_pid(), signal.SIGKILL)
        wait_for(lambda: "whose start-first restart was rolled back" in sf.pv.stderr_so_far(),
                 timeout=15, what="the warning", err=sf.pv.stderr_so_far)


def test_start_first_with_a_daemonizing_app_says_why_it_rolls_back(tmp_path):
    """A next generation that hands over to another process (MAINPID=,
    then exits) is not followed before its promotion: it rolls back every
    time, and now the log says why and what to do instead."""
    pv, vol, probe_port = _notify_app(tmp_path, "daemonize")
    with pv:
        wait_for(lambda: http_probe(probe_port, "/readyz").ok, what="ready", err=pv.stderr_so_far)
        vol.update({"app.conf": "v1"})
        wait_for(lambda: "start-first does not follow a next generation that hands over" in
                 pv.stderr_so_far(), timeout=15, what="the reason", err=pv.stderr_so_far)
        wait_for(lambda: podvisor_status(probe_port)["child"].get("last_rollback"), timeout=15,
                 what="the rollback", err=pv.stderr_so_far)
        assert pv.says("--restart-mode stop-first")
