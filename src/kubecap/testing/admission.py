"""AdmissionReview documents as kube-apiserver sends them, for tests and the webhook benchmark.

The shapes follow what a v1.30 apiserver sends a mutating webhook for ``kubectl apply`` and
``kubectl scale``: the object after defaulting (every defaulted field present, managedFields,
a null template creationTimestamp), ``oldObject`` on UPDATE with its status, ``options``,
``requestKind``/``requestResource``, userInfo with groups, and for the scale subresource an
autoscaling/v1 Scale with the Deployment's selector in its status.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

KUBECTL = {
    "username": "kubernetes-admin",
    "uid": "aws-iam-authenticator:123456789012:AIDAEXAMPLE",
    "groups": ["system:masters", "system:authenticated"],
}
HPA = {
    "username": "system:serviceaccount:kube-system:horizontal-pod-autoscaler",
    "uid": "3c9a7e1e-0a1d-4d8e-9c55-1f3f7c2b9d10",
    "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
}


def container(
    name: str, requests: Mapping[str, str] | None = None, limits: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A defaulted container; ``resources`` holds only the parts given (``{}`` when neither)."""
    resources: dict[str, Any] = {}
    if requests is not None:
        resources["requests"] = dict(requests)
    if limits is not None:
        resources["limits"] = dict(limits)
    return {
        "name": name,
        "image": f"registry.example.com/shop/{name}:1.4.2",
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        "resources": resources,
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
    }


def workload(
    name: str = "web",
    namespace: str = "shop",
    *,
    kind: str = "Deployment",
    replicas: int | None = 3,
    containers: Sequence[dict[str, Any]] | None = None,
    annotations: Mapping[str, str] | None = None,
    generation: int = 4,
) -> dict[str, Any]:
    """A Deployment or StatefulSet as stored (defaulted), with three containers by default."""
    containers = (
        list(containers)
        if containers is not None
        else [
            container("app", {"cpu": "500m", "memory": "512Mi"}, {"cpu": "1", "memory": "1Gi"}),
            container("istio-proxy", {"cpu": "100m", "memory": "128Mi"}, {"memory": "256Mi"}),
            container("log-shipper"),
        ]
    )
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"creationTimestamp": None, "labels": {"app": name}},
            "spec": {
                "containers": copy.deepcopy(containers),
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30,
                "dnsPolicy": "ClusterFirst",
                "securityContext": {},
                "schedulerName": "default-scheduler",
            },
        },
        "revisionHistoryLimit": 10,
    }
    if replicas is not None:
        spec["replicas"] = replicas
    if kind == "Deployment":
        spec["strategy"] = {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
        }
        spec["progressDeadlineSeconds"] = 600
    else:
        spec["serviceName"] = name
        spec["podManagementPolicy"] = "OrderedReady"
        spec["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
        spec["persistentVolumeClaimRetentionPolicy"] = {"whenDeleted": "Retain", "whenScaled": "Retain"}
    return {
        "kind": kind,
        "apiVersion": "apps/v1",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": "8f2d6c1e-5b7a-4e0f-9d3c-2a1b0c9d8e7f",
            "resourceVersion": "918273",
            "generation": generation,
            "creationTimestamp": "2026-11-01T09:12:44Z",
            "labels": {"app": name, "team": "checkout"},
            "annotations": {"deployment.kubernetes.io/revision": "3", **dict(annotations or {})},
            "managedFields": [
                {
                    "manager": "kubectl-client-side-apply",
                    "operation": "Update",
                    "apiVersion": "apps/v1",
                    "time": "2026-11-20T08:00:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {
                        "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {}}}}
                    },
                }
            ],
        },
        "spec": spec,
        "status": {
            "observedGeneration": generation,
            "replicas": replicas if replicas is not None else 1,
            "updatedReplicas": replicas if replicas is not None else 1,
            "readyReplicas": replicas if replicas is not None else 1,
            "availableReplicas": replicas if replicas is not None else 1,
        },
    }


def _plural(kind: str) -> str:
    return {"Deployment": "deployments", "StatefulSet": "statefulsets"}.get(kind, kind.lower() + "s")


def review(
    obj: dict[str, Any] | None,
    old: dict[str, Any] | None = None,
    *,
    operation: str | None = None,
    user: Mapping[str, Any] = KUBECTL,
    dry_run: bool = False,
    uid: str | None = None,
) -> dict[str, Any]:
    """The AdmissionReview for a CREATE (no ``old``) or UPDATE of a workload."""
    source = obj if obj is not None else old
    assert source is not None
    kind = str(source["kind"])
    operation = operation or ("UPDATE" if old is not None else "CREATE")
    group_version_kind = {"group": "apps", "version": "v1", "kind": kind}
    resource = {"group": "apps", "version": "v1", "resource": _plural(kind)}
    options_kind = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}[
        operation
    ]
    return {
        "kind": "AdmissionReview",
        "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": uid or str(uuid.uuid4()),
            "kind": group_version_kind,
            "resource": resource,
            "requestKind": group_version_kind,
            "requestResource": resource,
            "name": source["metadata"]["name"],
            "namespace": source["metadata"]["namespace"],
            "operation": operation,
            "userInfo": dict(user),
            "object": obj,
            "oldObject": old,
            "dryRun": dry_run,
            "options": {
                "kind": options_kind,
                "apiVersion": "meta.k8s.io/v1",
                "fieldManager": "kubectl-client-side-apply",
                "fieldValidation": "Strict",
            },
        },
    }


def scale_object(name: str, namespace: str, replicas: int, *, status_replicas: int = 3) -> dict[str, Any]:
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": "8f2d6c1e-5b7a-4e0f-9d3c-2a1b0c9d8e7f",
            "resourceVersion": "918273",
            "creationTimestamp": "2026-11-01T09:12:44Z",
        },
        "spec": {"replicas": replicas},
        "status": {"replicas": status_replicas, "selector": f"app={name}"},
    }


def scale_review(
    name: str = "web",
    namespace: str = "shop",
    *,
    replicas: int = 5,
    old_replicas: int = 3,
    kind: str = "Deployment",
    user: Mapping[str, Any] = KUBECTL,
    dry_run: bool = False,
) -> dict[str, Any]:
    """The AdmissionReview of ``kubectl scale`` (the scale subresource) of a workload."""
    scale = {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    resource = {"group": "apps", "version": "v1", "resource": _plural(kind)}
    return {
        "kind": "AdmissionReview",
        "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": scale,
            "resource": resource,
            "subResource": "scale",
            "requestKind": scale,
            "requestResource": resource,
            "requestSubResource": "scale",
            "name": name,
            "namespace": namespace,
            "operation": "UPDATE",
            "userInfo": dict(user),
            "object": scale_object(name, namespace, replicas, status_replicas=old_replicas),
            "oldObject": scale_object(name, namespace, old_replicas, status_replicas=old_replicas),
            "dryRun": dry_run,
            "options": {"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1"},
        },
    }


def body(document: dict[str, Any]) -> bytes:
    """The bytes of a document, compact as the apiserver's JSON serializer writes them."""
    return json.dumps(document, separators=(",", ":")).encode()
