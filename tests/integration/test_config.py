"""Config changes (--watch, --validate, --on-change, --restart-policy) and
sidecar mode, against ConfigMap volumes updated exactly as the kubelet's
AtomicWriter does (atomic_writer.py, docs/kubernetes.md)."""
import http.server
import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time

import pytest

from atomic_writer import ConfigMapVolume
from conftest import (PODVISOR, SANITIZER, Podvisor, base_env, children_of, free_port,
                      wait_for)
from kubelet import http_probe

# Scheduling slack for timings that are otherwise exact (the debounce);
# sanitizer builds run several times slower.
SLACK = 0.3 if SANITIZER else 0.1


@pytest.fixture
def cm(tmp_path):
    vol = ConfigMapVolume(tmp_path / "config")
    vol.update({"key": "v1"})
    return vol


def app_printing(vol, extra=""):
    """A child that prints its config on start (and on HUP)."""
    key = os.path.join(vol.path, "key")
    return ["sh", "-c",
            f"trap 'echo HUP $(cat {key})' HUP; {extra} echo start $(cat {key}); "
            "while :; do sleep 0.05; done"]


def status(port):
    r = http_probe(port, "/status")
    assert r.status == 200
    return json.loads(r.body)


def metric(port, name):
    body = http_probe(port, "/metrics").body
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no {name} in /metrics")


def start(vol, *args, cmd=None, pid1=True):
    pv = Podvisor(["--probe-listen", "127.0.0.1:0", "--watch", vol.path, *args, "--"] +
                  (cmd or app_printing(vol)), pid1=pid1)
    try:
        return pv, pv.probe_port()
    except BaseException:
        pv.kill()
        raise


def lines_until(pv, want, timeout=10.0):
    """stdout lines up to and including the first that starts with want."""
    got = []
    end = time.monotonic() + timeout
    while True:
        line = pv.readline(timeout=max(0.01, end - time.monotonic()))
        got.append(line)
        if line.startswith(want):
            return got


def err_line(pv, text, timeout=10.0):
    """Waits for a stderr line containing text; returns (line, when)."""
    end = time.monotonic() + timeout
    while True:
        try:
            line = pv.err_lines.get(timeout=max(0.01, end - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no stderr line with {text!r} within {timeout}s; podvisor's "
                                 f"stderr so far:\n{pv.stderr_so_far()}") from None
        if line is None:
            raise AssertionError(f"stderr closed before {text!r}")
        if text in line:
            return line, time.monotonic()


def stop(pv):
    pv.signal(signal.SIGTERM)
    return pv.wait(timeout=30)


def quiet_stdout(pv, seconds):
    """Asserts nothing is printed for that long."""
    try:
        line = pv.readline(timeout=seconds)
    except AssertionError:
        return
    raise AssertionError(f"unexpected output {line!r}")


def test_atomic_update_restarts_the_child_once(cm):
    pv, port = start(cm, "--debounce", "200ms")
    with pv:
        assert pv.readline() == "start v1"
        first = pv.child_pid()
        t0 = time.monotonic()
        cm.update({"key": "v2"})
        _, t_stop = err_line(pv, "sending stop signal SIGTERM")
        assert 0.2 <= t_stop - t0 <= 0.2 + SLACK, t_stop - t0
        assert pv.readline() == "start v2"
        quiet_stdout(pv, 0.6)  # once, not once per inotify event
        assert pv.child_pid() != first
        s = status(port)
        assert s["child"]["restarts_by_reason"]["config"] == 1
        want = subprocess.run([PODVISOR, "hash", cm.path], capture_output=True, text=True,
                              check=True).stdout.strip()
        assert s["config"]["hash"] == want
        assert s["config"]["changes"] == 1
        assert metric(port, 'podvisor_child_restarts_total{reason="config"}') == 1
        # What was done, as for the other actions (it stayed null).
        wait_for(lambda: status(port)["config"]["last_action"]["pending"] is False,
                 what="the restart recorded")
        action = status(port)["config"]["last_action"]
        pid = status(port)["child"]["pid"]   # as podvisor sees it (its namespace)
        assert action["ok"] and action["result"] == f"restart: child {pid} started"
        assert stop(pv) == 128 + signal.SIGTERM


HOLDS_ITS_PORT = r'''
import os, signal, socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
    s.listen()
except OSError as e:
    print("bind failed:", e, flush=True)
    sys.exit(3)
if os.fork() == 0:
    # A worker on the same socket that is slow to go: the kernel frees its
    # memory before its fds, so it holds the port a while after SIGKILL.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ballast = b"\x01" * (int(sys.argv[2]) << 20)
    print("worker ready", flush=True)
    while True:
        time.sleep(1)
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
while True:
    time.sleep(1)
'''


def test_a_restart_starts_the_command_once_the_old_group_is_gone(cm):
    """The new child was started as soon as SIGKILL went to the old group: a
    worker still freeing its memory kept the port, and the new child got
    EADDRINUSE (3 of 3 runs with 6 GB). It starts once the group is empty."""
    port = free_port()
    pv, probe = start(cm, "--debounce", "50ms",
                      cmd=["/usr/bin/python3", "-c", HOLDS_ITS_PORT, str(port), "512"])
    with pv:
        assert pv.readline(timeout=30) == "worker ready"
        cm.update({"key": "v2"})
        assert pv.readline(timeout=30) == "worker ready", pv.stderr_so_far()
        assert pv.proc.poll() is None
        assert "bind failed" not in pv.stderr_so_far()
        stop(pv)


def test_noop_update_and_touch_do_nothing(cm):
    pv, port = start(cm, "--debounce", "100ms")
    with pv:
        assert pv.readline() == "start v1"
        cm.update({"key": "v1"})  # same content, new ..data
        os.utime(os.path.join(cm.path, "key"))
        target = os.path.realpath(os.path.join(cm.path, "key"))
        with open(target, "w") as f:
            f.write("v1")  # a rewrite of the same bytes
        quiet_stdout(pv, 0.8)
        assert status(port)["config"]["changes"] == 0
        stop(pv)


def test_a_burst_of_1000_updates_is_at_most_two_restarts(cm):
    pv, port = start(cm)  # the default 500ms debounce
    with pv:
        assert pv.readline() == "start v1"
        t0 = time.monotonic()
        for i in range(1000):
            cm.update({"key": f"v{i + 2}"})
        burst = time.monotonic() - t0
        assert burst < 4, f"the writer itself took {burst:.1f}s"
        got = lines_until(pv, "start v1001", timeout=10)
        quiet_stdout(pv, 1.0)
        starts = [line for line in got if line.startswith("start")]
        assert 1 <= len(starts) <= 2, got
        assert status(port)["child"]["restarts_by_reason"]["config"] == len(starts)
        stop(pv)


def test_readiness_during_a_restart(cm):
    pv, port = start(cm, "--debounce", "50ms", "--prestop-delay", "1s")
    with pv:
        assert pv.readline() == "start v1"
        cm.update({"key": "v2"})
        err_line(pv, "-> restarting (config changed)")
        r = http_probe(port, "/readyz")
        assert r.status == 503 and "restarting" in r.body, r
        assert http_probe(port, "/livez").status == 200
        assert status(port)["state"] == "restarting"
        assert pv.readline(timeout=5) == "start v2"
        wait_for(lambda: http_probe(port, "/readyz").status == 200, what="ready again")
        assert http_probe(port, "/livez").status == 200
        stop(pv)


def test_sigterm_during_a_restart_wins(cm):
    pv, port = start(cm, "--debounce", "50ms", "--prestop-delay", "2s")
    with pv:
        assert pv.readline() == "start v1"
        cm.update({"key": "v2"})
        err_line(pv, "-> restarting")
        pv.signal(signal.SIGTERM)
        err_line(pv, "restarting -> draining (SIGTERM during a restart)")
        pv.signal(signal.SIGTERM)  # the second one cuts the delay short, as ever
        assert pv.wait(timeout=10) == 128 + signal.SIGTERM
        assert "start v2" not in "\n".join(iter_lines(pv))


def iter_lines(pv):
    out = []
    while True:
        try:
            line = pv.lines.get(timeout=0.5)
        except Exception:
            return out
        if line is None:
            return out
        out.append(line)


def test_on_change_signal_reloads_in_place(cm):
    pv, port = start(cm, "--debounce", "50ms", "--on-change", "signal:HUP")
    with pv:
        assert pv.readline() == "start v1"
        child = pv.child_pid()
        cm.update({"key": "v2"})
        assert pv.readline(timeout=5) == "HUP v2"
        assert pv.child_pid() == child
        s = status(port)
        assert s["config"]["reloads"] == 1 and s["child"]["restarts"] == 0
        assert s["config"]["last_action"]["ok"] is True
        assert metric(port, "podvisor_config_reloads_total") == 1
        stop(pv)


def test_on_change_exec_runs_the_command(cm, tmp_path):
    out = tmp_path / "exec-out"
    key = os.path.join(cm.path, "key")
    pv, port = start(cm, "--debounce", "50ms", "--on-change",
                     f"exec:sh -c 'cat {key} > {out}; echo ran'")
    with pv:
        assert pv.readline() == "start v1"
        child = pv.child_pid()
        cm.update({"key": "v2"})
        assert pv.readline(timeout=5) == "ran"  # its output passes through
        wait_for(lambda: out.exists() and out.read_text() == "v2", what="the exec to run")
        err_line(pv, "exited with status 0")
        wait_for(lambda: status(port)["config"]["last_action"]["ok"], what="the result")
        assert status(port)["config"]["last_action"]["result"] == "exec: exited with status 0"
        assert pv.child_pid() == child
        stop(pv)


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        srv = self.server
        srv.posts.append((time.monotonic(), self.path, json.loads(body)))
        with srv.lock:
            srv.inflight += 1
            srv.max_inflight = max(srv.max_inflight, srv.inflight)
        time.sleep(srv.delay)   # the app's reload, as long as it takes
        with srv.lock:
            srv.inflight -= 1
        code = srv.codes.pop(0) if srv.codes else 200
        self.send_response(code)
        self.send_header("Content-Length", str(len(srv.reply)))
        self.end_headers()
        self.wfile.write(srv.reply)

    def log_message(self, *a):
        pass


@pytest.fixture
def hook():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    srv.posts, srv.codes = [], []
    srv.delay, srv.reply, srv.inflight, srv.max_inflight = 0, b"", 0, 0
    srv.lock = threading.Lock()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_on_change_webhook_is_retried_after_a_500(cm, hook):
    hook.codes = [500]
    url = f"http://127.0.0.1:{hook.server_address[1]}/-/reload"
    pv, port = start(cm, "--debounce", "50ms", "--on-change", f"webhook:{url}")
    with pv:
        assert pv.readline() == "start v1"
        child = pv.child_pid()
        cm.update({"key": "v2"})
        wait_for(lambda: len(hook.posts) >= 2, timeout=10, what="the retry")
        (t1, path, body), (t2, _, _) = hook.posts[:2]
        assert path == "/-/reload"
        assert body["hash"] == status(port)["config"]["hash"]
        assert body["paths"] == [cm.path]
        assert 0.9 <= t2 - t1 <= 2.0, t2 - t1  # the first retry after 1s
        err_line(pv, "HTTP 500; retrying in 1.0s")
        wait_for(lambda: status(port)["config"]["last_action"]["ok"], what="success recorded")
        assert metric(port, "podvisor_config_action_failures_total") == 1
        assert pv.child_pid() == child
        time.sleep(1.5)
        assert len(hook.posts) == 2  # no more once it succeeded
        stop(pv)


def test_webhook_one_post_in_flight_changes_coalesce_and_a_timeout_is_not_retried(cm, hook):
    """A reload slower than podvisor waits (a large Prometheus config) was
    timed out and POSTed again while it still ran: 5 POSTs for one change;
    a storm of changes aborted the POST in flight and posted again at once
    (10 reloads at once). One POST in flight; the latest change waits."""
    hook.delay, hook.reply = 1.5, b"INJECTED log line\n{\"level\":\"error\"}\n"
    url = f"http://127.0.0.1:{hook.server_address[1]}/-/reload"
    pv, port = start(cm, "--debounce", "0", "--on-change", f"webhook:{url}")
    with pv:
        assert pv.readline() == "start v1"
        for i in range(2, 12):
            cm.update({"key": f"v{i}"})
            time.sleep(0.1)
        final = status(port)["config"]["hash"]
        wait_for(lambda: hook.posts and hook.posts[-1][2]["hash"] == final, timeout=15,
                 what="the last change posted")
        wait_for(lambda: hook.inflight == 0, timeout=5, what="the last answer")
        time.sleep(0.5)
        assert hook.max_inflight == 1
        assert 2 <= len(hook.posts) <= 3, [p[2]["hash"] for p in hook.posts]
        assert "INJECTED" not in pv.stderr_so_far()      # the answer's body is dropped
        stop(pv)
    # A reload longer than --webhook-timeout: given up on, never posted again.
    hook.posts.clear()
    hook.delay = 3
    pv, port = start(cm, "--debounce", "0", "--webhook-timeout", "1s", "--on-change",
                     f"webhook:{url}")
    with pv:
        assert pv.readline().startswith("start v")
        cm.update({"key": "timeout"})
        err_line(pv, "no answer within --webhook-timeout 1000ms; not retried")
        time.sleep(3)
        assert len(hook.posts) == 1
        assert status(port)["config"]["last_action"]["ok"] is False
        # A newer change waiting when the POST times out is posted then; the
        # app may still be reloading the last one, and the log says so.
        cm.update({"key": "timeout-2"})
        wait_for(lambda: len(hook.posts) == 2, what="the second POST", err=pv.stderr_so_far)
        cm.update({"key": "timeout-3"})
        err_line(pv, "posting the newer change now, while the app may still be reloading")
        stop(pv)


def test_validate_that_writes_much_is_not_refused_for_it(cm):
    """A validator's output went into a non-blocking pipe: past 64 KiB it
    got EAGAIN and a valid config was refused."""
    pv, port = start(cm, "--debounce", "50ms", "--on-change", "signal:HUP", "--validate",
                     "/usr/bin/python3 -c 'import os; [os.write(1, b\"x\" * 65536) for _ in range(5)]'")
    with pv:
        assert pv.readline() == "start v1"
        cm.update({"key": "v2"})
        err_line(pv, "--validate passed")
        assert pv.readline(timeout=5) == "HUP v2"
        stop(pv)


def test_a_file_touched_all_the_time_does_not_hold_a_change_back(cm):
    """The debounce waited for quiet without bound: a file touched every
    200 ms held a real change back 8 s (and for ever if it kept on)."""
    pv, port = start(cm, "--on-change", "signal:HUP")   # --debounce 500ms
    stop_touching = threading.Event()
    noisy = os.path.join(cm.path, "..noisy")

    def touch():
        while not stop_touching.wait(0.2):
            with open(noisy, "w") as f:
                f.write("x")

    toucher = threading.Thread(target=touch, daemon=True)
    with pv:
        try:
            assert pv.readline() == "start v1"
            toucher.start()
            time.sleep(1)
            t0 = time.monotonic()
            cm.update({"key": "v2"})
            assert pv.readline(timeout=10) == "HUP v2"
            assert time.monotonic() - t0 < 2.0 + 0.5 + SLACK * 5   # 4 x 500ms bounds it
        finally:
            stop_touching.set()
            if toucher.is_alive():
                toucher.join()
        stop(pv)


def test_what_is_applied_is_what_was_validated(cm):
    """A good change passed --validate while a bad one landed on disk: the
    app was signalled onto the bad one, while the log said it was refused.
    Now a change during a validation stops it (its verdict would be on
    content gone), and the content on disk is validated instead."""
    key = os.path.join(cm.path, "key")
    # The validator reads the files when it starts, and takes a second.
    pv, port = start(cm, "--debounce", "50ms", "--on-change", "signal:HUP", "--validate",
                     f"sh -c 'c=$(cat {key}); sleep 1; case $c in v*) ;; *) exit 1;; esac'")
    with pv:
        assert pv.readline() == "start v1"
        cm.update({"key": "v2"})
        err_line(pv, "config changed")          # v2's validation is running
        time.sleep(0.3)
        cm.update({"key": "broken"})
        err_line(pv, "stopped after")           # v2's verdict would be on content gone
        err_line(pv, "config change refused")   # broken, validated and refused
        quiet_stdout(pv, 0.5)                   # no HUP: nothing was applied
        s = status(port)
        assert s["config"]["last_refused_change"]["hash"] != s["config"]["hash"]
        # POST-free check of the same rule: the next good change goes through.
        cm.update({"key": "v3"})
        assert pv.readline(timeout=10) == "HUP v3"
        stop(pv)


def test_a_restart_not_yet_stopping_is_cancelled_by_a_refusal(cm):
    """A change refused during a restart's prestop delay: the new child was
    started on the refused content (before --validate's verdict, then after
    it). The child's stop signal had not gone out: it still runs the last
    good content, so the restart is cancelled and it is kept, ready again;
    the stop waits for a verdict still running when the delay ends."""
    key = os.path.join(cm.path, "key")
    pv, port = start(cm, "--debounce", "50ms", "--prestop-delay", "300ms", "--validate",
                     f"sh -c 'c=$(cat {key}); case $c in v*) ;; *) sleep 1; exit 1;; esac'")
    with pv:
        assert pv.readline() == "start v1"
        cm.update({"key": "v2"})
        err_line(pv, "-> restarting (config changed)")
        cm.update({"key": "broken"})            # during the prestop delay
        line, _ = err_line(pv, "config change refused")
        assert "the running child is kept" in line, line
        err_line(pv, "the restart is cancelled, the child is kept")
        wait_for(lambda: status(port)["state"] == "ready", what="ready again",
                 err=pv.stderr_so_far)
        assert status(port)["child"]["restarts"] == 0
        assert "sending stop signal" not in pv.stderr_so_far()
        # a good change afterwards restarts as usual
        cm.update({"key": "v3"})
        assert pv.readline(timeout=15) == "start v3"
        stop(pv)


def test_a_restart_starts_the_child_after_the_validation_in_flight(cm):
    """With the stop signal out (--socket skips the prestop delay), the old
    child is going: the new one starts only after --validate's verdict on a
    change that landed meanwhile, and when refused, the log says the files
    cannot be un-written."""
    key = os.path.join(cm.path, "key")
    pv, port = start(cm, "--debounce", "50ms", "--socket", f"tcp://127.0.0.1:{free_port()}",
                     "--validate",
                     f"sh -c 'c=$(cat {key}); case $c in v*) ;; *) sleep 1; exit 1;; esac'",
                     cmd=app_printing(cm, extra="trap 'sleep 1; exit 0' TERM;"))
    with pv:
        assert pv.readline() == "start v1"
        cm.update({"key": "v2"})
        err_line(pv, "sending stop signal")
        cm.update({"key": "broken"})            # while the old child stops
        line, refused_at = err_line(pv, "config change refused")
        _, warned_at = err_line(pv, "the child starts on files that hold a change --validate "
                                    "refused")
        assert pv.readline() == "start broken"  # the files cannot be un-written: said so
        assert warned_at >= refused_at
        stop(pv)


def test_under_nohup_the_on_change_signal_still_reaches_a_shell_trap(cm):
    """Started with HUP ignored (nohup), --on-change signal:HUP did nothing
    for a shell app: a non-interactive shell cannot trap a signal ignored
    on entry. podvisor sends HUP, so the app gets it at its default
    disposition, and its trap works."""
    with Podvisor(["--probe-listen", "off", "--watch", cm.path, "--debounce", "50ms",
                   "--on-change", "signal:HUP", "--"] + app_printing(cm),
                  preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN)) as pv:
        assert pv.readline() == "start v1"
        cm.update({"key": "v2"})
        assert pv.readline(timeout=15) == "HUP v2"
        stop(pv)


def test_a_command_that_cannot_run_is_reported_as_that(cm):
    """A validator or exec: action that cannot run was reported as "killed
    by SIGKILL" (137) or 127 by turns; the chart's sidecar rendered
    --validate 'nginx -t' into an image without nginx."""
    pv, port = start(cm, "--debounce", "50ms", "--validate", "no-such-validator -t",
                     "--on-change", "exec:no-such-action now")
    with pv:
        assert pv.readline() == "start v1"
        cm.update({"key": "v2"})
        line, _ = err_line(pv, "config change refused")
        assert 'cannot run "no-such-validator": No such file or directory' in line, line
        wait_for(lambda: status(port)["config"]["last_refused_change"], what="the refusal")
        refused = status(port)["config"]["last_refused_change"]
        assert refused["validate"] == {"how": "exit", "signal": None, "exit_code": 127}, refused
        assert "cannot run" in refused["output"]
        stop(pv)
    pv, port = start(cm, "--debounce", "50ms", "--on-change", "exec:no-such-action now")
    with pv:
        assert pv.readline() == "start v2"
        cm.update({"key": "v3"})
        line, _ = err_line(pv, 'on-change "exec:no-such-action now"')
        assert 'cannot run "no-such-action": No such file or directory' in line, line
        wait_for(lambda: status(port)["config"]["last_action"] and
                 not status(port)["config"]["last_action"]["pending"], what="the result")
        assert status(port)["config"]["last_action"]["result"] == \
            'exec: cannot run "no-such-action": No such file or directory'
        stop(pv)


def test_webhook_never_goes_through_a_proxy(cm, hook):
    """The webhook went through http_proxy even to 127.0.0.1 (the checks and
    probe never do): with a dead proxy set, the POST still arrives."""
    url = f"http://127.0.0.1:{hook.server_address[1]}/-/reload"
    dead = "http://127.0.0.1:1"
    with Podvisor(["--probe-listen", "127.0.0.1:0", "--watch", cm.path, "--debounce", "50ms",
                   "--on-change", f"webhook:{url}", "--", *app_printing(cm)],
                  env=base_env(http_proxy=dead, HTTP_PROXY=dead, all_proxy=dead,
                               ALL_PROXY=dead, no_proxy=None, NO_PROXY=None)) as pv:
        assert pv.readline() == "start v1"
        cm.update({"key": "v2"})
        wait_for(lambda: hook.posts, what="the POST, not through the proxy")
        stop(pv)


def test_webhook_https_verifies_against_webhook_ca(cm, hook, tmp_path):
    """webhook:https always verified, with no way to give a CA."""
    import ssl
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "ca.pem")],
                   check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(tmp_path / "ca.pem"), str(tmp_path / "key.pem"))
    hook.socket = ctx.wrap_socket(hook.socket, server_side=True)
    url = f"https://127.0.0.1:{hook.server_address[1]}/-/reload"
    pv, port = start(cm, "--debounce", "50ms", "--on-change", f"webhook:{url}")
    with pv:
        assert pv.readline() == "start v1"
        cm.update({"key": "v2"})
        line, _ = err_line(pv, "retrying in")      # the system's CAs do not know it
        assert not hook.posts
        stop(pv)
    pv, port = start(cm, "--debounce", "50ms", "--webhook-ca", str(tmp_path / "ca.pem"),
                     "--on-change", f"webhook:{url}")
    with pv:
        assert pv.readline() == "start v2"
        cm.update({"key": "v3"})
        wait_for(lambda: hook.posts, what="the POST through TLS")
        err_line(pv, "HTTP 200")
        stop(pv)
    r = subprocess.run([PODVISOR, "--webhook-ca", str(tmp_path / "nope.pem"), "--", "true"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "--webhook-ca" in r.stderr and "No such file" in r.stderr


def test_validate_refuses_a_broken_change(cm, tmp_path):
    key = os.path.join(cm.path, "key")
    pv, port = start(cm, "--debounce", "50ms", "--validate",
                     f"sh -c 'grep -q ^v {key} || {{ echo \"line 1: not a version\"; exit 3; }}'")
    with pv:
        assert pv.readline() == "start v1"
        child = pv.child_pid()
        cm.update({"key": "broken"})
        line, _ = err_line(pv, "config change refused")
        assert "exited with status 3" in line and "line 1: not a version" in line, line
        s = status(port)
        assert s["config"]["refused"] == 1
        refused = s["config"]["last_refused_change"]
        assert refused["validate"]["exit_code"] == 3
        assert refused["output"] == "line 1: not a version\n"
        assert pv.child_pid() == child and s["state"] == "ready"
        assert metric(port, "podvisor_config_refused_total") == 1
        quiet_stdout(pv, 0.3)
        # A later, good change goes through.
        cm.update({"key": "v3"})
        assert pv.readline(timeout=5) == "start v3"
        stop(pv)


def test_watched_directory_deleted_and_recreated(tmp_path):
    vol = ConfigMapVolume(tmp_path / "cm")
    vol.update({"key": "v1"})
    pv, port = start(vol, "--debounce", "100ms")
    with pv:
        assert pv.readline() == "start v1"
        shutil.rmtree(vol.path)
        err_line(pv, "disappeared; waiting for it to come back")
        time.sleep(1.0)
        # No busy loop while it is gone: podvisor used almost no CPU.
        with open(f"/proc/{pv.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        assert cpu < 0.5, cpu
        quiet_stdout(pv, 0.1)  # a vanished config is not acted on
        vol = ConfigMapVolume(tmp_path / "cm")
        vol.update({"key": "v2"})
        assert pv.readline(timeout=5) == "start v2"
        # And it is watched again.
        vol.update({"key": "v3"})
        assert pv.readline(timeout=5) == "start v3"
        stop(pv)


def test_a_path_that_appears_late(tmp_path):
    late = tmp_path / "later" / "cm"
    with Podvisor(["--probe-listen", "127.0.0.1:0", "--watch", str(late), "--debounce", "100ms",
                   "--", "sh", "-c", f"echo start $(cat {late}/key 2>/dev/null); "
                   "while :; do sleep 0.05; done"]) as pv:
        err_line(pv, "does not exist (yet): watching for it to appear")
        assert pv.readline() == "start"
        vol = ConfigMapVolume(late)
        vol.update({"key": "v1"})
        assert pv.readline(timeout=5) == "start v1"
        vol.update({"key": "v2"})
        assert pv.readline(timeout=5) == "start v2"
        stop(pv)


def test_an_unmounted_volume_is_a_gap_not_a_change(tmp_path):
    """After the watched tmpfs was unmounted podvisor acted on the directory
    underneath (an empty config): now it waits for the volume to return."""
    d = tmp_path / "vol"
    d.mkdir()
    (d / "under").write_text("the directory underneath")
    if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(d)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    mounted = True
    others_mounted = []
    try:
        (d / "key").write_text("v1")
        with Podvisor(["--watch", str(d), "--debounce", "50ms", "--on-change",
                       "exec:echo acted", "--", "sh", "-c", "echo up; while :; do sleep 0.05; done"],
                      pid1=False) as pv:
            assert pv.readline() == "up"
            subprocess.run(["umount", str(d)], check=True)
            mounted = False
            err_line(pv, "volume unmounted?)")
            time.sleep(0.5)
            assert "config changed" not in pv.stderr_so_far()
            # Another mount takes the freed device number meanwhile (what
            # podman and the kubelet do all the time), so the volume comes
            # back on a new one: it is back all the same. Podvisor waited
            # for the old number for good.
            other = tmp_path / "other"
            other.mkdir()
            subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(other)], check=True)
            others_mounted.append(other)
            # Back, with new content: acted on once.
            subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(d)], check=True)
            mounted = True
            (d / "key").write_text("v2")
            err_line(pv, "is back")
            assert pv.readline(timeout=5) == "acted"
            stop(pv)
    finally:
        if mounted:
            subprocess.run(["umount", str(d)])
        for other in others_mounted:
            subprocess.run(["umount", str(other)])


def test_a_nested_configmap_item_is_not_taken_for_a_subpath_mount(tmp_path):
    """An item with a path (a/b/key) is a plain file under the link a ->
    ..data/a: the kubelet updates it like any key, no warning is due."""
    vol = ConfigMapVolume(tmp_path / "cm")
    vol.update({"a/b/key": "v1"})
    key = os.path.join(vol.path, "a", "b", "key")
    with Podvisor(["--watch", key, "--debounce", "50ms", "--on-change", "none", "--",
                   "sh", "-c", "echo up; while :; do sleep 0.05; done"]) as pv:
        assert pv.readline() == "up"
        time.sleep(0.3)
        assert "is a plain file" not in pv.stderr_so_far()
        stop(pv)


def test_a_plain_file_is_warned_about_as_a_subpath_mount(tmp_path):
    f = tmp_path / "app.conf"
    f.write_text("v1")
    with Podvisor(["--watch", str(f), "--debounce", "50ms", "--", "sh", "-c",
                   f"echo start $(cat {f}); while :; do sleep 0.05; done"]) as pv:
        line, _ = err_line(pv, "is a plain file")
        assert "subPath" in line
        assert pv.readline() == "start v1"
        # Plain edits still count outside Kubernetes.
        f.write_text("v2")
        assert pv.readline(timeout=5) == "start v2"
        tmp = tmp_path / "app.conf.tmp"
        tmp.write_text("v3")
        os.rename(tmp, f)  # an editor's save
        assert pv.readline(timeout=5) == "start v3"
        stop(pv)


def test_a_key_watched_alone_sees_the_data_swap(cm):
    key = os.path.join(cm.path, "key")
    with Podvisor(["--watch", key, "--debounce", "50ms", "--", "sh", "-c",
                   f"echo start $(cat {key}); while :; do sleep 0.05; done"]) as pv:
        assert pv.readline() == "start v1"
        cm.update({"key": "v2"})
        assert pv.readline(timeout=5) == "start v2"
        assert "plain file" not in "".join(pv._err)
        stop(pv)


def test_inotify_queue_overflow_rescans(tmp_path):
    """With a tiny inotify queue and podvisor frozen while files churn, the
    kernel drops events (IN_Q_OVERFLOW): podvisor rescans and acts once."""
    knob = "/proc/sys/fs/inotify/max_queued_events"
    with open(knob) as f:
        saved = f.read().strip()
    d = tmp_path / "plain"
    d.mkdir()
    (d / "a").write_text("v1")
    def restore():
        with open(knob, "w") as f:
            f.write(saved)  # the instance podvisor made keeps its limit

    with open(knob, "w") as f:
        f.write("4")
    try:
        pv = Podvisor(["--watch", str(d), "--debounce", "100ms", "--", "sh", "-c",
                       f"echo start $(cat {d}/a); while :; do sleep 0.05; done"])
    except BaseException:
        restore()
        raise
    with pv:
        try:
            assert pv.readline() == "start v1"
        finally:
            restore()
        pv.signal(signal.SIGSTOP)
        for i in range(50):
            (d / f"f{i}").write_text("x")
        (d / "a").write_text("v2")
        pv.signal(signal.SIGCONT)
        err_line(pv, "inotify queue overflowed")
        assert pv.readline(timeout=5) == "start v2"
        quiet_stdout(pv, 0.5)
        stop(pv)


def test_restart_policy_on_failure_backs_off(tmp_path):
    # The child stamps its own start and exit (CLOCK_MONOTONIC, shared with
    # this process): the time a test thread reads a line says nothing exact.
    count = tmp_path / "count"
    script = ("import os, sys, time\n"
              f"p = {str(count)!r}\n"
              "n = int(open(p).read()) + 1 if os.path.exists(p) else 1\n"
              "open(p, 'w').write(str(n))\n"
              "print('run', n, time.monotonic(), flush=True)\n"
              "print('exit', n, time.monotonic(), flush=True)\n"
              "os._exit(0 if n >= 3 else 1)\n")
    started, exited = [], []
    with Podvisor(["--probe-listen", "127.0.0.1:0", "--restart-policy", "on-failure",
                   "--backoff-initial", "200ms", "--backoff-max", "1s", "--",
                   "/usr/bin/python3", "-c", script]) as pv:
        for n in (1, 2, 3):
            run, exit_ = pv.readline(timeout=5).split(), pv.readline(timeout=5).split()
            assert run[:2] == ["run", str(n)] and exit_[:2] == ["exit", str(n)]
            started.append(float(run[2]))
            exited.append(float(exit_[2]))
        assert pv.wait(timeout=10) == 0  # the clean exit ends it (on-failure)
    # Doubling: 200ms, then 400ms, from one run's exit to the next one's start.
    gaps = [started[1] - exited[0], started[2] - exited[1]]
    assert 0.2 <= gaps[0] <= 0.2 + SLACK + 0.1, gaps
    assert 0.4 <= gaps[1] <= 0.4 + SLACK + 0.1, gaps
    assert "restarting -> running (child started again)" in pv.stderr


def test_restart_policy_keeps_liveness_and_fails_readiness(tmp_path):
    with Podvisor(["--probe-listen", "127.0.0.1:0", "--restart-policy", "always",
                   "--backoff-initial", "2s", "--", "sh", "-c", "echo run; exit 7"]) as pv:
        port = pv.probe_port()
        assert pv.readline() == "run"
        wait_for(lambda: status(port)["state"] == "restarting", what="the backoff")
        r = http_probe(port, "/readyz")
        assert r.status == 503 and "restarting (crash): next start in" in r.body, r
        assert http_probe(port, "/livez").status == 200
        s = status(port)
        assert s["child"]["last_exit"]["exit_code"] == 7
        # SIGTERM while waiting: exits at once with the last status.
        t0 = time.monotonic()
        pv.signal(signal.SIGTERM)
        assert pv.wait(timeout=5) == 7
        assert time.monotonic() - t0 < 1.5


# --- sidecar mode ------------------------------------------------------------

def test_sidecar_posts_a_webhook_and_stops_with_0_on_sigterm(cm, hook):
    url = f"http://127.0.0.1:{hook.server_address[1]}/reload"
    with Podvisor(["--probe-listen", "127.0.0.1:0", "--watch", cm.path, "--debounce", "50ms",
                   "--on-change", f"webhook:{url}"]) as pv:
        port = pv.probe_port()
        wait_for(lambda: http_probe(port, "/readyz").status == 200, what="ready")
        s = status(port)
        assert s["mode"] == "sidecar" and s["child"]["pid"] is None
        cm.update({"key": "v2"})
        wait_for(lambda: len(hook.posts) == 1, timeout=5, what="the POST")
        wait_for(lambda: status(port)["config"]["last_action"]["ok"], what="the result")
        t0 = time.monotonic()
        pv.signal(signal.SIGTERM)
        assert pv.wait(timeout=5) == 0
        assert time.monotonic() - t0 < 1.0


def test_sidecar_signals_the_top_of_a_named_tree(cm, tmp_path):
    """A process tree named like the app (a master and a worker of the same
    name), started outside podvisor as another container's would be: the
    master gets the signal, the worker does not."""
    fake = tmp_path / "fakenginx"
    shutil.copy("/bin/sh", fake)
    out = tmp_path / "got"
    worker = f"trap 'echo worker >> {out}' HUP; while :; do sleep 0.05; done"
    master = (f"trap 'echo master >> {out}' HUP; {fake} -c \"{worker}\" & "
              "while :; do sleep 0.05; done")
    app = subprocess.Popen([str(fake), "-c", master], env=base_env(), start_new_session=True)
    pv = None
    try:
        wait_for(lambda: [k for k in children_of(app.pid) if _comm(k) == "fakenginx"],
                 what="the worker")
        pv = Podvisor(["--probe-listen", "127.0.0.1:0", "--watch", cm.path, "--debounce", "50ms",
                       "--on-change", "signal:HUP", "--signal-process", "fakenginx"], pid1=False)
        err_line(pv, f"--signal-process fakenginx: found (pid {app.pid})")
        cm.update({"key": "v2"})
        wait_for(lambda: out.exists() and out.read_text() == "master\n", what="the HUP")
        time.sleep(0.3)
        assert out.read_text() == "master\n"  # the worker got nothing
        port = pv.probe_port()
        assert f"SIGHUP sent to {app.pid}" in status(port)["config"]["last_action"]["result"]
        assert stop(pv) == 0
    finally:
        if pv:
            pv.kill()
        os.killpg(app.pid, signal.SIGKILL)
        app.wait()


def _comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def test_sidecar_says_when_the_process_is_not_visible(cm):
    with Podvisor(["--watch", cm.path, "--debounce", "50ms", "--on-change", "signal:HUP",
                   "--signal-process", "no-such-app"]) as pv:
        line, _ = err_line(pv, "--signal-process: no process named no-such-app is visible")
        assert "shareProcessNamespace: true" in line
        cm.update({"key": "v2"})
        err_line(pv, "on-change signal:HUP: no process named no-such-app")
        assert stop(pv) == 0


def test_sidecar_needs_an_action_it_can_do(cm):
    r = subprocess.run([PODVISOR, "--watch", cm.path], capture_output=True, text=True,
                       env=base_env())
    assert r.returncode == 2
    assert "--on-change restart needs a COMMAND" in r.stderr


def test_hash_subcommand(cm, tmp_path):
    r = subprocess.run([PODVISOR, "hash", cm.path], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("sha256:") and len(r.stdout) == 72
    same = subprocess.run([PODVISOR, "hash", os.path.join(cm.path, "..data")],
                          capture_output=True, text=True).stdout
    assert same == r.stdout  # the visible keys are the ..data content
    r = subprocess.run([PODVISOR, "hash", str(tmp_path / "nope")], capture_output=True, text=True)
    assert r.returncode == 1 and "No such file" in r.stderr


def test_hash_of_a_tree_with_loops_and_links_out_is_quick(tmp_path):
    """Two links to "." took 2 s, three over 20 s, a link to / forever, at
    100% CPU before the app started; a 2 GB file blocked /livez for 1.9 s."""
    d = tmp_path / "conf"
    d.mkdir()
    (d / "k").write_text("v")
    for name, to in (("a", "."), ("b", "."), ("c", "."), ("root", "/")):
        os.symlink(to, d / name)
    with open(d / "big", "wb") as f:
        f.truncate(10 << 30)
    t0 = time.monotonic()
    r = subprocess.run([PODVISOR, "hash", str(d)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.startswith("sha256:"), r.stderr
    assert time.monotonic() - t0 < 5
    assert "warning:" in r.stderr and str(d) in r.stderr, r.stderr
    # The watcher says what it left out, once, and starts the app at once.
    port = free_port()
    pv = Podvisor(["--probe-listen", f"127.0.0.1:{port}", "--watch", str(d), "--on-change",
                   "signal:HUP", "--", "sleep", "60"], pid1=False)
    try:
        wait_for(lambda: http_probe(port, "/readyz").ok, timeout=5, what="ready")
        # stderr is read by a thread: the line may lag the probe's answer
        wait_for(lambda: "--watch: " in pv.stderr_so_far() and
                 "symlink loop" in pv.stderr_so_far(), timeout=5, what="the warning")
    finally:
        pv.signal(signal.SIGTERM)
        pv.wait(timeout=10)


# --- end to end: nginx from Debian ---------------------------------------------

def _get(port):
    import urllib.request
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
            return r.read().decode().strip()
    except OSError:
        return None


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx not installed")
def test_nginx_reloads_a_validated_config_and_refuses_a_broken_one(tmp_path):
    from conftest import free_port, nginx_conf
    run = tmp_path / "run"
    run.mkdir()
    port = free_port()
    vol = ConfigMapVolume(tmp_path / "nginx-config")

    def conf(body, extra=""):
        return {"nginx.conf": nginx_conf(run, port, body, extra)}

    vol.update(conf("version 1"))
    conf_path = os.path.join(vol.path, "nginx.conf")
    nginx = ["nginx", "-e", "stderr", "-p", str(run), "-c", conf_path]
    pv = Podvisor(["--probe-listen", "127.0.0.1:0", "--watch", vol.path, "--debounce", "100ms",
                   "--validate", f"nginx -t -q -e stderr -p {run} -c {conf_path}",
                   "--on-change", "signal:HUP", "--stop-signal", "QUIT", "--"] + nginx)
    probe = pv.probe_port()
    try:
        wait_for(lambda: _get(port) == "version 1", what="nginx to serve version 1")
        master = pv.child_pid()
        vol.update(conf("version 2"))
        wait_for(lambda: _get(port) == "version 2", what="nginx to serve version 2")
        assert pv.child_pid() == master  # reloaded in place, not restarted
        s = status(probe)
        assert s["signals_forwarded"] == {"HUP": 1}
        assert s["config"]["reloads"] == 1
        # A broken config: refused by nginx -t, never signalled.
        vol.update(conf("version 3", extra="bogus_directive on;"))
        line, _ = err_line(pv, "config change refused")
        assert "bogus_directive" in line, line
        for _ in range(5):
            assert _get(port) == "version 2"
            time.sleep(0.1)
        s = status(probe)
        assert s["signals_forwarded"] == {"HUP": 1}
        assert s["config"]["refused"] == 1
        assert "bogus_directive" in s["config"]["last_refused_change"]["output"]
        assert s["state"] == "ready"
        # Fixed again: it goes through.
        vol.update(conf("version 4"))
        wait_for(lambda: _get(port) == "version 4", what="nginx to serve version 4")
    finally:
        pv.signal(signal.SIGTERM)
        assert pv.wait(timeout=30) == 0  # nginx exits 0 on QUIT
