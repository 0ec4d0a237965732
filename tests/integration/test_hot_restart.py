"""Real Go servers, unchanged, built offline from Debian's packages
(tests/integration/apps/go): a Gin server taking its socket from systemd
socket activation, a facebookgo/grace server and a cloudflare/tableflip
server that replace themselves. podvisor follows the app's own hot restart
(--pid-file): the old process's exit is not the pod's end."""
import os
import shutil
import signal
import subprocess
import time

import pytest

from atomic_writer import ConfigMapVolume
from conftest import KilledOnExit, Podvisor, app_body, free_port, podvisor_status, wait_for
from kubelet import Endpoints, LoadGenerator, http_probe

HERE = os.path.dirname(os.path.abspath(__file__))
GOAPPS = os.path.abspath(os.environ.get("GOAPPS", os.path.join(HERE, "..", "..", "build", "goapps")))

pytestmark = pytest.mark.skipif(shutil.which("go") is None,
                                reason="golang-go is not installed (tests/deps.sh installs it)")


@pytest.fixture(scope="module")
def goapps():
    r = subprocess.run(["sh", os.path.join(HERE, "apps", "go", "build.sh"), GOAPPS],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return GOAPPS




class App(KilledOnExit):
    """podvisor around a Go app, with a ConfigMap volume; args(app) and
    command(app) see the app's port and pid file."""

    def __init__(self, tmp_path, args, command, content="v0"):
        self.app_port, self.probe_port = free_port(), free_port()
        self.vol = ConfigMapVolume(tmp_path / "cm")
        self.vol.update({"app.conf": content})
        self.pid_file = str(tmp_path / "app.pid")
        self.pv = Podvisor(["--watch", str(tmp_path / "cm"), "--debounce", "50ms",
                            "--probe-listen", f"127.0.0.1:{self.probe_port}", *args(self), "--",
                            *command(self)])
        try:
            wait_for(lambda: http_probe(self.probe_port, "/readyz").ok, what="ready",
                     err=self.pv.stderr_so_far)
            wait_for(lambda: http_probe(self.app_port, "/").ok, what="the app to serve",
                     err=self.pv.stderr_so_far)
        except BaseException:
            self.kill()
            raise

    def kill(self):
        self.pv.kill()

    def updates_under_load(self, n, done):
        """n ConfigMap updates while clients send requests without pause;
        done(i) says when update i has been acted on."""
        load = LoadGenerator(self.app_port, Endpoints(lag=1e9), workers=4, timeout=10)
        load.start()
        try:
            for i in range(1, n + 1):
                self.vol.update({"app.conf": f"v{i}"})
                wait_for(lambda: done(i), timeout=20, what=f"update {i}")
                load.progressed(load.ok)  # served after it, by what replaced it
            time.sleep(0.2)
        finally:
            load.stop()
        return load


@pytest.fixture
def app_env(monkeypatch, tmp_path):
    # every generation reads its content from APP_CONFIG when it starts;
    # graceapp names itself in PIDFILE
    monkeypatch.setenv("APP_CONFIG", str(tmp_path / "cm" / "app.conf"))
    monkeypatch.setenv("PIDFILE", str(tmp_path / "app.pid"))


def flip(goapps):
    return lambda a: [f"{goapps}/flipapp", "-listen", f"127.0.0.1:{a.app_port}",
                      "-pid-file", a.pid_file]


def test_tableflip_hot_restarts_are_followed(tmp_path, goapps, app_env):
    """--on-change signal:HUP: each ConfigMap update is tableflip's own
    upgrade; the successor (the old process's child) writes --pid-file and
    becomes the main child when the old one exits."""
    with App(tmp_path, lambda a: ["--on-change", "signal:HUP", "--pid-file", a.pid_file],
              flip(goapps)) as app:
        first = podvisor_status(app.probe_port)["child"]["pid"]
        load = app.updates_under_load(
            20, lambda i: app_body(app.app_port) == f"v{i}" and
            podvisor_status(app.probe_port)["child"]["successions"] == i)
        st = podvisor_status(app.probe_port)
        assert st["state"] == "ready" and st["child"]["pid"] != first
        app.pv.signal(signal.SIGTERM)
        assert app.pv.wait(timeout=20) == 0
    assert load.failed == 0, (load.failed, load.errors)
    assert app.pv.stderr.count("supervising it instead of") == 20


def test_without_pid_file_a_hot_restart_ends_the_pod(tmp_path, goapps, app_env):
    """The contrast: what tini and dumb-init do too."""
    with App(tmp_path, lambda a: ["--on-change", "signal:HUP"], flip(goapps)) as app:
        app.vol.update({"app.conf": "v1"})
        assert app.pv.wait(timeout=20) == 0
    assert "stopping the processes the child left behind" in app.pv.stderr


def test_gin_with_go_systemd_activation_restarts_start_first(tmp_path, goapps, app_env):
    with App(tmp_path, lambda a: ["--socket", f"tcp://127.0.0.1:{a.app_port}",
                                   "--restart-mode", "start-first", "--ready-check", "notify"],
              lambda a: [f"{goapps}/ginsd"]) as app:
        load = app.updates_under_load(
            10, lambda i: app_body(app.app_port) == f"v{i}" and
            podvisor_status(app.probe_port)["child"]["restarts"] == i and
            len(podvisor_status(app.probe_port)["children"]) == 1)
    assert load.failed == 0, (load.failed, load.errors)


def test_gin_with_go_systemd_activation_restarts_stop_first(tmp_path, goapps, app_env):
    with App(tmp_path, lambda a: ["--socket", f"tcp://127.0.0.1:{a.app_port}"],
              lambda a: [f"{goapps}/ginsd"]) as app:
        load = app.updates_under_load(
            10, lambda i: app_body(app.app_port) == f"v{i}" and
            podvisor_status(app.probe_port)["child"]["restarts"] == i)
    assert load.failed == 0, (load.failed, load.errors)


def test_grace_takes_the_held_socket_and_its_restarts_are_followed(tmp_path, goapps, app_env):
    """facebookgo/grace reads LISTEN_FDS itself; on SIGUSR2 it starts its
    successor (its child), which sends the old one SIGTERM once it serves
    and names itself in $PIDFILE."""
    with App(tmp_path, lambda a: ["--socket", f"tcp://127.0.0.1:{a.app_port}",
                                   "--on-change", "signal:USR2", "--pid-file", a.pid_file],
              lambda a: [f"{goapps}/graceapp", "-addr", f"127.0.0.1:{a.app_port}"]) as app:
        load = app.updates_under_load(
            5, lambda i: app_body(app.app_port) == f"v{i}" and
            podvisor_status(app.probe_port)["child"]["successions"] == i)
        assert podvisor_status(app.probe_port)["state"] == "ready"
    assert load.failed == 0, (load.failed, load.errors)
