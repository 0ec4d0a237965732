"""The PID-1 core, end to end: exit status, signal deaths, forwarding,
reaping, exec failures, the child's clean start, and nothing left behind.
Each test runs podvisor both as PID 1 of a new PID namespace and not."""
import ctypes
import os
import platform
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import EMULATOR, EMULATOR_LOST_SIGNALS, not_emulated
from conftest import (PODVISOR, PROBE_ON, RESERVED_SIGNALS, Podvisor, base_env, children_of, descendants, free_port, helper,
                      proc_state, run, wait_for)

MODES = [pytest.param(True, id="pid1"), pytest.param(False, id="not-pid1")]
# The representative part of the suite also runs in the default
# configuration: PID 1 with the probe server on (:8099).
MODES_AND_PROBE = MODES + [pytest.param(PROBE_ON, id="pid1-probe-on")]


@pytest.mark.parametrize("pid1", MODES)
def test_every_exit_code_is_passed_through(pid1):
    # one podvisor per code: 0..255 exactly
    for code in range(256):
        r = run(["--log-level", "error", "--", "sh", "-c", f"exit {code}"], pid1=pid1)
        assert r.returncode == code, (code, r.stderr)


@pytest.mark.parametrize("pid1", MODES_AND_PROBE)
def test_remap_exit(pid1):
    args = ["-e", "3", "--remap-exit", "143", "--"]
    assert run(args + ["sh", "-c", "exit 3"], pid1=pid1).returncode == 0
    assert run(args + ["sh", "-c", "exit 4"], pid1=pid1).returncode == 4
    assert run(args + [helper("selfkill"), "15"], pid1=pid1).returncode == 0
    assert run(args + [helper("selfkill"), "2"], pid1=pid1).returncode == 130


# Signals whose default action kills (1-31 but those that stop or are ignored).
DEADLY = [s for s in range(1, 32)
          if s not in (signal.SIGCHLD, signal.SIGCONT, signal.SIGSTOP, signal.SIGTSTP,
                       signal.SIGTTIN, signal.SIGTTOU, signal.SIGURG, signal.SIGWINCH)]


@pytest.mark.parametrize("pid1", MODES_AND_PROBE)
def test_signal_death_gives_128_plus_n(pid1):
    for sig in DEADLY:
        r = run(["--log-level", "error", "--", helper("selfkill"), str(sig)], pid1=pid1)
        assert r.returncode == 128 + sig, (sig, r.returncode, r.stderr)


# Every signal podvisor forwards: all catchable ones but CHLD, the fault signals
# podvisor keeps for itself, and the C library's internal ones (glibc 32-33,
# musl 32-34). TERM is sent last: it starts the stop.
FAULTS = (signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL, signal.SIGTRAP,
          signal.SIGSYS, signal.SIGABRT)
FORWARDED = [s for s in range(1, 65)
             if s not in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD, signal.SIGTERM)
             and s not in FAULTS and s not in RESERVED_SIGNALS and s not in EMULATOR_LOST_SIGNALS]


if EMULATOR:
    def test_without_a_subreaper_the_app_is_still_supervised():
        # qemu-user has no PR_SET_CHILD_SUBREAPER: podvisor, not PID 1,
        # says what is lost and runs the app anyway (it used to exit 1).
        r = subprocess.run([PODVISOR, "--probe-listen", "off", "--", "sh", "-c", "exit 7"],
                           capture_output=True, text=True, timeout=60, env=base_env())
        assert r.returncode == 7, r.stderr
        assert "cannot become a child subreaper (PR_SET_CHILD_SUBREAPER: Invalid argument): " \
            "the app's orphans go to the machine's init, not to podvisor" in r.stderr


if EMULATOR_LOST_SIGNALS:
    def test_signals_the_emulator_loses_are_named():
        pytest.skip(f"{EMULATOR} delivers no signal "
                    f"{', '.join(map(str, EMULATOR_LOST_SIGNALS))}: not forwarded under it")


def expect_echo(pv, tag, sig):
    line = pv.readline()
    assert line == f"{tag} {sig}", f"sent {sig}, child printed {line!r}"


@pytest.mark.parametrize("pid1", MODES_AND_PROBE)
def test_every_forwardable_signal_reaches_the_child(podvisor_factory, pid1):
    pv = podvisor_factory(["--", helper("sigecho"), "c"], pid1=pid1)
    assert pv.readline() == "c ready"
    for sig in FORWARDED:
        pv.signal(sig)
        expect_echo(pv, "c", sig)
    pv.signal(signal.SIGTERM)
    expect_echo(pv, "c", signal.SIGTERM)
    assert pv.wait() == 0


def test_the_reserved_signals_are_those_podvisor_refuses():
    # conftest names them from the binary's C library without running it;
    # podvisor itself must agree, or the tests above skip the wrong ones.
    for n in range(32, 40):
        r = subprocess.run([PODVISOR, "--probe-listen", "off", "--stop-signal", str(n), "--",
                            "true"], capture_output=True, text=True, timeout=10, env=base_env())
        assert ("reserved by the C library" in r.stderr) == (n in RESERVED_SIGNALS), (n, r.stderr)


@pytest.mark.parametrize("pid1", MODES)
def test_reserved_signals_neither_kill_nor_reach(podvisor_factory, pid1):
    # Their default action is to terminate, and the C library will not
    # block them: not PID 1, nothing else would keep them from ending
    # podvisor and orphaning the app.
    pv = podvisor_factory(["--", helper("sigecho"), "c"], pid1=pid1)
    assert pv.readline() == "c ready"
    for sig in RESERVED_SIGNALS:
        pv.signal(sig)
    pv.signal(signal.SIGUSR1)
    assert pv.readline() == "c 10"  # the reserved ones were not forwarded
    pv.signal(signal.SIGTERM)
    expect_echo(pv, "c", signal.SIGTERM)
    assert pv.wait() == 0


@pytest.mark.parametrize("pid1", MODES)
def test_process_group_forwarding(podvisor_factory, pid1):
    script = f"{helper('sigecho')} bg & exec {helper('sigecho')} main"
    for group in (True, False):
        args = (["-g"] if group else []) + ["--", "sh", "-c", script]
        pv = podvisor_factory(args, pid1=pid1)
        assert sorted([pv.readline(), pv.readline()]) == ["bg ready", "main ready"]
        pv.signal(signal.SIGUSR1)
        got = {pv.readline()}
        if group:
            got.add(pv.readline())
            assert got == {"bg 10", "main 10"}
        else:
            assert got == {"main 10"}
            # the background one must not have heard it: the next line is INT for main
            pv.signal(signal.SIGINT)
            assert pv.readline() == "main 2"
        pv.kill()


def test_process_group_from_tini_env(podvisor_factory):
    script = f"{helper('sigecho')} bg & exec {helper('sigecho')} main"
    pv = podvisor_factory(["--", "sh", "-c", script],
                          env=base_env(TINI_KILL_PROCESS_GROUP="1"))
    assert sorted([pv.readline(), pv.readline()]) == ["bg ready", "main ready"]
    pv.signal(signal.SIGUSR2)
    assert {pv.readline(), pv.readline()} == {"bg 12", "main 12"}


@pytest.mark.parametrize("pid1", MODES_AND_PROBE)
def test_rewrite(podvisor_factory, pid1):
    pv = podvisor_factory(["--rewrite", "USR1:USR2", "--rewrite", "HUP:0", "--rewrite",
                           "TERM:INT", "--", helper("sigecho"), "c"], pid1=pid1)
    assert pv.readline() == "c ready"
    pv.signal(signal.SIGUSR1)
    expect_echo(pv, "c", signal.SIGUSR2)
    pv.signal(signal.SIGHUP)      # dropped ...
    pv.signal(signal.SIGWINCH)    # ... so WINCH is the next thing the child sees
    expect_echo(pv, "c", signal.SIGWINCH)
    pv.signal(signal.SIGTERM)     # the stop signal follows --rewrite TERM:INT
    expect_echo(pv, "c", signal.SIGINT)
    pv.kill()


@pytest.mark.parametrize("pid1", MODES_AND_PROBE)
def test_a_rewrite_swap_is_rewritten_once(podvisor_factory, pid1):
    """dumb-init's --rewrite 15:2 --rewrite 2:15 (its own
    test_proxies_signals_with_rewrite): INT reaches the app as TERM and TERM
    as INT. INT rewritten to TERM starts the drain, whose stop signal is
    that TERM, not TERM's own rewrite (INT again)."""
    for sent, got in ((signal.SIGINT, signal.SIGTERM), (signal.SIGTERM, signal.SIGINT)):
        pv = podvisor_factory(["--rewrite", "TERM:INT", "--rewrite", "INT:TERM", "--",
                               helper("sigecho"), "c"], pid1=pid1)
        assert pv.readline() == "c ready"
        pv.signal(sent)
        expect_echo(pv, "c", got)
        pv.kill()


@not_emulated("a way to pass on signal state: qemu-user gives a native exec its own host signal mask and dispositions, not the emulated ones")
@pytest.mark.parametrize("pid1", MODES)
def test_the_signals_podvisor_sends_reach_the_app_whatever_it_inherited(pid1, podvisor_factory):
    """SPEC: the app inherits ignored and blocked signals, except those
    podvisor is told to send it (the stop signal, a --rewrite target), which
    start at their default disposition: under nohup, --stop-signal HUP would
    otherwise never arrive."""

    def dirty_parent():
        for s in (signal.SIGHUP, signal.SIGUSR1, signal.SIGQUIT):
            signal.signal(s, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2, signal.SIGWINCH})

    pv = podvisor_factory(["--stop-signal", "HUP", "--rewrite", "INT:USR1", "--rewrite",
                           "PWR:WINCH", "--", "sleep", "30"], pid1=pid1, preexec_fn=dirty_parent)
    child = pv.child_pid()
    wait_for(lambda: os.readlink(f"/proc/{child}/exe").endswith("sleep"), what="exec")
    wait_for(lambda: proc_state(child) == "S", what="the app to be asleep")
    with open(f"/proc/{child}/status") as f:
        status = dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)
    assert status["SigIgn"].strip() == sigbits(signal.SIGQUIT), status["SigIgn"]
    assert status["SigBlk"].strip() == sigbits(signal.SIGUSR2), status["SigBlk"]
    assert pv.says("SIGHUP was ignored or blocked when podvisor started")
    pv.kill()


def test_10000_orphans_leave_no_zombie():
    r = run(["--log-level", "warn", "--", helper("orphans"), "10000"], pid1=True, timeout=120)
    assert "zombies=0" in r.stdout, r.stdout + r.stderr
    assert r.returncode == 0


def test_orphans_are_adopted_and_reaped_when_not_pid1():
    r = run(["--log-level", "warn", "--", helper("orphans"), "200"], pid1=False)
    assert "adopted_by_parent=yes" in r.stdout, r.stdout
    assert "zombies=0" in r.stdout
    assert r.returncode == 0


def test_warn_on_reap_names_the_zombie():
    r = run(["-w", "--", "sh", "-c", "(sleep 0.1 &); sleep 0.5"], pid1=True)
    assert r.returncode == 0
    assert "Reaped zombie process with pid=" in r.stderr   # tini's words
    r = run(["--", "sh", "-c", "(sleep 0.1 &); sleep 0.5"], pid1=True)
    assert "Reaped zombie process" not in r.stderr


@pytest.mark.parametrize("pid1", MODES)
def test_exec_failures(pid1, tmp_path):
    r = run(["--", "no-such-command-xyz"], pid1=pid1)
    assert r.returncode == 127
    assert r.stderr.strip().splitlines() == [
        'podvisor: error: cannot run "no-such-command-xyz": No such file or directory (searched PATH)']
    r = run(["--", str(tmp_path / "missing")], pid1=pid1)
    assert r.returncode == 127
    f = tmp_path / "notexec"
    f.write_text("#!/bin/sh\necho hi\n")
    r = run(["--", str(f)], pid1=pid1)
    assert r.returncode == 126
    assert f'cannot run "{f}": Permission denied' in r.stderr
    r = run(["--", str(tmp_path)], pid1=pid1)  # a directory
    assert r.returncode == 126


def test_script_without_shebang_runs_with_sh(tmp_path):
    f = tmp_path / "noshebang"
    f.write_text("echo from-sh; exit 9\n")
    f.chmod(0o755)
    r = run(["--", str(f)], pid1=False)
    assert r.returncode == 9
    assert r.stdout == "from-sh\n"


def test_child_output_passes_through_untouched():
    r = run(["--log-level", "error", "--", "sh", "-c", "printf 'out\\n'; printf 'err\\n' >&2"],
            pid1=False)
    assert r.stdout == "out\n"
    assert r.stderr == "err\n"


def sigbits(*sigs):
    return "%016x" % sum(1 << (s - 1) for s in sigs)


@not_emulated("a way to pass on signal state: qemu-user gives a native exec its own host signal mask and dispositions, not the emulated ones")
@pytest.mark.parametrize("pid1", MODES)
def test_child_starts_clean(pid1, podvisor_factory):
    # podvisor's parent leaves signals ignored, one blocked, and an extra fd
    # open. The app gets the ignored and blocked signals podvisor got, as
    # tini passes them on (under nohup a SIGHUP must not kill the app), but
    # none of podvisor's own handling, no fd beyond 0-2, and not glibc's
    # internal signal.
    extra_r, extra_w = os.pipe()

    def dirty_parent():
        for s in (signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
        # ... and glibc's internal signal 32 ignored, which glibc's own
        # sigaction can neither set nor reset (make leaves it so): the raw
        # x86-64 rt_sigaction(32, {SIG_IGN}).
        if platform.machine() == "x86_64":
            act = (ctypes.c_uint64 * 4)(1, 0, 0, 0)  # handler SIG_IGN, flags, restorer, mask
            ctypes.CDLL(None).syscall(13, 32, ctypes.byref(act), None, 8)

    # the probe server is on, with a connection open: none of its fds may leak
    port = free_port()
    pv = podvisor_factory(["--probe-listen", f"127.0.0.1:{port}", "--", "sleep", "30"],
                          pid1=pid1, pass_fds=(extra_r, extra_w), preexec_fn=dirty_parent)
    import socket
    conn = wait_for(lambda: _try_connect(port), what="probe server")
    child = pv.child_pid()
    wait_for(lambda: os.readlink(f"/proc/{child}/exe").endswith("sleep"), what="exec")
    # Read the app's settled state: asleep in its nanosleep, past the libc
    # start-up code that runs right after exec.
    wait_for(lambda: proc_state(child) == "S", what="the app to be asleep")
    time.sleep(0.05)
    with open(f"/proc/{child}/status") as f:
        status = dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)
    assert status["SigBlk"].strip() == sigbits(signal.SIGUSR2)
    assert status["SigIgn"].strip() == sigbits(signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1,
                                               signal.SIGHUP)
    assert sorted(os.listdir(f"/proc/{child}/fd")) == ["0", "1", "2"]
    # ... and the app leads its own process group
    assert os.getpgid(child) == child
    os.close(extra_r)
    os.close(extra_w)
    conn.close()


@not_emulated("a way to pass on signal state: qemu-user gives a native exec its own host signal mask and dispositions, not the emulated ones")
def test_under_nohup_the_app_survives_a_hangup(tmp_path):
    """nohup podvisor -- app: SIGHUP is ignored for the app too, as under
    tini (it used to be reset, and a hangup killed the app: exit 129)."""
    r = subprocess.run(["nohup", PODVISOR, "--probe-listen", "off", "--", "sh", "-c",
                        "kill -HUP $$; echo survived"], capture_output=True, text=True,
                       timeout=30, env=base_env(), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = (tmp_path / "nohup.out").read_text() if (tmp_path / "nohup.out").exists() else r.stdout
    assert "survived" in out, (r.stdout, r.stderr)


def _try_connect(port):
    import socket
    try:
        return socket.create_connection(("127.0.0.1", port), timeout=1)
    except OSError:
        return None


def daemon_script(marker, trap):
    # setsid + double fork: the classic daemon, which the main child leaves behind
    return (f"( setsid sh -c 'trap \"{trap}\" TERM; "
            f"while :; do sleep 0.05; done; : {marker}' & ); sleep 0.3; exit 5")


def marker_procs(marker):
    r = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    return r.stdout.split()


def test_daemonized_grandchild_gets_term_then_is_gone_pid1(tmp_path):
    flag = tmp_path / "got-term"
    marker = f"podvisor-daemon-{os.getpid()}-a"
    r = run(["--", "sh", "-c", daemon_script(marker, f"echo yes > {flag}; exit 0")], pid1=True)
    assert r.returncode == 5
    # It was asked to stop (a kernel namespace teardown would only SIGKILL it).
    assert flag.read_text() == "yes\n"
    assert marker_procs(marker) == []


def test_daemon_that_ignores_term_is_killed_when_not_pid1():
    marker = f"podvisor-daemon-{os.getpid()}-b"
    t0 = time.monotonic()
    r = run(["--", "sh", "-c", daemon_script(marker, "")], pid1=False)
    took = time.monotonic() - t0
    assert r.returncode == 5
    # Without podvisor's clean-up this daemon would live on, re-parented.
    assert marker_procs(marker) == [], "daemon survived podvisor"
    assert took < 10
    assert "did not exit on SIGTERM" in r.stderr


@pytest.mark.parametrize("pid1", MODES_AND_PROBE)
def test_sigterm_reaches_child_and_exit_is_143(pid1, podvisor_factory):
    pv = podvisor_factory(["--", "sleep", "60"], pid1=pid1)
    child = pv.child_pid()
    wait_for(lambda: os.readlink(f"/proc/{child}/exe").endswith("sleep"), what="exec")
    pv.signal(signal.SIGTERM)
    assert pv.wait() == 143


@pytest.mark.parametrize("pid1", MODES_AND_PROBE)
def test_job_control_signals_never_leave_anything_stuck(pid1, podvisor_factory):
    # TSTP/TTIN/TTOU are forwarded: the app stops, podvisor itself never does,
    # CONT resumes the app, and a stop request still ends a stopped app.
    pv = podvisor_factory(["--", "sleep", "60"], pid1=pid1)
    child = pv.child_pid()
    wait_for(lambda: os.readlink(f"/proc/{child}/exe").endswith("sleep"), what="exec")
    for sig in (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU):
        pv.signal(sig)
        wait_for(lambda: proc_state(child) == "T", what=f"child stopped by {sig}")
        assert proc_state(pv.pid) in "SR", "podvisor itself must never stop"
        pv.signal(signal.SIGCONT)
        wait_for(lambda: proc_state(child) in "SR", what="child continued")
    pv.signal(signal.SIGTSTP)
    wait_for(lambda: proc_state(child) == "T", what="child stopped")
    t0 = time.monotonic()
    pv.signal(signal.SIGTERM)
    assert pv.wait(timeout=10) == 143
    assert time.monotonic() - t0 < 5, "a stopped child must still stop promptly"
    assert "stopped by SIGTSTP" in pv.stderr


def test_pdeathsig(tmp_path):
    # podvisor's parent (a shell) exits; with -p TERM podvisor gets SIGTERM
    # and stops its child, without -p it would run on.
    pidfile = tmp_path / "pid"
    for use_p in (True, False):
        args = ["-p", "TERM"] if use_p else []
        cmd = " ".join([PODVISOR] + args + ["--", "sleep", "30"])
        subprocess.run(["sh", "-c", f"{cmd} & echo $! > {pidfile}; sleep 0.3"],
                       env=base_env(), timeout=10, stderr=subprocess.DEVNULL)
        pid = int(pidfile.read_text())
        if use_p:
            wait_for(lambda: not os.path.exists(f"/proc/{pid}") or proc_state(pid) == "Z",
                     what="podvisor to exit after its parent died")
        else:
            time.sleep(0.5)
            assert os.path.exists(f"/proc/{pid}")
            for p in [pid] + descendants(pid):  # its app too, not only podvisor
                os.kill(p, signal.SIGKILL)


def test_usage_errors_exit_2_before_any_child(tmp_path):
    made = tmp_path / "made"
    for args in (["--bogus"], ["--rewrite", "99:x"], ["-e", "300"], ["--prestop-delay", "5x"],
                 ["--config", str(tmp_path / "none.json")]):
        r = run(args + ["--", "touch", str(made)], pid1=False)
        assert r.returncode == 2, args
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert r.stderr.startswith("podvisor: ")
        assert not made.exists()
    bad = tmp_path / "bad.json"
    bad.write_text('{"prestop-delay": "5s",')
    r = run(["--config", str(bad), "--", "touch", str(made)], pid1=False)
    assert r.returncode == 2 and "line" in r.stderr and not made.exists()
    r = run([], pid1=False)
    assert r.returncode == 2 and "no command given" in r.stderr


def test_help_and_version():
    for a in (["--help"], ["-h"], ["help"]):
        r = run(a, pid1=False)
        assert r.returncode == 0 and "usage: podvisor" in r.stdout
    for a in (["--version"], ["-V"], ["version"]):
        r = run(a, pid1=False)
        assert r.returncode == 0 and r.stdout.startswith("podvisor ")


def test_json_log_lines():
    import json
    r = run(["--log-format", "json", "--", "true"], pid1=False)
    lines = r.stderr.strip().splitlines()
    assert lines
    for line in lines:
        obj = json.loads(line)
        assert set(obj) >= {"ts", "level", "msg"}
    r = run(["--log-level", "error", "--", "true"], pid1=False)
    assert r.stderr == ""


LEAVES_A_TREE = r'''
import os, signal, sys, time
if os.fork() == 0:                  # L: left behind, dies on TERM
    if os.fork() == 0:              # G: L's child, podvisor's grandchild
        def term(*_):
            print("G got TERM", flush=True)
            os._exit(0)
        signal.signal(signal.SIGTERM, term)
        print("G up", flush=True)
        while True:
            time.sleep(0.05)
    while True:
        time.sleep(0.05)
time.sleep(0.5)                     # the app exits, its tree stays
'''


def test_clean_up_terms_grandchildren_too(podvisor_factory):
    """Not PID 1: the clean-up's SIGTERM pass signalled podvisor's direct
    children only; a grandchild orphaned by it got SIGTERM only when the
    race went its way, otherwise the SIGKILL a second later."""
    for _ in range(5):
        pv = podvisor_factory(["--", "/usr/bin/python3", "-c", LEAVES_A_TREE], pid1=False)
        assert pv.readline() == "G up"
        t0 = time.monotonic()
        assert pv.wait(timeout=10) == 0
        assert pv.readline(timeout=5) == "G got TERM"
        assert time.monotonic() - t0 < 1.0 + 0.5   # no wait for the SIGKILL
