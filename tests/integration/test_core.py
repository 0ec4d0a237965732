"""The review's defects in the core, each as a test of the real binary that
fails without its fix: a clean-up that blocked the loop, fault signals
that were dropped, a stopped app reported ready, a stop budget that was
not checked, typos and abbreviations that passed silently, a bind error
that did not say why."""
import json
import os
import random
import signal
import time
import urllib.error
import urllib.request

import pytest

from conftest import not_emulated
from conftest import (PROBE_ON, SANITIZER, base_env, helper, procs_with_argv, proc_state, run,
                      wait_for)

MODES = [pytest.param(True, id="pid1"), pytest.param(False, id="not-pid1"),
         pytest.param(PROBE_ON, id="pid1-probe-on")]


def get(port, path, timeout=2):
    """(status, body) of GET http://127.0.0.1:port/path."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_cleanup_never_blocks_the_loop_when_not_pid1(podvisor_factory):
    # The reproducer: the app exits and leaves a TERM-ignoring shell
    # with its own child. podvisor used to wait for that child (blocking
    # waitpid) for as long as it lived.
    naps = f"{100 + random.randint(1, 99999) / 100000:.5f}"
    inner = f"trap '' TERM; sleep {naps} & wait"
    t0 = time.monotonic()
    r = run(["--", "sh", "-c", f"sh -c \"{inner}\" & sleep 0.3; exit 0"], pid1=False, timeout=30)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert took < 6, f"clean-up took {took:.1f}s"
    assert procs_with_argv("sleep", naps) == [], "the grandchild survived podvisor"
    assert "did not exit on SIGTERM" in r.stderr


def test_probes_answer_during_the_cleanup(podvisor_factory):
    # While leftovers get their SIGTERM wait, the loop still serves probes.
    pv = podvisor_factory(["--probe-listen", "127.0.0.1:0", "--", "sh", "-c",
                           "sh -c \"trap '' TERM; while :; do sleep 0.05; done\" & "
                           "sleep 0.3; exit 4"], pid1=False)
    port = pv.probe_port()
    # The clean-up starts once the app exits (0.3 s) and lasts about 1 s.
    wait_for(lambda: "has exited" in get(port, "/livez")[1], timeout=5, what="the app's exit")
    t0 = time.monotonic()
    status, body = get(port, "/readyz")
    assert time.monotonic() - t0 < 0.5
    assert status == 503 and "exited with status 4" in body
    assert pv.wait(timeout=10) == 4


# Signals the kernel also raises for faults; sent with kill(), they are for
# the app. (The ASan build keeps SEGV, BUS and FPE for its own fault reports.)
FAULTS = [signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL, signal.SIGTRAP,
          signal.SIGSYS, signal.SIGABRT]
if SANITIZER:
    FAULTS = [s for s in FAULTS if s not in (signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE)]


@not_emulated("SIGSEGV, SIGBUS, SIGILL and SIGFPE from kill(): qemu-user takes them for faults of its own")
@pytest.mark.parametrize("pid1", MODES)
def test_fault_signals_sent_with_kill_are_forwarded(podvisor_factory, pid1):
    pv = podvisor_factory(["--", helper("sigecho"), "c"], pid1=pid1)
    assert pv.readline() == "c ready"
    for sig in FAULTS:
        pv.signal(sig)
        assert pv.readline() == f"c {int(sig)}", f"SIG{sig.name} was not forwarded"
    assert proc_state(pv.pid) in "SR", "podvisor must survive them"
    pv.signal(signal.SIGTERM)
    assert pv.readline() == "c 15"
    assert pv.wait() == 0


@pytest.mark.parametrize("pid1", MODES[:2])
def test_a_stopped_app_is_not_ready(podvisor_factory, pid1):
    pv = podvisor_factory(["--probe-listen", "127.0.0.1:0", "--", "sleep", "60"], pid1=pid1)
    port = pv.probe_port()
    child = pv.child_pid()
    wait_for(lambda: get(port, "/readyz")[0] == 200, what="ready")
    pv.signal(signal.SIGTSTP)
    wait_for(lambda: proc_state(child) == "T", what="the app to stop")
    status, body = wait_for(lambda: (lambda r: r if r[0] == 503 else None)(get(port, "/readyz")),
                            what="/readyz to fail while stopped")
    assert "stopped by SIGTSTP" in body
    doc = json.loads(get(port, "/status")[1])
    assert doc["ready"] is False and doc["child"]["stopped_by"] == "TSTP"
    assert get(port, "/livez")[0] == 200  # stopped is not dead
    pv.signal(signal.SIGCONT)
    wait_for(lambda: get(port, "/readyz")[0] == 200, what="ready again after SIGCONT")
    assert json.loads(get(port, "/status")[1])["child"]["stopped_by"] is None


@pytest.mark.parametrize("args", [
    ["--grace-period", "3s", "--prestop-delay", "1500ms"],
    ["--prestop-delay", "28s"],
    ["--grace-period", "2s"],
    ["--stop-timeout", "200ms"],
])
def test_stop_budget_warns_when_the_app_gets_no_time_to_stop(args):
    r = run(args + ["--", "true"], pid1=False)
    assert r.returncode == 0
    warn = [l for l in r.stderr.splitlines() if "back to back" in l]
    assert len(warn) == 1, r.stderr
    assert warn[0].startswith("podvisor: warn: --stop-timeout is ")


def test_stop_budget_is_quiet_when_it_fits():
    for args in ([], ["--prestop-delay", "5s"], ["--grace-period", "3s"]):
        r = run(args + ["--", "true"], pid1=False)
        assert "back to back" not in r.stderr and "exceed" not in r.stderr, (args, r.stderr)


def test_a_typo_in_a_podvisor_variable_is_named():
    r = run(["--", "true"], pid1=False, env=base_env(PODVISOR_PRESTOP_DELAYY="5s"))
    assert r.returncode == 0
    assert ("podvisor: warn: PODVISOR_PRESTOP_DELAYY is not an option podvisor knows"
            in r.stderr), r.stderr


def test_service_link_variables_pass_silently():
    # What the kubelet injects for Services named podvisor and podvisor-metrics.
    links = {
        "PODVISOR_SERVICE_HOST": "10.0.0.1", "PODVISOR_SERVICE_PORT": "8099",
        "PODVISOR_SERVICE_PORT_PROBES": "8099", "PODVISOR_PORT": "tcp://10.0.0.1:8099",
        "PODVISOR_PORT_8099_TCP": "tcp://10.0.0.1:8099", "PODVISOR_PORT_8099_TCP_ADDR": "10.0.0.1",
        "PODVISOR_PORT_8099_TCP_PORT": "8099", "PODVISOR_PORT_8099_TCP_PROTO": "tcp",
        "PODVISOR_METRICS_SERVICE_HOST": "10.0.0.2", "PODVISOR_METRICS_PORT_9090_UDP": "x",
    }
    r = run(["--", "true"], pid1=False, env=base_env(**links))
    assert r.returncode == 0
    assert "warn" not in r.stderr, r.stderr


@pytest.mark.parametrize("flag,name", [("--subreaper=1", "--subreaper"),
                                       ("--process-group=yes", "--process-group"),
                                       ("--warn-on-reap=true", "--warn-on-reap")])
def test_a_switch_given_a_value_names_the_option(flag, name, tmp_path):
    made = tmp_path / "made"
    r = run([flag, "--", "touch", str(made)], pid1=False)
    assert r.returncode == 2 and not made.exists()
    assert r.stderr.startswith(f"podvisor: {name} takes no value"), r.stderr
    assert len(r.stderr.splitlines()) == 1


def test_long_options_match_by_full_name_only(tmp_path):
    made = tmp_path / "made"
    for abbrev in (["--pre", "5s"], ["--prestop", "5s"], ["--stop-sig", "QUIT"], ["--sub"]):
        r = run(abbrev + ["--", "touch", str(made)], pid1=False)
        assert r.returncode == 2 and not made.exists(), abbrev
        assert f'unknown option "{abbrev[0]}"' in r.stderr, r.stderr
    # the full names, both spellings of a value
    r = run(["--prestop-delay=10ms", "--stop-signal", "QUIT", "-gsw", "-e3", "--", "sh", "-c",
             "exit 3"], pid1=False)
    assert r.returncode == 0, r.stderr


def test_probe_port_in_use_says_why(podvisor_factory):
    first = podvisor_factory(["--probe-listen", "127.0.0.1:0", "--", "sleep", "30"],
                             pid1=False)
    port = first.probe_port()
    r = run(["--probe-listen", f"127.0.0.1:{port}", "--", "true"], pid1=False)
    assert r.returncode == 2
    assert "another podvisor in this pod" in r.stderr and "--probe-listen" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
