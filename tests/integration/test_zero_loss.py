"""The point of the drain: when Kubernetes deletes a pod, no request that
reaches it may fail. The kubelet simulator deletes the pod while a load
generator keeps sending requests until the endpoint removal has propagated
(the lag). With --prestop-delay covering the lag nothing fails; with no
delay the app stops listening while traffic still arrives."""
import os
import shutil
import time

import pytest

from conftest import free_port, nginx_conf
from kubelet import Endpoints, LoadGenerator, Pod, ProbeLoop

APP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps", "graceful_app.py")
PY = "/usr/bin/python3"


def python_app(tmp_path, port):
    return [PY, APP, str(port), "0.02"], []


def nginx_app(tmp_path, port):
    conf = tmp_path / "nginx.conf"
    conf.write_text(nginx_conf(tmp_path, port))
    return ["nginx", "-e", "stderr", "-p", str(tmp_path), "-c", str(conf)], \
        ["--stop-signal", "QUIT"]


APPS = [pytest.param(python_app, id="python")]
if shutil.which("nginx"):
    APPS.append(pytest.param(nginx_app, id="nginx"))
else:  # tests/deps.sh installs it; without it this scenario cannot run
    APPS.append(pytest.param(nginx_app, id="nginx",
                             marks=pytest.mark.skip(reason="nginx not installed")))


def wait_serving(port, timeout=10):
    import http.client
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/")
            if c.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("app never served")


def delete_under_load(tmp_path, make_app, delay, lag):
    app_port, probe_port = free_port(), free_port()
    command, extra = make_app(tmp_path, app_port)
    pod = Pod(command, probe_port,
              ["--prestop-delay", f"{int(delay * 1000)}ms", "--grace-period", "10s", *extra])
    # the kubelet's own probes, at a short period so the test stays quick
    readiness = ProbeLoop(probe_port, "/readyz", period=0.1, failure_threshold=3)
    liveness = ProbeLoop(probe_port, "/livez", period=0.1, failure_threshold=3)
    try:
        pod.wait_ready()
        wait_serving(app_port)
        readiness.start()
        liveness.start()
        endpoints = Endpoints(lag)
        load = LoadGenerator(app_port, endpoints, workers=4)
        load.start()
        load.progressed(0)                    # the load runs ...
        time.sleep(1.0)                       # ... steadily before the deletion
        before = load.ok
        assert readiness.healthy and liveness.healthy
        d = pod.delete(grace=10, endpoints=endpoints)
        load.stop()
        readiness.stop()
        liveness.stop()
        assert not d.sigkilled
        assert load.ok > before > 0, "the load generator did not run"
        if delay > 0.5:
            # The kubelet saw the pod go unready during the delay (three failed
            # probes), while the app was still running, and never saw it dead.
            went_unready = [t for t, ok in readiness.transitions if not ok]
            assert went_unready and d.t_term <= went_unready[0] < d.t_term + 0.5
            live_until_exit = [ok for t, ok in liveness.transitions if t < d.t_term + delay]
            assert False not in live_until_exit
        return load, d
    finally:
        readiness.stop()
        liveness.stop()
        pod.kill()


@pytest.mark.parametrize("make_app", APPS)
@pytest.mark.parametrize("lag", [0.3, 1.2])
def test_no_request_fails_when_the_delay_covers_the_endpoint_lag(tmp_path, make_app, lag):
    load, d = delete_under_load(tmp_path, make_app, delay=1.5, lag=lag)
    print(f"\nzero-loss {make_app.__name__} delay=1.5s lag={lag}s: ok={load.ok} "
          f"failed={load.failed} exit={d.exit_code}")
    assert load.failed == 0, load.errors
    assert d.exit_code == 0
    assert d.t_exit - d.t_term >= 1.5


@pytest.mark.parametrize("make_app", APPS)
def test_without_a_delay_requests_fail(tmp_path, make_app):
    # The control: the same deletion with --prestop-delay 0 loses requests, so
    # the test above can tell a working drain from a broken one.
    load, d = delete_under_load(tmp_path, make_app, delay=0, lag=1.0)
    print(f"\nzero-loss control {make_app.__name__} delay=0 lag=1.0s: ok={load.ok} "
          f"failed={load.failed} exit={d.exit_code}")
    assert load.failed > 0
