"""AdmissionReview v1 in and out: bytes to a typed ``Review``, a ``Decision`` back to bytes.

Decoding reads only the fields the decision needs and checks each one, so anything that
is not an AdmissionReview of an apps/v1 Deployment or StatefulSet (or of their ``scale``
subresource) becomes one ``ReviewError`` sentence naming the problem, which the server
answers with HTTP 400. kube-apiserver never sends such bodies; a fuzzer or a misrouted
client does, and must get a clear answer rather than a 500.

The body is decoded by msgspec into the wire structs below, which name only those fields:
everything else (managedFields, status, the pod template's other fields) is skipped
without being built, which makes decoding cheaper than a plain ``json.loads`` of the same
body. The pod template and each container's ``resources`` are kept as their raw JSON: the
decision compares templates as the apiserver serialised them (it encodes ``object`` and
``oldObject`` alike, so equal templates are equal bytes), and the patch planner keys its
memo on the resources' bytes and decodes them only when it must plan.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

import msgspec
import orjson

from kubecap.domain.workload import WorkloadKind

API_VERSION = "admission.k8s.io/v1"
_KINDS = {"Deployment": WorkloadKind.DEPLOYMENT, "StatefulSet": WorkloadKind.STATEFULSET}
_SCALED = {"deployments": WorkloadKind.DEPLOYMENT, "statefulsets": WorkloadKind.STATEFULSET}
_INT32_MAX = 2**31 - 1
_ABSENT = msgspec.Raw()


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
    """One container of the pod template: its name, position and ``resources`` as sent (raw JSON).

    ``raw_resources`` is empty when the container has no ``resources`` key.
    """

    name: str
    index: int
    raw_resources: bytes = b""

    @property
    def resources(self) -> Any:
        """``resources`` decoded (any JSON; None when absent)."""
        return orjson.loads(self.raw_resources) if self.raw_resources else None


class ObjectView(msgspec.Struct, frozen=True):
    """What the decision reads of a workload (or of a Scale: no template, no containers).

    ``replicas`` is spec.replicas as sent (None when absent); ``template`` the pod template
    as the apiserver serialised it, compared whole to tell whether it changed; ``has_spec``
    whether a Scale had a spec at all (the patch path differs). ``containers`` are read for
    ``object`` only: the decision never looks at the old object's.
    """

    replicas: int | None
    annotations: Mapping[str, str]
    template: bytes = b""
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


# The wire: what is read of an AdmissionReview. Scalars and small maps are ``Any`` and checked
# below, so that each problem gets its own sentence; the large parts are structs, whose type
# errors msgspec reports with their path.


class _Container(msgspec.Struct):
    name: Any = None
    resources: msgspec.Raw = _ABSENT


class _PodSpec(msgspec.Struct):
    containers: list[_Container] | None = None


class _Template(msgspec.Struct):
    spec: _PodSpec | None = None


class _Spec(msgspec.Struct):
    replicas: Any = None
    template: msgspec.Raw = _ABSENT


class _Metadata(msgspec.Struct):
    name: Any = None
    annotations: dict[str, str] | None = None


class _Object(msgspec.Struct):
    metadata: _Metadata | None = None
    spec: _Spec | None = None


class _Request(msgspec.Struct, rename="camel"):
    uid: Any = None
    kind: Any = None
    resource: Any = None
    sub_resource: Any = None
    name: Any = None
    namespace: Any = None
    operation: Any = None
    user_info: Any = None
    object: _Object | None = None
    old_object: _Object | None = None
    dry_run: Any = None


class _AdmissionReview(msgspec.Struct, rename="camel"):
    api_version: Any = None
    kind: Any = None
    request: _Request | None = None


_DECODE_REVIEW = msgspec.json.Decoder(_AdmissionReview)
_DECODE_TEMPLATE = msgspec.json.Decoder(_Template)


def decode(body: bytes) -> Review:
    """The review in ``body``, or ReviewError naming the first problem."""
    # msgspec checks UTF-8 only in what it decodes, not in what it skips or keeps raw.
    if not body.isascii():
        try:
            body.decode()
        except UnicodeDecodeError:
            raise ReviewError(
                "the body is not valid JSON (not UTF-8): send an AdmissionReview document"
            ) from None
    document = _decoded(_DECODE_REVIEW, body, "")
    if document.kind != "AdmissionReview":
        raise ReviewError(f"kind is {_shown(document.kind)}, not AdmissionReview")
    if document.api_version != API_VERSION:
        raise ReviewError(
            f"apiVersion is {_shown(document.api_version)}: this webhook speaks {API_VERSION} only "
            "(admissionReviewVersions: [v1])"
        )
    request = document.request
    if request is None:
        raise ReviewError("the AdmissionReview has no request object")
    uid = request.uid
    if not isinstance(uid, str) or not uid:
        raise ReviewError("request.uid is missing or not a string")
    operation = _operation(request.operation)
    kind, scale = _kind(request)
    namespace = request.namespace
    if not isinstance(namespace, str) or not namespace:
        raise ReviewError("request.namespace is missing: Deployments and StatefulSets are namespaced")
    name = request.name
    if name is not None and not isinstance(name, str):
        raise ReviewError("request.name is not a string")
    user_info = request.user_info
    user = user_info.get("username") if isinstance(user_info, dict) else None
    dry_run = request.dry_run
    if dry_run is not None and not isinstance(dry_run, bool):
        raise ReviewError("request.dry_run is not a boolean")
    obj = old = None
    if operation in (Operation.CREATE, Operation.UPDATE):
        if request.object is None:
            raise ReviewError(f"request.object is missing: a {operation.value} review carries the object")
        obj = _view(request.object, "object", scale, containers=True)
    if operation is Operation.UPDATE and request.old_object is not None:
        old = _view(request.old_object, "oldObject", scale, containers=False)
    if not name and request.object is not None and request.object.metadata is not None:
        found = request.object.metadata.name
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


def _decoded(decoder: msgspec.json.Decoder[Any], raw: bytes | msgspec.Raw, where: str) -> Any:
    """``raw`` decoded, or ReviewError: msgspec's own sentence with the path from the review's root."""
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as exc:
        problem, _, path = str(exc).partition(" - at `$")
        path = path.rstrip("`")
        if not where and not path:
            raise ReviewError("the body is not a JSON object: send an AdmissionReview document") from None
        located = (f"request.{where}" if where else "") + path
        raise ReviewError(f"{located.lstrip('.')}: {problem[:1].lower()}{problem[1:]}") from None
    except (msgspec.DecodeError, RecursionError):  # after ValidationError, a DecodeError too
        if where:  # a part of a body that decoded: valid JSON, so nesting too deep
            raise ReviewError(f"request.{where} is nested too deeply") from None
        raise ReviewError("the body is not valid JSON: send an AdmissionReview document") from None


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


def _kind(request: _Request) -> tuple[WorkloadKind, bool]:
    kind = request.kind
    if not isinstance(kind, dict):
        raise ReviewError("request.kind is missing")
    group, version, name = kind.get("group"), kind.get("version"), kind.get("kind")
    sub = request.sub_resource or ""
    if not isinstance(sub, str):
        raise ReviewError("request.sub_resource is not a string")
    if sub == "scale":
        resource = request.resource
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


def _view(raw: _Object, where: str, scale: bool, *, containers: bool) -> ObjectView:
    annotations = (raw.metadata.annotations if raw.metadata is not None else None) or {}
    spec = raw.spec
    if spec is None and scale:
        return ObjectView(replicas=None, annotations=annotations, has_spec=False)
    if spec is None:
        raise ReviewError(f"request.{where} has no spec object")
    replicas = spec.replicas
    if replicas is not None and (
        isinstance(replicas, bool) or not isinstance(replicas, int) or not 0 <= replicas <= _INT32_MAX
    ):
        raise ReviewError(f"request.{where}.spec.replicas is not a whole number from 0 to {_INT32_MAX}")
    if scale:
        return ObjectView(replicas=replicas, annotations=annotations)
    template = bytes(spec.template)
    if not template.startswith(b"{"):  # absent, null, or not an object
        raise ReviewError(f"request.{where}.spec.template is missing: a workload has a pod template")
    if not containers:
        return ObjectView(replicas=replicas, annotations=annotations, template=template)
    pod = _decoded(_DECODE_TEMPLATE, spec.template, f"{where}.spec.template").spec
    if pod is None or pod.containers is None:
        raise ReviewError(f"request.{where}.spec.template.spec.containers is missing or not a list")
    views = []
    for index, container in enumerate(pod.containers):
        if not isinstance(container.name, str):
            raise ReviewError(f"request.{where}.spec.template.spec.containers[{index}] has no name")
        views.append(ContainerView(container.name, index, bytes(container.resources)))
    return ObjectView(replicas=replicas, annotations=annotations, template=template, containers=tuple(views))


def encode_patch(ops: Sequence[Mapping[str, Any]]) -> str:
    """A JSONPatch as the AdmissionReview carries it: base64 of its JSON."""
    return base64.b64encode(orjson.dumps(list(ops))).decode()


def encode_response(
    uid: str,
    *,
    allowed: bool,
    patch: str = "",
    warnings: tuple[str, ...] | list[str] = (),
    message: str = "",
    code: int = 403,
) -> bytes:
    """The AdmissionReview v1 answer for ``uid`` (a patch from ``encode_patch``, warnings, a rejection's status)."""
    response: dict[str, Any] = {"uid": uid, "allowed": allowed}
    if patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = patch
    if warnings:
        response["warnings"] = list(warnings)
    if not allowed:
        response["status"] = {"code": code, "reason": "Forbidden", "message": message}
    review = {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}
    return orjson.dumps(review)


def error_body(message: str) -> bytes:
    """The JSON body of a 4xx answer."""
    return json.dumps({"error": message}).encode()
