"""The dev loop (issue 26): a plain source tree watched recursively, with
--watch-include/--watch-exclude, --watch-poll where inotify stays silent,
the inotify watch limit, and --validate as the build: streamed, timed,
cancelled by a newer change, its last lines in /status."""
import http.client
import json
import os
import shutil
import subprocess
import threading
import time

import pytest

from conftest import PODVISOR, Podvisor, base_env, free_port, wait_for
from kubelet import http_probe
from test_config import err_line, quiet_stdout


def status(port):
    r = http_probe(port, "/status")
    assert r.status == 200
    return json.loads(r.body)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)   # as an editor saves


def tree(tmp_path):
    src = tmp_path / "src"
    write(str(src / "cmd/server/main.go"), "package main // 1\n")
    write(str(src / "go.mod"), "module example\n")
    write(str(src / "vendor/lib/lib.go"), "package lib\n")
    write(str(src / "README.md"), "hello\n")
    return str(src)


def app(src):
    """Prints what it runs: the content of main.go."""
    return ["sh", "-c", f"echo start $(cat {src}/cmd/server/main.go); exec sleep 1000"]


def start(args, src, **kw):
    pv = Podvisor(["--probe-listen", "127.0.0.1:0", "--watch", src, "--debounce", "100ms",
                   *args, "--"] + app(src), **kw)
    try:
        return pv, pv.probe_port()
    except BaseException:
        pv.kill()
        raise


def test_a_change_deep_in_the_tree_and_in_a_new_directory_restarts(tmp_path):
    src = tree(tmp_path)
    pv, port = start([], src)
    with pv:
        assert pv.readline() == "start package main // 1"
        write(f"{src}/cmd/server/main.go", "package main // 2\n")
        assert pv.readline() == "start package main // 2"
        # A directory made after the start is watched as it appears, with
        # what is made in it at once (before its watch could be added).
        os.makedirs(f"{src}/internal/a/b")
        write(f"{src}/internal/a/b/c.go", "package b\n")
        assert pv.readline() == "start package main // 2"
        err_line(pv, "config changed")  # the restart's, once (below)
        write(f"{src}/internal/a/b/c.go", "package b // edited\n")
        assert pv.readline() == "start package main // 2"
        assert status(port)["child"]["restarts_by_reason"]["config"] == 3


def test_include_and_exclude_decide_what_counts(tmp_path):
    src = tree(tmp_path)
    pv, port = start(["--watch-include", "*.go", "--watch-include", "go.mod",
                      "--watch-exclude", "vendor/", "--watch-exclude", "*_test.go"], src)
    with pv:
        assert pv.readline() == "start package main // 1"
        before = status(port)["config"]["hash"]
        # None of these count: not included, excluded, an empty directory.
        write(f"{src}/README.md", "changed\n")
        write(f"{src}/vendor/lib/lib.go", "package lib // changed\n")
        write(f"{src}/cmd/server/main_test.go", "package main\n")
        os.makedirs(f"{src}/empty/dir")
        write(f"{src}/notes.txt", "x\n")
        quiet_stdout(pv, 1.0)
        assert status(port)["config"]["hash"] == before
        assert status(port)["config"]["changes"] == 0
        # What is included does, once.
        write(f"{src}/go.mod", "module example // 2\n")
        assert pv.readline() == "start package main // 1"
        assert status(port)["config"]["changes"] == 1
        assert "config changed" in pv.stderr_so_far()
        # The hash podvisor acts on is the filtered one: the excluded edits
        # above are in no hash.
        assert status(port)["config"]["hash"] != before


def test_bad_patterns_and_polls_are_refused_with_exit_2(tmp_path):
    for args, says in [(["--watch-include", ""], "--watch-include"),
                       (["--watch-exclude", "/"], "matches nothing"),
                       (["--watch-poll", "10ms"], "too often"),
                       (["--watch-poll", "5x"], "not a duration"),
                       (["--validate-timeout", "0s"], "--validate-timeout")]:
        r = subprocess.run([PODVISOR, "--watch", str(tmp_path), *args, "--", "true"],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 2, (args, r.stderr)
        assert says in r.stderr, (args, r.stderr)
    r = subprocess.run([PODVISOR, "--watch-include", "*.go", "--", "true"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "need --watch" in r.stderr, r.stderr


OVERLAY = ("mkdir -p {d}/lower {d}/upper {d}/work {d}/merged && "
           "mount -t overlay overlay -o lowerdir={d}/lower,upperdir={d}/upper,"
           "workdir={d}/work {d}/merged")


def on_overlay(d, *args):
    """podvisor watching the overlay's merged directory (in its own mount
    namespace), its app printing pkg/app.go as it starts."""
    write(f"{d}/lower/pkg/app.go", "package app // 1\n")
    return Podvisor(["--probe-listen", "127.0.0.1:0", "--watch", f"{d}/merged",
                     "--debounce", "100ms", *args, "--",
                     "sh", "-c", f"echo start $(cat {d}/merged/pkg/app.go); exec sleep 1000"],
                    setup=OVERLAY.format(d=d))


def test_polling_finds_what_inotify_never_reports(tmp_path):
    """An overlay mount: a change made in its lower directory reaches no
    inotify watch on the merged one, as a change made on an NFS server or
    a VM's host does not. --watch-poll finds it, and says so once."""
    d = str(tmp_path)
    pv = on_overlay(d, "--watch-poll", "200ms")
    with pv:
        port = pv.probe_port()
        assert pv.readline() == "start package app // 1"
        with open(f"{d}/lower/pkg/app.go", "w") as f:   # in place: the overlay shows it
            f.write("package app // 2\n")
        assert pv.readline() == "start package app // 2"
        pv.says("came with no inotify event")
        assert pv.stderr_so_far().count("came with no inotify event") == 1
        assert status(port)["child"]["restarts_by_reason"]["config"] == 1


def test_without_watch_poll_a_silent_mount_is_found_and_polled(tmp_path):
    """The same overlay without --watch-poll: inotify says nothing (the
    first change is not acted on at once), the look every 10 s at a plain
    directory tree finds it, says so, and polls every second from then on."""
    d = str(tmp_path)
    pv = on_overlay(d)
    with pv:
        port = pv.probe_port()
        assert pv.readline() == "start package app // 1"
        with open(f"{d}/lower/pkg/app.go", "w") as f:
            f.write("package app // 2\n")
        quiet_stdout(pv, 1.0)   # inotify is silent indeed
        assert status(port)["config"]["changes"] == 0
        assert pv.readline(timeout=30) == "start package app // 2"
        line, _ = err_line(pv, "came with no inotify event")
        assert "polling every 1000ms from now on" in line, line
        with open(f"{d}/lower/pkg/app.go", "w") as f:
            f.write("package app // 3\n")
        assert pv.readline(timeout=30) == "start package app // 3"
        assert pv.stderr_so_far().count("came with no inotify event") == 1


def test_the_inotify_watch_limit_is_named_and_polling_takes_over(tmp_path):
    """A user namespace of its own, with 4 inotify watches allowed: the tree
    has more directories than that."""
    src = tree(tmp_path)
    for i in range(8):
        os.makedirs(f"{src}/deep/d{i}")
    write(f"{src}/deep/d7/x.go", "package x // 1\n")
    pv = Podvisor(["--probe-listen", "127.0.0.1:0", "--watch", src, "--debounce", "100ms",
                   "--", "sh", "-c", f"echo start $(cat {src}/deep/d7/x.go); exec sleep 1000"],
                  setup="echo 4 > /proc/sys/user/max_inotify_watches", userns=True)
    with pv:
        port = pv.probe_port()
        assert pv.readline() == "start package x // 1"
        pv.says("the inotify watch limit")
        said = pv.stderr_so_far()
        assert "max_inotify_watches = 4" in said and "polling every 1000ms" in said, said
        write(f"{src}/deep/d7/x.go", "package x // 2\n")
        assert pv.readline(timeout=15) == "start package x // 2"
        assert status(port)["child"]["restarts_by_reason"]["config"] == 1


BUILD = """#!/bin/sh
# A build: says what it builds, waits for the test's go-ahead, fails on
# content holding "bad" after 100 lines of output (3 kB).
v=$(cat {src}/cmd/server/main.go)
echo "building: $v"
while [ ! -e {go} ]; do sleep 0.02; done
rm -f {go}
case "$v" in *bad*)
  i=0; while [ $i -lt 100 ]; do echo "line $i of what a compiler says"; i=$((i+1)); done
  echo "main.go:1:14: syntax error: unexpected newline" >&2; exit 1;;
esac
echo "built: $v"
"""


def build_script(tmp_path, src):
    path = tmp_path / "build.sh"
    go = tmp_path / "go"
    path.write_text(BUILD.format(src=src, go=go))
    path.chmod(0o755)
    return str(path), str(go)


def test_the_build_streams_is_timed_and_a_failed_one_keeps_the_old_process(tmp_path):
    src = tree(tmp_path)
    build, go = build_script(tmp_path, src)
    pv, port = start(["--validate", build], src)
    with pv:
        assert pv.readline() == "start package main // 1"
        first = pv.child_pid()
        write(f"{src}/cmd/server/main.go", "package main // 2\n")
        # Streamed while it runs: the build is still waiting for us.
        err_line(pv, "--validate: building: package main // 2")
        assert "passed" not in pv.stderr_so_far()
        open(go, "w").close()
        line, _ = err_line(pv, "--validate passed for")
        assert " in " in line and line.rstrip().endswith("s"), line
        assert pv.readline() == "start package main // 2"
        second = pv.child_pid()
        assert second != first
        # A failed build: the old process keeps serving.
        write(f"{src}/cmd/server/main.go", "package main // bad\n")
        err_line(pv, "--validate: building: package main // bad")
        open(go, "w").close()
        line, _ = err_line(pv, "config change refused")
        assert "after" in line and "syntax error" in line, line
        assert pv.child_pid() == second
        refused = status(port)["config"]["last_refused_change"]
        # Its last lines, ending with the error; not its first ones.
        out = refused["output"]
        assert out.rstrip("\n").endswith("main.go:1:14: syntax error: unexpected newline"), out
        assert "building:" not in out and "line 99 of" in out, out
        assert refused["validate"]["exit_code"] == 1


def test_a_change_during_a_build_cancels_it_and_builds_again(tmp_path):
    src = tree(tmp_path)
    build, go = build_script(tmp_path, src)
    pv, port = start(["--validate", build], src)
    with pv:
        assert pv.readline() == "start package main // 1"
        write(f"{src}/cmd/server/main.go", "package main // 2\n")
        err_line(pv, "--validate: building: package main // 2")
        write(f"{src}/cmd/server/main.go", "package main // 3\n")
        line, _ = err_line(pv, "stopped after")
        assert "the files changed again" in line
        err_line(pv, "--validate: building: package main // 3")
        open(go, "w").close()
        err_line(pv, "--validate passed for")
        # The first build never finished: the child runs the newest content.
        assert pv.readline() == "start package main // 3"
        s = status(port)
        assert s["config"]["refused"] == 0
        assert s["child"]["restarts_by_reason"]["config"] == 1
        assert "built: package main // 2" not in pv.stderr_so_far()


def test_a_build_past_validate_timeout_is_killed_and_refused(tmp_path):
    src = tree(tmp_path)
    build, go = build_script(tmp_path, src)
    pv, port = start(["--validate", build, "--validate-timeout", "500ms"], src)
    with pv:
        assert pv.readline() == "start package main // 1"
        first = pv.child_pid()
        write(f"{src}/cmd/server/main.go", "package main // 2\n")
        line, _ = err_line(pv, "config change refused")
        assert "ran too long" in line, line
        assert pv.child_pid() == first
        assert status(port)["config"]["last_refused_change"]["timed_out"] is True


HERE = os.path.dirname(os.path.abspath(__file__))
GOAPPS = os.path.abspath(os.environ.get("GOAPPS", os.path.join(HERE, "..", "..", "build", "goapps")))
GO_ENV = {"GO111MODULE": "off", "GOPATH": "/usr/share/gocode",
          "GOCACHE": os.path.join(GOAPPS, ".gocache")}


class Bodies(threading.Thread):
    """Requests in a loop, a new connection each: every body seen, every
    failure (refused, reset, timeout, non-200) counted."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.seen, self.failed, self.errors = port, set(), 0, []
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                conn.request("GET", "/", headers={"Connection": "close"})
                r = conn.getresponse()
                body = r.read().decode().strip()
                if r.status == 200:
                    self.seen.add(body)
                else:
                    self.failed += 1
                    self.errors.append(f"status {r.status}")
            except (OSError, http.client.HTTPException) as e:
                self.failed += 1
                self.errors.append(f"{type(e).__name__}: {e}")
            finally:
                conn.close()


def set_message(src, text):
    write(f"{src}/message.go", f'package main\n\nconst Message = "{text}"\n')


@pytest.mark.skipif(shutil.which("go") is None,
                    reason="golang-go is not installed (tests/deps.sh installs it)")
def test_gin_dev_loop_edit_build_swap_without_a_failed_request(tmp_path):
    """docs/dev-loop.md's recipe: a Gin app's source watched, --validate as
    the build, the socket held by podvisor, stop-first: every edit serves,
    a broken edit keeps the last build serving, and no request fails."""
    r = subprocess.run(["sh", os.path.join(HERE, "apps", "go", "build.sh"), GOAPPS],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr   # warms the build cache the builds below use
    src, binary = str(tmp_path / "src"), str(tmp_path / "app")
    shutil.copytree(os.path.join(HERE, "apps", "go", "devapp"), src)
    env = dict(base_env(), **GO_ENV)
    subprocess.run(["go", "build", "-o", binary, "."], cwd=src, env=env, check=True, timeout=600)
    port = free_port()
    build = f"sh -c 'cd {src} && go build -o {binary}.next . && mv {binary}.next {binary}'"
    pv = Podvisor(["--probe-listen", "127.0.0.1:0", "--watch", src,
                   "--watch-include", "*.go", "--debounce", "200ms",
                   "--validate", build, "--validate-timeout", "5m",
                   "--socket", f"tcp://127.0.0.1:{port}", "--", binary], env=env)
    with pv:
        pv.probe_port()
        load = Bodies(port)
        load.start()
        try:
            wait_for(lambda: "hello, version 1" in load.seen, timeout=30, what="version 1",
                     err=pv.stderr_so_far)
            for v in (2, 3, 4):
                set_message(src, f"hello, version {v}")
                wait_for(lambda: f"hello, version {v}" in load.seen, timeout=120,
                         what=f"version {v} served", err=pv.stderr_so_far)
            # A broken edit: the build fails, version 4 keeps serving.
            write(f"{src}/message.go", "package main\n\nconst Message = \n")
            err_line(pv, "config change refused", timeout=120)
            pv.says("--validate: ")            # the compiler's words, streamed
            seen = len(load.seen)
            time.sleep(0.5)
            assert len(load.seen) == seen       # nothing new: still version 4
            set_message(src, "hello, version 5")
            wait_for(lambda: "hello, version 5" in load.seen, timeout=120,
                     what="version 5 served", err=pv.stderr_so_far)
        finally:
            load.halt.set()
            load.join(timeout=60)
        assert load.failed == 0, load.errors[:5]
        assert load.seen == {f"hello, version {v}" for v in (1, 2, 3, 4, 5)}, load.seen


def test_where_inotify_reports_changes_the_looks_stop(tmp_path):
    """The other side of the 10 s look: a change inotify reported, seen by
    the next look too, proves inotify serves the tree; no more looks (an
    idle dev loop then costs nothing) and no warning."""
    src = tree(tmp_path)
    pv, port = start(["-v"], src)
    with pv:
        assert pv.readline() == "start package main // 1"
        write(f"{src}/cmd/server/main.go", "package main // 2\n")
        assert pv.readline() == "start package main // 2"
        pv.says("inotify reports the changes under", timeout=30)
        assert "came with no inotify event" not in pv.stderr_so_far()
        assert status(port)["child"]["restarts_by_reason"]["config"] == 1
