"""A small in-memory Kubernetes API server on 127.0.0.1 for scripts/chart-check.py.

helm-sdkpy has no `helm template` / dry-run action, only a real `Install`, which needs an
API server. This one answers what Helm's install asks for: discovery (/version, /api,
/apis and each group version), and create / get / list / update / patch / delete of any
resource it lists, kept in memory. CustomResourceDefinitions are reported Established at
once. It records every object Helm creates, so the check sees exactly what Helm rendered
and sent. It validates nothing itself: that is what kubernetes-validate is for.
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from datetime import datetime, timezone
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import yaml

from json_handler import JsonHandler

# group/version -> [(plural, kind, namespaced)]
RESOURCES: dict[str, list[tuple[str, str, bool]]] = {
    "v1": [
        ("namespaces", "Namespace", False),
        ("services", "Service", True),
        ("serviceaccounts", "ServiceAccount", True),
        ("secrets", "Secret", True),
        ("configmaps", "ConfigMap", True),
        ("pods", "Pod", True),
        ("events", "Event", True),
    ],
    "apps/v1": [("deployments", "Deployment", True)],
    "rbac.authorization.k8s.io/v1": [
        ("clusterroles", "ClusterRole", False),
        ("clusterrolebindings", "ClusterRoleBinding", False),
        ("roles", "Role", True),
        ("rolebindings", "RoleBinding", True),
    ],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True)],
    "networking.k8s.io/v1": [("networkpolicies", "NetworkPolicy", True)],
    "coordination.k8s.io/v1": [("leases", "Lease", True)],
    "events.k8s.io/v1": [("events", "Event", True)],
    "apiextensions.k8s.io/v1": [("customresourcedefinitions", "CustomResourceDefinition", False)],
    "monitoring.coreos.com/v1": [("servicemonitors", "ServiceMonitor", True),
                                 ("prometheusrules", "PrometheusRule", True)],
    "flinkmonitor.dev/v1alpha1": [("flinkjobs", "FlinkJob", True)],
}

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _merge_patch(target, patch):
    """RFC 7386 JSON merge patch (also good enough for Helm's strategic merge patches)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def _selector_matches(selector: str, labels: dict) -> bool:
    for term in filter(None, selector.split(",")):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key.rstrip("=")) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


class FakeApiServer:
    def __init__(self, kubernetes_version: str = "1.34.0"):
        self.kubernetes_version = kubernetes_version
        self.lock = threading.Lock()
        # (group_version, plural, namespace or "", name) -> object
        self.objects: dict[tuple[str, str, str, str], dict] = {}
        self.created: list[dict] = []  # every object created, in order
        self.unhandled: list[str] = []  # requests it could not answer
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def kubeconfig(self, namespace: str) -> str:
        """A kubeconfig (YAML text, which helm-sdkpy accepts in place of a path)."""
        return yaml.safe_dump({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": "fake"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": namespace}}],
            "current-context": "fake",
        }, sort_keys=False)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------------ discovery

    def _discovery(self, path: str):
        major, minor = self.kubernetes_version.split(".")[:2]
        if path == "/version":
            return 200, {"major": major, "minor": minor, "gitVersion": "v" + self.kubernetes_version,
                         "platform": "linux/amd64"}
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"],
                         "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}
        if path == "/apis":
            groups = []
            for gv in RESOURCES:
                if "/" not in gv:
                    continue
                group, version = gv.split("/")
                entry = {"groupVersion": gv, "version": version}
                groups.append({"name": group, "versions": [entry], "preferredVersion": entry})
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        gv = path[len("/api/"):] if path.startswith("/api/") else path[len("/apis/"):]
        if gv in RESOURCES and path in (f"/api/{gv}", f"/apis/{gv}"):
            return 200, {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": gv,
                "resources": [
                    {"name": plural, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
                     "verbs": VERBS}
                    for plural, kind, namespaced in RESOURCES[gv]
                ],
            }
        return None

    # ------------------------------------------------------------------ resources

    def _parse(self, path: str):
        """-> (group_version, plural, namespace, name, subresource) or None."""
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["api"] and len(parts) >= 2:
            gv, rest = parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            gv, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            return None
        if gv not in RESOURCES or not rest:
            return None
        namespace = ""
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        plural = rest[0]
        if plural not in {r[0] for r in RESOURCES[gv]}:
            return None
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        return gv, plural, namespace, name, sub

    def _kind(self, gv: str, plural: str) -> str:
        return next(kind for p, kind, _ in RESOURCES[gv] if p == plural)

    def _status(self, code: int, reason: str, message: str):
        return code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
                      "message": message, "code": code}

    def handle(self, method: str, raw_path: str, body: bytes):
        url = urlparse(raw_path)
        query = parse_qs(url.query)
        if method == "GET":
            found = self._discovery(url.path)
            if found:
                return found
        parsed = self._parse(url.path)
        if parsed is None:
            self.unhandled.append(f"{method} {raw_path}")
            return self._status(404, "NotFound", f"the server could not find the requested resource ({url.path})")
        gv, plural, namespace, name, sub = parsed
        key = (gv, plural, namespace, name)
        with self.lock:
            if method == "GET" and not name:
                selector = query.get("labelSelector", [""])[0]
                items = [copy.deepcopy(obj) for (g, p, ns, _), obj in self.objects.items()
                         if g == gv and p == plural and (not namespace or ns == namespace)
                         and _selector_matches(selector, obj.get("metadata", {}).get("labels") or {})]
                return 200, {"kind": self._kind(gv, plural) + "List", "apiVersion": gv,
                             "metadata": {"resourceVersion": "1"}, "items": items}
            if method == "GET":
                if key in self.objects:
                    return 200, self.objects[key]
                return self._status(404, "NotFound", f'{plural} "{name}" not found')
            if method == "POST" and not name:
                try:
                    obj = json.loads(body)
                except ValueError:
                    self.unhandled.append(f"{method} {raw_path}: body is not JSON")
                    return self._status(415, "UnsupportedMediaType", "only JSON bodies are understood")
                meta = obj.setdefault("metadata", {})
                key = (gv, plural, namespace, meta.get("name", ""))
                if key in self.objects:
                    return self._status(409, "AlreadyExists", f'{plural} "{key[3]}" already exists')
                self.created.append(copy.deepcopy(obj))
                if namespace:
                    meta["namespace"] = namespace
                meta.update(uid=str(uuid.uuid4()), resourceVersion="1", creationTimestamp=_now(), generation=1)
                if plural == "customresourcedefinitions":
                    obj["status"] = {"conditions": [
                        {"type": t, "status": "True", "reason": t, "message": "", "lastTransitionTime": _now()}
                        for t in ("NamesAccepted", "Established")]}
                self.objects[key] = obj
                return 201, obj
            if method in ("PUT", "PATCH") and name:
                if key not in self.objects:
                    return self._status(404, "NotFound", f'{plural} "{name}" not found')
                update = json.loads(body)
                current = self.objects[key]
                obj = update if method == "PUT" else _merge_patch(current, update)
                meta = obj.setdefault("metadata", {})
                meta["resourceVersion"] = str(int(current["metadata"].get("resourceVersion", "1")) + 1)
                self.objects[key] = obj
                return 200, obj
            if method == "DELETE" and name:
                if key not in self.objects:
                    return self._status(404, "NotFound", f'{plural} "{name}" not found')
                return 200, self.objects.pop(key)
        self.unhandled.append(f"{method} {raw_path}")
        return self._status(405, "MethodNotAllowed", f"{method} is not supported here")

    def _handler(self):
        fake = self

        class Handler(JsonHandler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                self.send_json(*fake.handle(self.command, self.path, body))

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        return Handler
