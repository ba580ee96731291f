"""The extender's policy as a pure function: Crane's defaults and kubecap's improvements."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from kubecap.scheduling.load import Figure, LoadSnapshot, NodeLoad, RecentBinding, ResourceLoad
from kubecap.scheduling.pods import PodInfo
from kubecap.scheduling.policy import LoadPolicy, assess, filter_nodes, hot_value, score_nodes
from kubecap.scheduling.settings import ExtenderSettings, HotValueRule, NodeLoadSettings

NOW = datetime(2024, 3, 5, 2, 0, tzinfo=UTC)
GI = 2**30
POD = PodInfo("shop", "web-1", cpu_request=0.5, memory_request=GI)
TINY = PodInfo("shop", "tiny", cpu_request=0.001, memory_request=1.0)
DAEMON = PodInfo("monitoring", "exporter-1", daemonset=True)


def resource(
    avg: float | None, hour: float | None = None, day: float | None = None, age_s: float = 30
) -> ResourceLoad:
    at = NOW - timedelta(seconds=age_s)

    def fig(value: float | None) -> Figure | None:
        return None if value is None else Figure(value, at)

    return ResourceLoad(
        fig(avg), fig(hour if hour is not None else avg), fig(day if day is not None else avg)
    )


def node(
    name: str, cpu: ResourceLoad, memory: ResourceLoad | None = None, cores: float | None = 4.0
) -> NodeLoad:
    return NodeLoad(
        name, cpu, memory or resource(0.1), cpu_cores=cores, memory_bytes=16 * GI if cores else None
    )


def snapshot(*nodes: NodeLoad, recent: dict[str, tuple[RecentBinding, ...]] | None = None) -> LoadSnapshot:
    return LoadSnapshot(taken_at=NOW, nodes={n.node: n for n in nodes}, recent=recent or {})


def bindings(node_name: str, *ages_s: float, cpu: float = 0.0) -> tuple[RecentBinding, ...]:
    return tuple(
        RecentBinding(node_name, f"shop/p{i}", NOW - timedelta(seconds=a), cpu, 0.0)
        for i, a in enumerate(ages_s)
    )


POLICY = LoadPolicy()


@pytest.mark.parametrize(
    ("cpu", "memory", "reason"),
    [
        (resource(0.66, hour=0.70), resource(0.1), "cpu avg_5m 0.66 > 0.65"),
        (resource(0.60, hour=0.76), resource(0.1), "cpu max_1h 0.76 > 0.75"),
        (resource(0.10), resource(0.70, hour=0.70), "memory avg_5m 0.70 > 0.65"),
        (resource(0.10), resource(0.50, hour=0.80), "memory max_1h 0.80 > 0.75"),
    ],
)
def test_cranes_marks_filter_a_node_out(cpu: ResourceLoad, memory: ResourceLoad, reason: str) -> None:
    view = assess(snapshot(node("hot", cpu, memory), node("cool", resource(0.2))), POLICY, NOW)
    outcome = filter_nodes(TINY, ["hot", "cool"], view)
    assert outcome.passed == ("cool",)
    assert outcome.failed == {"hot": f"kubecap: node is loaded: {reason}"}


def test_at_the_marks_a_node_still_passes() -> None:
    view = assess(snapshot(node("edge", resource(0.65, hour=0.75), resource(0.65, hour=0.75))), POLICY, NOW)
    assert filter_nodes(TINY, ["edge"], view).passed == ("edge",)


def test_score_is_cranes_weighted_mean_of_free_shares() -> None:
    # cpu 0.2 / 0.4 / 0.6 and memory 0.1 everywhere, no capacity known (the pod adds nothing):
    # (0.2·0.8 + 0.3·0.6 + 0.5·0.4 + 0.9·(0.2 + 0.3 + 0.5)) / 2 = 0.72 → 7.2 → 7
    n = node("a", resource(0.2, hour=0.4, day=0.6), resource(0.1), cores=None)
    view = assess(snapshot(n), POLICY, NOW)
    assert score_nodes(POD, ["a"], view).scores == (("a", 7),)


def test_the_pod_counts_in_the_five_minute_figure_relative_to_capacity() -> None:
    small = node("small", resource(0.3), cores=2.0)
    big = node("big", resource(0.3), cores=32.0)
    heavy = PodInfo("shop", "heavy", cpu_request=1.6, cpu_limit=2.0, memory_request=GI)
    view = assess(snapshot(small, big), POLICY, NOW)
    scores = dict(score_nodes(heavy, ["small", "big"], view).scores)
    # 2 × 0.85 = 1.7 cores is 85 % of the small node: its 5-minute share drops to 0 (0.3 + 0.85, capped).
    assert scores["small"] < scores["big"]


def test_hot_value_is_taken_off_the_score() -> None:
    recent = {"busy": bindings("busy", 10, 20, 40, 100, 200)}  # 5 in 5 min → 1; 3 in 1 min → 1
    view = assess(snapshot(node("busy", resource(0.2)), node("calm", resource(0.2))), POLICY, NOW)
    calm_view = assess(
        snapshot(node("busy", resource(0.2)), node("calm", resource(0.2)), recent=recent), POLICY, NOW
    )
    before = dict(score_nodes(TINY, ["busy", "calm"], view).scores)
    after = dict(score_nodes(TINY, ["busy", "calm"], calm_view).scores)
    assert before["busy"] == before["calm"] == after["calm"]
    assert after["busy"] == before["busy"] - 2


def test_hot_value_counts_binds_per_window() -> None:
    rules = POLICY.hot_value
    assert hot_value(bindings("n", 10, 20, 30, 40), NOW, rules) == 2  # 4 in 1 min → 2; 4 in 5 min → 0
    assert hot_value(bindings("n", 70, 80, 90, 100, 110), NOW, rules) == 1
    assert hot_value(bindings("n", 400, 500), NOW, rules) == 0


def test_pods_bound_recently_count_with_their_estimate_until_metrics_show_them() -> None:
    recent = {"n": bindings("n", 60, cpu=0.4)}  # 0.4 cores on 4 cores: +0.10
    cool = node("cool", resource(0.1))
    view = assess(snapshot(node("n", resource(0.6, hour=0.6)), cool, recent=recent), POLICY, NOW)
    outcome = filter_nodes(TINY, ["n", "cool"], view)
    assert outcome.failed == {"n": "kubecap: node is loaded: cpu avg_5m 0.70 > 0.65"}
    old = {"n": bindings("n", 400, cpu=0.4)}  # older than the 5-minute window: in the metrics by now
    view = assess(snapshot(node("n", resource(0.6)), cool, recent=old), POLICY, NOW)
    assert filter_nodes(TINY, ["n", "cool"], view).passed == ("n", "cool")


def test_stale_and_missing_data_pass_with_a_neutral_score_and_are_named() -> None:
    # Every figure is older than its age limit (3 min, 15 min, 2 h).
    stale = node("stale", resource(0.95, age_s=3 * 3600), resource(0.1, age_s=3 * 3600))
    view = assess(snapshot(stale, node("ok", resource(0.9))), POLICY, NOW)
    outcome = filter_nodes(TINY, ["stale", "gone", "ok"], view)
    assert outcome.passed == ("stale", "gone")
    assert outcome.stale == ("stale",)
    assert outcome.without_data == ("gone",)
    scores = score_nodes(TINY, ["stale", "gone"], view)
    assert scores.scores == (("stale", 5), ("gone", 5))
    assert scores.stale == ("stale",) and scores.without_data == ("gone",)


def test_a_stale_current_figure_leaves_the_fresh_maxima_in_charge() -> None:
    mixed = NodeLoad(
        "n",
        ResourceLoad(Figure(0.1, NOW - timedelta(minutes=10)), Figure(0.8, NOW), Figure(0.8, NOW)),
        resource(0.1),
    )
    view = assess(snapshot(mixed, node("cool", resource(0.1))), POLICY, NOW)
    assert filter_nodes(TINY, ["n", "cool"], view).failed == {
        "n": "kubecap: node is loaded: cpu max_1h 0.80 > 0.75"
    }


def test_daemonset_pods_are_not_judged() -> None:
    view = assess(snapshot(node("hot", resource(0.99))), POLICY, NOW)
    outcome = filter_nodes(DAEMON, ["hot"], view)
    assert outcome.passed == ("hot",) and outcome.skipped
    assert score_nodes(DAEMON, ["hot"], view).scores == (("hot", 5),)


def test_when_every_candidate_is_hot_all_pass_unless_configured_otherwise() -> None:
    snap = snapshot(node("a", resource(0.9)), node("b", resource(0.8)))
    outcome = filter_nodes(TINY, ["a", "b"], assess(snap, POLICY, NOW))
    assert outcome.passed == ("a", "b") and outcome.all_passed_because_all_hot
    strict = replace(POLICY, pass_when_all_filtered=False)
    outcome = filter_nodes(TINY, ["a", "b"], assess(snap, strict, NOW))
    assert outcome.passed == () and set(outcome.failed) == {"a", "b"}


def test_policy_follows_the_settings() -> None:
    settings = ExtenderSettings(
        filter_cpu_avg_5m=0.5,
        weight_avg_5m=1,
        weight_max_1h=0,
        weight_max_1d=0,
        hot_value=(HotValueRule(window_seconds=60, count=1),),
        missing_data_score=3,
    )
    policy = LoadPolicy.from_settings(settings, NodeLoadSettings(recent_binding_seconds=60))
    view = assess(
        snapshot(node("a", resource(0.55, hour=0.1, day=0.1)), node("b", resource(0.2, 0.7, 0.9))),
        policy,
        NOW,
    )
    assert filter_nodes(TINY, ["a", "b", "c"], view).failed.keys() == {"a"}
    # Only the 5-minute figure weighs: 1 − 0.2 = 0.8 → 8, whatever the maxima say.
    assert dict(score_nodes(TINY, ["b", "c"], view).scores) == {"b": 8, "c": 3}
