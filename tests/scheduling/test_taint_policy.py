"""The taint policy as a pure function: hysteresis, the share cap per pool, eligibility, missing data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from kubecap.errors import ConfigError
from kubecap.scheduling.settings import TaintSettings, checked
from kubecap.scheduling.taint_policy import (
    Action,
    TaintChange,
    TaintObservation,
    TaintPlan,
    TaintPolicy,
    Timers,
    is_control_plane,
    plan,
    pool_of,
)

T0 = datetime(2024, 3, 5, tzinfo=UTC)
POLICY = TaintPolicy(
    high=0.85,
    low=0.65,
    high_for=timedelta(minutes=10),
    low_for=timedelta(minutes=15),
    max_share=0.5,
    hold=timedelta(0),
)


class Walk:
    """One node observed minute by minute; records the changes the policy asks for."""

    def __init__(self, policy: TaintPolicy = POLICY) -> None:
        self.policy = policy
        self.timers: dict[str, Timers] = {}
        self.tainted = False
        self.now = T0
        self.changes: list[tuple[int, Action]] = []

    def run(self, cpu_by_minute: Sequence[float | None]) -> None:
        for value in cpu_by_minute:
            seen = TaintObservation(
                "n",
                cpu=value,
                memory=0.1 if value is not None else None,
                effects=(self.policy.effect,) if self.tainted else (),
            )
            # A second, cool node keeps the pool big enough for one taint under a 50 % cap.
            result = plan(
                [seen, TaintObservation("other", cpu=0.1, memory=0.1)], self.timers, self.policy, self.now
            )
            self.timers = dict(result.timers)
            for change in result.changes:
                self.changes.append((int((self.now - T0).total_seconds() // 60), change.action))
                self.tainted = change.action is not Action.REMOVE
            self.now += timedelta(minutes=1)


def test_a_node_is_tainted_only_after_staying_above_the_high_mark() -> None:
    walk = Walk()
    walk.run([0.9] * 10)  # minutes 0..9: hot for 9 minutes at the last look
    assert walk.changes == []
    walk.run([0.9])  # minute 10: hot for 10 minutes
    assert walk.changes == [(10, Action.ADD)]


def test_a_dip_restarts_the_streak() -> None:
    walk = Walk()
    walk.run([0.9] * 9 + [0.8] + [0.9] * 10)  # hot again from minute 10: 9 minutes at minute 19
    assert walk.changes == []
    walk.run([0.9])
    assert walk.changes == [(20, Action.ADD)]


def test_between_the_marks_nothing_changes_and_removal_needs_a_cool_streak() -> None:
    walk = Walk()
    walk.run([0.9] * 11)  # tainted at minute 10
    walk.run([0.7] * 60)  # between the marks for an hour: stays tainted
    assert walk.changes == [(10, Action.ADD)]
    walk.run([0.5] * 14 + [0.7] + [0.5] * 15)  # a look above the low mark restarts the cool streak
    assert walk.changes == [(10, Action.ADD)]
    walk.run([0.5])  # cool since minute 86: 15 minutes at minute 101
    assert walk.changes == [(10, Action.ADD), (101, Action.REMOVE)]


def test_memory_counts_like_cpu() -> None:
    timers: dict[str, Timers] = {}
    changes: list[TaintChange] = []
    for minute in range(11):
        seen = TaintObservation("n", cpu=0.1, memory=0.95)
        result = plan([seen, TaintObservation("m", cpu=0.1)], timers, POLICY, T0 + timedelta(minutes=minute))
        timers = dict(result.timers)
        changes += result.changes
    assert [(c.node, c.action) for c in changes] == [("n", Action.ADD)]
    assert "memory 0.95: at or above 0.85 for 10 min" in changes[0].reason


def test_a_noisy_node_never_flaps() -> None:
    # Load oscillating across the high mark and between the marks, minute by minute, for a day.
    pattern = [0.9, 0.9, 0.8, 0.9, 0.7, 0.95, 0.6, 0.9]
    walk = Walk()
    walk.run(pattern * 180)
    assert walk.changes == []


def test_missing_data_restarts_timers_and_eventually_removes_our_taint() -> None:
    walk = Walk()
    walk.run([0.9] * 11)
    walk.run([None] * 15)  # without data since minute 11
    assert walk.changes == [(10, Action.ADD)]
    walk.run([None])  # 15 minutes without fresh data
    assert walk.changes == [(10, Action.ADD), (26, Action.REMOVE)]
    walk.run([0.9] * 5 + [None] + [0.9] * 9)
    assert len(walk.changes) == 2  # the gap restarted the hot streak


def test_the_dwell_time_keeps_a_change_for_at_least_hold() -> None:
    walk = Walk(replace(POLICY, hold=timedelta(minutes=30)))
    walk.run([0.9] * 11 + [0.3] * 30)  # tainted at 10; cool from 11, but held until 40
    assert walk.changes == [(10, Action.ADD), (40, Action.REMOVE)]
    walk.run([0.95] * 40)  # hot again from 41: held until 70
    assert walk.changes[2:] == [(70, Action.ADD)]


def test_a_taint_removed_by_someone_else_comes_back_without_waiting() -> None:
    policy = replace(POLICY, hold=timedelta(minutes=30))
    hot = TaintObservation("n", cpu=0.95)
    first = plan(
        [hot, TaintObservation("m", cpu=0.1)], {"n": Timers(hot_since=T0 - timedelta(hours=1))}, policy, T0
    )
    assert [c.action for c in first.changes] == [Action.ADD]
    # A minute later the node was rewritten without our taint: adding it again undoes nothing of ours.
    again = plan([hot, TaintObservation("m", cpu=0.1)], first.timers, policy, T0 + timedelta(minutes=1))
    assert [c.action for c in again.changes] == [Action.ADD]


def _pool(n: int, pool: str, hot: int, tainted: int = 0) -> list[TaintObservation]:
    out = []
    for i in range(n):
        out.append(
            TaintObservation(
                f"{pool}-{i}",
                pool=pool,
                cpu=0.90 + i / 1000 if i < hot else 0.2,
                memory=0.1,
                effects=("PreferNoSchedule",) if i >= n - tainted else (),
            )
        )
    return out


def _hot_for_long(observations: list[TaintObservation]) -> dict[str, Timers]:
    return {o.node: Timers(hot_since=T0 - timedelta(hours=1)) for o in observations}


def test_the_share_cap_keeps_most_of_a_pool_untainted_and_the_hottest_win() -> None:
    policy = TaintPolicy(max_share=0.3)
    nodes = _pool(10, "a", hot=8)
    result: TaintPlan = plan(nodes, _hot_for_long(nodes), policy, T0)
    added = sorted(c.node for c in result.changes if c.action is Action.ADD)
    assert added == ["a-5", "a-6", "a-7"]  # the three hottest of eight
    assert [n for n, _ in result.deferred] == ["a-4", "a-3", "a-2", "a-1", "a-0"]
    assert result.deferred[0][1] == "share cap: 3 of 10 nodes of pool a are tainted (at most 30%)"
    assert result.tainted == {"a": 3}


def test_taints_already_there_count_and_a_removal_frees_a_slot() -> None:
    policy = TaintPolicy(max_share=0.3, low_for=timedelta(0))
    nodes = _pool(10, "a", hot=2, tainted=3)  # a-7, a-8, a-9 tainted and cool now
    timers = {**_hot_for_long(nodes), **{n.node: Timers(cool_since=T0) for n in nodes if n.tainted}}
    result = plan(nodes, timers, policy, T0)
    assert sorted(c.node for c in result.changes if c.action is Action.REMOVE) == ["a-7", "a-8", "a-9"]
    assert sorted(c.node for c in result.changes if c.action is Action.ADD) == ["a-0", "a-1"]


def test_each_pool_has_its_own_cap_and_small_pools_are_never_tainted() -> None:
    policy = TaintPolicy(max_share=0.3)
    nodes = _pool(10, "big", hot=10) + _pool(3, "small", hot=3)
    result = plan(nodes, _hot_for_long(nodes), policy, T0)
    assert result.tainted == {"big": 3}
    assert {n for n, _ in result.deferred if n.startswith("small")} == {"small-0", "small-1", "small-2"}


def test_ineligible_nodes_are_never_changed_nor_counted() -> None:
    policy = TaintPolicy(max_share=0.5)
    nodes = [
        TaintObservation("cp", cpu=0.99, eligible=False),
        TaintObservation("cp-tainted", cpu=0.1, effects=("PreferNoSchedule",), eligible=False),
        TaintObservation("w1", cpu=0.99),
        TaintObservation("w2", cpu=0.1),
    ]
    result = plan(nodes, _hot_for_long(nodes), policy, T0)
    assert [(c.node, c.action) for c in result.changes] == [("w1", Action.ADD)]
    assert result.pool_sizes == {"": 2}


def test_our_taint_with_another_effect_is_updated() -> None:
    nodes = [TaintObservation("n", cpu=0.9, effects=("NoSchedule",)), TaintObservation("m", cpu=0.1)]
    result = plan(nodes, {}, TaintPolicy(effect="PreferNoSchedule"), T0)
    assert [(c.node, c.action) for c in result.changes] == [("n", Action.UPDATE)]


def test_pools_and_control_plane_from_labels() -> None:
    labels = {"eks.amazonaws.com/nodegroup": "general", "node.kubernetes.io/instance-type": "m6i.xlarge"}
    assert pool_of(labels, TaintSettings().pool_labels) == "eks.amazonaws.com/nodegroup=general"
    assert pool_of({}, TaintSettings().pool_labels) == ""
    assert is_control_plane({"node-role.kubernetes.io/control-plane": ""})
    assert not is_control_plane({"node-role.kubernetes.io/worker": ""})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"low": 0.9, "high": 0.8}, "the low mark 0.9 must be below the high mark 0.8"),
        ({"low": 0.8, "high": 0.8}, "the low mark 0.8 must be below the high mark 0.8"),
        ({"max_share": 1.5}, "max_share: max_share 1.5 is above 1"),
        ({"max_share": -0.1}, "max_share: Input should be greater than or equal to 0"),
        ({"effect": "NoExecute"}, "effect: Input should be 'NoSchedule' or 'PreferNoSchedule'"),
        ({"key": "not a key"}, "key: taint key 'not a key' is not a valid Kubernetes taint key"),
        ({"crane_timezone": "Mars/Olympus"}, "crane_timezone 'Mars/Olympus' is not an IANA time zone"),
    ],
)
def test_invalid_taint_settings_are_refused_with_one_sentence(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        checked(TaintSettings, **values)
    assert message in str(caught.value)


def test_the_policy_guards_direct_construction_too() -> None:
    with pytest.raises(ValueError, match="low mark"):
        TaintPolicy(high=0.5, low=0.6)
    with pytest.raises(ValueError, match="max_share"):
        TaintPolicy(max_share=2)
