"""A fake Kubernetes API server for --drain-endpoints: only what podvisor
asks of it (GET its pod, LIST and WATCH the namespace's EndpointSlices),
over TLS with a CA of the test's own, in the shapes of the API's types
(core/v1 Pod, discovery.k8s.io/v1 EndpointSlice, meta/v1 WatchEvent and
Status). The test scripts what happens: the pod's deletion, the
EndpointSlice controller marking it not ready after a lag, and the faults
a real API shows (410 Gone in the stream and as the status, a closed
stream, a 401 until the token is rotated, 403, silence).

The service-account directory it writes (token, ca.crt, namespace) is
what the kubelet mounts at /var/run/secrets/kubernetes.io/serviceaccount;
the tests bind-mount it there in podvisor's own mount namespace.
"""
import datetime
import http.server
import json
import os
import queue
import socketserver
import ssl
import subprocess
import tempfile
import threading
import time
import uuid

SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


def make_tls(directory, ip="127.0.0.1"):
    """A CA and a server certificate for `ip` (an IP-address SAN: the API
    is reached by IP, as in a cluster). Returns (ca, cert, key) paths."""
    ca_key, ca = f"{directory}/ca.key", f"{directory}/ca.crt"
    key, csr, cert = f"{directory}/server.key", f"{directory}/server.csr", f"{directory}/server.crt"
    ext = f"{directory}/ext.cnf"
    with open(ext, "w") as f:
        f.write(f"subjectAltName=IP:{ip}\nextendedKeyUsage=serverAuth\n")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=fake-kube-ca")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", key, "-out", csr, "-subj", "/CN=kube-apiserver")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", cert, "-days", "2", "-extfile", ext)
    return ca, cert, key


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeKubeAPI:
    """Serves https://127.0.0.1:port. Knobs (set before the request
    they are for):
      forbid: every request answers 403.
      unauthorized_until_rotated: requests with the first token get 401
        until rotate_token() writes a new one.
      silent: requests are never answered.
      watch_faults: a list consumed one per WATCH request: "gone-status"
        (410 as the answer), "gone-event" (an ERROR event with 410 in the
        stream, then it closes), "close" (the stream ends at once), None
        (a normal watch)."""

    def __init__(self, namespace="shop", pod_name="web-0", services=("web",), lists_pod=True,
                 publish_not_ready=(), tls=None, san_ip="127.0.0.1"):
        self.dir = tempfile.mkdtemp(prefix="fake-kube-")
        self.sa_dir = os.path.join(self.dir, "serviceaccount")
        os.makedirs(self.sa_dir)
        self.ca, cert, key = make_tls(self.dir, san_ip)
        with open(self.ca) as f, open(os.path.join(self.sa_dir, "ca.crt"), "w") as g:
            g.write(f.read())
        with open(os.path.join(self.sa_dir, "namespace"), "w") as f:
            f.write(namespace)
        self.token = "token-" + uuid.uuid4().hex
        self._write_token()
        self.namespace, self.pod_name = namespace, pod_name
        self.pod_uid = str(uuid.uuid4())
        self.deletion_timestamp = None
        self.rv = 1000
        self.lock = threading.Lock()
        self.slices = {}
        for i, svc in enumerate(services):
            for family, ip in (("IPv4", "10.1.2.3"), ("IPv6", "fd00::1:2:3")):
                name = f"{svc}-{family.lower()}-{i}abcd"
                self.slices[name] = self._slice(name, svc, family, ip,
                                                lists_pod, svc in publish_not_ready)
        self.watchers = []
        self.history = []
        self.requests = []   # (method, path, token)
        self.tls_versions = set()
        self.marked_at = None
        self.forbid = False
        self.unauthorized_until_rotated = False
        self.first_token = self.token
        self.silent = False
        self.watch_faults = []
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                api._serve(self)

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        # tls: "1.2" or "1.3" only (a real API server takes both).
        if tls == "1.2":
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        elif tls == "1.3":
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    # --- the world, as the API types describe it ---

    def _slice(self, name, service, family, ip, lists_pod, publish_not_ready):
        target = self.pod_uid if lists_pod else str(uuid.uuid4())
        return {
            "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
            "metadata": {"name": name, "namespace": self.namespace,
                         "resourceVersion": str(self._next_rv()),
                         "labels": {"kubernetes.io/service-name": service,
                                    "endpointslice.kubernetes.io/managed-by":
                                        "endpointslice-controller.k8s.io"},
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Service",
                                              "name": service, "uid": str(uuid.uuid4()),
                                              "controller": True,
                                              "blockOwnerDeletion": True}]},
            "addressType": family,
            "endpoints": [{
                "addresses": [ip],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "nodeName": "node-1",
                "targetRef": {"kind": "Pod", "namespace": self.namespace,
                              "name": self.pod_name if lists_pod else "other-0",
                              "uid": target},
            }],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "_publish": publish_not_ready,
        }

    def _next_rv(self):
        self.rv = getattr(self, "rv", 1000) + 1
        return self.rv

    def _public(self, obj):
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    def pod(self):
        meta = {"name": self.pod_name, "namespace": self.namespace, "uid": self.pod_uid,
                "resourceVersion": str(self.rv), "creationTimestamp": "2026-12-01T00:00:00Z"}
        if self.deletion_timestamp:
            meta["deletionTimestamp"] = self.deletion_timestamp
            meta["deletionGracePeriodSeconds"] = 30
        return {"kind": "Pod", "apiVersion": "v1", "metadata": meta,
                "spec": {"containers": [{"name": "app", "image": "app:1"}]},
                "status": {"phase": "Running"}}

    def delete_pod(self):
        """The API server sets the deletionTimestamp at once."""
        with self.lock:
            self.deletion_timestamp = now_rfc3339()
            self._next_rv()

    def mark_not_ready(self):
        """What the EndpointSlice controller does on the deletion: the
        pod's endpoint ready=false, terminating=true (serving still follows
        readiness); a Service with publishNotReadyAddresses keeps it
        ready."""
        with self.lock:
            for s in self.slices.values():
                for e in s["endpoints"]:
                    if e["targetRef"]["uid"] != self.pod_uid:
                        continue
                    e["conditions"]["terminating"] = True
                    e["conditions"]["ready"] = bool(s["_publish"])
                s["metadata"]["resourceVersion"] = str(self._next_rv())
                self._broadcast({"type": "MODIFIED", "object": self._public(s)})
            self.marked_at = time.monotonic()

    def bookmark(self):
        with self.lock:
            rv = str(self._next_rv())
            self._broadcast({"type": "BOOKMARK", "object": {
                "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
                "metadata": {"resourceVersion": rv,
                             "annotations": {"k8s.io/initial-events-end": "true"}}}})

    def rotate_token(self):
        self.token = "token-" + uuid.uuid4().hex
        self._write_token()

    def _write_token(self):
        # The kubelet's AtomicWriter swaps the file; a rename does as much.
        tmp = os.path.join(self.sa_dir, ".token.tmp")
        with open(tmp, "w") as f:
            f.write(self.token)
        os.rename(tmp, os.path.join(self.sa_dir, "token"))

    def _broadcast(self, event):
        # Kept for watches that start later from an older resourceVersion:
        # the API server replays what came since (its watch cache).
        self.history.append((int(event["object"]["metadata"]["resourceVersion"]), event))
        for q in list(self.watchers):
            q.put(event)

    def watch_count(self):
        return sum(1 for m, p, _ in self.requests if "watch=1" in p)

    # --- HTTP ---

    DISCOVERY = {
        "/version": {"major": "1", "minor": "34", "gitVersion": "v1.34.0",
                     "platform": "linux/amd64"},
        "/api": {"kind": "APIVersions", "versions": ["v1"],
                 "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                 "serverAddress": "127.0.0.1:443"}]},
        "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": [{
            "name": "discovery.k8s.io",
            "versions": [{"groupVersion": "discovery.k8s.io/v1", "version": "v1"}],
            "preferredVersion": {"groupVersion": "discovery.k8s.io/v1", "version": "v1"}}]},
        "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": [{
            "name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
            "verbs": ["get", "list", "watch"], "shortNames": ["po"]}]},
        "/apis/discovery.k8s.io/v1": {
            "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "discovery.k8s.io/v1",
            "resources": [{"name": "endpointslices", "singularName": "endpointslice",
                           "namespaced": True, "kind": "EndpointSlice",
                           "verbs": ["get", "list", "watch"]}]},
    }

    def _status(self, h, code, reason, message):
        self._send(h, code, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                             "status": "Failure", "message": message, "reason": reason,
                             "code": code})

    def _send(self, h, code, body):
        data = json.dumps(body).encode()
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _serve(self, h):
        auth = h.headers.get("Authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        path = h.path
        self.requests.append(("GET", path, token))
        self.tls_versions.add(h.connection.version())
        if self.silent:
            time.sleep(3600)
            return
        if token is None or (token != self.token):
            return self._status(h, 401, "Unauthorized", "Unauthorized")
        if self.unauthorized_until_rotated and token == self.first_token:
            return self._status(h, 401, "Unauthorized", "Unauthorized")
        if self.forbid:
            return self._status(h, 403, "Forbidden",
                                f'endpointslices.discovery.k8s.io is forbidden: User '
                                f'"system:serviceaccount:{self.namespace}:default" cannot '
                                f'list resource "endpointslices"')
        base, _, query = path.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        if base in self.DISCOVERY:
            # What kubectl asks first (tests/k8s/test_fake_api.py reads the
            # fake with it): the legacy discovery documents.
            return self._send(h, 200, self.DISCOVERY[base])
        pod_path = f"/api/v1/namespaces/{self.namespace}/pods/{self.pod_name}"
        list_path = f"/apis/discovery.k8s.io/v1/namespaces/{self.namespace}/endpointslices"
        if base == pod_path:
            with self.lock:
                return self._send(h, 200, self.pod())
        if base != list_path:
            return self._status(h, 404, "NotFound", f"the server could not find {base}")
        if params.get("watch") not in ("1", "true"):
            with self.lock:
                items = [self._public(s) for s in self.slices.values()]
                return self._send(h, 200, {"kind": "EndpointSliceList",
                                           "apiVersion": "discovery.k8s.io/v1",
                                           "metadata": {"resourceVersion": str(self.rv)},
                                           "items": items})
        fault = self.watch_faults.pop(0) if self.watch_faults else None
        if fault == "gone-status":
            return self._status(h, 410, "Expired", "too old resource version: 1 (1000)")
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()

        def chunk(obj):
            data = (json.dumps(obj) + "\n").encode()
            h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            h.wfile.flush()

        if fault == "close":
            h.wfile.write(b"0\r\n\r\n")
            return
        if fault == "gone-event":
            chunk({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1",
                                               "metadata": {}, "status": "Failure",
                                               "message": "too old resource version",
                                               "reason": "Expired", "code": 410}})
            h.wfile.write(b"0\r\n\r\n")
            return
        q = queue.Queue()
        since = int(params.get("resourceVersion") or 0)
        with self.lock:
            for rv, ev in self.history:
                if rv > since:
                    q.put(ev)
            self.watchers.append(q)
        try:
            while True:
                try:
                    ev = q.get(timeout=30)
                except queue.Empty:
                    break
                if ev is None:  # the test ends the stream, as the server's timeout does
                    break
                chunk(ev)
            h.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            pass
        finally:
            with self.lock:
                if q in self.watchers:
                    self.watchers.remove(q)

    def env(self):
        """What the kubelet and the downward API give the container."""
        return {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(self.port),
                "POD_NAME": self.pod_name, "POD_NAMESPACE": self.namespace,
                "POD_UID": self.pod_uid}

    def close(self):
        self.silent = False
        self.server.shutdown()
        self.server.server_close()
        subprocess.run(["rm", "-rf", self.dir], check=False)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
