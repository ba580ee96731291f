"""A fake Kubernetes apiserver on 127.0.0.1: the REST paths lightkube uses, over a dict of objects.

It lets the lightkube adapter run the cluster contract suite without a cluster, and lets
tests inject what real apiservers do: 403, 409, 5xx answers (``fail``), requests that hang
until released (``hold``, to kill a runner in the middle of a call), and it records every
request (``requests``). It serves plain HTTP; ``write_kubeconfig`` points lightkube at it.

Semantics kept from the real server: resourceVersion bumps on every write and, when a
patch carries one, is a precondition (409 on mismatch); merge patches (RFC 7386) and
strategic merge patches (lists of named items merged by name, null deletes); the
``scale`` subresource; create answers 409 when the object exists.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kubecap.domain.resources import ContainerResources

# plural -> (kind, apiVersion, namespaced)
RESOURCES: dict[str, tuple[str, str, bool]] = {
    "deployments": ("Deployment", "apps/v1", True),
    "statefulsets": ("StatefulSet", "apps/v1", True),
    "daemonsets": ("DaemonSet", "apps/v1", True),
    "horizontalpodautoscalers": ("HorizontalPodAutoscaler", "autoscaling/v2", True),
    "nodes": ("Node", "v1", False),
    "leases": ("Lease", "coordination.k8s.io/v1", True),
    "secrets": ("Secret", "v1", True),
    "mutatingwebhookconfigurations": (
        "MutatingWebhookConfiguration",
        "admissionregistration.k8s.io/v1",
        False,
    ),
}
_PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>scale))?$"
)
Key = tuple[str, str, str]  # plural, namespace ("" for cluster-scoped), name


@dataclass
class _Failure:
    method: str
    pattern: re.Pattern[str]
    code: int
    times: int


@dataclass
class Hold:
    """A request held by the server: ``arrived`` is set when it comes in, ``release()`` lets it go."""

    method: str
    pattern: re.Pattern[str]
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.released.set()


def strategic_merge(target: Any, patch: Any) -> Any:
    """Merge ``patch`` into ``target``: dicts recursively (null deletes), lists of named dicts by name."""
    if isinstance(patch, dict) and isinstance(target, dict):
        merged = dict(target)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = strategic_merge(merged[key], value)
            else:
                merged[key] = strategic_merge({}, value) if isinstance(value, dict) else deepcopy(value)
        return merged
    if (
        isinstance(patch, list)
        and isinstance(target, list)
        and all(isinstance(i, dict) and "name" in i for i in patch)
    ):
        items = [deepcopy(i) for i in target]
        for item in patch:
            for index, existing in enumerate(items):
                if isinstance(existing, dict) and existing.get("name") == item["name"]:
                    items[index] = strategic_merge(existing, item)
                    break
            else:
                items.append(deepcopy(item))
        return items
    return deepcopy(patch)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: dicts merge recursively, null deletes, anything else (lists too) replaces."""
    if not isinstance(patch, dict):
        return deepcopy(patch)
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


class FakeApiServer:
    """Start with ``with FakeApiServer() as server:``; ``server.url`` is its address."""

    def __init__(self) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self._failures: list[_Failure] = []
        self._holds: list[Hold] = []
        self._version = 0
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-apiserver", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeApiServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        for hold in self._holds:
            hold.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def write_kubeconfig(self, path: Path, *, context: str = "fake") -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": context, "user": {"token": "fake-token"}}],
            "contexts": [
                {"name": context, "context": {"cluster": context, "user": context, "namespace": "default"}}
            ],
            "current-context": context,
        }
        path.write_text(json.dumps(config))
        return path

    # --- seeding --------------------------------------------------------------------------

    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    def put(self, plural: str, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            kind, api_version, _ = RESOURCES[plural]
            obj = deepcopy(body)
            meta = obj.setdefault("metadata", {})
            meta.update(name=name, resourceVersion=self._next_version())
            if namespace:
                meta["namespace"] = namespace
            obj.update(kind=kind, apiVersion=api_version)
            self.objects[(plural, namespace, name)] = obj
            return obj

    def add_workload(
        self,
        namespace: str,
        name: str,
        *,
        kind: str = "Deployment",
        replicas: int = 1,
        containers: tuple[ContainerResources, ...] = (ContainerResources("app"),),
        labels: dict[str, str] | None = None,
    ) -> None:
        body = workload_body(kind, name, replicas=replicas, containers=containers, labels=labels)
        self.put(kind.lower() + "s", namespace, name, body)

    def add_hpa(
        self, namespace: str, name: str, target_kind: str, target_name: str, low: int, high: int
    ) -> None:
        spec = {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": target_kind, "name": target_name},
            "minReplicas": low,
            "maxReplicas": high,
        }
        self.put("horizontalpodautoscalers", namespace, name, {"spec": spec})

    def add_node(
        self,
        name: str,
        *,
        cpu: str = "4",
        memory: str = "16Gi",
        labels: dict[str, str] | None = None,
        taints: list[dict[str, str]] | None = None,
        ready: bool = True,
    ) -> None:
        body = {
            "metadata": {"labels": dict(labels or {}), "annotations": {}},
            "spec": {"taints": list(taints or [])},
            "status": {
                "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
                "conditions": [
                    {"type": "Ready", "status": "True" if ready else "False", "reason": "KubeletReady"}
                ],
            },
        }
        self.put("nodes", "", name, body)

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        with self._lock:
            return deepcopy(self.objects[(plural, namespace, name)])

    # --- faults ---------------------------------------------------------------------------

    def fail(self, method: str, path_regex: str, code: int, times: int = 1) -> None:
        """Answer the next ``times`` requests whose method and path match with HTTP ``code``."""
        with self._lock:
            self._failures.append(_Failure(method.upper(), re.compile(path_regex), code, times))

    def hold(self, method: str, path_regex: str) -> Hold:
        """Keep the next matching request waiting until ``release()`` (or the server stops)."""
        hold = Hold(method.upper(), re.compile(path_regex))
        with self._lock:
            self._holds.append(hold)
        return hold

    def count(self, method: str, path_regex: str) -> int:
        pattern = re.compile(path_regex)
        with self._lock:
            return sum(1 for m, p in self.requests if m == method.upper() and pattern.search(p))

    # --- the HTTP side ----------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self, method: str) -> None:
                path = self.path.split("?", 1)[0]
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                code, body = server._dispatch(method, path, raw, self.headers.get("Content-Type", ""))
                payload = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_PATCH(self) -> None:
                self._serve("PATCH")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_PUT(self) -> None:
                self._serve("PUT")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

        return Handler

    def _dispatch(self, method: str, path: str, raw: bytes, content_type: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append((method, path))
            hold = next((h for h in self._holds if h.method == method and h.pattern.search(path)), None)
            if hold is not None:
                self._holds.remove(hold)
            failure = next((f for f in self._failures if f.method == method and f.pattern.search(path)), None)
            if failure is not None:
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
        if hold is not None:
            hold.arrived.set()
            hold.released.wait(timeout=120)
        if failure is not None:
            return _status(failure.code, f"injected failure for {method} {path}")
        match = _PATH.match(path)
        if match is None or match["plural"] not in RESOURCES:
            return _status(404, f"the server could not find the requested resource {path}")
        plural, namespace, name, sub = match["plural"], match["ns"] or "", match["name"], match["sub"]
        with self._lock:
            if method == "GET" and name is None:
                return 200, self._list(plural, namespace if match["ns"] else None)
            if method == "POST":
                return self._create(plural, namespace, json.loads(raw or b"{}"))
            assert name is not None
            key = (plural, namespace, name)
            if key not in self.objects:
                return _status(404, f'{plural} "{name}" not found', reason="NotFound")
            if method == "GET":
                return 200, self._scale(key) if sub else deepcopy(self.objects[key])
            body = json.loads(raw or b"{}")
            if method == "PATCH":
                return self._patch(key, body, content_type, sub)
            if method == "PUT":
                return self._replace(key, body)
            if method == "DELETE":
                deleted = self.objects.pop(key)
                return 200, deleted
        return _status(405, f"method {method} is not allowed on {path}")

    def _list(self, plural: str, namespace: str | None) -> dict[str, Any]:
        kind, api_version, _ = RESOURCES[plural]
        items = [
            deepcopy(o)
            for (p, ns, _), o in sorted(self.objects.items())
            if p == plural and (namespace is None or ns == namespace)
        ]
        return {
            "kind": f"{kind}List",
            "apiVersion": api_version,
            "metadata": {"resourceVersion": str(self._version)},
            "items": items,
        }

    def _scale(self, key: Key) -> dict[str, Any]:
        obj = self.objects[key]
        replicas = obj["spec"].get("replicas", 1)
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                "name": key[2],
                "namespace": key[1],
                "resourceVersion": obj["metadata"]["resourceVersion"],
            },
            "spec": {"replicas": replicas},
            "status": {"replicas": replicas},
        }

    def _precondition(self, key: Key, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        wanted = (body.get("metadata") or {}).get("resourceVersion")
        current = self.objects[key]["metadata"]["resourceVersion"]
        if wanted is not None and wanted != current:
            return _status(
                409,
                f'Operation cannot be fulfilled on {key[0]} "{key[2]}": the object has been modified; '
                "please apply your changes to the latest version and try again",
                reason="Conflict",
            )
        return None

    def _patch(
        self, key: Key, body: dict[str, Any], content_type: str, sub: str | None
    ) -> tuple[int, dict[str, Any]]:
        if sub == "scale":
            if key[0] not in ("deployments", "statefulsets"):
                return _status(404, f"{key[0]} have no scale subresource")
            replicas = (body.get("spec") or {}).get("replicas")
            self.objects[key]["spec"]["replicas"] = replicas
            self.objects[key]["metadata"]["resourceVersion"] = self._next_version()
            return 200, self._scale(key)
        conflict = self._precondition(key, body)
        if conflict is not None:
            return conflict
        if "strategic-merge-patch" in content_type:
            patched = strategic_merge(self.objects[key], body)
        elif "merge-patch" in content_type:
            patched = merge_patch(self.objects[key], body)
        else:
            return _status(415, f"unsupported patch type {content_type!r}")
        patched["metadata"]["resourceVersion"] = self._next_version()
        self.objects[key] = patched
        return 200, deepcopy(patched)

    def _replace(self, key: Key, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        conflict = self._precondition(key, body)
        if conflict is not None:
            return conflict
        return 200, self.put(key[0], key[1], key[2], body)

    def _create(self, plural: str, namespace: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name = (body.get("metadata") or {}).get("name")
        if not name:
            return _status(422, "metadata.name is required")
        if (plural, namespace, name) in self.objects:
            return _status(409, f'{plural} "{name}" already exists', reason="AlreadyExists")
        return 201, self.put(plural, namespace, name, body)

    @contextmanager
    def locked(self) -> Iterator[None]:
        with self._lock:
            yield


def workload_body(
    kind: str,
    name: str,
    *,
    replicas: int = 1,
    containers: tuple[ContainerResources, ...] = (ContainerResources("app"),),
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A minimal valid Deployment/StatefulSet/DaemonSet body (pause containers), for seeding."""
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {
                "containers": [
                    {
                        "name": c.container,
                        "image": "registry.k8s.io/pause:3.9",
                        "resources": {k: v for k, v in (("requests", c.requests), ("limits", c.limits)) if v},
                    }
                    for c in containers
                ]
            },
        },
    }
    if kind != "DaemonSet":
        spec["replicas"] = replicas
    if kind == "StatefulSet":
        spec["serviceName"] = name
    return {"metadata": {"name": name, "labels": dict(labels or {})}, "spec": spec}


def _status(code: int, message: str, *, reason: str = "") -> tuple[int, dict[str, Any]]:
    reasons = {
        403: "Forbidden",
        404: "NotFound",
        409: "Conflict",
        500: "InternalError",
        503: "ServiceUnavailable",
    }
    return code, {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason or reasons.get(code, "Unknown"),
        "code": code,
    }
