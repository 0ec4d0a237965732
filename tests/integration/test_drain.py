"""The graceful stop on SIGTERM, end to end with podvisor as PID 1:
readiness fails at once, the child keeps running for --prestop-delay, then
gets --stop-signal, and its group is SIGKILLed after --stop-timeout."""
import os
import signal
import subprocess
import time

import pytest

from conftest import not_emulated
from conftest import free_port, helper, procs_with_argv, run, wait_for
from kubelet import Pod, http_probe


def test_readiness_fails_within_50ms_liveness_stays():
    port = free_port()
    with Pod(["sleep", "60"], port, ["--prestop-delay", "3s"]) as pod:
        pod.wait_ready()
        assert pod.probe("/livez").ok and pod.probe("/startupz").ok
        t0 = time.monotonic()
        pod.pv.signal(signal.SIGTERM)
        while True:
            r = pod.probe("/readyz")
            if r.status == 503:
                break
            assert time.monotonic() - t0 < 1.0, "readiness never failed"
        flipped = time.monotonic() - t0
        assert flipped < 0.05, f"readiness flipped after {flipped * 1000:.1f} ms"
        assert r.body.startswith("not ready: shutdown draining")
        # liveness and startup stay green while draining (docs/kubernetes.md point 5)
        assert pod.probe("/livez").status == 200
        assert pod.probe("/healthz").status == 200
        assert pod.probe("/startupz").status == 200
        m = pod.probe("/metrics").body
        assert "\npodvisor_ready 0\n" in m
        assert '\npodvisor_state{state="draining"} 1\n' in m
        pod.pv.signal(signal.SIGTERM)   # cut the delay: sleep dies of TERM
        assert pod.pv.wait() == 143


@pytest.mark.parametrize("delay", [0.5, 1.5])
def test_stop_signal_comes_no_earlier_than_the_delay(delay):
    port = free_port()
    with Pod([helper("sigecho"), "c"], port,
              ["--prestop-delay", f"{int(delay * 1000)}ms", "--stop-signal", "USR1",
               "--stop-timeout", "500ms"]) as pod:
        assert pod.pv.readline() == "c ready"
        t0 = time.monotonic()
        pod.pv.signal(signal.SIGTERM)
        line = pod.pv.readline(timeout=delay + 5)
        got = time.monotonic() - t0
        assert line == "c 10"          # the stop signal, USR1, and nothing before it
        assert got >= delay, f"stop signal after {got:.3f}s, before the {delay}s delay"
        # sigecho ignores USR1 as a reason to exit: the stop timeout SIGKILLs it
        assert pod.pv.wait() == 137


@pytest.mark.parametrize("pid1", [True, False], ids=["pid1", "not-pid1"])
def test_term_ignoring_child_and_its_group_are_killed(pid1, podvisor_factory):
    marker = f"{1000 + os.getpid() % 1000}.{int(pid1)}7"
    script = f"trap '' TERM; sleep {marker} & wait"
    pv = podvisor_factory(["--prestop-delay", "200ms", "--stop-timeout", "1s", "--", "sh", "-c",
                           script], pid1=pid1)
    wait_for(lambda: procs_with_argv("sleep", marker), what="grandchild")
    t0 = time.monotonic()
    pv.signal(signal.SIGTERM)
    assert pv.wait(timeout=15) == 137
    took = time.monotonic() - t0
    assert 1.1 <= took < 5, took
    assert procs_with_argv("sleep", marker) == []
    assert "SIGKILL to its process group" in pv.stderr


def test_second_sigterm_cuts_the_delay(podvisor_factory):
    pv = podvisor_factory(["--prestop-delay", "20s", "--", helper("sigecho"), "c"])
    assert pv.readline() == "c ready"
    pv.signal(signal.SIGTERM)
    # The second SIGTERM once the first was taken: the drain has begun
    # (from running or ready: on a busy machine the app can print before
    # podvisor has taken its exec's result).
    wait_for(lambda: "-> draining" in pv.stderr_so_far(), what="the drain",
             err=pv.stderr_so_far)
    t0 = time.monotonic()
    pv.signal(signal.SIGTERM)
    assert pv.readline(timeout=15) == "c 15"
    assert time.monotonic() - t0 < 15  # not the 20 s delay
    assert pv.wait() == 0


def test_child_exiting_during_the_delay_ends_podvisor_at_once(podvisor_factory):
    pv = podvisor_factory(["--prestop-delay", "20s", "--", "sh", "-c",
                           "echo up; sleep 0.5; exit 7"])
    assert pv.readline() == "up"
    pv.signal(signal.SIGTERM)
    t0 = time.monotonic()
    assert pv.wait(timeout=10) == 7
    assert time.monotonic() - t0 < 2


def test_sigint_is_forwarded_at_once_even_while_draining(podvisor_factory):
    pv = podvisor_factory(["--prestop-delay", "20s", "--", helper("sigecho"), "c"])
    assert pv.readline() == "c ready"
    pv.signal(signal.SIGINT)
    assert pv.readline() == "c 2"
    pv.signal(signal.SIGTERM)
    pv.signal(signal.SIGINT)
    assert pv.readline() == "c 2"
    pv.kill()


def test_budget_warning_names_the_three_values():
    r = run(["--grace-period", "10s", "--prestop-delay", "8s", "--stop-timeout", "5s", "--",
             "true"])
    assert r.returncode == 0
    warn = [l for l in r.stderr.splitlines() if "exceed --grace-period" in l]
    assert len(warn) == 1, r.stderr
    assert "8000ms" in warn[0] and "5000ms" in warn[0] and "10000ms" in warn[0]
    r = run(["--prestop-delay", "8s", "--", "true"])   # defaults fit
    assert "exceed" not in r.stderr


def test_kubelet_deletion_with_prestop_hook(tmp_path):
    # A preStop exec hook that uses `podvisor sleep` (no sleep binary needed),
    # then SIGTERM: the whole stop fits in the grace period.
    from conftest import PODVISOR
    port = free_port()
    with Pod([helper("sigecho"), "c"], port, ["--grace-period", "5s"]) as pod:
        assert pod.pv.readline() == "c ready"
        d = pod.delete(grace=5, prestop=[PODVISOR, "sleep", "300ms"])
        assert not d.sigkilled
        assert d.t_term - d.t_delete >= 0.3
        assert d.exit_code == 0


def test_grace_period_exceeded_means_the_kubelet_kills():
    # Sanity check of the simulator itself: a configuration that does not fit
    # (delay longer than the grace period) ends in the kubelet's SIGKILL.
    port = free_port()
    with Pod(["sleep", "60"], port, ["--prestop-delay", "5s"]) as pod:
        pod.wait_ready()
        d = pod.delete(grace=1)
        assert d.sigkilled
        assert "exceed --grace-period" not in pod.stderr  # grace not told to podvisor


# --- --drain-idle: the drain ends when the app's connections are gone -------

# Serves one connection per thread and keeps it open until the client
# closes it; ignores SIGTERM, as an app whose shutdown waits for something
# would. With LISTEN_FDS it accepts on podvisor's socket (fd 3).
HOLDING_APP = r"""
import os, signal, socket, sys, threading
signal.signal(signal.SIGTERM, signal.SIG_IGN)
if os.environ.get("LISTEN_FDS"):
    srv = socket.socket(fileno=3)
else:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", int(sys.argv[1])))
    srv.listen(16)
print("serving", flush=True)
def hold(c):
    while c.recv(100):
        pass
    c.close()
while True:
    c, _ = srv.accept()
    threading.Thread(target=hold, args=(c,), daemon=True).start()
"""


@not_emulated("NETLINK_SOCK_DIAG (the connection count)")
@pytest.mark.parametrize("ports", ["drain-port", "socket"])
def test_drain_idle_ends_the_stop_once_the_connections_are_gone(ports):
    import socket
    from conftest import Podvisor, podvisor_status
    app, probe = free_port(), free_port()
    where = (["--drain-port", str(app)] if ports == "drain-port"
             else ["--socket", f"tcp://127.0.0.1:{app}"])
    with Podvisor(["--drain-idle", *where, "--stop-timeout", "60s", "--probe-listen",
                   f"127.0.0.1:{probe}", "--", "/usr/bin/python3", "-c", HOLDING_APP,
                   str(app)]) as pv:
        assert pv.readline(timeout=10) == "serving"
        client = socket.create_connection(("127.0.0.1", app), timeout=5)
        client.sendall(b"hello")
        pv.signal(signal.SIGTERM)
        wait_for(lambda: podvisor_status(probe)["drain"]["connections"] == 1,
                 what="the connection counted", err=pv.stderr_so_far)
        # The app ignores its stop signal: the open connection is all
        # that keeps it, so podvisor waits while it is open.
        time.sleep(1.0)
        assert pv.proc.poll() is None, pv.stderr_so_far()
        assert podvisor_status(probe)["drain"]["connections"] == 1
        client.close()
        # Well inside --stop-timeout 60s: the count ended it, not the timeout.
        assert pv.wait(timeout=30) == 128 + signal.SIGKILL
    err = pv.stderr
    assert "--drain-idle: no connection on the app's ports for 500ms" in err, err
    assert "still running after --stop-timeout" not in err


def test_drain_idle_without_a_tcp_port_is_a_usage_error():
    r = run(["--drain-idle", "--socket", "unix:/tmp/pv-drain-idle.sock", "--", "true"])
    assert r.returncode == 2, r.stderr
    assert "--drain-idle needs the app's ports" in r.stderr
