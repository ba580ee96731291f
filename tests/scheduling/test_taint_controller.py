"""The auto-taint controller on the in-memory cluster: hysteresis, the share cap, foreign taints,
dry-run, leadership, audit (a real SQLite store) and notifications (a real HTTP endpoint)."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from prometheus_client import CollectorRegistry

from kubecap.cluster.port import ClusterConflict, Taint
from kubecap.domain.audit import AuditFilter, AuditResult
from kubecap.domain.notifications import Channel
from kubecap.ops.notify import Notifier
from kubecap.scheduling.load import Figure, LoadSnapshot, NodeLoad, ResourceLoad
from kubecap.scheduling.metrics import TaintMetrics
from kubecap.scheduling.settings import TaintSettings
from kubecap.scheduling.taints import TaintController
from kubecap.store import Store, upgrade_database
from kubecap.testing.cluster import InMemoryCluster

T0 = datetime(2024, 3, 5, 2, 0, tzinfo=UTC)
KEY = "kubecap.io/overloaded"
FOREIGN = Taint("team.example/dedicated", "NoSchedule", "db")
FAST = {"high_seconds": 120, "low_seconds": 300, "interval_seconds": 60, "hold_seconds": 0}


@dataclass
class World:
    """A cluster, a clock and the node load the controller sees."""

    cluster: InMemoryCluster
    now: datetime = T0
    cpu: dict[str, float | None] = field(default_factory=dict)

    def clock(self) -> datetime:
        return self.now

    def snapshot(self) -> LoadSnapshot:
        nodes = {}
        for name, value in self.cpu.items():
            if value is None:
                continue
            figure = Figure(value, self.now - timedelta(seconds=15))
            nodes[name] = NodeLoad(
                name, ResourceLoad(figure, figure, figure), ResourceLoad(Figure(0.2, figure.at))
            )
        return LoadSnapshot(taken_at=self.now, nodes=nodes)

    def controller(
        self,
        holder: str = "replica-a",
        audit: Store | None = None,
        notifier: Notifier | None = None,
        **settings: Any,
    ) -> tuple[TaintController, CollectorRegistry]:
        registry = CollectorRegistry()
        controller = TaintController(
            self.cluster,
            self.snapshot,
            TaintSettings(**{**FAST, **settings}),
            metrics=TaintMetrics(registry),
            holder=holder,
            clock=self.clock,
            audit=audit,
            notifier=notifier,
        )
        return controller, registry

    def ours(self, node: str) -> list[Taint]:
        return [t for t in self.cluster.nodes[node].taints if t.key == KEY]


def _world(nodes: int = 4, **labels: dict[str, str]) -> World:
    cluster = InMemoryCluster(name="prod")
    world = World(cluster)
    cluster.clock = world.clock
    for i in range(nodes):
        name = f"node-{i}"
        cluster.add_node(name, labels={"node-pool": "general"}, taints=(FOREIGN,) if i == 0 else ())
        world.cpu[name] = 0.2
    for name, node_labels in labels.items():
        cluster.add_node(name, labels=node_labels)
        world.cpu[name] = 0.2
    return world


async def _rounds(world: World, controller: TaintController, minutes: int) -> None:
    for _ in range(minutes):
        await controller.run_once()
        world.now += timedelta(minutes=1)


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_hysteresis_through_the_controller_and_foreign_taints_untouched() -> None:
    world = _world()
    controller, registry = world.controller(max_share=0.5)
    world.cpu["node-0"] = 0.95
    await _rounds(world, controller, 2)  # hot at minutes 0 and 1: not yet 2 minutes
    assert world.ours("node-0") == []
    await _rounds(world, controller, 1)
    assert world.ours("node-0") == [Taint(KEY, "PreferNoSchedule")]
    assert FOREIGN in world.cluster.nodes["node-0"].taints
    world.cpu["node-0"] = 0.75  # between the marks: stays
    await _rounds(world, controller, 30)
    assert world.ours("node-0") == [Taint(KEY, "PreferNoSchedule")]
    world.cpu["node-0"] = 0.3
    await _rounds(world, controller, 6)  # cool for 5 minutes at the sixth look
    assert world.ours("node-0") == []
    assert world.cluster.nodes["node-0"].taints == (FOREIGN,)  # exactly as it was, value included
    assert [c.operation for c in world.cluster.calls] == ["add_taint", "remove_taint"]
    assert _value(registry, "kubecap_taint_changes_total", action="add", result="ok") == 1
    assert _value(registry, "kubecap_taint_changes_total", action="remove", result="ok") == 1


async def test_a_seed_script_rewriting_the_node_keeps_its_taints_and_gets_ours_back() -> None:
    world = _world()
    controller, _ = world.controller(max_share=0.5)
    world.cpu["node-1"] = 0.95
    await _rounds(world, controller, 3)
    assert world.ours("node-1")
    # Someone replaces the whole node object with their own taints (dropping ours).
    seeded = Taint("seed.example/maintenance", "PreferNoSchedule")
    node = world.cluster.nodes["node-1"]
    world.cluster.nodes["node-1"] = type(node)(
        node.name, node.allocatable, node.labels, (seeded,), node.conditions, node.annotations
    )
    await _rounds(world, controller, 1)
    assert world.cluster.nodes["node-1"].taints == (seeded, Taint(KEY, "PreferNoSchedule"))


async def test_never_more_than_the_share_of_a_pool() -> None:
    world = _world(nodes=10)
    controller, registry = world.controller(max_share=0.3)
    for i in range(10):
        world.cpu[f"node-{i}"] = 0.90 + i / 100
    await _rounds(world, controller, 3)
    tainted = sorted(n for n in world.cluster.nodes if world.ours(n))
    assert tainted == ["node-7", "node-8", "node-9"]
    assert _value(registry, "kubecap_taint_nodes_tainted", pool="node-pool=general") == 3
    assert _value(registry, "kubecap_taint_deferred_total", reason="share_cap") == 7


async def test_control_plane_nodes_are_excluded_unless_included() -> None:
    world = _world(nodes=2, **{"cp-1": {"node-role.kubernetes.io/control-plane": ""}})
    world.cpu["cp-1"] = 0.99
    controller, _ = world.controller(max_share=1.0)
    await _rounds(world, controller, 5)
    assert world.ours("cp-1") == []
    included, _ = world.controller(holder="replica-a", max_share=1.0, include_control_plane=True)
    await _rounds(world, included, 3)
    assert world.ours("cp-1") == [Taint(KEY, "PreferNoSchedule")]


async def test_dry_run_changes_nothing_and_announces_each_change_once() -> None:
    world = _world()
    controller, registry = world.controller(max_share=0.5, dry_run=True)
    world.cpu["node-2"] = 0.95
    await _rounds(world, controller, 10)
    assert world.cluster.calls == []
    assert world.ours("node-2") == []
    assert _value(registry, "kubecap_taint_changes_total", action="add", result="dry_run") == 1
    world.cpu["node-2"] = 0.1
    await _rounds(world, controller, 10)
    assert _value(registry, "kubecap_taint_changes_total", action="remove", result="dry_run") == 1
    assert world.cluster.calls == []


async def test_only_the_leader_acts_and_a_released_lease_passes_on() -> None:
    world = _world()
    a, registry_a = world.controller(holder="replica-a", max_share=0.5)
    b, registry_b = world.controller(holder="replica-b", max_share=0.5)
    world.cpu["node-3"] = 0.95
    for _ in range(4):
        report_a = await a.run_once()
        report_b = await b.run_once()
        world.now += timedelta(minutes=1)
    assert report_a.leader and not report_b.leader
    assert _value(registry_a, "kubecap_taint_controller_leader") == 1
    assert _value(registry_b, "kubecap_taint_controller_leader") == 0
    assert [c.operation for c in world.cluster.calls] == ["add_taint"]
    await a.close()
    assert (await b.run_once()).leader


async def test_a_failing_lease_call_means_not_leading() -> None:
    world = _world()
    controller, registry = world.controller()
    world.cluster.fail_next("acquire_lease", ClusterConflict("lease kept changing"))
    report = await controller.run_once()
    assert not report.leader and report.failures == {"lease": "lease kept changing"}
    assert _value(registry, "kubecap_taint_controller_step_failures_total", step="lease") == 1


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Hook.received.append(json.loads(body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def hook() -> Iterator[str]:
    _Hook.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"json://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    url = f"sqlite:///{tmp_path / 'kubecap.db'}"
    upgrade_database(url)
    async with await Store.open(url) as opened:
        yield opened


async def test_changes_are_audited_and_notified(store: Store, hook: str) -> None:
    world = _world()
    notifier = Notifier([Channel("ops", (hook,))], attempts=1)
    controller, _ = world.controller(max_share=0.5, audit=store, notifier=notifier)
    world.cpu["node-0"] = 0.95
    await _rounds(world, controller, 3)
    world.cpu["node-0"] = 0.1
    await _rounds(world, controller, 6)
    events = await store.audit_events(AuditFilter(cluster="prod"))
    changes = [e for e in events if e.action.startswith("node.")]
    assert [(e.action, e.target, e.result) for e in changes] == [
        ("node.taint", "node/node-0", AuditResult.OK),
        ("node.untaint", "node/node-0", AuditResult.OK),
    ]
    taint = changes[0]
    assert taint.actor == "taint-controller/replica-a"
    assert taint.before == {"taints": []} and taint.after == {"taints": [f"{KEY}:PreferNoSchedule"]}
    assert "CPU 0.95" in taint.message and "at or above 0.85 for 2 min" in taint.message
    assert [e.result for e in events if e.action == "notify"] == [AuditResult.OK, AuditResult.OK]
    assert [m["title"] for m in _Hook.received] == [
        f"[kubecap/prod] node node-0 tainted {KEY}:PreferNoSchedule",
        f"[kubecap/prod] node node-0 untainted {KEY}:PreferNoSchedule",
    ]


async def test_a_failed_change_is_audited_as_failed_and_the_round_goes_on(store: Store) -> None:
    world = _world()
    controller, registry = world.controller(max_share=0.5, audit=store)
    world.cpu["node-1"] = world.cpu["node-2"] = 0.95
    world.cluster.fail_next("add_taint", ClusterConflict("node node-1 kept changing"))
    await _rounds(world, controller, 3)
    assert world.ours("node-2") and not world.ours("node-1")
    failed = await store.audit_events(AuditFilter(result=AuditResult.FAILED))
    assert [e.target for e in failed] == ["node/node-1"]
    assert "the change failed: node node-1 kept changing" in failed[0].message
    assert _value(registry, "kubecap_taint_changes_total", action="add", result="failed") == 1
    await _rounds(world, controller, 1)  # still hot: tried again next round
    assert world.ours("node-1")


async def test_a_changed_effect_setting_moves_our_taint() -> None:
    world = _world()
    world.cluster.nodes["node-1"] = world.cluster.nodes["node-1"].__class__(
        "node-1", {"cpu": "4"}, {"node-pool": "general"}, (Taint(KEY, "NoSchedule"), FOREIGN), (), {}
    )
    world.cpu["node-1"] = 0.9
    controller, _ = world.controller(max_share=0.5, effect="PreferNoSchedule")
    await _rounds(world, controller, 1)
    assert world.cluster.nodes["node-1"].taints == (FOREIGN, Taint(KEY, "PreferNoSchedule"))


async def test_crane_annotations_are_written_in_cranes_format() -> None:
    world = _world(nodes=1)
    world.cpu["node-0"] = 0.4321
    controller, _ = world.controller(crane_annotations=True, crane_timezone="Asia/Shanghai")
    await _rounds(world, controller, 1)
    annotations = world.cluster.nodes["node-0"].annotations
    assert (
        annotations["cpu_usage_avg_5m"] == "0.43210,2024-03-05T10:00:00Z"
    )  # local time, literal Z, as crane reads
    assert annotations["mem_usage_avg_5m"] == "0.20000,2024-03-05T10:00:00Z"
    assert "mem_usage_max_avg_1d" not in annotations  # no figure, no annotation (crane then ignores it)
    assert annotations["node_hot_value"] == "0,2024-03-05T10:00:00Z"
    await _rounds(world, controller, 1)  # crane syncs these every 3 minutes, so do we
    assert len(world.cluster.calls_for("annotate_node")) == 1
