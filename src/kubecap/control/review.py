"""AdmissionReview v1 in and out: bytes to a typed ``Review``, a ``Decision`` back to bytes.

Decoding reads only the fields the decision needs and checks each one, so anything that
is not an AdmissionReview of an apps/v1 Deployment or StatefulSet (or of their ``scale``
subresource) becomes one ``ReviewError`` sentence naming the problem, which the server
answers with HTTP 400. kube-apiserver never sends such bodies; a fuzzer or a misrouted
client does, and must get a clear answer rather than a 500.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import msgspec
import orjson

from kubecap.domain.workload import WorkloadKind

API_VERSION = "admission.k8s.io/v1"
_KINDS = {"Deployment": WorkloadKind.DEPLOYMENT, "StatefulSet": WorkloadKind.STATEFULSET}
_SCALED = {"deployments": WorkloadKind.DEPLOYMENT, "statefulsets": WorkloadKind.STATEFULSET}
_INT32_MAX = 2**31 - 1


class ReviewError(ValueError):
    """The body is not an AdmissionReview this webhook handles; the message says why."""


class Operation(StrEnum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    CONNECT = "CONNECT"


# The views are frozen msgspec Structs rather than frozen dataclasses: a review builds about
# ten of them, and a frozen dataclass sets each field through object.__setattr__ (4x slower).


class ContainerView(msgspec.Struct, frozen=True):
    """One container of the pod template: its name, position and ``resources`` as sent (any JSON)."""

    name: str
    index: int
    resources: Any
    has_resources: bool


class ObjectView(msgspec.Struct, frozen=True):
    """What the decision reads of a workload (or of a Scale: no template, no containers).

    ``replicas`` is spec.replicas as sent (None when absent); ``template`` the pod template
    as JSON, compared whole to tell whether it changed; ``has_spec`` whether a Scale had a
    spec at all (the patch path differs).
    """

    replicas: int | None
    annotations: Mapping[str, str]
    template: Any = None
    containers: tuple[ContainerView, ...] = ()
    has_spec: bool = True


class Review(msgspec.Struct, frozen=True):
    uid: str
    kind: WorkloadKind
    scale: bool
    operation: Operation
    namespace: str
    name: str
    user: str
    dry_run: bool
    object: ObjectView | None
    old_object: ObjectView | None

    @property
    def target(self) -> str:
        sub = "/scale" if self.scale else ""
        return f"{self.kind.value} {self.namespace}/{self.name}{sub}"


def decode(body: bytes) -> Review:
    """The review in ``body``, or ReviewError naming the first problem."""
    try:
        document = orjson.loads(body)
    except (ValueError, RecursionError):
        raise ReviewError("the body is not valid JSON: send an AdmissionReview document") from None
    if not isinstance(document, dict):
        raise ReviewError("the body is not a JSON object: send an AdmissionReview document")
    if document.get("kind") != "AdmissionReview":
        raise ReviewError(f"kind is {_shown(document.get('kind'))}, not AdmissionReview")
    if document.get("apiVersion") != API_VERSION:
        raise ReviewError(
            f"apiVersion is {_shown(document.get('apiVersion'))}: this webhook speaks {API_VERSION} only "
            "(admissionReviewVersions: [v1])"
        )
    request = document.get("request")
    if not isinstance(request, dict):
        raise ReviewError("the AdmissionReview has no request object")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise ReviewError("request.uid is missing or not a string")
    operation = _operation(request.get("operation"))
    kind, scale = _kind(request)
    namespace = request.get("namespace")
    if not isinstance(namespace, str) or not namespace:
        raise ReviewError("request.namespace is missing: Deployments and StatefulSets are namespaced")
    name = request.get("name")
    if name is not None and not isinstance(name, str):
        raise ReviewError("request.name is not a string")
    user_info = request.get("userInfo")
    user = user_info.get("username") if isinstance(user_info, dict) else None
    dry_run = request.get("dryRun")
    if dry_run is not None and not isinstance(dry_run, bool):
        raise ReviewError("request.dryRun is not a boolean")
    raw_object = request.get("object")
    raw_old = request.get("oldObject")
    obj = old = None
    if operation in (Operation.CREATE, Operation.UPDATE):
        if not isinstance(raw_object, dict):
            raise ReviewError(f"request.object is missing: a {operation.value} review carries the object")
        obj = _view(raw_object, "object", scale)
    if operation is Operation.UPDATE and raw_old is not None:
        if not isinstance(raw_old, dict):
            raise ReviewError("request.oldObject is not an object")
        old = _view(raw_old, "oldObject", scale)
    if not name and obj is not None:
        meta = raw_object.get("metadata") if isinstance(raw_object, dict) else None
        found = meta.get("name") if isinstance(meta, dict) else None
        name = found if isinstance(found, str) else ""
    return Review(
        uid=uid,
        kind=kind,
        scale=scale,
        operation=operation,
        namespace=namespace,
        name=name or "",
        user=user if isinstance(user, str) else "",
        dry_run=bool(dry_run),
        object=obj,
        old_object=old,
    )


def _shown(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, str | int | float | bool) or value is None else "an object"
    return text if len(text) <= 60 else text[:57] + "..."


def _operation(value: Any) -> Operation:
    if not isinstance(value, str):
        value = None
    try:
        return Operation(value)
    except ValueError:
        raise ReviewError(
            f"request.operation is {_shown(value)}: expected CREATE, UPDATE, DELETE or CONNECT"
        ) from None


def _kind(request: dict[str, Any]) -> tuple[WorkloadKind, bool]:
    kind = request.get("kind")
    if not isinstance(kind, dict):
        raise ReviewError("request.kind is missing")
    group, version, name = kind.get("group"), kind.get("version"), kind.get("kind")
    sub = request.get("subResource") or ""
    if not isinstance(sub, str):
        raise ReviewError("request.subResource is not a string")
    if sub == "scale":
        resource = request.get("resource")
        plural = resource.get("resource") if isinstance(resource, dict) else None
        group_of = resource.get("group") if isinstance(resource, dict) else None
        if (
            (group, version, name) != ("autoscaling", "v1", "Scale")
            or group_of != "apps"
            or not isinstance(plural, str)
            or plural not in _SCALED
        ):
            raise ReviewError(
                f"unexpected scale review of {_shown(plural)} as {_shown(group)}/{_shown(version)} "
                f"{_shown(name)}: this webhook handles the autoscaling/v1 Scale of apps/v1 deployments "
                "and statefulsets"
            )
        return _SCALED[str(plural)], True
    if sub:
        raise ReviewError(f"unexpected subresource {_shown(sub)}: this webhook handles 'scale' only")
    if group != "apps" or version != "v1" or not isinstance(name, str) or name not in _KINDS:
        raise ReviewError(
            f"unexpected kind {_shown(group)}/{_shown(version)} {_shown(name)}: this webhook handles "
            "apps/v1 Deployment and StatefulSet"
        )
    return _KINDS[str(name)], False


def _view(raw: dict[str, Any], where: str, scale: bool) -> ObjectView:
    meta = raw.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise ReviewError(f"request.{where}.metadata is not an object")
    annotations = (meta or {}).get("annotations")
    if annotations is None:
        annotations = {}
    elif not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
        raise ReviewError(f"request.{where}.metadata.annotations is not a map of strings")
    spec = raw.get("spec")
    if spec is None and scale:
        return ObjectView(replicas=None, annotations=annotations, has_spec=False)
    if not isinstance(spec, dict):
        raise ReviewError(f"request.{where} has no spec object")
    replicas = spec.get("replicas")
    if replicas is not None and (
        isinstance(replicas, bool) or not isinstance(replicas, int) or not 0 <= replicas <= _INT32_MAX
    ):
        raise ReviewError(f"request.{where}.spec.replicas is not a whole number from 0 to {_INT32_MAX}")
    if scale:
        return ObjectView(replicas=replicas, annotations=annotations)
    template = spec.get("template")
    if not isinstance(template, dict):
        raise ReviewError(f"request.{where}.spec.template is missing: a workload has a pod template")
    pod = template.get("spec")
    containers = pod.get("containers") if isinstance(pod, dict) else None
    if not isinstance(containers, list):
        raise ReviewError(f"request.{where}.spec.template.spec.containers is missing or not a list")
    views = []
    for index, container in enumerate(containers):
        if not isinstance(container, dict) or not isinstance(container.get("name"), str):
            raise ReviewError(f"request.{where}.spec.template.spec.containers[{index}] has no name")
        views.append(
            ContainerView(
                name=container["name"],
                index=index,
                resources=container.get("resources"),
                has_resources="resources" in container,
            )
        )
    return ObjectView(replicas=replicas, annotations=annotations, template=template, containers=tuple(views))


def encode_response(
    uid: str,
    *,
    allowed: bool,
    patch: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
    warnings: tuple[str, ...] | list[str] = (),
    message: str = "",
    code: int = 403,
) -> bytes:
    """The AdmissionReview v1 answer for ``uid`` (a JSONPatch, warnings, a rejection's status)."""
    response: dict[str, Any] = {"uid": uid, "allowed": allowed}
    if patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(orjson.dumps(list(patch))).decode()
    if warnings:
        response["warnings"] = list(warnings)
    if not allowed:
        response["status"] = {"code": code, "reason": "Forbidden", "message": message}
    review = {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}
    return orjson.dumps(review)


def error_body(message: str) -> bytes:
    """The JSON body of a 4xx answer."""
    return json.dumps({"error": message}).encode()
