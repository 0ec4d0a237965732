"""The kustomize manifests (deploy/): rendered by a real kubectl kustomize,
checked object by object, and the nginx overlay's container command run for
real: the rendered podvisor line, with Debian's nginx and the rendered
ConfigMap in a kubelet-style volume, serves, reloads a good change in place,
refuses a broken one and keeps serving, and drains on SIGTERM."""
import os
import socket
import subprocess
import sys
import time
import urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from atomic_writer import ConfigMapVolume  # noqa: E402

KUBECTL = os.environ.get("KUBECTL", os.path.join(ROOT, "build", "tools", "kubectl"))
PODVISOR = os.environ.get("PODVISOR", os.path.join(ROOT, "build", "podvisor"))


def kustomize(path):
    r = subprocess.run([KUBECTL, "kustomize", os.path.join(ROOT, path)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def by_kind(objs):
    return {o["kind"]: o for o in objs}


def test_base_renders():
    objs = by_kind(kustomize("deploy/base"))
    spec = objs["Deployment"]["spec"]["template"]["spec"]
    # Not /podvisor: in the podvisor image that is the binary itself.
    assert spec["initContainers"][0]["args"] == ["install", "/podvisor-bin/podvisor"]
    assert spec["initContainers"][0]["volumeMounts"] == [
        {"name": "podvisor-bin", "mountPath": "/podvisor-bin"}]
    assert spec["containers"][0]["command"][0] == "/podvisor/podvisor"
    assert objs["Service"]["spec"]["selector"] == \
        objs["Deployment"]["spec"]["selector"]["matchLabels"]


def nginx_overlay():
    objs = by_kind(kustomize("deploy/overlays/nginx"))
    dep = objs["Deployment"]
    spec = dep["spec"]["template"]["spec"]
    return objs, dep, spec, spec["containers"][0]


def test_nginx_overlay_renders():
    objs, dep, spec, app = nginx_overlay()
    assert dep["metadata"]["name"] == "web-app"
    assert spec["initContainers"][0]["image"] == "registry.example/podvisor:0.2.0"
    assert app["image"] == "docker.io/library/nginx:1.25"
    cmd = app["command"]
    opts, nginx = cmd[1:cmd.index("--")], cmd[cmd.index("--") + 1:]
    o = dict(zip(opts[::2], opts[1::2]))
    assert o["--stop-signal"] == "QUIT" and o["--on-change"] == "signal:HUP"
    assert o["--rewrite"] == "QUIT:TERM"  # nginx's image: the runtime sends QUIT
    assert o["--validate"] == "nginx -t -c /etc/nginx/podvisor/nginx.conf"
    assert o["--watch"] == "/etc/nginx/podvisor"
    assert o["--grace-period"] == f"{spec['terminationGracePeriodSeconds']}s"
    assert nginx == ["nginx", "-c", "/etc/nginx/podvisor/nginx.conf"]
    # The generated ConfigMap keeps its name (updated in place, not rolled)
    # and the volume points at it after the name prefix.
    cm = objs["ConfigMap"]
    vols = {v["name"]: v for v in spec["volumes"]}
    assert vols["nginx-conf"]["configMap"]["name"] == cm["metadata"]["name"] == "web-nginx-conf"
    mounts = {m["name"]: m for m in app["volumeMounts"]}
    assert mounts["nginx-conf"]["mountPath"] == "/etc/nginx/podvisor"
    assert "subPath" not in mounts["nginx-conf"]
    assert {m["name"] for m in app["volumeMounts"]} == {"podvisor-bin", "nginx-conf", "tmp"}
    assert app["securityContext"]["readOnlyRootFilesystem"] is True
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}


def get(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
            return r.read().decode()
    except OSError:
        return None


def wait_for(pred, what, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_nginx_overlay_runs(tmp_path):
    objs, dep, spec, app = nginx_overlay()
    port = free_port()
    scratch = tmp_path / "tmp"
    scratch.mkdir()

    def local(conf):
        # The pod's paths, moved to this machine: its /tmp emptyDir and port.
        return conf.replace("/tmp/", f"{scratch}/").replace("listen 8080", f"listen {port}")

    conf = objs["ConfigMap"]["data"]["nginx.conf"]
    vol = ConfigMapVolume(str(tmp_path / "conf"))
    vol.update({"nginx.conf": local(conf)})
    cmd = [c.replace("/etc/nginx/podvisor", vol.path) for c in app["command"]]
    cmd[0] = PODVISOR
    cmd[cmd.index("--prestop-delay") + 1] = "100ms"  # the drain itself is tested elsewhere
    cmd[1:1] = ["--probe-listen", f"127.0.0.1:{free_port()}", "--debounce", "100ms"]
    log = open(tmp_path / "podvisor.log", "w+")
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert wait_for(lambda: get(port), "nginx") == "hello from nginx under podvisor\n"
        # A good change: HUP, same master, new answer.
        vol.update({"nginx.conf": local(conf.replace("hello from", "reloaded:"))})
        wait_for(lambda: get(port) == "reloaded: nginx under podvisor\n", "the reload")
        # A broken change: nginx -t refuses it, nginx keeps serving.
        vol.update({"nginx.conf": local(conf) + "\nbroken {"})
        wait_for(lambda: "refused" in open(tmp_path / "podvisor.log").read(), "the refusal")
        assert get(port) == "reloaded: nginx under podvisor\n"
        p.terminate()
        assert p.wait(timeout=15) == 0, open(tmp_path / "podvisor.log").read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    out = open(tmp_path / "podvisor.log").read()
    assert "SIGQUIT" in out, out
