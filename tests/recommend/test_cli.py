"""`kubecap recommend` end to end through the real command line, on a store filled by the simulated demo cluster."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kubecap.store import Store


def kubecap(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBECAP_")}
    return subprocess.run(
        [sys.executable, "-m", "kubecap.cli", *args],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "200"},
        cwd=cwd,
        timeout=180,
    )


@pytest.fixture(scope="module")
def demo_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config whose SQLite store holds 8 days of the bundled demo cluster."""
    root = tmp_path_factory.mktemp("recommend-cli")
    config = root / "kubecap.yaml"
    config.write_text(
        f"database_url: sqlite:///{root / 'kubecap.db'}\nclusters:\n  - {{name: demo, simulated: demo}}\n"
    )
    collected = kubecap("collect", "--config", str(config), "--days", "8")
    assert collected.returncode == 0, collected.stderr
    return config


def stored(config: Path) -> list[tuple[str, str]]:
    url = yaml.safe_load(config.read_text())["database_url"]

    async def read() -> list[tuple[str, str]]:
        async with await Store.open(url) as store:
            return [(str(r.ref), r.strategy) for r in await store.recommendations()]

    return asyncio.run(read())


def test_json_from_the_store_is_printed_and_stored(demo_config: Path) -> None:
    done = kubecap("recommend", "--config", str(demo_config), "-f", "json")
    assert done.returncode == 0, done.stderr
    records = json.loads(done.stdout)
    assert len(records) >= 20 and {r["strategy"] for r in records} == {"kubecap"}
    assert {r["status"] for r in records} == {"ok"}
    frontend = next(r for r in records if r["workload"] == "frontend" and r["container"] == "web")
    assert frontend["explanation"].startswith("CPU request ")
    assert frontend["recommended_cpu_request"] < frontend["current_cpu_request"]
    assert "stored in the database" in done.stderr
    assert len(stored(demo_config)) == len(records)


def test_every_format(demo_config: Path) -> None:
    outputs = {
        fmt: kubecap("recommend", "--config", str(demo_config), "-f", fmt, "--no-save", "--namespace", "shop")
        for fmt in ("table", "yaml", "csv", "html", "patch")
    }
    for fmt, done in outputs.items():
        assert done.returncode == 0, (fmt, done.stderr)
    assert "kubecap recommendations" in outputs["table"].stdout
    assert {r["namespace"] for r in yaml.safe_load(outputs["yaml"].stdout)} == {"shop"}
    rows = list(csv.DictReader(io.StringIO(outputs["csv"].stdout)))
    assert rows and {r["namespace"] for r in rows} == {"shop"}
    assert outputs["html"].stdout.startswith("<!DOCTYPE html>")
    patches = [d for d in yaml.safe_load_all(outputs["patch"].stdout) if d]
    assert patches and all(
        p["apiVersion"] == "apps/v1" and p["metadata"]["namespace"] == "shop" for p in patches
    )
    assert all(
        c["name"] and c["resources"] for p in patches for c in p["spec"]["template"]["spec"]["containers"]
    )


def test_strategy_settings_are_flags(demo_config: Path) -> None:
    done = kubecap(
        "recommend",
        "--config",
        str(demo_config),
        "-f",
        "json",
        "--no-save",
        "-s",
        "vpa",
        "--half-life-hours",
        "12",
        "--kind",
        "DaemonSet",
        "--pod-min-cpu",
        "60m",
    )
    assert done.returncode == 0, done.stderr
    records = json.loads(done.stdout)
    assert records and {r["kind"] for r in records} == {"DaemonSet"}
    assert all(r["settings"]["half_life_hours"] == 12 and r["strategy"] == "vpa" for r in records)
    assert all(r["recommended_cpu_request"] >= 0.030 or r["status"] != "ok" for r in records)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("-s", "krr"), 2, "unknown strategy 'krr': choose one of crane, kubecap, peak, percentile, vpa"),
        (
            ("-s", "percentile", "--cpu-percentile", "120"),
            2,
            "--cpu-percentile 120 is out of range: use at most 100",
        ),
        (("-s", "crane", "--margin-percent", "-5"), 2, "--margin-percent -5 is out of range: use at least 0"),
        (("--half-life-hours", "3"), 2, "--half-life-hours is a setting of strategy vpa, not of kubecap"),
        (("--namespace", "nowhere"), 3, "no workload of namespace matching 'nowhere' has usage"),
        (("--until", "yesterday"), 2, "--until 'yesterday' is not a date"),
    ],
)
def test_bad_input_is_one_sentence_and_an_exit_code(
    demo_config: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    done = kubecap("recommend", "--config", str(demo_config), "--no-save", *args)
    assert done.returncode == code, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_an_empty_store_says_to_collect_first(tmp_path: Path) -> None:
    done = kubecap("recommend", "--database-url", f"sqlite:///{tmp_path / 'empty.db'}")
    assert done.returncode == 2
    assert "the store holds no usage yet: run `kubecap collect` first" in done.stderr


def test_idle_nodes_finds_the_demo_batch_pool(demo_config: Path) -> None:
    done = kubecap("idle-nodes", "--config", str(demo_config), "-f", "json")
    assert done.returncode == 0, done.stderr
    nodes = json.loads(done.stdout)
    # The demo's "batch" pool is left over from an old batch system: only DaemonSets run there.
    assert [(n["node"], n["pool"], n["reason"]) for n in nodes] == [("batch-0", "batch", "daemonset-only")]
    assert nodes[0]["monthly_usd"] > 0 and "only DaemonSet pods ran on batch-0" in nodes[0]["explanation"]
    bad = kubecap("idle-nodes", "--config", str(demo_config), "--cpu-usage-percent", "120")
    assert bad.returncode == 2 and "--cpu-usage-percent 120 is out of range: use at most 100" in bad.stderr
