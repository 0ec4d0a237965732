"""exec and notify checks, sd_notify (with gunicorn from Debian), the watchdog,
MAINPID, and the admin listener, against the real binary."""
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import http.client

import pytest

from conftest import Podvisor, children_of, free_port, proc_state, run, wait_for
from kubelet import http_probe

HERE = os.path.dirname(os.path.abspath(__file__))
NOTIFY_APP = os.path.join(HERE, "apps", "notify_app.py")
PY = "/usr/bin/python3"


def probe(port, path):
    return http_probe(port, path, timeout=2)


def status(port):
    r = probe(port, "/status")
    assert r.status == 200, r
    return json.loads(r.body)


def notify_status(port):
    """/status's notify part, {} while the probe server is not up yet."""
    r = probe(port, "/status")
    return json.loads(r.body).get("notify") or {} if r.status == 200 else {}


def stop(pv, code=None):
    if pv.proc.poll() is None:
        pv.signal(signal.SIGTERM)
        rc = pv.wait(timeout=15)
        if code is not None:
            assert rc == code, pv.stderr
    pv.kill()


def notify_app(*steps):
    return [PY, NOTIFY_APP, *steps]


# --- exec checks -------------------------------------------------------------

def test_exec_check_follows_the_command_and_says_why(tmp_path):
    flag = tmp_path / "ok"
    pp = free_port()
    check = f"exec:sh -c 'test -e {flag} || {{ echo not yet; exit 3; }}'"
    with Podvisor(["--probe-listen", f"127.0.0.1:{pp}", "--check-interval", "100ms",
                   "--ready-check", check, "--", "sleep", "60"]) as pv:
        wait_for(lambda: "exited with status 3: not yet" in
                 probe(pp, "/readyz?verbose").body, what="the failure and its output")
        assert probe(pp, "/readyz").status == 503
        flag.touch()
        wait_for(lambda: probe(pp, "/readyz").ok, what="ready")
        flag.unlink()
        wait_for(lambda: probe(pp, "/readyz").status == 503, what="unready again")
        (c,) = status(pp)["checks"]
        assert c["name"] == check and c["runs"] >= 3 and c["failures"] >= 2
        # Every run is reaped: no zombie piles up under podvisor.
        time.sleep(0.5)
        zombies = [p for p in children_of(pv.pid) if proc_state(p) == "Z"]
        assert len(zombies) <= 1, zombies   # at most one just exiting
        stop(pv, 143)


def test_exec_check_that_writes_much_passes():
    """Past 64 KiB of output a check's writes got EAGAIN: never ready."""
    pp = free_port()
    with Podvisor(["--probe-listen", f"127.0.0.1:{pp}", "--check-interval", "100ms",
                   "--ready-check",
                   "exec:/usr/bin/python3 -c 'import os; [os.write(1, b\"x\" * 65536) for _ in range(5)]'",
                   "--",
                   "sleep", "60"]) as pv:
        wait_for(lambda: probe(pp, "/readyz").ok, what="the check to pass")
        time.sleep(0.5)
        (c,) = status(pp)["checks"]
        assert c["runs"] >= 3 and c["failures"] == 0, c
        stop(pv, 143)


def test_exec_check_timeout_kills_its_whole_group(tmp_path):
    marker = tmp_path / "grandchild"
    pp = free_port()
    # The check starts a grandchild that would outlive it, then hangs.
    check = f"exec:sh -c 'sleep 300 & echo $! > {marker}; sleep 300'"
    # Not PID 1: the pid the check writes is then one this test can look up.
    with Podvisor(["--probe-listen", f"127.0.0.1:{pp}", "--check-interval", "300ms",
                   "--check-timeout", "400ms", "--ready-check", check, "--", "sleep", "60"],
                  pid1=False) as pv:
        wait_for(lambda: "timed out after 400ms (killed)" in
                 probe(pp, "/readyz?verbose").body, timeout=10, what="the timeout")
        wait_for(lambda: marker.exists() and marker.read_text().strip(),
                 what="the grandchild's pid")
        grandchild = int(marker.read_text())
        # Killed with its group (it is reaped by podvisor, the subreaper).
        wait_for(lambda: grandchild not in children_of(pv.pid) and
                 not os.path.exists(f"/proc/{grandchild}"), timeout=5,
                 what="the grandchild gone")
        # /livez answers at once while checks hang.
        t0 = time.monotonic()
        assert probe(pp, "/livez").ok and time.monotonic() - t0 < 0.5
        stop(pv, 143)


def test_exec_check_that_cannot_run_says_so():
    pp = free_port()
    with Podvisor(["--probe-listen", f"127.0.0.1:{pp}", "--check-interval", "100ms",
                   "--ready-check", "exec:/nonexistent/check", "--", "sleep", "60"]) as pv:
        wait_for(lambda: "cannot run /nonexistent/check: No such file" in
                 probe(pp, "/readyz?verbose").body, what="the exec error")
        stop(pv, 143)


# --- sd_notify -----------------------------------------------------------------

def test_notify_ready_reloading_stopping_and_status():
    pp = free_port()
    with Podvisor(["--probe-listen", f"127.0.0.1:{pp}", "--ready-check", "notify",
                   "--ready-check", "exec:sh -c 'test -z \"$NOTIFY_SOCKET\"'",
                   "--check-interval", "100ms", "--",
                   *notify_app("env", "sleep:1", "send:READY=1\\nSTATUS=serving",
                               "sleep:1", "send:RELOADING=1", "sleep:1", "send:READY=1",
                               "sleep:1", "send:STOPPING=1")]) as pv:
        sock = pv.readline()
        assert sock.startswith("NOTIFY_SOCKET=@podvisor-notify-"), sock
        assert pv.readline() == "WATCHDOG_USEC="
        assert probe(pp, "/readyz").status == 503
        assert "notify: pending" in probe(pp, "/readyz?verbose").body
        assert probe(pp, "/startupz").status == 503
        wait_for(lambda: probe(pp, "/readyz").ok, timeout=5, what="READY=1")
        st = status(pp)
        assert st["notify"]["status"] == "serving", st
        # The exec check passed: helpers do not get the child's NOTIFY_SOCKET.
        assert all(c["ok"] for c in st["checks"]), st["checks"]
        wait_for(lambda: "RELOADING=1" in probe(pp, "/readyz?verbose").body, timeout=5,
                 what="RELOADING=1")
        wait_for(lambda: probe(pp, "/readyz").ok, timeout=5, what="READY=1 again")
        wait_for(lambda: "STOPPING=1" in probe(pp, "/readyz?verbose").body, timeout=5,
                 what="STOPPING=1")
        assert probe(pp, "/livez").ok
        stop(pv, 0)


def send_to(name, text):
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(text, "\0" + name[1:])


@pytest.mark.parametrize("pid1", [True, False])
def test_notify_ignores_malformed_and_foreign_datagrams(pid1):
    pp = free_port()
    with Podvisor(["--probe-listen", f"127.0.0.1:{pp}", "--ready-check", "notify", "--",
                   *notify_app("env", "send:garbage", "send:READY=2",
                               "send:STATUS=still good")], pid1=pid1) as pv:
        name = pv.readline().split("=", 1)[1]
        pv.readline()
        # This test is not in the child's tree (its parent, or outside the
        # PID namespace): its READY=1 must not make the pod ready.
        for _ in range(3):
            send_to(name, b"READY=1")
        send_to(name, b"READY=1\0oops")
        wait_for(lambda: notify_status(pp).get("ignored", {}).get("foreign") == 4, timeout=5,
                 what="foreign datagrams counted")
        # The app's own datagrams come when it runs: wait for all of them.
        wait_for(lambda: notify_status(pp).get("status") == "still good", timeout=5,
                 what="the app's STATUS=")
        st = status(pp)
        assert st["notify"]["ignored"]["malformed"] == 2, st["notify"]
        assert probe(pp, "/readyz").status == 503
        metrics = probe(pp, "/metrics").body
        assert 'podvisor_notify_ignored_total{reason="foreign"} 4' in metrics
        assert 'podvisor_notify_ignored_total{reason="malformed"} 2' in metrics
        # stderr is read by a thread: the lines may lag the counts
        wait_for(lambda: pv.stderr_so_far().count("sd_notify datagram") == 2, timeout=5,
                 what="both warnings")
        err = pv.stderr_so_far()
        # Outside the PID namespace (pid 0), or inside but not below podvisor.
        assert ("outside podvisor's PID namespace" if pid1 else
                "not in the child's process tree") in err, err
        assert "not KEY=VALUE" in err
        assert err.count("sd_notify datagram") == 2     # once per kind, then counted
        stop(pv, 0)


@pytest.mark.parametrize("pid1", [True, False])
def test_ready_from_a_sender_that_already_exited(tmp_path, pid1):
    """systemd-notify --no-block --ready: the helper sends and exits, and is
    reaped by the app, before podvisor reads the datagram (made certain by
    stopping podvisor meanwhile). As PID 1 every sender in the namespace is
    the child's: READY=1 counts. As a subreaper podvisor cannot tell, and
    says why and what to do, once."""
    go, sent = tmp_path / "go", tmp_path / "sent"
    pp = free_port()
    with Podvisor(["--probe-listen", f"127.0.0.1:{pp}", "--ready-check", "notify", "--",
                   *notify_app("env", f"await:{go}", "helper:READY=1", f"touch:{sent}")],
                  pid1=pid1) as pv:
        pv.readline()
        pv.readline()
        os.kill(pv.pid, signal.SIGSTOP)
        try:
            go.touch()
            wait_for(lambda: sent.exists(), what="the helper sent, exited and was reaped")
        finally:
            os.kill(pv.pid, signal.SIGCONT)
        if pid1:
            wait_for(lambda: probe(pp, "/readyz").ok, timeout=5, what="READY=1 from the helper")
            assert notify_status(pp)["ignored"]["foreign"] == 0
        else:
            wait_for(lambda: notify_status(pp).get("ignored", {}).get("foreign") == 1,
                     timeout=5, what="the vanished sender counted")
            assert probe(pp, "/readyz").status == 503
            # stderr is read by a thread: the line may lag the count
            wait_for(lambda: "exited before its datagram was read" in pv.stderr_so_far(),
                     timeout=5, what="the warning")
            assert pv.says("systemd-notify without --no-block")
        stop(pv, 0)


SYSTEMD_NOTIFY = shutil.which("systemd-notify") or "/usr/bin/systemd-notify"


@pytest.mark.skipif(not os.path.exists(SYSTEMD_NOTIFY), reason="no systemd-notify")
@pytest.mark.parametrize("pid1,flags", [(True, ["--no-block"]), (False, [])])
def test_systemd_notify_makes_the_app_ready_every_time(pid1, flags):
    """systemd's own systemd-notify, 20 starts: --no-block lost READY=1 in 2
    of 20 (it exits before podvisor reads). As PID 1 it always counts; as
    a subreaper, without --no-block it waits for podvisor (BARRIER=1)."""
    for _ in range(20):
        pp = free_port()
        with Podvisor(["--probe-listen", f"127.0.0.1:{pp}", "--ready-check", "notify", "--",
                       "sh", "-c", f"{SYSTEMD_NOTIFY} {' '.join(flags)} --ready; exec sleep 60"],
                      pid1=pid1) as pv:
            wait_for(lambda: probe(pp, "/readyz").ok, timeout=5, what="READY=1")
            assert notify_status(pp)["ignored"]["foreign"] == 0
            stop(pv, 143)


@pytest.mark.parametrize("pid1", [True, False])
def test_barrier_senders_are_never_foreign(pid1):
    """sd_notify_barrier: BARRIER=1 with an fd, the sender waits for podvisor
    to close it and exits. The sender is checked before the fd is closed."""
    pp = free_port()
    with Podvisor(["--probe-listen", f"127.0.0.1:{pp}", "--ready-check", "notify", "--",
                   *notify_app("barriers:30", "send:READY=1")], pid1=pid1) as pv:
        wait_for(lambda: probe(pp, "/readyz").ok, timeout=20, what="READY=1 after 30 barriers")
        assert notify_status(pp)["ignored"] == {"malformed": 0, "foreign": 0}
        stop(pv, 0)


def test_text_that_is_not_utf8_keeps_status_whole():
    """A STATUS= (or a check's output) that is not UTF-8 made /status an
    empty reply or dropped objects: jansson takes UTF-8 only."""
    pp = free_port()
    with Podvisor(["--probe-listen", f"127.0.0.1:{pp}", "--check-interval", "100ms",
                   "--ready-check", "exec:sh -c 'printf \"bad \\377\\376 output\"; exit 1'",
                   "--notify", "--", *notify_app("send:STATUS=caf\udce9 \udcff")]) as pv:
        wait_for(lambda: notify_status(pp).get("status"), what="STATUS=")
        wait_for(lambda: status(pp)["checks"][0]["last_error"], what="the check's failure")
        st = status(pp)
        assert st["notify"]["status"] == "caf\ufffd \ufffd", st["notify"]
        assert "\ufffd\ufffd" in st["checks"][0]["last_error"], st["checks"]
        assert st["state"] == "running"
        stop(pv, 0)


def test_watchdog_expiry_fails_liveness():
    pp = free_port()
    with Podvisor(["--probe-listen", f"127.0.0.1:{pp}", "--watchdog", "1s", "--ready-check",
                   "notify", "--",
                   *notify_app("env", "send:READY=1", "watchdog:8:0.2")]) as pv:
        pv.readline()
        assert pv.readline() == "WATCHDOG_USEC=1000000"
        wait_for(lambda: probe(pp, "/readyz").ok, what="ready")
        t_last = time.monotonic() + 1.6   # the app's last WATCHDOG=1, roughly
        for _ in range(5):                # pinged every 200 ms: live throughout
            assert probe(pp, "/livez").ok
            time.sleep(0.2)
        wait_for(lambda: probe(pp, "/livez").status == 503, timeout=5, what="watchdog miss")
        assert time.monotonic() >= t_last + 0.5
        r = probe(pp, "/livez")
        assert "live check notify: no WATCHDOG=1 within --watchdog 1000ms" in r.body, r.body
        assert probe(pp, "/readyz").ok   # liveness, not readiness
        stop(pv, 0)


def test_mainpid_hands_supervision_to_the_daemon():
    pp = free_port()
    with Podvisor(["--probe-listen", f"127.0.0.1:{pp}", "--notify", "--",
                   *notify_app("daemon:60")]) as pv:
        wait_for(lambda: notify_status(pp).get("mainpid"), what="MAINPID")
        st = status(pp)
        assert st["state"] == "ready" and st["notify"]["status"] == "daemonized", st
        daemon = st["child"]["pid"]
        assert daemon == st["notify"]["mainpid"]
        assert pv.says("MAINPID=%d: supervising it" % daemon)
        pv.signal(signal.SIGTERM)
        assert pv.readline() == "daemon got TERM"
        assert pv.wait(timeout=10) == 0      # the daemon's status, not its parent's


def test_mainpid_outside_the_tree_is_refused():
    pp = free_port()
    with Podvisor(["--probe-listen", f"127.0.0.1:{pp}", "--notify", "--",
                   *notify_app(f"send:MAINPID={os.getpid()}", "send:STATUS=x")], pid1=False) as pv:
        wait_for(lambda: notify_status(pp).get("status") == "x", what="the message")
        assert status(pp)["notify"]["mainpid"] is None
        assert pv.says(f"MAINPID={os.getpid()} from pid")
        assert pv.says("not a process of the child's tree")
        stop(pv, 0)


def test_mainpid_that_podvisor_cannot_reap_is_refused():
    """MAINPID= names a grandchild whose parent lives on: podvisor would never
    see it exit. It keeps the original child (and says so once); the app's
    own exit still ends podvisor."""
    pp = free_port()
    with Podvisor(["--probe-listen", f"127.0.0.1:{pp}", "--notify", "--",
                   *notify_app("grandchild:60", "send:MAINPID=999999", "send:STATUS=x",
                               "sleep:60")]) as pv:
        line = pv.readline()
        assert line.startswith("grandchild "), line
        wait_for(lambda: notify_status(pp).get("status") == "x", what="the messages")
        st = status(pp)
        app = pv.child_pid()
        assert st["notify"]["mainpid"] is None and st["child"]["pid"] > 0, st
        assert pv.says("its parent (pid") and pv.says("could not see it exit")
        err = pv.stderr_so_far()
        assert err.count("ignored:") == 1, err     # the second refusal at debug
        # The original child is still the one: its death ends podvisor.
        os.kill(app, signal.SIGKILL)
        assert pv.wait(timeout=10) == 128 + signal.SIGKILL


def test_gunicorn_becomes_ready_through_its_own_ready_1():
    gunicorn = shutil.which("gunicorn") or "/usr/bin/gunicorn"
    assert os.path.exists(gunicorn), "gunicorn is installed by tests/deps.sh"
    app, pp = free_port(), free_port()
    with Podvisor(["--probe-listen", f"127.0.0.1:{pp}", "--ready-check", "notify",
                   "--stop-timeout", "5s", "--", gunicorn, "--chdir", os.path.join(HERE, "apps"),
                   "--bind", f"127.0.0.1:{app}", "--workers", "2", "wsgi_hello:app"]) as pv:
        wait_for(lambda: probe(pp, "/readyz").ok, timeout=20, what="gunicorn's READY=1")
        st = status(pp)
        assert st["notify"]["status"] == "Gunicorn arbiter booted", st["notify"]
        assert st["checks"][0]["name"] == "notify" and st["checks"][0]["ok"] is True
        c = http.client.HTTPConnection("127.0.0.1", app, timeout=5)
        c.request("GET", "/")
        assert c.getresponse().read() == b"hello\n"
        # gunicorn 20.1's arbiter, sent TERM while it still boots a worker,
        # boots it anyway and then never exits (seen under ASan's slower
        # start): the stop waits until both workers are up.
        wait_for(lambda: pv.stderr_so_far().count("Booting worker") >= 2, timeout=20,
                 what="gunicorn's two workers")
        stop(pv, 0)


@pytest.mark.parametrize("args,why", [
    (["--live-check", "notify"], "give --watchdog D too"),
    (["--ready-check", "notify", "--ready-check", "notify"], "once is enough"),
    (["--watchdog", "5x"], "is not a duration"),
    (["--ready-check", "exec:"], "exec:"),
    (["--ready-check", "exec:'open"], "quote"),
])
def test_bad_notify_and_exec_options(args, why, tmp_path):
    made = tmp_path / "made"
    r = run([*args, "--", "touch", str(made)])
    assert r.returncode == 2 and why in r.stderr, r.stderr
    assert not made.exists()


def test_sidecar_has_no_notify(tmp_path):
    r = run(["--watch", str(tmp_path), "--on-change", "none", "--watchdog", "1s"])
    assert r.returncode == 2 and "sidecar" in r.stderr, r.stderr


# --- the admin listener -------------------------------------------------------

def post(port, path, token=None, method="POST", scheme="Bearer"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    headers = {"Authorization": f"{scheme} {token}"} if token is not None else {}
    c.request(method, path, headers=headers)
    r = c.getresponse()
    return r.status, r.read().decode(), dict(r.getheaders())


def test_admin_without_a_token_drains_and_quits():
    pp, ap = free_port(), free_port()
    with Podvisor(["--probe-listen", f"127.0.0.1:{pp}", "--admin-listen", f"127.0.0.1:{ap}",
                   "--", "sleep", "60"]) as pv:
        wait_for(lambda: probe(pp, "/readyz").ok, what="ready")
        code, body, headers = post(ap, "/drain", method="GET")
        assert code == 405 and headers.get("Allow") == "POST"
        code, body, _ = post(ap, "/nope")
        assert code == 404
        assert body.strip() == ("/nope: not an admin path "
                                "(POST /restart, /reload, /drain or /quitquitquit)"), body
        assert post(ap, "/readyz")[0] == 404          # no probe paths here...
        assert post(pp, "/quitquitquit")[0] == 405    # ...and no admin paths there
        assert http_probe(pp, "/drain").status == 404
        code, body, _ = post(ap, "/drain")
        assert code == 202 and "drained" in body
        r = http_probe(pp, "/readyz?verbose")
        assert r.status == 503 and "drained by POST /drain" in r.body
        assert probe(pp, "/livez").ok
        pid = pv.child_pid()
        assert proc_state(pid) in "SR"               # the child keeps running
        code, body, _ = post(ap, "/quitquitquit")
        assert code == 202
        assert pv.wait(timeout=10) == 143             # as on SIGTERM: sleep dies of TERM
        assert "admin: POST /quitquitquit from 127.0.0.1" in pv.stderr
        assert "ready -> draining (SIGTERM)" in pv.stderr


def test_admin_token_restart_and_reload(tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    log = tmp_path / "hups"
    pp, ap = free_port(), free_port()
    app = f"trap 'echo hup >> {log}' HUP; while :; do sleep 0.05; done"
    with Podvisor(["--probe-listen", f"127.0.0.1:{pp}", "--admin-listen", f"127.0.0.1:{ap}",
                   "--admin-token-file", str(token), "--on-change", "signal:HUP",
                   "--", "sh", "-c", app]) as pv:
        wait_for(lambda: probe(pp, "/readyz").ok, what="ready")
        first = status(pp)["child"]["pid"]
        code, body, headers = post(ap, "/restart")
        assert code == 401 and headers.get("WWW-Authenticate") == "Bearer", (code, body)
        assert post(ap, "/restart", token="s3cret-tokeN")[0] == 401
        assert post(ap, "/restart", token="s3cret-token-and-more")[0] == 401
        assert post(ap, "/restart", token="")[0] == 401
        assert post(ap, "/restart", token="s3cret-token", scheme="Basic")[0] == 401
        assert status(pp)["child"]["pid"] == first and status(pp)["child"]["restarts"] == 0
        # stderr is read by a thread: the lines may lag the answers
        wait_for(lambda: "wrong token" in pv.stderr_so_far(), timeout=5, what="the refusal")
        wait_for(lambda: "no Authorization header" in pv.stderr_so_far(), timeout=5,
                 what="the refusal without a header")
        # RFC 7235: the scheme is case-insensitive.
        code, body, _ = post(ap, "/reload", token="s3cret-token", scheme="bearer")
        assert code == 202 and "signal:HUP" in body, body
        wait_for(lambda: log.exists() and log.read_text() == "hup\n", what="the HUP")
        code, body, _ = post(ap, "/restart", token="s3cret-token")
        assert code == 202, body
        wait_for(lambda: status(pp)["child"]["restarts"] == 1 and probe(pp, "/readyz").ok,
                 what="restarted")
        st = status(pp)
        assert st["child"]["pid"] != first
        assert st["child"]["restarts_by_reason"]["admin"] == 1
        stop(pv)


def test_admin_refuses_what_cannot_be_done_now():
    pp, ap = free_port(), free_port()
    with Podvisor(["--probe-listen", f"127.0.0.1:{pp}", "--admin-listen", f"127.0.0.1:{ap}",
                   "--prestop-delay", "5s", "--", "sleep", "60"]) as pv:
        wait_for(lambda: probe(pp, "/readyz").ok, what="ready")
        pv.signal(signal.SIGTERM)
        wait_for(lambda: status(pp)["state"] == "draining", what="draining")
        code, body, _ = post(ap, "/restart")
        assert code == 409 and "draining" in body, body
        assert post(ap, "/reload")[0] == 409


@pytest.mark.parametrize("content,why", [
    (None, "cannot be read"),
    ("", "holds no token"),
    ("\n\n", "holds no token"),
    ("one\ntwo\n", "more than one line"),
])
def test_bad_token_files_are_usage_errors(tmp_path, content, why):
    token = tmp_path / "token"
    if content is not None:
        token.write_text(content)
    r = run(["--admin-listen", "127.0.0.1:0", "--admin-token-file", str(token), "--", "true"])
    assert r.returncode == 2 and "--admin-token-file" in r.stderr and why in r.stderr, r.stderr


def test_admin_on_every_address_is_warned_about():
    pp, ap = free_port(), free_port()
    with Podvisor(["--probe-listen", f"127.0.0.1:{pp}", "--admin-listen", f":{ap}",
                   "--", "sleep", "60"]) as pv:
        wait_for(lambda: probe(pp, "/readyz").ok, what="ready")
        assert pv.says("is not a loopback address") and pv.says("no --admin-token-file")
        stop(pv, 143)


def test_listener_errors_and_answers_name_the_right_option():
    """The admin listener's in-use hint named --probe-listen; a POST to the
    probe port answered 405 without saying where admin commands go."""
    import socket
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        r = run(["--probe-listen", "off", "--admin-listen", f"127.0.0.1:{port}", "--", "true"])
        assert r.returncode == 2, r.stderr
        assert "give each its own --admin-listen" in r.stderr, r.stderr
        r = run(["--probe-listen", f"127.0.0.1:{port}", "--", "true"])
        assert "give each its own --probe-listen" in r.stderr, r.stderr
    finally:
        taken.close()
    pp = free_port()
    with Podvisor(["--probe-listen", f"127.0.0.1:{pp}", "--", "sleep", "60"]) as pv:
        wait_for(lambda: probe(pp, "/livez").ok, what="the probe server", err=pv.stderr_so_far)
        code, body, _ = post(pp, "/restart")
        assert code == 405 and "--admin-listen" in body, body
