"""Scale and apply through the control table (managed workloads) and the temporary-replicas
annotation, on a real store (SQLite and PostgreSQL), the real control service behind the
composition root's adapter, and the in-memory cluster."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from kubecap.cluster.port import ClusterUnreachable, Workload
from kubecap.control.service import ControlService
from kubecap.domain.audit import AuditFilter
from kubecap.domain.control import TEMPORARY_REPLICAS, ContainerSpec, ReplicasMode, parse_temporary_replicas
from kubecap.domain.resources import ContainerResources
from kubecap.domain.tasks import Operation, OperationSpec, RunState
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.errors import ConfigError
from kubecap.ops.execute import REPLICAS_BEFORE, temporary_annotation
from kubecap.ops.runner import RunnerOptions, TaskRunner
from kubecap.ops.service import TaskService
from kubecap.store import Store
from kubecap.testing.cluster import InMemoryCluster
from kubecap.wiring import OpsControlTable
from tests.ops.conftest import START, Clock

WEB = WorkloadRef("c", "shop", WorkloadKind.DEPLOYMENT, "web")
UNTIL = START + timedelta(hours=2)


@pytest.fixture
def table(store: Store) -> OpsControlTable:
    return OpsControlTable(store)


@pytest.fixture
def tasks(store: Store, clock: Clock, table: OpsControlTable) -> TaskService:
    return TaskService(store, clock=clock, control=table)


@pytest.fixture
def ops_runner(store: Store, cluster: InMemoryCluster, clock: Clock, table: OpsControlTable) -> TaskRunner:
    return TaskRunner(store, lambda _name: cluster, control=table, runner_id="runner-a", clock=clock)


async def manage(store: Store, replicas: int = 5, **kwargs: object) -> ControlService:
    control = ControlService(store)
    await control.set(WEB, actor="admin", reason="onboarding", replicas=replicas, **kwargs)  # type: ignore[arg-type]
    return control


def scale(replicas: int, until: datetime | None = None) -> OperationSpec:
    return OperationSpec(Operation.SCALE, WEB, replicas=replicas, revert_at=until)


def override_of(cluster: InMemoryCluster) -> str | None:
    return cluster.workload_annotations_.get(WEB, {}).get(TEMPORARY_REPLICAS)


async def test_a_managed_scale_is_a_new_spec_version_then_a_live_scale(
    store: Store, tasks: TaskService, ops_runner: TaskRunner, cluster: InMemoryCluster
) -> None:
    control = await manage(store, 5)
    task = await tasks.submit(scale(2), actor="alice")
    runs = await ops_runner.run_task(task.id)
    assert [r.state for r in runs] == [RunState.SUCCEEDED]
    assert runs[0].result == {"replicas_before": 5, "replicas": 2, "control_table": "updated"}
    spec = await control.spec(WEB)
    assert (spec.replicas_mode, spec.replicas) == (ReplicasMode.FIXED, 2)
    newest = max(await control.history(WEB), key=lambda v: v.version)
    assert (newest.changed_by, newest.reason) == ("alice", f"task {task.id}: scale {WEB} to 2 replicas")
    assert (await cluster.get_workload(WEB)).replicas == 2  # the webhook now enforces what runs
    actions = [e.action for e in await store.audit_events(AuditFilter(target=str(WEB)))]
    assert sorted(actions) == ["control.set", "control.set", "scale", "task.add"]


async def test_an_unmanaged_scale_leaves_the_table_alone(
    store: Store, tasks: TaskService, ops_runner: TaskRunner, cluster: InMemoryCluster
) -> None:
    await tasks.submit(scale(3), actor="alice")
    runs = await ops_runner.run_once()
    assert runs[0].result == {"replicas_before": 5, "replicas": 3}
    assert await OpsControlTable(store).spec(WEB) is None
    assert (await cluster.get_workload(WEB)).replicas == 3


async def test_a_retried_managed_scale_adds_one_version_only(
    store: Store, tasks: TaskService, ops_runner: TaskRunner, cluster: InMemoryCluster, clock: Clock
) -> None:
    control = await manage(store, 5)
    cluster.fail_next("scale", ClusterUnreachable("cannot reach the apiserver of cluster 'c'"))
    await tasks.submit(scale(1), actor="alice")
    assert [r.state for r in await ops_runner.run_once()] == [RunState.RETRY]
    assert (await control.spec(WEB)).replicas == 1  # the table first, so the webhook agrees
    clock.advance(timedelta(minutes=1))
    assert [r.state for r in await ops_runner.run_once()] == [RunState.SUCCEEDED]
    assert len(await control.history(WEB)) == 2  # onboarding + one scale, not one per attempt
    assert [c.argument for c in cluster.calls_for("scale")] == ["1"]


async def test_an_hpa_owned_workload_is_refused_at_submit_and_at_run_time(
    store: Store, tasks: TaskService, ops_runner: TaskRunner, cluster: InMemoryCluster, clock: Clock
) -> None:
    control = await manage(store, 5)
    cron = await tasks.submit(scale(0), actor="alice", cron="0 22 * * *")
    await control.set(WEB, actor="admin", replicas=None, mode=ReplicasMode.HPA)
    with pytest.raises(ConfigError, match="replicas mode hpa, so its HPA owns the replicas"):
        await tasks.submit(scale(2), actor="alice")
    with pytest.raises(ConfigError, match="does not honour a temporary scale"):
        await tasks.submit(scale(2, UNTIL), actor="alice")
    clock.now = datetime(2026, 11, 20, 22, 0, 1, tzinfo=UTC)
    runs = await ops_runner.run_once()
    assert [(r.task_id, r.state) for r in runs] == [(cron.id, RunState.FAILED)]
    assert "its HPA owns the replicas" in runs[0].message and "\n" not in runs[0].message
    assert cluster.calls == []


async def test_a_temporary_scale_sets_the_annotation_the_webhook_reads_then_the_table_applies_again(
    store: Store, tasks: TaskService, ops_runner: TaskRunner, cluster: InMemoryCluster, clock: Clock
) -> None:
    control = await manage(store, 5)
    await tasks.submit(scale(10, UNTIL), actor="alice")
    await ops_runner.run_once()
    raw = override_of(cluster)
    assert raw == temporary_annotation(10, UNTIL) == "10@2026-11-20T14:00:00Z"
    parsed = parse_temporary_replicas(raw)  # exactly what the webhook parses
    assert (parsed.replicas, parsed.until, parsed.active(START)) == (10, UNTIL, True)
    assert (await cluster.get_workload(WEB)).replicas == 10
    assert (await control.spec(WEB)).replicas == 5  # the table is not changed by a temporary scale
    await control.set(WEB, actor="admin", replicas=7)  # meanwhile the table moves on
    clock.now = UNTIL
    ended = await ops_runner.run_once()
    assert ended[0].result == {"replicas_before": 10, "replicas": 7, "from": "control table"}
    assert override_of(cluster) is None
    assert (await cluster.get_workload(WEB)).replicas == 7


async def test_an_unmanaged_temporary_scale_returns_to_the_replicas_before(
    tasks: TaskService, ops_runner: TaskRunner, cluster: InMemoryCluster, clock: Clock
) -> None:
    await tasks.submit(scale(9, UNTIL), actor="alice")
    await ops_runner.run_once()
    assert override_of(cluster) == "9@2026-11-20T14:00:00Z"
    clock.now = UNTIL + timedelta(seconds=5)  # a runner a little late
    ended = await ops_runner.run_once()
    assert ended[0].result["from"] == "replicas before the temporary scale"
    assert (await cluster.get_workload(WEB)).replicas == 5
    assert override_of(cluster) is None


async def test_a_permanent_scale_ends_an_override_and_its_end_task_then_does_nothing(
    tasks: TaskService, ops_runner: TaskRunner, cluster: InMemoryCluster, clock: Clock
) -> None:
    await tasks.submit(scale(9, UNTIL), actor="alice")
    await ops_runner.run_once()
    clock.advance(timedelta(minutes=30))
    await tasks.submit(scale(4), actor="bob")
    permanent = await ops_runner.run_once()
    assert permanent[0].result["ended_temporary_scale"] == "9@2026-11-20T14:00:00Z"
    assert override_of(cluster) is None
    clock.now = UNTIL
    ended = await ops_runner.run_once()
    assert ended[0].state is RunState.SUCCEEDED
    assert "nothing to do: no temporary scale is in place" in ended[0].message
    assert (await cluster.get_workload(WEB)).replicas == 4  # bob's scale stands


async def test_an_end_task_leaves_a_later_override_alone(
    tasks: TaskService, ops_runner: TaskRunner, cluster: InMemoryCluster, clock: Clock
) -> None:
    await tasks.submit(scale(9, UNTIL), actor="alice")
    await ops_runner.run_once()
    later = UNTIL + timedelta(hours=1)
    await tasks.submit(scale(12, later), actor="bob")
    await ops_runner.run_once()
    clock.now = UNTIL
    first_end = await ops_runner.run_once()
    assert "a later temporary scale" in first_end[0].message
    assert override_of(cluster) == temporary_annotation(12, later)
    assert (await cluster.get_workload(WEB)).replicas == 12
    clock.now = later
    await ops_runner.run_once()
    assert override_of(cluster) is None


async def test_apply_to_a_managed_workload_updates_the_spec_then_the_workload(
    store: Store, tasks: TaskService, ops_runner: TaskRunner, cluster: InMemoryCluster
) -> None:
    control = await manage(store, 5, container=ContainerSpec("app", {"cpu": "1"}, {"cpu": "2"}))
    wanted = ContainerResources("app", {"cpu": "300m", "memory": "256Mi"}, {"memory": "512Mi"})
    source = "recommendation:vpa@2026-11-20T00:00:00+00:00"
    task = await tasks.submit(
        OperationSpec(Operation.APPLY, WEB, resources=(wanted,), source=source), actor="alice"
    )
    runs = await ops_runner.run_task(task.id)
    assert runs[0].result == {"containers": ["app"], "control_table": "updated"}
    spec = await control.spec(WEB)
    assert spec.source == source
    assert spec.container("app") == ContainerSpec(
        "app", {"cpu": "300m", "memory": "256Mi"}, {"cpu": None, "memory": "512Mi"}
    )
    assert (spec.replicas_mode, spec.replicas) == (ReplicasMode.FIXED, 5)  # replicas untouched
    assert (await cluster.get_workload(WEB)).container("app") == wanted


async def test_apply_of_a_missing_container_to_a_managed_workload_changes_nothing(
    store: Store, tasks: TaskService, ops_runner: TaskRunner, cluster: InMemoryCluster
) -> None:
    control = await manage(store, 5)
    await tasks.submit(
        OperationSpec(Operation.APPLY, WEB, resources=(ContainerResources("nope", {"cpu": "1"}),)),
        actor="alice",
    )
    runs = await ops_runner.run_once()
    assert runs[0].state is RunState.FAILED
    assert "has no container 'nope' (it has app)" in runs[0].message
    assert (await control.spec(WEB)).containers == ()
    assert cluster.calls_for("patch_resources") == []


async def test_apply_to_an_unmanaged_workload_patches_it_live_only(
    store: Store, tasks: TaskService, ops_runner: TaskRunner, cluster: InMemoryCluster
) -> None:
    wanted = ContainerResources("app", {"cpu": "200m"}, {})
    await tasks.submit(OperationSpec(Operation.APPLY, WEB, resources=(wanted,)), actor="alice")
    assert [r.state for r in await ops_runner.run_once()] == [RunState.SUCCEEDED]
    assert await OpsControlTable(store).spec(WEB) is None
    assert (await cluster.get_workload(WEB)).container("app") == wanted


class WebhookBehind(InMemoryCluster):
    """The in-memory cluster behind an admission webhook whose copy of the table is ``behind``
    reviews late: it turns that many scales back to ``stale`` replicas, as the real webhook does
    until its next refresh (the fake apiserver has no admission chain to run the real one in)."""

    behind: int = 0
    stale: int = 0

    async def scale(self, ref: WorkloadRef, replicas: int) -> int:
        before = await super().scale(ref, replicas)
        if self.behind > 0:
            self.behind -= 1
            self.workloads[ref] = replace(self.workloads[ref], replicas=self.stale)
        return before

    async def patch_resources(self, ref: WorkloadRef, resources: tuple[ContainerResources, ...]) -> Workload:
        before = await super().patch_resources(ref, resources)
        if self.behind > 0:
            self.behind -= 1
            self.workloads[ref] = replace(self.workloads[ref], containers=before.containers)
        return before


@pytest.fixture
def behind() -> WebhookBehind:
    memory = WebhookBehind(name="c")
    memory.add_workload("shop", "web", replicas=5)
    return memory


def settling_runner(
    store: Store, cluster: InMemoryCluster, clock: Clock, table: OpsControlTable
) -> TaskRunner:
    options = RunnerOptions(settle_s=(0.0, 0.0, 0.0))
    return TaskRunner(store, lambda _name: cluster, control=table, clock=clock, options=options)


async def test_a_managed_scale_is_made_again_until_the_webhook_has_the_new_table(
    store: Store, tasks: TaskService, behind: WebhookBehind, clock: Clock, table: OpsControlTable
) -> None:
    await manage(store, 5)
    behind.behind, behind.stale = 2, 5
    await tasks.submit(scale(2), actor="alice")
    runs = await settling_runner(store, behind, clock, table).run_once()
    assert [r.state for r in runs] == [RunState.SUCCEEDED]
    assert [c.argument for c in behind.calls_for("scale")] == ["2", "2", "2"]
    assert (await behind.get_workload(WEB)).replicas == 2


async def test_a_webhook_that_never_agrees_makes_the_run_retry(
    store: Store, tasks: TaskService, behind: WebhookBehind, clock: Clock, table: OpsControlTable
) -> None:
    await manage(store, 5)
    behind.behind, behind.stale = 100, 5
    await tasks.submit(scale(2), actor="alice")
    runs = await settling_runner(store, behind, clock, table).run_once()
    assert [r.state for r in runs] == [RunState.RETRY]
    assert "is at 5 replicas after kubecap scaled it to 2" in runs[0].message
    assert "not loaded the new control table yet" in runs[0].message


async def test_an_unmanaged_scale_is_not_read_back(
    tasks: TaskService, behind: WebhookBehind, clock: Clock, store: Store, table: OpsControlTable
) -> None:
    behind.behind, behind.stale = 100, 5  # e.g. an HPA of its own: not kubecap's to fight
    await tasks.submit(scale(2), actor="alice")
    runs = await settling_runner(store, behind, clock, table).run_once()
    assert [r.state for r in runs] == [RunState.SUCCEEDED]
    assert len(behind.calls_for("scale")) == 1


async def test_applied_resources_are_made_again_until_the_webhook_agrees(
    store: Store, tasks: TaskService, behind: WebhookBehind, clock: Clock, table: OpsControlTable
) -> None:
    await manage(store, 5)
    behind.behind = 1
    wanted = ContainerResources("app", {"cpu": "0.5"}, {"memory": "1Gi"})
    await tasks.submit(OperationSpec(Operation.APPLY, WEB, resources=(wanted,)), actor="alice")
    runs = await settling_runner(store, behind, clock, table).run_once()
    assert [r.state for r in runs] == [RunState.SUCCEEDED]
    assert len(behind.calls_for("patch_resources")) == 2
    assert (await behind.get_workload(WEB)).container("app") == wanted


class WebhookHonoursAnnotation(InMemoryCluster):
    """The in-memory cluster behind a webhook that applies kubecap.io/temporary-replicas when the
    annotation is written (an update that changes it counts as a replicas change)."""

    async def set_workload_annotations(self, ref: WorkloadRef, annotations: dict[str, str | None]) -> None:
        await super().set_workload_annotations(ref, annotations)
        raw = annotations.get(TEMPORARY_REPLICAS)
        if raw is not None:
            self.workloads[ref] = replace(
                self.workloads[ref], replicas=parse_temporary_replicas(raw).replicas
            )


async def test_a_temporary_scale_the_annotation_already_applied_sends_no_scale_request(
    store: Store, tasks: TaskService, clock: Clock, table: OpsControlTable
) -> None:
    cluster = WebhookHonoursAnnotation(name="c")
    cluster.add_workload("shop", "web", replicas=5)
    await manage(store, 5)
    await tasks.submit(scale(10, UNTIL), actor="alice")
    runs = await settling_runner(store, cluster, clock, table).run_once()
    assert runs[0].result["replicas_before"] == 5
    assert (await cluster.get_workload(WEB)).replicas == 10
    assert cluster.calls_for("scale") == []  # a webhook not reading annotations on scale could undo one


async def test_nested_temporary_scales_of_an_unmanaged_workload_return_to_the_replicas_before_both(
    tasks: TaskService, ops_runner: TaskRunner, cluster: InMemoryCluster, clock: Clock
) -> None:
    assert (await cluster.get_workload(WEB)).replicas == 5
    await tasks.submit(scale(9, UNTIL), actor="alice")
    await ops_runner.run_once()
    later = UNTIL + timedelta(hours=1)
    await tasks.submit(scale(12, later), actor="bob")  # on top of alice's, which is still in place
    await ops_runner.run_once()
    assert cluster.workload_annotations_[WEB][REPLICAS_BEFORE] == "5"
    clock.now = UNTIL
    first_end = await ops_runner.run_once()
    assert "a later temporary scale" in first_end[0].message
    assert (await cluster.get_workload(WEB)).replicas == 12
    clock.now = later
    ended = await ops_runner.run_once()
    assert ended[0].result["replicas"] == 5, "back to the replicas before both, not to alice's 9"
    assert (await cluster.get_workload(WEB)).replicas == 5
    assert override_of(cluster) is None and REPLICAS_BEFORE not in cluster.workload_annotations_.get(WEB, {})
    await tasks.submit(scale(7, later + timedelta(hours=2)), actor="carol")  # a new one starts afresh
    await ops_runner.run_once()
    assert cluster.workload_annotations_[WEB][REPLICAS_BEFORE] == "5"


async def test_a_permanent_scale_also_forgets_the_replicas_before(
    tasks: TaskService, ops_runner: TaskRunner, cluster: InMemoryCluster
) -> None:
    await tasks.submit(scale(9, UNTIL), actor="alice")
    await ops_runner.run_once()
    await tasks.submit(scale(4), actor="bob")
    await ops_runner.run_once()
    assert REPLICAS_BEFORE not in cluster.workload_annotations_.get(WEB, {})
    await tasks.submit(scale(8, UNTIL + timedelta(hours=1)), actor="carol")
    await ops_runner.run_once()
    assert cluster.workload_annotations_[WEB][REPLICAS_BEFORE] == "4"
