"""The Helm chart (helm/podvisor), rendered by a real helm and checked object
by object: the args podvisor gets (and that the real podvisor accepts them),
the probes, the grace period, the annotations, each way in; and the values
the schema or the templates must refuse.

Run by `make chart-test` (HELM, KUBECTL from scripts/k8s-tools.sh)."""
import os
import signal
import subprocess
import time
import urllib.request

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CHART = os.path.join(ROOT, "helm", "podvisor")
HELM = os.environ.get("HELM", os.path.join(ROOT, "build", "tools", "helm"))
PODVISOR = os.environ.get("PODVISOR", os.path.join(ROOT, "build", "podvisor"))
# The examples are the chart's ci/ values files (chart-testing lints the
# chart with each); tests/runtime plays them under podman too.
CI = os.path.join(CHART, "ci")
VALUES = sorted(f for f in os.listdir(CI) if f.endswith("-values.yaml"))


def helm(*args):
    return subprocess.run([HELM, *args], capture_output=True, text=True, timeout=60)


def render(values=None, *sets):
    args = ["template", "rel", CHART]
    if values:
        args += ["-f", os.path.join(CI, values)]
    for s in sets:
        args += ["--set", s]
    r = helm(*args)
    assert r.returncode == 0, r.stderr
    objs = [d for d in yaml.safe_load_all(r.stdout) if d]
    return {o["kind"]: o for o in objs}


def pod(objs):
    return objs["Deployment"]["spec"]["template"]


def container(spec, name, init=False):
    for c in spec.get("initContainers" if init else "containers", []):
        if c["name"] == name:
            return c
    raise AssertionError(f"no {'init ' if init else ''}container {name}")


def split_podvisor(command):
    """[podvisor, opts..., '--', app...] -> (opts, app)."""
    i = command.index("--")
    return command[1:i], command[i + 1:]


def opt(opts, name):
    return opts[opts.index(name) + 1]


def accepted_by_podvisor(opts, tmp, app=("true",)):
    """Runs the real podvisor with the chart's options (paths moved into tmp,
    probe server off): exit 2 would be a refused option."""
    opts = list(opts)
    for flag, value in (("--watch", tmp), ("--validate", "true"), ("--probe-listen", "off"),
                        ("--socket", f"unix:{tmp}/app.sock"), ("--pid-file", f"{tmp}/app.pid")):
        for i, o in enumerate(opts[:-1]):
            if o == flag:
                opts[i + 1] = value
    return subprocess.run([PODVISOR, *opts, "--", *app], capture_output=True, text=True,
                          timeout=30)


@pytest.mark.parametrize("values", VALUES)
def test_lint(values):
    r = helm("lint", "--strict", CHART, "-f", os.path.join(CI, values))
    assert r.returncode == 0, r.stdout + r.stderr
    # NOTES.txt renders at install only.
    r = helm("install", "rel", CHART, "-f", os.path.join(CI, values), "--dry-run=client")
    assert r.returncode == 0 and "kubectl rollout restart deploy/rel-podvisor" in r.stdout, r.stderr
    assert ("Shutdown budget" in r.stdout) == ("sidecar" not in values), r.stdout


def test_injected_nginx(tmp_path):
    objs = render("injected-values.yaml")
    spec = pod(objs)["spec"]
    init = container(spec, "podvisor-install", init=True)
    assert init["image"] == "registry.example/podvisor:0.2.0"
    # Not /podvisor: in the podvisor image that is the binary itself, and
    # runc cannot mount the emptyDir over a file.
    assert init["args"] == ["install", "/podvisor-bin/podvisor"]
    assert init["volumeMounts"] == [{"name": "podvisor-bin", "mountPath": "/podvisor-bin"}]
    app = container(spec, "app")
    assert app["command"][0] == "/podvisor/podvisor"
    opts, cmd = split_podvisor(app["command"])
    assert cmd == ["nginx", "-e", "stderr", "-c", "/etc/nginx/podvisor/nginx.conf"]
    assert "args" not in app
    # The budget by construction: the pod's grace period is podvisor's.
    assert spec["terminationGracePeriodSeconds"] == 45 and opt(opts, "--grace-period") == "45s"
    assert opt(opts, "--prestop-delay") == "10s" and opt(opts, "--stop-signal") == "QUIT"
    # nginx's image says STOPSIGNAL SIGQUIT: the runtime sends QUIT to podvisor.
    assert opt(opts, "--rewrite") == "QUIT:TERM"
    assert opt(opts, "--watch") == "/etc/nginx/podvisor" and opt(opts, "--on-change") == "signal:HUP"
    assert opt(opts, "--validate") == "nginx -e stderr -t -q -c /etc/nginx/podvisor/nginx.conf"
    assert opt(opts, "--probe-listen") == ":8099"
    assert opt(opts, "--ready-check") == "http://127.0.0.1:8080/"
    # Probes on podvisor's port and paths.
    assert {"name": "podvisor", "containerPort": 8099} in app["ports"]
    for kind, path in (("liveness", "/livez"), ("readiness", "/readyz"), ("startup", "/startupz")):
        assert app[kind + "Probe"]["httpGet"] == {"path": path, "port": "podvisor"}
    # The binary comes through an emptyDir; the config is a directory mount.
    mounts = {m["name"]: m for m in app["volumeMounts"]}
    assert mounts["podvisor-bin"] == {"name": "podvisor-bin", "mountPath": "/podvisor",
                                      "readOnly": True}
    assert "subPath" not in mounts["config"]
    assert mounts["config"]["mountPath"] == "/etc/nginx/podvisor"
    assert mounts["tmp"]["mountPath"] == "/tmp"  # nginx writes only there
    vols = {v["name"]: v for v in spec["volumes"]}
    assert "emptyDir" in vols["podvisor-bin"]
    assert vols["config"]["configMap"]["name"] == objs["ConfigMap"]["metadata"]["name"]
    assert "listen 8080;" in objs["ConfigMap"]["data"]["nginx.conf"]
    # Reload in place: no checksum annotation (a change must not roll pods).
    assert "checksum/config" not in (pod(objs)["metadata"].get("annotations") or {})
    # Hardened.
    for c in (init, app):
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"]
        assert sc["capabilities"]["drop"] == ["ALL"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    # Labels, PDB, ServiceMonitor through the Service's podvisor port.
    labels = objs["Deployment"]["metadata"]["labels"]
    for k in ("name", "instance", "version", "managed-by"):
        assert f"app.kubernetes.io/{k}" in labels
    sel = objs["Deployment"]["spec"]["selector"]["matchLabels"]
    assert objs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == sel
    assert objs["Service"]["spec"]["selector"] == sel
    assert {"name": "podvisor", "port": 8099, "targetPort": "podvisor"} in \
        objs["Service"]["spec"]["ports"]
    assert objs["ServiceMonitor"]["spec"]["endpoints"] == [
        {"port": "podvisor", "path": "/metrics", "interval": "30s"}]
    r = accepted_by_podvisor(opts, str(tmp_path))
    assert r.returncode == 0, r.stderr


def test_dev_values_are_the_dev_loop(tmp_path):
    """ci/dev-values.yaml (docs/dev-loop.md): the source watched with its
    patterns, --validate as the build, the port held; podvisor takes it."""
    objs = render("dev-values.yaml")
    spec = pod(objs)["spec"]
    app = container(spec, "app")
    opts, cmd = split_podvisor(app["command"])
    assert opt(opts, "--watch") == "/src" and opt(opts, "--socket") == "http=tcp://:8080"
    includes = [opts[i + 1] for i, o in enumerate(opts) if o == "--watch-include"]
    assert includes == ["*.go", "go.mod"] and opt(opts, "--watch-exclude") == ".git/"
    assert opt(opts, "--validate").startswith("sh -c 'cd /src && go build")
    assert opt(opts, "--validate-timeout") == "5m" and opt(opts, "--prestop-delay") == "0s"
    assert cmd[:2] == ["sh", "-c"] and "exec /tmp/app" in cmd[2]
    mounts = {m["name"]: m["mountPath"] for m in app["volumeMounts"]}
    assert mounts["src"] == "/src" and mounts["tmp"] == "/tmp"
    assert objs["Deployment"]["spec"]["replicas"] == 1
    r = accepted_by_podvisor(opts, str(tmp_path))
    assert r.returncode == 0, r.stderr


def test_image_mode_rolls_on_config_change(tmp_path):
    objs = render("image-values.yaml")
    spec = pod(objs)["spec"]
    assert "initContainers" not in spec
    app = container(spec, "app")
    # tag: 1.25, a YAML number, is its text.
    assert app["image"] == "registry.example/nginx-podvisor:1.25"
    assert app["command"][0] == "/usr/local/bin/podvisor"
    opts, cmd = split_podvisor(app["command"])
    assert cmd == ["nginx", "-e", "stderr", "-c", "/etc/nginx/podvisor/nginx.conf"]
    assert "-g" in opts and opt(opts, "--restart-policy") == "on-failure"
    assert opt(opts, "--backoff-initial") == "1s" and opt(opts, "--log-format") == "text"
    assert "--watch" not in opts  # roll, not reload
    assert opt(opts, "--ready-check") == "tcp://127.0.0.1:8080"
    checks = [opts[i + 1] for i, o in enumerate(opts) if o == "--ready-check"]
    assert checks == ["tcp://127.0.0.1:8080", "http://127.0.0.1:8080/"]
    assert opt(opts, "--live-check") == "http://127.0.0.1:8080/"
    assert opt(opts, "--failure-threshold") == "3"
    assert "startupProbe" not in app and "readinessProbe" in app
    assert not any(v["name"] == "podvisor-bin" for v in spec["volumes"])
    ann = pod(objs)["metadata"]["annotations"]["checksum/config"]
    # The checksum follows the data: new data, new pods on helm upgrade.
    again = pod(render("image-values.yaml"))["metadata"]["annotations"]["checksum/config"]
    changed = pod(render("image-values.yaml", "config.data.settings\\.json=[1]"))
    assert ann == again != changed["metadata"]["annotations"]["checksum/config"]
    r = accepted_by_podvisor(opts, str(tmp_path))
    assert r.returncode == 0, r.stderr


def sidecar_runs(args, tmp):
    """The sidecar's own args, run by the real podvisor: ready, then a
    SIGTERM ends it with 0."""
    args = list(args)
    args[args.index("--watch") + 1] = tmp
    port = args[args.index("--probe-listen") + 1]
    args[args.index("--probe-listen") + 1] = "127.0.0.1" + port
    p = subprocess.Popen([PODVISOR, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1{port}/readyz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or p.poll() is not None:
                    raise AssertionError("sidecar never ready: " + p.communicate(timeout=5)[1])
                time.sleep(0.05)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=10)
        assert p.returncode == 0, err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_sidecar_native_with_signals(tmp_path):
    objs = render("sidecar-values.yaml")
    spec = pod(objs)["spec"]
    side = container(spec, "podvisor", init=True)
    assert side["restartPolicy"] == "Always"  # a native sidecar
    assert spec["shareProcessNamespace"] is True  # it signals the app's nginx
    args = side["args"]
    assert opt(args, "--on-change") == "signal:HUP" and opt(args, "--signal-process") == "nginx"
    assert opt(args, "--probe-listen") == ":8098"
    assert side["readinessProbe"]["httpGet"]["port"] == "podvisor"
    assert {"name": "podvisor", "containerPort": 8098} in side["ports"]
    app = container(spec, "app")
    # The app's own command (not podvisor's line): nginx pointed at its config.
    assert app["command"] == ["nginx", "-e", "stderr", "-c", "/etc/nginx/podvisor/nginx.conf"]
    assert "args" not in app
    assert all(p["name"] != "podvisor" for p in app["ports"])
    assert "podvisor" not in str(app.get("readinessProbe"))
    assert {m["name"] for m in side["volumeMounts"]} == {"config"}
    sidecar_runs(args, str(tmp_path))


def test_sidecar_classic_with_webhook(tmp_path):
    objs = render("sidecar-values.yaml", "sidecar.native=false",
                  "config.action=webhook:http://127.0.0.1:8080/-/reload", "config.signalProcess=")
    spec = pod(objs)["spec"]
    assert "initContainers" not in spec and "shareProcessNamespace" not in spec
    side = container(spec, "podvisor")
    assert opt(side["args"], "--on-change") == "webhook:http://127.0.0.1:8080/-/reload"
    sidecar_runs(side["args"], str(tmp_path))


def test_two_podvisors_in_one_pod_have_their_own_ports():
    r = helm("template", "rel", CHART, "-f", os.path.join(CI, "sidecar-values.yaml"),
             "--set", "podvisor.sidecarProbePort=8099")
    assert r.returncode != 0 and "share one network namespace" in r.stderr, r.stderr


BAD = [
    # The schema: types, enums, patterns, typos.
    ([], "repository"),                                  # no app image at all
    (["mode=daemonset"], "mode"),
    (["podvisor.prestopDelay=5x"], "prestopDelay"),
    (["podvisor.logFormat=xml"], "logFormat"),
    (["podvisor.restartPolicy=sometimes"], "restartPolicy"),
    (["terminationGracePeriodSeconds=0"], "terminationGracePeriodSeconds"),
    (["config.action=reboot"], "action"),
    (["config.onChange=never"], "onChange"),
    (["config.mountPath=etc/app"], "mountPath"),
    (["podvisor.probePort=70000"], "probePort"),
    (["podvisor.prestop_delay=5s"], "prestop_delay"),   # a typo is not ignored
    (["podvisor.readyChecks={ftp://x}"], "readyChecks"),
    (["podvisor.watchdog=5x"], "watchdog"),
    # The templates: what spans several values.
    (["app.command=null"], "app.command is empty"),
    (["mode=sidecar", "config.enabled=false"], "needs config.enabled"),
    (["mode=sidecar", "config.action=restart"], "cannot restart the app"),
    (["mode=sidecar", "config.signalProcess="], "needs config.signalProcess"),
    # --validate would run in the FROM-scratch sidecar: refused with the way out.
    (["mode=sidecar", "config.validate=nginx -t"], "Use mode injected"),
    (["podvisor.restartMode=blue-green"], "restartMode"),
    (["podvisor.sockets={8080}"], "sockets"),
    (["podvisor.readyTimeout=soon"], "readyTimeout"),
    (["podvisor.pidFile=app.pid"], "pidFile"),
    # start-first promotes on READY=1 only: refused with the reason.
    (["podvisor.restartMode=start-first"], "needs podvisor.readyChecks [\"notify\"]"),
    (["mode=sidecar", "podvisor.sockets={tcp://:8080}"], "modes image and injected"),
    (["mode=sidecar", "podvisor.pidFile=/tmp/app.pid"], "modes image and injected"),
    (["sidecar.native=sometimes"], "native"),
    (["serviceMonitor.enabled=true", "service.enabled=false"], "needs service.enabled"),
    (["drainEndpoints.settle=soon"], "settle"),
    (["drainEndpoints.enable=true"], "enable"),
    (["mode=sidecar", "drainEndpoints.enabled=true"], "modes image and injected"),
]


@pytest.mark.parametrize("sets,why", BAD, ids=[";".join(s) or "defaults" for s, _ in BAD])
def test_bad_values_are_refused(sets, why):
    base = ["-f", os.path.join(CI, "injected-values.yaml")] if sets else []
    if sets and sets[0].startswith("mode=sidecar"):
        base = ["-f", os.path.join(CI, "sidecar-values.yaml")]
    args = ["template", "rel", CHART, *base]
    for s in sets:
        args += ["--set", s]
    r = helm(*args)
    assert r.returncode != 0, f"{sets} rendered"
    assert why in r.stderr, r.stderr


def test_image_mode_renders_the_other_checks(tmp_path):
    objs = render("image-values.yaml", "podvisor.readyChecks={notify,exec:sh -c 'test -e /tmp/ready'}",
                  "podvisor.watchdog=30s")
    opts, _ = split_podvisor(container(pod(objs)["spec"], "app")["command"])
    checks = [opts[i + 1] for i, o in enumerate(opts) if o == "--ready-check"]
    assert checks == ["notify", "exec:sh -c 'test -e /tmp/ready'"]
    assert opt(opts, "--watchdog") == "30s"
    r = accepted_by_podvisor(opts, str(tmp_path))
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("kube,native", [("1.28.0", False), ("1.29.0", True), ("1.31.2", True)])
def test_native_sidecar_follows_the_cluster_version(kube, native):
    r = helm("template", "rel", CHART, "-f", os.path.join(CI, "sidecar-values.yaml"),
             "--kube-version", kube)
    assert r.returncode == 0, r.stderr
    objs = {o["kind"]: o for o in yaml.safe_load_all(r.stdout) if o}
    spec = pod(objs)["spec"]
    side = container(spec, "podvisor", init=native)
    assert (side.get("restartPolicy") == "Always") == native
    # Said outright, the value wins over the version.
    r = helm("template", "rel", CHART, "-f", os.path.join(CI, "sidecar-values.yaml"),
             "--kube-version", kube, "--set", "sidecar.native=false")
    objs = {o["kind"]: o for o in yaml.safe_load_all(r.stdout) if o}
    container(pod(objs)["spec"], "podvisor")


def test_sidecar_mode_carries_the_apps_own_probes():
    spec = pod(render("sidecar-values.yaml"))["spec"]
    app = container(spec, "app")
    assert app["readinessProbe"] == {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 2}
    assert "livenessProbe" not in app and "startupProbe" not in app


def test_pull_secrets_service_account_and_numeric_tags():
    objs = render("injected-values.yaml", "imagePullSecrets[0].name=regcred",
                  "serviceAccount.create=true", "serviceAccount.annotations.a=b",
                  "app.image.tag=2", "podvisorImage.tag=3")
    spec = pod(objs)["spec"]
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert spec["serviceAccountName"] == objs["ServiceAccount"]["metadata"]["name"] == "rel-podvisor"
    assert objs["ServiceAccount"]["metadata"]["annotations"] == {"a": "b"}
    assert container(spec, "app")["image"] == "docker.io/library/nginx:2"
    assert container(spec, "podvisor-install", init=True)["image"] == "registry.example/podvisor:3"
    spec = pod(render("injected-values.yaml", "serviceAccount.name=existing"))["spec"]
    assert spec["serviceAccountName"] == "existing"
    spec = pod(render("injected-values.yaml"))["spec"]
    assert "serviceAccountName" not in spec and "imagePullSecrets" not in spec


def test_drain_endpoints_brings_its_role_and_podvisor_takes_the_args(tmp_path):
    objs = render("injected-values.yaml", "drainEndpoints.enabled=true",
                  "drainEndpoints.settle=3s", "drainEndpoints.min=1s",
                  "podvisor.prestopDelay=20s", "terminationGracePeriodSeconds=40")
    spec = pod(objs)["spec"]
    app = container(spec, "app")
    opts, _ = split_podvisor(app["command"])
    assert "--drain-endpoints" in opts
    assert opt(opts, "--drain-settle") == "3s" and opt(opts, "--drain-min") == "1s"
    assert opt(opts, "--prestop-delay") == "20s"
    env = {e["name"]: e for e in app["env"]}
    for name, field in (("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace"),
                        ("POD_UID", "metadata.uid")):
        assert env[name]["valueFrom"] == {"fieldRef": {"fieldPath": field}}
    # A service account of its own, bound to a Role that can do only this.
    sa = objs["ServiceAccount"]["metadata"]["name"]
    assert spec["serviceAccountName"] == sa and spec["automountServiceAccountToken"] is True
    role, binding = objs["Role"], objs["RoleBinding"]
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
         "verbs": ["list", "watch"]}]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa,
                                    "namespace": "default"}]
    r = accepted_by_podvisor(opts, str(tmp_path))
    assert r.returncode == 0, r.stderr
    # An existing service account is bound instead of a new one made.
    objs = render("injected-values.yaml", "drainEndpoints.enabled=true",
                  "serviceAccount.name=shop-sa", "app.env[0].name=MODE", "app.env[0].value=prod")
    assert "ServiceAccount" not in objs
    # The app's own variables stay, after the downward API's.
    names = [e["name"] for e in container(pod(objs)["spec"], "app")["env"]]
    assert names == ["POD_NAME", "POD_NAMESPACE", "POD_UID", "MODE"]
    assert objs["RoleBinding"]["subjects"][0]["name"] == "shop-sa"
    assert pod(objs)["spec"]["serviceAccountName"] == "shop-sa"
    # Off by default: no Role, no variables.
    objs = render("injected-values.yaml")
    assert "Role" not in objs and "RoleBinding" not in objs
    assert "--drain-endpoints" not in container(pod(objs)["spec"], "app")["command"]


def test_one_version_everywhere():
    """VERSION is the one source: the binary, the image label (make image) and
    the chart's appVersion say the same."""
    with open(os.path.join(ROOT, "VERSION")) as f:
        version = f.read().strip()
    with open(os.path.join(CHART, "Chart.yaml")) as f:
        chart = yaml.safe_load(f)
    assert chart["appVersion"] == version
    out = subprocess.run([PODVISOR, "--version"], capture_output=True, text=True).stdout
    assert version in out, out


def test_restarts_that_drop_nothing_render_and_podvisor_takes_them(tmp_path):
    objs = render("image-values.yaml", "podvisor.sockets={http=tcp://:8080,tcp://[::]:8443}",
                  "podvisor.restartMode=start-first", "podvisor.readyChecks={notify}",
                  "podvisor.readyTimeout=20s", "podvisor.pidFile=/tmp/app.pid")
    opts, _ = split_podvisor(container(pod(objs)["spec"], "app")["command"])
    sockets = [opts[i + 1] for i, o in enumerate(opts) if o == "--socket"]
    assert sockets == ["http=tcp://:8080", "tcp://[::]:8443"]
    assert opt(opts, "--restart-mode") == "start-first"
    assert opt(opts, "--ready-timeout") == "20s" and opt(opts, "--pid-file") == "/tmp/app.pid"
    r = accepted_by_podvisor(opts[:opts.index("--socket") + 2] + opts[opts.index("--socket") + 4:],
                             str(tmp_path))
    assert r.returncode == 0, r.stderr
    # The defaults add none of them.
    opts, _ = split_podvisor(container(pod(render("image-values.yaml"))["spec"], "app")["command"])
    assert not {"--socket", "--restart-mode", "--ready-timeout", "--pid-file"} & set(opts)
