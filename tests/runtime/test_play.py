"""The real-runtime tier: what the chart and deploy/ render is started by a
real container runtime (podman 4.3 `kube play`), not only rendered. For each
way in (the chart's injected, image and sidecar examples, the nginx overlay):

  1. the pod starts, and podvisor answers /livez and /readyz inside it
     (`podman exec ... podvisor probe`: no host routes needed);
  2. a ConfigMap change, written the kubelet's way (tests/integration/
     atomic_writer.py), reaches the action: nginx serves the new config;
  3. `podman stop -t 30` of the pod's containers drains: readiness fails
     first, the app keeps serving through the prestop delay, and every
     container exits 0.

Only the kubelet is simulated (the ConfigMap's atomic updates); the images
come from tests/container/images.sh. The podman 4.3 quirks are worked
around here, never in the chart, each where it is done (to_pod).

Figures (time from `podman stop` to the containers' exit, time from a change
to the action) go to build/runtime/figures.txt; `make runtime-test` prints
them."""
import datetime
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from atomic_writer import ConfigMapVolume  # noqa: E402

CHART = os.path.join(ROOT, "helm", "podvisor")
HELM = os.environ.get("HELM", os.path.join(ROOT, "build", "tools", "helm"))
KUBECTL = os.environ.get("KUBECTL", os.path.join(ROOT, "build", "tools", "kubectl"))
WORK = os.path.join(ROOT, "build", "runtime")
FIGURES = os.path.join(WORK, "figures.txt")
ENV = dict(os.environ, CONTAINERS_CONF=os.path.join(ROOT, "build", "container",
                                                    "containers.conf"))


def podman(*args, check=True, timeout=120):
    r = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout,
                       env=ENV)
    if check:
        assert r.returncode == 0, f"podman {' '.join(args)}: {r.stderr}"
    return r


def figure(line):
    os.makedirs(WORK, exist_ok=True)
    with open(FIGURES, "a") as f:
        f.write(line + "\n")


def rendered_chart(values, *sets, kube=None):
    args = [HELM, "template", "rt", CHART, "-f", os.path.join(CHART, "ci", values)]
    if kube:
        args += ["--kube-version", kube]
    for s in sets:
        args += ["--set", s]
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [o for o in yaml.safe_load_all(r.stdout) if o]


def rendered_overlay(path):
    r = subprocess.run([KUBECTL, "kustomize", os.path.join(ROOT, path)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [o for o in yaml.safe_load_all(r.stdout) if o]


class Pod:
    """One rendered Deployment, played as a Pod, its ConfigMap a kubelet-style
    volume on the host."""

    def __init__(self, objs, tmp_path):
        self.name = "pv-" + uuid.uuid4().hex[:8]
        self.network = "none"
        self.configmaps = {o["metadata"]["name"]: o.get("data", {})
                           for o in objs if o["kind"] == "ConfigMap"}
        dep = next(o for o in objs if o["kind"] == "Deployment")
        self.spec = dep["spec"]["template"]["spec"]
        self.volumes = {}
        self.volume_data = {}   # what each ConfigMap volume holds now
        self.named_volumes = []
        self.pod = self.to_pod(dep, tmp_path)

    def to_pod(self, dep, tmp_path):
        # A Deployment's init containers get restartPolicy: Always from
        # podman 4.3's kube play (they would run forever): play a Pod.
        spec = json.loads(json.dumps(self.spec))
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            # httpGet probes become `sh -c curl` inside the image, which the
            # FROM-scratch podvisor image cannot run: the test probes instead.
            for k in ("livenessProbe", "readinessProbe", "startupProbe"):
                c.pop(k, None)
            # containerPorts are published on the host's 0.0.0.0: the test
            # needs none (it probes inside the pod).
            c.pop("ports", None)
        for v in spec.get("volumes", []):
            if "configMap" in v:
                # The kubelet's ConfigMap volume (..data and its swap): a host
                # directory written the kubelet's way (atomic_writer).
                cm = v.pop("configMap")["name"]
                path = str(tmp_path / v["name"])
                vol = ConfigMapVolume(path)
                self.volume_data[v["name"]] = dict(self.configmaps[cm])
                vol.update(self.volume_data[v["name"]])
                os.chmod(path, 0o755)
                self.volumes[v["name"]] = vol
                v["hostPath"] = {"path": path, "type": "Directory"}
            elif "emptyDir" in v:
                # emptyDirs become named volumes, shared host-wide by name:
                # one of this pod's own, removed with it.
                unique = f"{self.name}-{v['name']}"
                self.named_volumes.append(unique)
                for c in spec.get("containers", []) + spec.get("initContainers", []):
                    for m in c.get("volumeMounts", []):
                        if m["name"] == v["name"]:
                            m["name"] = unique
                v["name"] = unique
                # podman 4.3 fails an emptyDir with a sizeLimit (the
                # volume is made, then its init container is lost).
                v["emptyDir"] = {}
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": self.name, "labels": {"podvisor-test": "runtime"}},
                "spec": spec}

    def play(self):
        """The init containers, then the pod. podman 4.3's kube play waits
        20s for an init container's exit (conmon's timeout: it misses the
        exit of a container that ends at once) and then at times fails,
        removing it "while it runs": the test runs the init containers
        itself, in order, as the kubelet would (the pod's user, read-only
        root, no capabilities, its volumes), then plays the rest."""
        for v in self.named_volumes:
            podman("volume", "create", v)
        spec = self.pod["spec"]
        for c in spec.pop("initContainers", []):
            self.run_init(c, spec)
        path = os.path.join(WORK, self.name + ".yaml")
        os.makedirs(WORK, exist_ok=True)
        with open(path, "w") as f:
            yaml.safe_dump(self.pod, f)
        # No network but the pod's own loopback: the test probes inside it
        # (a test that needs the host's, for a fake API server, says so).
        podman("kube", "play", "--network", self.network, path)

    def run_init(self, c, spec):
        sc = dict(spec.get("securityContext", {}), **c.get("securityContext", {}))
        args = ["run", "--rm", "--network", "none", "--name", self.ctr(c["name"])]
        if "runAsUser" in sc:
            args += ["--user", f"{sc['runAsUser']}:{sc.get('runAsGroup', sc['runAsUser'])}"]
        if sc.get("readOnlyRootFilesystem"):
            args.append("--read-only")
        if "ALL" in sc.get("capabilities", {}).get("drop", []):
            args += ["--cap-drop", "ALL"]
        if sc.get("allowPrivilegeEscalation") is False:
            args += ["--security-opt", "no-new-privileges"]
        vols = {v["name"]: v for v in spec.get("volumes", [])}
        for m in c.get("volumeMounts", []):
            v = vols[m["name"]]
            src = v["hostPath"]["path"] if "hostPath" in v else v["name"]
            args += ["-v", f"{src}:{m['mountPath']}" + (":ro" if m.get("readOnly") else "")]
        if c.get("command"):
            args += ["--entrypoint", json.dumps(c["command"])]
        r = podman(*args, c["image"], *c.get("args", []), check=False)
        assert r.returncode == 0, f"init container {c['name']}: {r.stdout}{r.stderr}"

    def ctr(self, name):
        return f"{self.name}-{name}"

    def exec(self, ctr, *cmd, timeout=30):
        return podman("exec", self.ctr(ctr), *cmd, check=False, timeout=timeout)

    def wait(self, pred, what, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return
            time.sleep(0.2)
        raise AssertionError(f"{what}: not within {timeout}s; logs:\n{self.all_logs()}")

    def logs(self, ctr):
        return podman("logs", self.ctr(ctr), check=False).stderr + \
            podman("logs", self.ctr(ctr), check=False).stdout

    def all_logs(self):
        names = [c["name"] for c in self.spec.get("initContainers", []) + self.spec["containers"]]
        return "\n".join(f"--- {n}\n{self.logs(n)}" for n in names)

    def exit_code(self, ctr):
        return podman("inspect", "-f", "{{.State.ExitCode}}", self.ctr(ctr)).stdout.strip()

    def remove(self):
        # Never `podman kube down` to stop a pod under test: it SIGKILLs at
        # once (podman 4.3). The drain is tested through `podman pod stop`.
        podman("pod", "rm", "-f", "-t", "0", self.name, check=False)
        for v in self.named_volumes:
            podman("volume", "rm", "-f", v, check=False)


@pytest.fixture
def play(tmp_path):
    pods = []

    def start(objs, prepare=None):
        p = Pod(objs, tmp_path)
        pods.append(p)
        if prepare:
            prepare(p)
        p.play()
        return p

    yield start
    for p in pods:
        p.remove()


def probe(pod, ctr, podvisor, url):
    return pod.exec(ctr, podvisor, "probe", "--timeout", "2s", url).returncode == 0


def serves(pod, ctr, text):
    """The app's answer has text in it (wget-free: podvisor probe prints no
    body, so a shell reads it with bash's /dev/tcp where the image has bash)."""
    r = pod.exec(ctr, "/bin/bash", "-c",
                 'exec 3<>/dev/tcp/127.0.0.1/8080; printf "GET / HTTP/1.0\\r\\n\\r\\n" >&3; cat <&3')
    return r.returncode == 0 and text in r.stdout


def change_config(pod, volume, key, old, new):
    """Edits key in the volume's current content, the kubelet's way; returns
    the wall time of the update."""
    data = pod.volume_data[volume]
    data[key] = data[key].replace(old, new)
    pod.volumes[volume].update(data)
    return time.time()


def log_time(logs, pattern):
    """The wall time of podvisor's first JSON log line matching pattern."""
    for line in logs.splitlines():
        if line.startswith("{") and re.search(pattern, line):
            ts = json.loads(line)["ts"].replace("Z", "+00:00")
            return datetime.datetime.fromisoformat(ts).timestamp()
    return None


def record_action(pod, ctr, pattern, t_change, mode, what):
    """The time from a change to podvisor's log line for its action, as a
    figure."""
    acted = log_time(pod.logs(ctr), pattern)
    assert acted, pod.logs(ctr)
    figure(f"{mode:<22} change -> {what}: {acted - t_change:.2f}s")


class DrainWatch(threading.Thread):
    """A loop inside the app's container, reading the clock, /readyz and the
    app once every 100ms until the container stops: what a load balancer's
    health check and a client see during the drain."""

    def __init__(self, pod, podvisor):
        super().__init__(daemon=True)
        script = (f'while :; do t=$(date +%s.%N); '
                  f'{podvisor} probe --timeout 500ms http://127.0.0.1:8099/readyz 2>/dev/null && r=1 || r=0; '
                  f'{podvisor} probe --timeout 500ms http://127.0.0.1:8080/ 2>/dev/null && a=1 || a=0; '
                  'echo "$t $r $a"; sleep 0.1; done')
        self.proc = subprocess.Popen(["podman", "exec", pod.ctr("app"), "/bin/sh", "-c", script],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     env=ENV)
        self.samples = []
        self.start()

    def run(self):
        for line in self.proc.stdout:
            t, r, a = line.split()
            self.samples.append((float(t), r == "1", a == "1"))

    def wait_samples(self, n=3):
        deadline = time.monotonic() + 30
        while len(self.samples) < n and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(self.samples) >= n, "the drain watcher never ran"

    def finish(self):
        self.proc.wait(timeout=60)
        self.join(timeout=10)
        return self.samples


def stop_and_check_drain(pod, podvisor, prestop, mode, watch=True):
    """podman stop -t 30: readiness fails first, the app answers through
    the prestop delay, every container exits 0."""
    w = DrainWatch(pod, podvisor) if watch else None
    if w:
        w.wait_samples()
        assert all(r and a for _, r, a in w.samples[-2:]), w.samples
    t0 = time.time()
    # As the kubelet: the containers (in parallel), then the sandbox.
    # `podman pod stop` alone may end the infra container first, and with
    # shareProcessNamespace it is PID 1 of the pod: the kernel then
    # SIGKILLs nginx mid-drain (podman 4.3; exit 137 seen).
    podman("stop", "-t", "30", *[pod.ctr(c["name"]) for c in pod.spec["containers"]],
           timeout=90)
    took = time.time() - t0
    podman("pod", "stop", "-t", "30", pod.name, timeout=90)
    for c in pod.spec["containers"]:
        assert pod.exit_code(c["name"]) == "0", pod.all_logs()
    assert took < 25, f"the stop took {took:.1f}s: podman's SIGKILL, not a drain"
    if w:
        samples = [s for s in w.finish() if s[0] >= t0]
        not_ready = [t for t, r, _ in samples if not r]
        assert not_ready, f"/readyz never failed during the drain ({took:.1f}s): {samples}" + pod.logs("app")
        first = not_ready[0]
        # Readiness failed within a probe period of the stop...
        assert first - t0 < 1.5, samples
        # ...and the app kept answering while it did, through the delay.
        served = [t for t, r, a in samples if not r and a]
        assert served and served[-1] - first >= prestop * 0.7, samples
        assert took >= prestop, f"stopped in {took:.1f}s, before the {prestop}s prestop delay"
    figure(f"{mode:<22} podman stop -> exit: {took:.2f}s (prestop delay {prestop}s)")
    return took


def check_probes(pod, ctr, podvisor, port=8099):
    pod.wait(lambda: probe(pod, ctr, podvisor, f"http://127.0.0.1:{port}/readyz"),
             f"{ctr}: /readyz")
    assert probe(pod, ctr, podvisor, f"http://127.0.0.1:{port}/livez")


def test_chart_injected(play):
    pod = play(rendered_chart("injected-values.yaml"))
    pv = "/podvisor/podvisor"
    check_probes(pod, "app", pv)
    assert serves(pod, "app", "config 1")
    # A good change: validated with the app's own nginx, then HUP.
    t_change = change_config(pod, "config", "nginx.conf", "config 1", "config 2")
    pod.wait(lambda: serves(pod, "app", "config 2"), "the changed config served")
    # The HUP follows the validation at once (nginx logs it, in seconds).
    record_action(pod, "app", r"--validate passed", t_change, "chart injected",
                  "validated, SIGHUP (--debounce 500ms, nginx -t)")
    # A broken one is refused by nginx -t, and nginx keeps serving.
    change_config(pod, "config", "nginx.conf", "listen 8080;", "listen 8080 bogus;")
    pod.wait(lambda: "config change refused" in pod.logs("app"), "the broken change refused")
    assert serves(pod, "app", "config 2") and probe(
        pod, "app", pv, "http://127.0.0.1:8099/readyz")
    stop_and_check_drain(pod, pv, 10, "chart injected")
    logs = pod.logs("app")
    order = re.findall(r"ready -> draining|sending stop signal SIGQUIT", logs)
    assert order == ["ready -> draining", "sending stop signal SIGQUIT"], logs


def test_chart_image(play):
    # Played as the example is, except that the change is applied in place
    # (the example rolls the pods on `helm upgrade`, which needs a cluster):
    # podvisor's own restart of nginx, in the real runtime.
    pod = play(rendered_chart("image-values.yaml", "config.onChange=reload",
                              "config.action=restart"))
    pv = "/usr/local/bin/podvisor"
    check_probes(pod, "app", pv)
    assert serves(pod, "app", "config 1")
    t_change = change_config(pod, "config", "nginx.conf", "config 1", "config 2")
    pod.wait(lambda: serves(pod, "app", "config 2"), "the restarted nginx")
    pod.wait(lambda: probe(pod, "app", pv, "http://127.0.0.1:8099/readyz"), "ready again")
    logs = pod.logs("app")
    assert "restart" in logs, logs
    figure(f"{'chart image':<22} change -> nginx restarted and serving it: "
           f"{time.time() - t_change:.2f}s at most (polled)")
    stop_and_check_drain(pod, pv, 2, "chart image")


def test_chart_drain_endpoints(play):
    """drainEndpoints.enabled played by podman, against the fake API server
    of the integration tests on the host. The kubelet's part is simulated
    as it is done: the API's address in the environment, the service
    account's token and CA mounted at its path, the downward API's values
    (podman's own pod UID is not the API's). The deletion: the API sets the
    deletionTimestamp, the controller marks the endpoint not ready 0.5 s
    later, the kubelet stops the container; the prestop wait ends a settle
    after the mark, not at the 20 s delay."""
    from fake_kube_api import SA_MOUNT, FakeKubeAPI
    with FakeKubeAPI(namespace="default") as api:
        def kubelet(pod):
            api.pod_name = pod.name
            pod.network = "host"
            spec = pod.pod["spec"]
            app = next(c for c in spec["containers"] if c["name"] == "app")
            given = {"POD_NAME": pod.name, "POD_NAMESPACE": "default",
                     "POD_UID": api.pod_uid,
                     "KUBERNETES_SERVICE_HOST": "127.0.0.1",
                     "KUBERNETES_SERVICE_PORT": str(api.port)}
            assert {e["name"] for e in app["env"]} >= {"POD_NAME", "POD_NAMESPACE", "POD_UID"}
            app["env"] = [e for e in app["env"] if e["name"] not in given] + \
                [{"name": k, "value": v} for k, v in given.items()]
            spec["volumes"].append({"name": "sa", "hostPath": {"path": api.sa_dir,
                                                                "type": "Directory"}})
            app["volumeMounts"].append({"name": "sa", "mountPath": SA_MOUNT, "readOnly": True})
        pod = play(rendered_chart("injected-values.yaml", "drainEndpoints.enabled=true",
                                  "drainEndpoints.settle=1s", "podvisor.prestopDelay=20s",
                                  "terminationGracePeriodSeconds=40"), prepare=kubelet)
        pv = "/podvisor/podvisor"
        check_probes(pod, "app", pv)
        assert api.requests == [], "asked the API before SIGTERM"
        api.delete_pod()
        threading.Timer(0.5, api.mark_not_ready).start()
        t0 = time.time()
        podman("stop", "-t", "40", pod.ctr("app"), timeout=90)
        took = time.time() - t0
        assert pod.exit_code("app") == "0", pod.all_logs()
        logs = pod.logs("app")
        assert "every EndpointSlice listing the pod shows it not ready" in logs, logs
        assert 1.5 <= took < 15, f"{took:.1f}s: {logs}"
        figure(f"{'chart drainEndpoints':<22} podman stop -> exit: {took:.2f}s (prestop bound 20s, "
               f"endpoint marked at 0.5s, settle 1s)")


class InPodLoad(threading.Thread):
    """Requests on new connections, one after another, from inside the
    app's container (`podvisor probe`: connect, GET, a 2xx), each result
    counted, until /tmp/stop-load exists: what a client of the pod sees
    through a restart."""

    def __init__(self, pod, podvisor):
        super().__init__(daemon=True)
        script = ('while [ ! -e /tmp/stop-load ]; do '
                  f'{podvisor} probe --timeout 5s http://127.0.0.1:8080/ >/dev/null 2>&1 '
                  '&& echo ok || echo fail; done')
        self.pod = pod
        self.proc = subprocess.Popen(["podman", "exec", pod.ctr("app"), "/bin/sh", "-c", script],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     env=ENV)
        self.ok = self.failed = 0
        self.start()

    def run(self):
        for line in self.proc.stdout:
            if line.strip() == "ok":
                self.ok += 1
            else:
                self.failed += 1

    def finish(self):
        self.pod.exec("app", "/bin/sh", "-c", "touch /tmp/stop-load")
        self.proc.wait(timeout=60)
        self.join(timeout=10)


def test_chart_held_socket(play):
    # The image example with podvisor holding nginx's port (podvisor.sockets;
    # nginx takes it from NGINX="3;", its binary upgrade's variable) and
    # the change applied in place by a restart: in the real runtime, no
    # request made through five restarts fails, and /readyz stays 200.
    pod = play(rendered_chart("image-values.yaml", "config.onChange=reload",
                              "config.action=restart", "podvisor.sockets={http=tcp://0.0.0.0:8080}",
                              "app.env[0].name=NGINX", "app.env[0].value=3;"))
    pv = "/usr/local/bin/podvisor"
    check_probes(pod, "app", pv)
    assert serves(pod, "app", "config 1")
    load = InPodLoad(pod, pv)
    try:
        t0 = time.time()
        for n in range(2, 7):
            while load.ok < 20 * (n - 1):  # requests between the restarts too
                time.sleep(0.05)
            change_config(pod, "config", "nginx.conf", f"config {n - 1}", f"config {n}")
            pod.wait(lambda: serves(pod, "app", f"config {n}"), f"the restarted nginx ({n})")
            assert probe(pod, "app", pv, "http://127.0.0.1:8099/readyz"), pod.logs("app")
        took = time.time() - t0
    finally:
        load.finish()
    logs = pod.logs("app")
    # Each generation of nginx took the held socket instead of binding its own.
    assert logs.count('using inherited sockets from "3;"') >= 6, logs
    assert logs.count("restarting") >= 5, logs
    assert load.ok > 100, (load.ok, logs)
    assert load.failed == 0, (load.failed, load.ok, logs)
    figure(f"{'chart held socket':<22} 5 restarts under load: {load.ok} requests, "
           f"{load.failed} failed, in {took:.1f}s")
    stop_and_check_drain(pod, pv, 2, "chart held socket")


@pytest.mark.parametrize("kube", ["1.28.0"])
def test_chart_sidecar(play, kube):
    # sidecar.native: auto on a 1.28 cluster renders the classic sidecar,
    # the one podman 4.3 plays (it refuses native sidecars).
    pod = play(rendered_chart("sidecar-values.yaml", kube=kube))
    assert pod.pod["spec"]["shareProcessNamespace"] is True
    check_probes(pod, "podvisor", "/podvisor", port=8098)
    pod.wait(lambda: serves(pod, "app", "config 1"), "nginx serving")
    pod.wait(lambda: "--signal-process nginx: found" in pod.logs("podvisor"),
             "the sidecar finding nginx")
    t_change = change_config(pod, "config", "nginx.conf", "config 1", "config 2")
    pod.wait(lambda: serves(pod, "app", "config 2"), "nginx HUPed by the sidecar")
    record_action(pod, "podvisor", r"on-change: ", t_change, "chart sidecar",
                  "SIGHUP across containers")
    # No drain in sidecar mode (the app is not podvisor's child): podman's
    # stop signal reaches nginx (QUIT, its graceful stop) and the sidecar.
    stop_and_check_drain(pod, None, 0, "chart sidecar", watch=False)


def test_deploy_overlay_nginx(play):
    objs = rendered_overlay("deploy/overlays/nginx")
    pod = play(objs)
    pv = "/podvisor/podvisor"
    check_probes(pod, "app", pv)
    pod.wait(lambda: serves(pod, "app", "hello from nginx under podvisor"), "nginx serving")
    t_change = change_config(pod, "nginx-conf", "nginx.conf", "hello from", "changed:")
    pod.wait(lambda: serves(pod, "app", "changed: nginx under podvisor"), "the change served")
    record_action(pod, "app", r"--validate passed", t_change, "deploy/overlays/nginx",
                  "validated, SIGHUP (--debounce default, nginx -t)")
    stop_and_check_drain(pod, pv, 5, "deploy/overlays/nginx")
