"""`podvisor wait-for`: the init-container wait, against real listeners."""
import os
import signal
import subprocess
import threading
import time
import http.server

from conftest import PODVISOR, children_of, free_port


def wait_for_cmd(*args, timeout=30):
    return subprocess.run([PODVISOR, "wait-for", *args], capture_output=True, text=True,
                          timeout=timeout)


class LateServer:
    """An HTTP server answering `code` that starts listening `delay` s from now."""

    def __init__(self, delay, code=200):
        self.port = free_port()
        self.code = code
        self.srv = None
        self.timer = threading.Timer(delay, self.start)
        self.timer.start()

    def start(self):
        code = self.code

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.timer.cancel()
        if self.srv:
            self.srv.shutdown()
            self.srv.server_close()


def test_waits_until_every_target_answers():
    a, b = LateServer(0.8), LateServer(1.6)
    try:
        t0 = time.monotonic()
        r = wait_for_cmd("--interval", "100ms", "--timeout", "20s",
                         f"tcp://127.0.0.1:{a.port}", f"http://127.0.0.1:{b.port}/healthz")
        took = time.monotonic() - t0
        assert r.returncode == 0, r
        assert 1.6 <= took < 5, took
        out = r.stdout
        assert f"tcp://127.0.0.1:{a.port}: not yet" in out
        assert f"tcp://127.0.0.1:{a.port} answers" in out
        assert f"http://127.0.0.1:{b.port}/healthz answers" in out
        assert "all 2 answered" in out
    finally:
        a.close()
        b.close()


def test_times_out_naming_what_did_not_answer():
    ok, bad = LateServer(0), LateServer(0, code=503)
    closed = free_port()
    try:
        time.sleep(0.2)
        t0 = time.monotonic()
        r = wait_for_cmd("--interval", "100ms", "--timeout", "1s", f"tcp://127.0.0.1:{ok.port}",
                         f"http://127.0.0.1:{bad.port}/", f"tcp://127.0.0.1:{closed}")
        took = time.monotonic() - t0
        assert r.returncode == 1, r
        assert 1.0 <= took < 3, took
        assert "timed out after 1.0s" in r.stderr
        assert f"http://127.0.0.1:{bad.port}/ (HTTP 503)" in r.stderr
        assert f"tcp://127.0.0.1:{closed} (" in r.stderr
        assert f"tcp://127.0.0.1:{ok.port}" not in r.stderr   # it answered
    finally:
        ok.close()
        bad.close()


def test_a_hanging_target_does_not_hold_up_the_others():
    import socket
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(1)           # accepts the connection, never answers HTTP
    ok = LateServer(0)
    try:
        time.sleep(0.2)
        t0 = time.monotonic()
        r = wait_for_cmd("--interval", "100ms", "--timeout", "2s",
                         f"http://127.0.0.1:{hang.getsockname()[1]}/",
                         f"http://127.0.0.1:{ok.port}/")
        assert r.returncode == 1
        assert f"http://127.0.0.1:{ok.port}/ answers (after 0." in r.stdout, r.stdout
        assert time.monotonic() - t0 < 4
    finally:
        hang.close()
        ok.close()


def test_sigterm_ends_it_at_once_even_as_pid_1():
    port = free_port()
    with subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
                          PODVISOR, "wait-for", "--timeout", "0", f"tcp://127.0.0.1:{port}"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as p:
        assert "waiting for 1 target (no --timeout)" in p.stdout.readline()
        kids = []
        end = time.monotonic() + 5
        while not kids and time.monotonic() < end:
            kids = children_of(p.pid)
        t0 = time.monotonic()
        os.kill(kids[0], signal.SIGTERM)
        p.wait(timeout=5)
        assert time.monotonic() - t0 < 1


def test_usage_errors():
    for args, why in [((), "no TARGET"), (("file:/x",), "is not a TARGET"),
                      (("--timeout", "5x", "tcp://h:1"), "is not a duration"),
                      (("--interval", "0", "tcp://h:1"), "more than 0"),
                      (("--bogus", "tcp://h:1"), "unknown option"),
                      (("tcp://h",), "tcp://HOST:PORT")]:
        r = wait_for_cmd(*args)
        assert r.returncode == 2 and why in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr   # one line, as probe's
