"""Scenario validation: every bad input is one sentence naming the field, never a traceback."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from kubecap.errors import ConfigError
from kubecap.metrics.simulated import generate_scenario, load_scenario, scenario_from_yaml

GOOD = """
cluster: test
timezone: Europe/Berlin
end: "2026-03-10T00:00"
days: 1
namespaces:
  shop:
    - kind: Deployment
      name: web
      replicas: 2
      rollouts: [{days_before_end: 1, at: "10:40"}, "2026-03-09T12:00"]
      containers:
        - name: app
          requests: {cpu: 100m, memory: 128Mi}
          limits: {memory: 256Mi}
          cpu: {trace: wc98, low: 50m, high: 400m, offset: -5h}
          memory: {diurnal: {base: 100Mi, amplitude: 20Mi, peak: "11:00"}}
"""


def _with(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


def test_a_good_scenario_loads() -> None:
    scenario = scenario_from_yaml(GOOD)
    start, end = scenario.period()
    assert (end - start).total_seconds() == 86400
    workload = scenario.namespaces["shop"][0]
    assert workload.containers[0].requests.cpu == pytest.approx(0.1)
    assert workload.containers[0].cpu.offset == -5 * 3600
    assert [r.instant(end, scenario.tz).isoformat() for r in workload.rollouts] == [
        "2026-03-09T09:40:00+00:00",
        "2026-03-09T11:00:00+00:00",
    ]


@pytest.mark.parametrize(
    ("text", "field", "hint"),
    [
        (
            _with("low: 50m", "low: 50x"),
            "namespaces.shop[0].containers[0].cpu.low",
            "not a Kubernetes quantity",
        ),
        (_with("trace: wc98", "trace: nope"), "namespaces.shop[0].containers[0].cpu", "unknown trace 'nope'"),
        (_with("timezone: Europe/Berlin", "timezone: Mars/Base"), "timezone", "unknown time zone"),
        (_with("kind: Deployment", "kind: CronJob"), "namespaces.shop[0].kind", "Deployment"),
        (_with("replicas: 2", "replicas: 0"), "namespaces.shop[0].replicas", "greater than or equal to 1"),
        (_with('peak: "11:00"', "peak: 11:00"), "peak", "in quotes"),
        (_with('at: "10:40"', "at: 10:40"), "rollouts[0]", "in quotes"),
        (
            _with("limits: {memory: 256Mi}", "limits: {memory: 64Mi}"),
            "containers[0]",
            "below the memory request",
        ),
        (_with("name: app", "name: App_1"), "containers[0].name", "not a valid name"),
        (_with("offset: -5h", "offset: soon"), "cpu.offset", "not a duration"),
        (_with("days: 1", "days: 1\nscrape_interval: 10m"), "scrape_interval", "between 1s and 150s"),
        (_with("days: 1", "days: 1\ncolour: blue"), "colour", "Extra inputs are not permitted"),
        (
            _with("cpu: {trace: wc98, low: 50m, high: 400m, offset: -5h}", "cpu: {constant: 1, trace: wc98}"),
            "containers[0].cpu",
            "exactly one of",
        ),
        (_with("cluster: test\n", ""), "cluster", "Field required"),
    ],
)
def test_bad_values_name_the_field_in_one_sentence(text: str, field: str, hint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        scenario_from_yaml(text, source="s.yaml")
    message = str(caught.value)
    assert field in message and hint in message, message
    assert message.startswith("s.yaml: field ") and "\n" not in message


def test_duplicate_workload_names_are_rejected() -> None:
    text = GOOD + GOOD[GOOD.index("    - kind: Deployment") :]
    with pytest.raises(ConfigError, match="two workloads named 'web'"):
        scenario_from_yaml(text)


def test_bad_yaml_names_the_position(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("cluster: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken.yaml is not valid YAML at line 2"):
        load_scenario(path)
    with pytest.raises(ConfigError, match="cannot read scenario file"):
        load_scenario(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        scenario_from_yaml("- a list")


END = datetime(2026, 3, 10, tzinfo=UTC)


def test_generated_scenarios_are_varied_and_reproducible() -> None:
    first = generate_scenario(60, 2, 1, end=END, seed=5)
    again = generate_scenario(60, 2, 1, end=END, seed=5)
    assert first == again
    workloads = [w for _, w in first.workloads()]
    assert len(workloads) == 60
    assert {w.kind.value for w in workloads} == {"Deployment", "StatefulSet", "DaemonSet"}
    assert {len(w.containers) for w in workloads} == {1, 2}
    assert any(c.limits.cpu is not None for w in workloads for c in w.containers)
    assert all(c.requests.cpu and c.requests.memory for w in workloads for c in w.containers)
    assert generate_scenario(60, 2, 1, end=END, seed=6) != first
