"""The control service over the real store (SQLite and PostgreSQL): validation, history, revision,
policies, init from the cluster and from a collection, approval of recommendations."""

from __future__ import annotations

from datetime import UTC, date, timedelta

import pytest

from kubecap.control.service import ControlService, container_from_resources, memory_quantity
from kubecap.domain.audit import AuditFilter
from kubecap.domain.container import ContainerRef
from kubecap.domain.control import (
    ContainerSpec,
    ControlError,
    Enforcement,
    Failure,
    ReplicasMode,
    Unmanaged,
)
from kubecap.domain.recommendation import (
    Bounds,
    Recommendation,
    ReplicaAdvice,
    Resources,
    Risk,
    Savings,
    Status,
)
from kubecap.domain.resources import ContainerResources
from kubecap.domain.usage import UsageProfile
from kubecap.domain.window import PeakWindow, windows_of_day
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.errors import ConfigError, NotFoundError
from kubecap.ports import WindowUsage
from kubecap.store import Store
from kubecap.testing.cluster import InMemoryCluster
from tests.control.builders import CLUSTER, NOW

WEB = WorkloadRef(CLUSTER, "shop", WorkloadKind.DEPLOYMENT, "web")


@pytest.fixture
def service(store: Store) -> ControlService:
    return ControlService(store, clock=lambda: NOW)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"replicas": -1}, "outside 0..100000"),
        ({"replicas": 100_001}, "outside 0..100000"),
        ({}, "give its replicas with --replicas N"),
        ({"replicas": 1, "container": ContainerSpec("app", {"cpu": "lots"})}, "is not a Kubernetes quantity"),
        (
            {"replicas": 1, "container": ContainerSpec("app", {"cpu": "2"}, {"cpu": "1"})},
            "the cpu limit 1 is below the request 2",
        ),
        ({"replicas": 1, "container": ContainerSpec("App_1", {"cpu": "1"})}, "is not a DNS label"),
        ({"replicas": 1, "container": ContainerSpec("app", {"cpu": "-1"})}, "must not be negative"),
        ({"replicas": 2, "mode": ReplicasMode.HPA}, "replicas mode hpa leaves replicas to the HPA"),
    ],
)
async def test_invalid_specs_are_refused_in_one_sentence_and_never_stored(
    service: ControlService, store: Store, kwargs: dict[str, object], fragment: str
) -> None:
    with pytest.raises(ControlError) as caught:
        await service.set(WEB, actor="alice", **kwargs)  # type: ignore[arg-type]
    assert fragment in str(caught.value) and "\n" not in str(caught.value)
    assert await store.control_specs() == []
    assert await store.control_revision() == 0


async def test_daemonsets_are_not_in_the_control_table(service: ControlService) -> None:
    agent = WorkloadRef(CLUSTER, "shop", WorkloadKind.DAEMONSET, "agent")
    with pytest.raises(ControlError, match="Deployments and StatefulSets only"):
        await service.set(agent, actor="alice", replicas=1)


async def test_set_merges_keeps_history_bumps_the_revision_and_audits(
    service: ControlService, store: Store
) -> None:
    await service.set(
        WEB, actor="alice", reason="first", replicas=3, container=ContainerSpec("app", {"cpu": "1"})
    )
    change = await service.set(
        WEB,
        actor="bob",
        reason="more memory",
        container=ContainerSpec("app", {"memory": "1Gi"}, {"cpu": None}),
    )
    assert change.lines() == ["app.limits.cpu: - -> unset", "app.requests.memory: - -> 1Gi"]
    spec = await service.spec(WEB)
    assert spec.replicas == 3 and spec.replicas_mode is ReplicasMode.FIXED
    assert spec.container("app") == ContainerSpec("app", {"cpu": "1", "memory": "1Gi"}, {"cpu": None})
    await service.set(WEB, actor="carol", container=ContainerSpec("app"), leave=[("requests", "cpu")])
    assert (await service.spec(WEB)).container("app") == ContainerSpec(
        "app", {"memory": "1Gi"}, {"cpu": None}
    )
    await service.unset(WEB, actor="dave", reason="decommissioned")
    versions = await service.history(WEB)
    assert [(v.version, v.changed_by, v.spec is None) for v in versions] == [
        (1, "alice", False),
        (2, "bob", False),
        (3, "carol", False),
        (4, "dave", True),
    ]
    assert versions[1].reason == "more memory"
    assert await store.control_revision() == 4
    events = await store.audit_events(AuditFilter(target=str(WEB)))
    assert [e.action for e in events] == ["control.set", "control.set", "control.set", "control.unset"]
    with pytest.raises(NotFoundError):
        await service.spec(WEB)
    # Versions go on after a removal.
    await service.set(WEB, actor="erin", replicas=1)
    assert [v.version for v in await service.history(WEB)][-1] == 5


async def test_dry_run_stores_nothing(service: ControlService, store: Store) -> None:
    change = await service.set(WEB, actor="alice", replicas=3, dry_run=True)
    assert change.changed and await store.control_specs() == []


async def test_policies_and_the_snapshot(service: ControlService, store: Store) -> None:
    await service.set(WEB, actor="alice", replicas=3)
    before, after = await service.set_policy(
        CLUSTER, "shop", actor="alice", enforcement=Enforcement.WARN, unmanaged=Unmanaged.REJECT
    )
    assert before is None and after.failure is Failure.OPEN
    _, after = await service.set_policy(CLUSTER, "*", actor="alice", failure=Failure.CLOSED)
    snapshot = await store.control_snapshot(CLUSTER)
    assert snapshot.version == await store.control_revision() == 3
    assert snapshot.spec("shop", WorkloadKind.DEPLOYMENT, "web") is not None
    assert snapshot.policy("shop").enforcement is Enforcement.WARN
    assert snapshot.policy("other").failure is Failure.CLOSED  # the cluster default
    assert (await store.control_snapshot("elsewhere")).specs == {}
    assert await service.remove_policy(CLUSTER, "shop", actor="alice") is True
    assert (await store.control_snapshot(CLUSTER)).policy("shop").failure is Failure.CLOSED


async def test_init_from_the_live_cluster(service: ControlService, store: Store) -> None:
    cluster = InMemoryCluster(name=CLUSTER)
    cluster.add_workload(
        "shop",
        "web",
        replicas=4,
        containers=(
            ContainerResources("app", {"cpu": "500m"}, {"memory": "1Gi"}),
            ContainerResources("side"),
        ),
    )
    api = cluster.add_workload("shop", "api", replicas=2)
    cluster.add_hpa("shop", "api", api, 2, 10)
    cluster.add_workload("shop", "agent", kind=WorkloadKind.DAEMONSET)
    changes = await service.init_from_cluster(cluster)
    assert [(str(c.ref), c.after.replicas_mode if c.after else None) for c in changes] == [
        (f"{CLUSTER}/shop/Deployment/api", ReplicasMode.HPA),
        (f"{CLUSTER}/shop/Deployment/web", ReplicasMode.OBSERVED),
    ]
    await service.apply(changes, action="control.init", actor="alice", reason="init")
    web = await service.spec(WEB)
    assert web.replicas == 4 and web.containers == (ContainerSpec("app", {"cpu": "500m"}, {"memory": "1Gi"}),)
    assert await service.init_from_cluster(cluster) == []  # existing specs are kept
    assert len(await service.init_from_cluster(cluster, overwrite=True)) == 2


async def test_init_from_the_latest_collection(service: ControlService, store: Store) -> None:
    with pytest.raises(ConfigError, match="run `kubecap collect`"):
        await service.init_from_collection(CLUSTER)
    day = date(2026, 11, 22)
    window = windows_of_day(day, [PeakWindow.parse("10:00-11:30")], UTC)[0]
    profiles = [
        UsageProfile(WEB, "app", day, window.name, replicas_max=5.0, cpu_request=0.5, mem_limit=2**30),
        UsageProfile(WEB, "side", day, window.name, replicas_max=5.0),
    ]
    await store.save_window(CLUSTER, window, WindowUsage(profiles))
    changes = await service.init_from_collection(CLUSTER)
    assert len(changes) == 1 and changes[0].after is not None
    assert changes[0].after.replicas == 5
    assert changes[0].after.containers == (ContainerSpec("app", {"cpu": "500m"}, {"memory": "1Gi"}),)


def recommendation(
    container: str, target: Resources, *, strategy: str = "kubecap", replicas: int | None = 3
) -> Recommendation:
    return Recommendation(
        ref=ContainerRef(WEB, container),
        strategy=strategy,
        settings={},
        computed_at=NOW - timedelta(hours=1),
        window="10:00-11:30",
        first_day=None,
        last_day=None,
        days=14,
        status=Status.OK,
        target=target,
        current=Resources(),
        bounds=Bounds(),
        confidence=1.0,
        explanation="",
        savings=Savings(),
        risk=Risk(),
        replicas=ReplicaAdvice(current=5, replicas=replicas),
    )


async def test_approve_turns_recommendations_into_specs(service: ControlService) -> None:
    recs = [
        recommendation("app", Resources(0.25, None, 256 * 2**20, 512 * 2**20)),
        recommendation("side", Resources(0.01, 0.1, 64 * 2**20, 64 * 2**20)),
    ]
    changes, skipped = await service.approve(recs)
    assert skipped == []
    after = changes[0].after
    assert after is not None and after.replicas_mode is ReplicasMode.RECOMMENDED and after.replicas == 3
    assert after.container("app") == ContainerSpec(
        "app", {"cpu": "250m", "memory": "256Mi"}, {"cpu": None, "memory": "512Mi"}
    )
    assert after.source.startswith("recommendation:kubecap@")
    await service.apply(changes, action="control.approve", actor="alice", reason="")
    # Without --replicas the table's replicas stay.
    changes, _ = await service.approve(
        [recommendation("app", Resources(0.3, None, None, None), replicas=9)], replicas=False
    )
    assert changes[0].after is not None and changes[0].after.replicas == 3
    with pytest.raises(ConfigError, match="choose one with --strategy"):
        await service.approve([*recs, recommendation("app", Resources(0.5), strategy="vpa")])


def test_quantities_written_from_recommendations_are_exact() -> None:
    assert memory_quantity(256 * 2**20) == "256Mi" and memory_quantity(2 * 2**30) == "2Gi"
    assert memory_quantity(1000) == "1000"
    spec = container_from_resources("app", Resources(1.0, 2.5, None, 3 * 2**30))
    assert spec == ContainerSpec("app", {"cpu": "1", "memory": None}, {"cpu": "2500m", "memory": "3Gi"})


async def test_approve_reads_the_stored_recommendations(service: ControlService, store: Store) -> None:
    day = date(2026, 11, 22)
    window = windows_of_day(day, [PeakWindow.parse("10:00-11:30")], UTC)[0]
    await store.save_window(CLUSTER, window, WindowUsage([UsageProfile(WEB, "app", day, window.name)]))
    await store.save_recommendations([recommendation("app", Resources(0.25, None, 256 * 2**20, 512 * 2**20))])
    stored = await store.recommendations(cluster=CLUSTER, strategy="kubecap")
    changes, _ = await service.approve(stored)
    applied = await service.apply(changes, action="control.approve", actor="alice", reason="approved")
    assert [str(c.ref) for c in applied] == [str(WEB)]
    spec = await service.spec(WEB)
    assert spec.replicas == 3 and spec.container("app") == ContainerSpec(
        "app", {"cpu": "250m", "memory": "256Mi"}, {"cpu": None, "memory": "512Mi"}
    )
    assert [e.action for e in await store.audit_events(AuditFilter(action="control.approve"))] == [
        "control.approve"
    ]
