"""--drain-endpoints end to end: podvisor as PID 1 with the service account
bind-mounted at the kubelet's path, a fake API server over TLS (a CA of the
test's own, an IP-address SAN), the deletion scripted as the API server
and the EndpointSlice controller do it (docs/kubernetes.md)."""
import json
import signal
import threading
import time

import pytest

from conftest import base_env, free_port, helper
from fake_kube_api import SA_MOUNT, FakeKubeAPI
from kubelet import Endpoints, LoadGenerator, Pod


DELAY = 20.0   # --prestop-delay: the bound, far beyond what any test waits for
SETTLE = 1.0   # --drain-settle


def start(api, extra=(), command=None, delay=DELAY):
    port = free_port()
    args = ["--prestop-delay", f"{int(delay * 1000)}ms", "--drain-endpoints",
            "--drain-settle", f"{int(SETTLE * 1000)}ms", "--stop-timeout", "3s",
            "--grace-period", f"{int(delay) + 10}s", *extra]
    return Pod(command or [helper("sigecho"), "c"], port, args, env=base_env(**api.env()),
               binds=[(api.sa_dir, SA_MOUNT)])


def deleted(api, pod, lag):
    """The kubelet's order: the API server sets the deletionTimestamp and
    the controller marks the endpoint not ready `lag` s later; the kubelet
    sends SIGTERM (no preStop hook: podvisor waits itself)."""
    api.delete_pod()
    threading.Timer(lag, api.mark_not_ready).start()
    t_term = time.monotonic()
    pod.pv.signal(signal.SIGTERM)
    return t_term


def stop_signal_at(pod, timeout, sig=15):
    line = pod.pv.readline(timeout=timeout)
    assert line == f"c {sig}", line
    return time.monotonic()


def test_the_wait_ends_a_settle_after_the_endpoints_say_not_ready():
    with FakeKubeAPI() as api, start(api) as pod:
        assert pod.pv.readline() == "c ready"
        pod.wait_ready()
        t_term = deleted(api, pod, lag=0.5)
        t_stop = stop_signal_at(pod, timeout=DELAY)
        assert api.marked_at is not None
        # What must hold: never before the settle after the mark, and long
        # before the bound. (How close to the settle: make bench.)
        assert t_stop - api.marked_at >= SETTLE - 0.01, (t_stop - api.marked_at)
        assert t_stop - t_term < DELAY / 2, pod.pv.stderr_so_far()
        assert pod.pv.wait() == 0
        err = pod.pv.stderr_so_far()
        assert "every EndpointSlice listing the pod shows it not ready" in err
        assert "the endpoints show the pod not ready and --drain-settle passed" in err
        # Only after SIGTERM: no request before it, and the pod first.
        paths = [p for _, p, _ in api.requests]
        assert paths[0] == "/api/v1/namespaces/shop/pods/web-0", paths
        assert any("watch=1" in p and "allowWatchBookmarks=true" in p for p in paths), paths
        assert all(t == api.token for _, _, t in api.requests)


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_tls_1_2_and_1_3_against_the_service_accounts_ca(tls):
    with FakeKubeAPI(tls=tls) as api, start(api) as pod:
        assert pod.pv.readline() == "c ready"
        deleted(api, pod, lag=0.1)
        stop_signal_at(pod, timeout=DELAY)
        assert pod.pv.wait() == 0
        assert api.tls_versions == {f"TLSv{tls}"}
        assert "shows it not ready" in pod.pv.stderr_so_far()


def test_a_certificate_for_another_address_is_refused():
    """The API is reached by IP: the certificate must name that IP (an
    IP-address SAN), and one for another address is not trusted."""
    with FakeKubeAPI(san_ip="127.0.0.2") as api, start(api, delay=2.0) as pod:
        assert pod.pv.readline() == "c ready"
        deleted(api, pod, lag=0.1)
        stop_signal_at(pod, timeout=12)
        assert pod.pv.wait() == 0
        err = pod.pv.stderr_so_far()
        assert "waiting the fixed --prestop-delay 2000ms" in err, err
        assert "the GET of the pod at https://127.0.0.1" in err, err
        assert not any("endpointslices" in p for _, p, _ in api.requests)


def test_readiness_fails_at_once_and_status_and_metrics_say_the_verdict():
    # USR1 as the stop signal: sigecho keeps running until the stop timeout,
    # so the verdict can be read after the wait ended.
    with FakeKubeAPI() as api, start(api, ["--stop-signal", "USR1"]) as pod:
        assert pod.pv.readline() == "c ready"
        pod.wait_ready()
        status = json.loads(pod.probe("/status").body)
        assert status["drain"]["endpoints"] is None
        assert 'podvisor_drain_endpoints{verdict="not-ready"} 0' in pod.probe("/metrics").body
        api.delete_pod()
        pod.pv.signal(signal.SIGTERM)
        assert pod.probe("/readyz").status == 503
        api.mark_not_ready()
        stop_signal_at(pod, timeout=DELAY, sig=10)
        status = json.loads(pod.probe("/status").body)
        assert status["state"] == "stopping"
        assert status["drain"]["endpoints"] == "not-ready"
        assert 'podvisor_drain_endpoints{verdict="not-ready"} 1' in pod.probe("/metrics").body
        assert pod.pv.wait() == 137


def test_zero_requests_lost_when_the_settle_covers_the_data_plane():
    """The load balancer stops sending 0.5 s after the endpoint is marked
    (kube-proxy's minSyncPeriod is 1 s; the settle covers the lag)."""
    with FakeKubeAPI() as api:
        app_port = free_port()
        with start(api, command=["python3", "-m", "http.server", "--bind", "127.0.0.1",
                                 str(app_port)]) as pod:
            pod.wait_ready()
            import socket
            from conftest import wait_for

            def up():
                try:
                    socket.create_connection(("127.0.0.1", app_port), timeout=1).close()
                    return True
                except OSError:
                    return False
            wait_for(up, what="the app's port")
            lag = 0.3
            data_plane = Endpoints(lag + 0.5)
            with LoadGenerator(app_port, data_plane) as load:
                load.start()
                load.progressed(0)
                api.delete_pod()
                data_plane.start_removal(time.monotonic())
                threading.Timer(lag, api.mark_not_ready).start()
                pod.pv.signal(signal.SIGTERM)
                assert pod.pv.wait(timeout=DELAY) in (0, 143)
                load.stop()
                assert load.failed == 0, load.errors
                assert load.ok > 0
            assert "the endpoints show the pod not ready" in pod.pv.stderr_so_far()


def test_a_kill_without_deletion_ends_the_wait_at_drain_min():
    """Liveness failure, node shutdown: no deletionTimestamp, no endpoint
    will change; the wait is the short bound."""
    with FakeKubeAPI() as api, start(api, ["--drain-min", "300ms"]) as pod:
        assert pod.pv.readline() == "c ready"
        t_term = time.monotonic()
        pod.pv.signal(signal.SIGTERM)
        t_stop = stop_signal_at(pod, timeout=DELAY)
        # The lifecycle's clock is in whole milliseconds: up to 1 ms of
        # --drain-min can fall before the SIGTERM is read.
        assert t_stop - t_term >= 0.3 - 0.002, t_stop - t_term
        assert t_stop - t_term < DELAY / 2
        assert pod.pv.wait() == 0
        assert "the pod has no deletionTimestamp" in pod.pv.stderr_so_far()
        assert not any("endpointslices" in p for _, p, _ in api.requests)


@pytest.mark.parametrize("fault", ["gone-status", "gone-event", "close"])
def test_the_watch_recovers_from_a_gone_or_closed_stream(fault):
    with FakeKubeAPI() as api, start(api) as pod:
        api.watch_faults = [fault]
        assert pod.pv.readline() == "c ready"
        api.delete_pod()
        pod.pv.signal(signal.SIGTERM)
        from conftest import wait_for
        # The faulty watch, then a good one (after a new list for 410).
        wait_for(lambda: api.watch_count() >= 2 and api.watchers, timeout=15,
                 what="a second watch", err=pod.pv.stderr_so_far)
        lists = [p for _, p, _ in api.requests if p.endswith("/endpointslices")]
        assert len(lists) == (2 if fault.startswith("gone") else 1), api.requests
        api.mark_not_ready()
        stop_signal_at(pod, timeout=DELAY)
        assert pod.pv.wait() == 0
        assert "shows it not ready" in pod.pv.stderr_so_far()


def test_a_bookmark_moves_the_watch_on_and_changes_nothing():
    """allowWatchBookmarks: a BOOKMARK carries only a resourceVersion; a
    watch that closes after it resumes from there, not from the list."""
    with FakeKubeAPI() as api, start(api) as pod:
        assert pod.pv.readline() == "c ready"
        api.delete_pod()
        pod.pv.signal(signal.SIGTERM)
        from conftest import wait_for
        wait_for(lambda: api.watchers, timeout=15, what="a watch", err=pod.pv.stderr_so_far)
        api.bookmark()
        rv = str(api.rv)
        api.watch_faults = [None]       # the next watch is a normal one
        for q in list(api.watchers):    # the server ends the stream (its timeout)
            q.put(None)
        wait_for(lambda: sum("watch=1" in p for _, p, _ in api.requests) >= 2, timeout=15,
                 what="the watch again", err=pod.pv.stderr_so_far)
        watches = [p for _, p, _ in api.requests if "watch=1" in p]
        assert watches[-1].endswith(f"resourceVersion={rv}"), watches
        assert pod.pv.lines.empty()     # no stop signal for a bookmark
        wait_for(lambda: len(api.watchers) == 1, timeout=15, what="the new watch")
        api.mark_not_ready()
        stop_signal_at(pod, timeout=DELAY)
        assert pod.pv.wait() == 0


def test_a_rotated_token_is_read_again_after_a_401():
    with FakeKubeAPI() as api, start(api) as pod:
        assert pod.pv.readline() == "c ready"
        api.unauthorized_until_rotated = True
        api.rotate_token()     # the kubelet rotated it; the old one is refused
        api.delete_pod()
        pod.pv.signal(signal.SIGTERM)
        from conftest import wait_for
        wait_for(lambda: api.watchers, timeout=15, what="a watch", err=pod.pv.stderr_so_far)
        api.mark_not_ready()
        stop_signal_at(pod, timeout=DELAY)
        assert pod.pv.wait() == 0
        assert all(t == api.token for _, _, t in api.requests), api.requests


@pytest.mark.parametrize("case,says", [
    ("forbid", "the API refused the GET of the pod (HTTP 403)"),
    ("token", "HTTP 401"),
    ("no-slice", "no EndpointSlice in the namespace lists the pod"),
    ("publishing", "every Service of the pod publishes not-ready addresses"),
])
def test_what_the_api_cannot_tell_keeps_the_fixed_delay(case, says):
    kw = {}
    if case == "no-slice":
        kw["lists_pod"] = False
    if case == "publishing":
        kw["publish_not_ready"] = ("web",)
    delay = 2.0
    with FakeKubeAPI(**kw) as api, start(api, delay=delay) as pod:
        api.forbid = case == "forbid"
        if case == "token":
            api.token = "another"   # the file's token is not the API's
        assert pod.pv.readline() == "c ready"
        api.delete_pod()
        t_term = time.monotonic()
        pod.pv.signal(signal.SIGTERM)
        api.mark_not_ready()
        t_stop = stop_signal_at(pod, timeout=delay + 10)
        assert t_stop - t_term >= delay
        assert pod.pv.wait() == 0
        err = pod.pv.stderr_so_far()
        assert says in err, err
        assert "waiting the fixed --prestop-delay 2000ms" in err


def test_an_api_that_never_answers_keeps_the_fixed_delay():
    delay = 8.0
    with FakeKubeAPI() as api, start(api, delay=delay) as pod:
        api.silent = True
        assert pod.pv.readline() == "c ready"
        t_term = time.monotonic()
        pod.pv.signal(signal.SIGTERM)
        pod.pv.says("waiting the fixed --prestop-delay", timeout=delay)
        t_stop = stop_signal_at(pod, timeout=delay + 10)
        assert t_stop - t_term >= delay
        assert "timed out" in pod.pv.stderr_so_far().lower()
        api.silent = False
        assert pod.pv.wait() == 0


def test_outside_a_pod_it_says_so_at_start():
    port = free_port()
    with Pod([helper("sigecho"), "c"], port, ["--prestop-delay", "1s", "--drain-endpoints"],
             env=base_env()) as pod:
        assert pod.pv.readline() == "c ready"
        pod.pv.says("--drain-endpoints: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
                    "are not set")
        t_term = time.monotonic()
        pod.pv.signal(signal.SIGTERM)
        stop_signal_at(pod, timeout=10)
        assert time.monotonic() - t_term >= 1.0
        assert pod.pv.wait() == 0
