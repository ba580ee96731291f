"""The cluster contract: every ClusterPort adapter behaves alike (see conftest for the backends)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kubecap.cluster.port import RESTARTED_AT, ClusterError, Taint, WorkloadNotFound
from kubecap.domain.resources import ContainerResources
from kubecap.domain.workload import WorkloadKind, WorkloadRef


def ref(backend: Any, name: str, kind: WorkloadKind = WorkloadKind.DEPLOYMENT) -> WorkloadRef:
    return WorkloadRef(backend.cluster.name, backend.namespace, kind, name)


async def test_lists_the_three_workload_kinds_with_each_containers_resources(backend: Any) -> None:
    await backend.add_workload(
        "web",
        replicas=3,
        containers=(
            ContainerResources("app", {"cpu": "250m", "memory": "256Mi"}, {"memory": "512Mi"}),
            ContainerResources("sidecar", {"cpu": "10m"}),
        ),
    )
    await backend.add_workload("db", kind=WorkloadKind.STATEFULSET, replicas=0)
    await backend.add_workload("agent", kind=WorkloadKind.DAEMONSET)
    found = await backend.cluster.list_workloads(backend.namespace)
    assert [(w.ref.kind, w.ref.name) for w in found] == [
        (WorkloadKind.DAEMONSET, "agent"),
        (WorkloadKind.DEPLOYMENT, "web"),
        (WorkloadKind.STATEFULSET, "db"),
    ]
    web = found[1]
    assert web.ref == ref(backend, "web")
    assert web.replicas == 3
    assert web.containers == (
        ContainerResources("app", {"cpu": "250m", "memory": "256Mi"}, {"memory": "512Mi"}),
        ContainerResources("sidecar", {"cpu": "10m"}, {}),
    )
    assert found[0].replicas is None
    assert found[2].replicas == 0


async def test_an_unknown_workload_is_not_found_in_one_sentence(backend: Any) -> None:
    with pytest.raises(WorkloadNotFound) as caught:
        await backend.cluster.get_workload(ref(backend, "nothing"))
    assert "nothing" in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(WorkloadNotFound):
        await backend.cluster.scale(ref(backend, "nothing"), 2)


async def test_scale_goes_through_the_scale_subresource_and_returns_the_replicas_before(backend: Any) -> None:
    await backend.add_workload("web", replicas=3)
    await backend.add_workload("db", kind=WorkloadKind.STATEFULSET, replicas=1)
    assert await backend.cluster.scale(ref(backend, "web"), 0) == 3
    assert await backend.cluster.scale(ref(backend, "db", WorkloadKind.STATEFULSET), 0) == 1
    assert (await backend.cluster.get_workload(ref(backend, "web"))).replicas == 0
    assert (await backend.cluster.get_workload(ref(backend, "db", WorkloadKind.STATEFULSET))).replicas == 0


async def test_a_daemonset_cannot_be_scaled(backend: Any) -> None:
    await backend.add_workload("agent", kind=WorkloadKind.DAEMONSET)
    with pytest.raises(ClusterError, match="DaemonSet"):
        await backend.cluster.scale(ref(backend, "agent", WorkloadKind.DAEMONSET), 2)


async def test_restart_sets_the_restarted_at_annotation_of_the_pod_template(backend: Any) -> None:
    await backend.add_workload("web", replicas=0)
    at = datetime(2026, 11, 30, 22, 0, tzinfo=UTC)
    await backend.cluster.restart(ref(backend, "web"), at)
    workload = await backend.cluster.get_workload(ref(backend, "web"))
    assert datetime.fromisoformat(workload.template_annotations[RESTARTED_AT]) == at


async def test_patch_resources_changes_only_the_named_container(backend: Any) -> None:
    sidecar = ContainerResources("sidecar", {"cpu": "10m"}, {"cpu": "50m"})
    await backend.add_workload(
        "web", replicas=0, containers=(ContainerResources("app", {"cpu": "1"}, {"cpu": "2"}), sidecar)
    )
    wanted = ContainerResources("app", {"cpu": "300m", "memory": "200Mi"}, {"memory": "400Mi"})
    before = await backend.cluster.patch_resources(ref(backend, "web"), (wanted,))
    assert before.container("app") == ContainerResources("app", {"cpu": "1"}, {"cpu": "2"})
    after = await backend.cluster.get_workload(ref(backend, "web"))
    assert after.container("app") == wanted
    assert after.container("sidecar") == sidecar


async def test_patch_resources_of_a_missing_container_changes_nothing(backend: Any) -> None:
    await backend.add_workload("web", replicas=0)
    with pytest.raises(WorkloadNotFound, match="no container 'nope'"):
        await backend.cluster.patch_resources(
            ref(backend, "web"), (ContainerResources("nope", {"cpu": "1"}),)
        )


async def test_hpas_name_their_target(backend: Any) -> None:
    await backend.add_workload("web", replicas=1)
    await backend.add_hpa("web", "web", 2, 10)
    hpas = await backend.cluster.list_hpas(backend.namespace)
    assert [(h.name, h.target_kind, h.target_name, h.min_replicas, h.max_replicas) for h in hpas] == [
        ("web", "Deployment", "web", 2, 10)
    ]


async def test_an_hpas_min_replicas_is_patched_and_the_value_before_returned(backend: Any) -> None:
    await backend.add_workload("web", replicas=1)
    await backend.add_hpa("web", "web", 2, 10)
    assert await backend.cluster.set_hpa_min_replicas(backend.namespace, "web", 5) == 2
    (hpa,) = await backend.cluster.list_hpas(backend.namespace)
    assert (hpa.min_replicas, hpa.max_replicas) == (5, 10)
    with pytest.raises(WorkloadNotFound):
        await backend.cluster.set_hpa_min_replicas(backend.namespace, "nothing", 3)


async def test_nodes_have_allocatable_labels_taints_and_conditions(backend: Any) -> None:
    name = await backend.node()
    nodes = await backend.cluster.list_nodes()
    node = next(n for n in nodes if n.name == name)
    assert "cpu" in node.allocatable and "memory" in node.allocatable
    assert any(c.type == "Ready" for c in node.conditions)
    assert await backend.cluster.get_node(name) == node


async def test_our_taint_is_added_once_and_removed_without_touching_other_taints(backend: Any) -> None:
    name = await backend.node()
    others = set((await backend.cluster.get_node(name)).taints)
    ours = Taint("kubecap.io/contract-test", "PreferNoSchedule", "yes")
    try:
        assert await backend.cluster.add_taint(name, ours) is True
        assert await backend.cluster.add_taint(name, ours) is False
        assert set((await backend.cluster.get_node(name)).taints) == others | {ours}
    finally:
        removed = await backend.cluster.remove_taint(name, ours.key, ours.effect)
    assert removed is True
    assert await backend.cluster.remove_taint(name, ours.key, ours.effect) is False
    assert set((await backend.cluster.get_node(name)).taints) == others


async def test_node_annotations_are_set_and_removed_alone(backend: Any) -> None:
    name = await backend.node()
    before = dict((await backend.cluster.get_node(name)).annotations)
    key = "kubecap.io/contract-test"
    await backend.cluster.annotate_node(name, {key: "1"})
    assert (await backend.cluster.get_node(name)).annotations == {**before, key: "1"}
    await backend.cluster.annotate_node(name, {key: None})
    assert (await backend.cluster.get_node(name)).annotations == before


async def test_a_lease_has_one_holder_at_a_time(backend: Any) -> None:
    namespace = backend.namespace
    assert await backend.cluster.acquire_lease(namespace, "kubecap-leader", "replica-a", 60) is True
    assert await backend.cluster.acquire_lease(namespace, "kubecap-leader", "replica-a", 60) is True  # renew
    assert await backend.cluster.acquire_lease(namespace, "kubecap-leader", "replica-b", 60) is False
    await backend.cluster.release_lease(namespace, "kubecap-leader", "replica-b")  # not the holder: no effect
    assert await backend.cluster.acquire_lease(namespace, "kubecap-leader", "replica-b", 60) is False
    await backend.cluster.release_lease(namespace, "kubecap-leader", "replica-a")
    assert await backend.cluster.acquire_lease(namespace, "kubecap-leader", "replica-b", 60) is True


# --- what the webhook needs (issue 4) ---------------------------------------------------------


async def test_workload_annotations_are_the_workloads_own(backend: Any) -> None:
    await backend.add_workload("web", replicas=0)
    await backend.annotate_workload("web", {"kubecap.io/temporary-replicas": "3@2030-01-01T00:00:00Z"})
    annotations = await backend.cluster.workload_annotations(ref(backend, "web"))
    assert annotations["kubecap.io/temporary-replicas"] == "3@2030-01-01T00:00:00Z"
    with pytest.raises(WorkloadNotFound):
        await backend.cluster.workload_annotations(ref(backend, "nothing"))


async def test_workload_annotations_are_set_and_removed_alone(backend: Any) -> None:
    await backend.add_workload("web", replicas=2)
    await backend.annotate_workload("web", {"team.example/owner": "shop"})
    web = ref(backend, "web")
    before = await backend.cluster.get_workload(web)
    seeded = await backend.cluster.workload_annotations(web)  # a real apiserver adds its own too
    assert seeded["team.example/owner"] == "shop"
    key = "kubecap.io/temporary-replicas"
    await backend.cluster.set_workload_annotations(web, {key: "3@2030-01-01T00:00:00Z"})
    assert await backend.cluster.workload_annotations(web) == {**seeded, key: "3@2030-01-01T00:00:00Z"}
    await backend.cluster.set_workload_annotations(web, {key: None, "kubecap.io/absent": None})
    assert await backend.cluster.workload_annotations(web) == seeded
    after = await backend.cluster.get_workload(web)
    assert (after.replicas, after.containers, after.template_annotations) == (
        before.replicas,
        before.containers,
        before.template_annotations,
    )
    with pytest.raises(WorkloadNotFound):
        await backend.cluster.set_workload_annotations(ref(backend, "nothing"), {key: None})


async def test_a_secret_is_created_replaced_read_and_deleted(backend: Any) -> None:
    namespace, name = backend.namespace, "kubecap-contract-secret"
    assert await backend.cluster.get_secret(namespace, name) is None
    await backend.cluster.put_secret(
        namespace, name, {"tls.crt": b"one", "tls.key": b"\x00\xffkey"}, kind="kubernetes.io/tls"
    )
    assert await backend.cluster.get_secret(namespace, name) == {"tls.crt": b"one", "tls.key": b"\x00\xffkey"}
    await backend.cluster.put_secret(
        namespace, name, {"tls.crt": b"two", "tls.key": b"k2"}, kind="kubernetes.io/tls", labels={"a": "b"}
    )
    assert await backend.cluster.get_secret(namespace, name) == {"tls.crt": b"two", "tls.key": b"k2"}
    assert await backend.cluster.delete_secret(namespace, name) is True
    assert await backend.cluster.delete_secret(namespace, name) is False
    assert await backend.cluster.get_secret(namespace, name) is None


def _webhook_configuration(name: str, url: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "kubecap"}},
        "webhooks": [
            {
                "name": "contract.kubecap.io",
                "clientConfig": {"url": url},
                "rules": [
                    {
                        "apiGroups": ["apps"],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["deployments"],
                        "scope": "Namespaced",
                    }
                ],
                "failurePolicy": "Ignore",
                "sideEffects": "None",
                "timeoutSeconds": 3,
                "admissionReviewVersions": ["v1"],
                # Matches nothing on a real cluster: the contract must never intercept its requests.
                "objectSelector": {"matchLabels": {"kubecap.io/contract-test": "never"}},
            }
        ],
    }


async def test_a_mutating_webhook_configuration_is_created_replaced_and_deleted(backend: Any) -> None:
    name = f"kubecap-contract-{backend.namespace}"
    try:
        assert await backend.cluster.get_mutating_webhook(name) is None
        await backend.cluster.put_mutating_webhook(_webhook_configuration(name, "https://127.0.0.1:1/a"))
        await backend.cluster.put_mutating_webhook(_webhook_configuration(name, "https://127.0.0.1:1/b"))
        found = await backend.cluster.get_mutating_webhook(name)
        assert found is not None
        assert found["metadata"]["name"] == name
        assert [w["clientConfig"]["url"] for w in found["webhooks"]] == ["https://127.0.0.1:1/b"]
        assert found["webhooks"][0]["timeoutSeconds"] == 3
    finally:
        deleted = await backend.cluster.delete_mutating_webhook(name)
    assert deleted is True
    assert await backend.cluster.delete_mutating_webhook(name) is False
    assert await backend.cluster.get_mutating_webhook(name) is None
