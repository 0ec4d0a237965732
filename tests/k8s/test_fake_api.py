"""The fake API server of tests/integration/fake_kube_api.py, read by a real
client: kubectl (the tier's own, build/tools) gets the pod, lists the
EndpointSlices and watches them through a kubeconfig with the service
account's token and CA, as any in-cluster client would. What podvisor's
--drain-endpoints tests are told is then what a Kubernetes client accepts
as the API's objects and its watch stream."""
import json
import os
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from fake_kube_api import FakeKubeAPI  # noqa: E402

KUBECTL = os.environ.get("KUBECTL", os.path.join(ROOT, "build", "tools", "kubectl"))


def kubeconfig(api, path):
    with open(os.path.join(api.sa_dir, "token")) as f:
        token = f.read()
    cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "fake",
           "clusters": [{"name": "fake", "cluster": {
               "server": f"https://127.0.0.1:{api.port}",
               "certificate-authority": os.path.join(api.sa_dir, "ca.crt")}}],
           "users": [{"name": "sa", "user": {"token": token}}],
           "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "sa",
                                                     "namespace": api.namespace}}]}
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


def kubectl(cfg, *args, timeout=30):
    r = subprocess.run([KUBECTL, "--kubeconfig", cfg, *args], capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_kubectl_reads_the_pod_and_its_endpointslices(tmp_path):
    with FakeKubeAPI() as api:
        cfg = kubeconfig(api, str(tmp_path / "kubeconfig"))
        pod = json.loads(kubectl(cfg, "get", "pod", api.pod_name, "-o", "json"))
        assert pod["metadata"]["uid"] == api.pod_uid
        assert "deletionTimestamp" not in pod["metadata"]
        api.delete_pod()
        pod = json.loads(kubectl(cfg, "get", "pod", api.pod_name, "-o", "json"))
        assert pod["metadata"]["deletionTimestamp"].endswith("Z")
        slices = json.loads(kubectl(cfg, "get", "endpointslices", "-o", "json"))
        assert slices["kind"] == "List" or slices["kind"] == "EndpointSliceList"
        names = sorted(s["metadata"]["name"] for s in slices["items"])
        assert len(names) == 2  # IPv4 and IPv6
        for s in slices["items"]:
            ep = s["endpoints"][0]
            assert ep["targetRef"]["uid"] == api.pod_uid
            assert ep["conditions"] == {"ready": True, "serving": True, "terminating": False}
            assert s["addressType"] in ("IPv4", "IPv6")


def test_kubectl_watches_the_mark(tmp_path):
    with FakeKubeAPI() as api:
        cfg = kubeconfig(api, str(tmp_path / "kubeconfig"))
        w = subprocess.Popen([KUBECTL, "--kubeconfig", cfg, "get", "endpointslices", "--watch",
                              "--output-watch-events", "-o", "json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        events = []
        done = threading.Event()

        def read():
            dec = json.JSONDecoder()
            buf = ""
            for line in w.stdout:
                buf += line
                try:
                    obj, end = dec.raw_decode(buf.strip())
                except ValueError:
                    continue
                events.append(obj)
                buf = ""
                if obj["type"] == "MODIFIED":
                    done.set()
        threading.Thread(target=read, daemon=True).start()
        try:
            # The initial list comes as ADDED events; then the mark.
            for _ in range(200):
                if len(events) >= 2:
                    break
                threading.Event().wait(0.05)
            assert [e["type"] for e in events] == ["ADDED", "ADDED"], (events, w.stderr)
            api.mark_not_ready()
            assert done.wait(30), events
        finally:
            w.kill()
            w.wait()
        modified = [e["object"] for e in events if e["type"] == "MODIFIED"]
        cond = modified[0]["endpoints"][0]["conditions"]
        assert cond == {"ready": False, "serving": True, "terminating": True}
