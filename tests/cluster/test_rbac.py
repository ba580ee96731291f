"""deploy/rbac grants every verb the lightkube adapter uses, and nothing cluster-wide on secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

RBAC = Path(__file__).resolve().parents[2] / "deploy" / "rbac"

# (apiGroup, resource, verb) the adapter sends (see kubecap.cluster.kube).
CLUSTER_WIDE = [
    ("apps", resource, verb)
    for resource in ("deployments", "statefulsets", "daemonsets")
    for verb in ("get", "list", "patch")
] + [
    ("apps", "deployments/scale", "get"),
    ("apps", "deployments/scale", "patch"),
    ("apps", "statefulsets/scale", "get"),
    ("apps", "statefulsets/scale", "patch"),
    ("autoscaling", "horizontalpodautoscalers", "list"),
    ("", "nodes", "list"),
    ("", "nodes", "get"),
    ("", "nodes", "patch"),
    # kubecap webhook install / status
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations", "get"),
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations", "create"),
]
OWN_NAMESPACE = [("coordination.k8s.io", "leases", verb) for verb in ("get", "create", "patch")] + [
    # the webhook's CA and serving certificate (install, renewal, uninstall)
    ("", "secrets", verb)
    for verb in ("get", "create", "update", "delete")
]
# Changing and removing the webhook configuration is limited to kubecap's own, by name.
OWN_WEBHOOK = [
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations", v) for v in ("update", "delete")
]


def rules(kind: str) -> list[dict[str, Any]]:
    found = []
    for path in sorted(RBAC.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document["kind"] == kind:
                found.extend(document["rules"])
    return found


def granted(kind: str, group: str, resource: str, verb: str) -> bool:
    return any(
        group in r["apiGroups"]
        and resource in r["resources"]
        and verb in r["verbs"]
        and "resourceNames" not in r
        for r in rules(kind)
    )


@pytest.mark.parametrize(("group", "resource", "verb"), CLUSTER_WIDE)
def test_the_cluster_role_grants_what_the_adapter_uses(group: str, resource: str, verb: str) -> None:
    assert granted("ClusterRole", group, resource, verb)


@pytest.mark.parametrize(("group", "resource", "verb"), OWN_NAMESPACE)
def test_the_namespace_role_grants_leases_and_the_webhook_secrets(
    group: str, resource: str, verb: str
) -> None:
    assert granted("Role", group, resource, verb)


@pytest.mark.parametrize(("group", "resource", "verb"), OWN_WEBHOOK)
def test_only_kubecaps_own_webhook_configuration_can_change(group: str, resource: str, verb: str) -> None:
    assert not granted("ClusterRole", group, resource, verb)
    assert any(
        group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"]
        and r.get("resourceNames") == ["kubecap"]
        for r in rules("ClusterRole")
    )  # fmt: skip


def test_no_wildcards_and_no_cluster_wide_secrets() -> None:
    for rule in rules("ClusterRole") + rules("Role"):
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]
    assert not any("secrets" in r["resources"] for r in rules("ClusterRole"))
