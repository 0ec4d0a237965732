"""Bad input and messages (the hardening review): every case gets one clear
line and a documented exit code, no line vanishes, nothing hangs."""
import json
import os
import signal
import socket
import subprocess

import pytest

from conftest import PODVISOR, base_env, descendants, proc_state, run, wait_for


def test_json_log_keeps_lines_that_are_not_utf8():
    # A failed exec of a command name that is not UTF-8 used to exit 127
    # with an empty stderr: jansson refused the line.
    r = run(["--log-format", "json", "--", b"/nonexistent/bad\xff\xfename".decode(
        "utf-8", "surrogateescape")], pid1=False)
    assert r.returncode == 127
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    msg = json.loads(lines[0])["msg"]
    assert msg.startswith('cannot run "/nonexistent/bad\ufffd\ufffdname"'), msg


@pytest.mark.parametrize("args,env", [
    (["--log-format", "json", "--bogus"], {}),
    (["--log-format=json", "--prestop-delay", "5x"], {}),
    (["--prestop-delay", "5x"], {"PODVISOR_LOG_FORMAT": "json"}),
])
def test_usage_errors_honour_json_once_known(args, env):
    r = run(args + ["--", "true"], pid1=False, env=base_env(**env))
    assert r.returncode == 2
    (line,) = r.stderr.strip().splitlines()
    doc = json.loads(line)
    assert doc["level"] == "error" and doc["msg"]


def test_config_that_is_not_a_regular_file(tmp_path):
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    for path, says in ((str(fifo), "is a FIFO"), (str(tmp_path), "is a directory"),
                       ("", "the path is empty")):
        r = run(["--config", path, "--", "true"], pid1=False, timeout=10)
        assert r.returncode == 2, (path, r.stderr)
        (line,) = r.stderr.strip().splitlines()
        assert says in line, line
    # PODVISOR_CONFIG="" (a templated manifest) counts as unset
    r = run(["--", "true"], pid1=False, env=base_env(PODVISOR_CONFIG=""))
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("args,says", [
    (["--stop-signal", "CHLD"], "would confuse the app's own reaping"),
    (["--stop-signal", "32"], "reserved by the C library"),
    (["--rewrite", "TERM:KILL"], "cannot be the stop signal"),
    (["--rewrite", "TERM:CHLD"], "would confuse the app's own reaping"),
    (["--rewrite", "32:USR1"], "reserved by the C library"),
    (["--stop-signal", "RTMIN++1"], "is not a signal"),
    (["--probe-listen", ":+1"], "has no valid port"),
    (["-p", "STOP"], "can never reach podvisor"),
    (["-p", "KILL"], "can never reach podvisor"),
])
def test_signal_values_that_can_never_take_effect(args, says, tmp_path):
    made = tmp_path / "made"
    r = run(args + ["--", "touch", str(made)], pid1=False)
    assert r.returncode == 2 and not made.exists(), r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert says in line, line


@pytest.mark.parametrize("sig", ["SEGV", "ILL"])
def test_rewrite_of_fault_signals_acts_now(podvisor_factory, sig):
    # Fault signals sent with kill are forwarded now, so --rewrite SEGV:X acts.
    from conftest import SANITIZER, helper
    if SANITIZER and sig == "SEGV":
        pytest.skip("the ASan build keeps SEGV for its own fault reports")
    pv = podvisor_factory(["--rewrite", f"{sig}:USR1", "--", helper("sigecho"), "c"])
    assert pv.readline() == "c ready"
    pv.signal(getattr(signal, f"SIG{sig}"))
    assert pv.readline() == f"c {int(signal.SIGUSR1)}"


def test_messages_keep_their_reason_and_brackets():
    r = run(["--prestop-delay", "x" * 3000, "--", "true"], pid1=False)
    assert r.returncode == 2
    assert r.stderr.rstrip().endswith("is not a duration (try 5s, 500ms, 1m)"), r.stderr[-200:]
    r = run(["--", ""], pid1=False)
    assert r.returncode == 127
    assert "searched PATH" not in r.stderr, r.stderr
    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run(["--probe-listen", f"[::1]:{port}", "--", "true"], pid1=False)
    assert r.returncode == 2
    assert f"[::1]:{port}" in r.stderr, r.stderr


@pytest.mark.parametrize("value", ["TERM::QUIT", ":TERM:QUIT", "TERM:QUIT:"])
def test_env_lists_with_empty_items_are_refused(value):
    r = run(["--", "true"], pid1=False, env=base_env(PODVISOR_REWRITE=value))
    assert r.returncode == 2
    assert f'PODVISOR_REWRITE: "{value}" has an empty item' in r.stderr, r.stderr


def test_pdeathsig_when_the_parent_died_before_it_was_armed(tmp_path):
    # A large config file keeps podvisor busy before it arms -p; its parent
    # dies meanwhile. podvisor must notice (a new parent) and act on TERM.
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"remap-exit": [3] * 300000}))
    pidfile = tmp_path / "pid"
    cmd = f"{PODVISOR} -p TERM --config {big} -- sleep 30"
    subprocess.run(["sh", "-c", f"{cmd} & echo $! > {pidfile}; sleep 0.05"],
                   env=base_env(), timeout=10, stderr=subprocess.DEVNULL)
    pid = int(pidfile.read_text())
    try:
        wait_for(lambda: proc_state(pid) in ("", "Z"),
                 timeout=20, what="podvisor to act on -p TERM")
    finally:
        if os.path.exists(f"/proc/{pid}"):
            for p in [pid] + descendants(pid):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
