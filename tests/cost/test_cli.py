"""`kubecap cost` end to end through the real command line, on a store filled by the simulated demo cluster."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.recommend.test_cli import kubecap


@pytest.fixture(scope="module")
def demo_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config whose SQLite store holds 3 days of the bundled demo cluster."""
    root = tmp_path_factory.mktemp("cost-cli")
    config = root / "kubecap.yaml"
    config.write_text(
        f"database_url: sqlite:///{root / 'kubecap.db'}\nclusters:\n  - {{name: demo, simulated: demo}}\n"
    )
    collected = kubecap("collect", "--config", str(config), "--days", "3")
    assert collected.returncode == 0, collected.stderr
    return config


def test_json_per_namespace_and_doubled_price(demo_config: Path) -> None:
    base = kubecap("cost", "--config", str(demo_config), "--by", "namespace", "-f", "json")
    assert base.returncode == 0, base.stderr
    report = json.loads(base.stdout)
    assert report["by"] == "namespace" and len(report["lines"]) >= 2
    assert all(line["key"].startswith("demo/") and line["usd"] > 0 for line in report["lines"])
    assert report["next_month"]["method"] == "mean of the last 7 days"
    doubled = kubecap(
        "cost", "--config", str(demo_config), "--by", "cluster", "-f", "json",
        "--cpu-price", "0.063222", "--memory-price", "0.008474",
    )  # fmt: skip
    assert doubled.returncode == 0, doubled.stderr
    total = sum(line["usd"] for line in report["lines"])
    (cluster,) = json.loads(doubled.stdout)["lines"]
    assert cluster["usd"] == pytest.approx(2 * total, rel=1e-3)


def test_csv_and_table(demo_config: Path) -> None:
    done = kubecap("cost", "--config", str(demo_config), "-f", "csv", "--days", "1")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert rows and {row["days"] for row in rows} == {"1"}
    table = kubecap("cost", "--config", str(demo_config))
    assert table.returncode == 0 and "next month: $" in table.stdout


def test_bad_input_is_one_sentence(demo_config: Path) -> None:
    negative = kubecap("cost", "--config", str(demo_config), "--cpu-price", "-1")
    assert negative.returncode == 2 and "CPU price -1.0 is invalid" in negative.stderr
    nowhere = kubecap("cost", "--config", str(demo_config), "--namespace", "nope")
    assert nowhere.returncode == 2 and "namespace 'nope'" in nowhere.stderr
    assert "Traceback" not in negative.stderr + nowhere.stderr


def test_prices_from_settings_and_an_unknown_pool(demo_config: Path, tmp_path: Path) -> None:
    text = demo_config.read_text()
    free = tmp_path / "free.yaml"
    free.write_text(text + "cost: {cpu_price: 0, memory_price: 0}\n")
    done = kubecap("cost", "--config", str(free), "--by", "cluster", "-f", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["lines"][0]["usd"] == 0 and report["idle"]["usd"] == 0
    typo = tmp_path / "typo.yaml"
    typo.write_text(text + "cost: {pools: {no-such-pool: {cpu_price: 1}}}\n")
    refused = kubecap("cost", "--config", str(typo))
    assert (
        refused.returncode == 2 and "node pool 'no-such-pool' matches no stored node pool" in refused.stderr
    )
    negative = tmp_path / "negative.yaml"
    negative.write_text(text + "cost: {memory_price: -2}\n")
    bad = kubecap("cost", "--config", str(negative))
    assert bad.returncode == 2 and "cost.memory_price" in bad.stderr


def test_a_label_selector_reads_live_labels(demo_config: Path) -> None:
    # The demo workloads carry no labels: '!app' keeps all of them, 'app=web' none.
    every = kubecap("cost", "--config", str(demo_config), "-f", "json", "--selector", "!app")
    assert every.returncode == 0, every.stderr
    whole = kubecap("cost", "--config", str(demo_config), "-f", "json")
    assert json.loads(every.stdout)["lines"] == json.loads(whole.stdout)["lines"]
    none = kubecap("cost", "--config", str(demo_config), "--selector", "app=web")
    assert none.returncode == 2 and "matches --selector 'app=web'" in none.stderr
    bad = kubecap("cost", "--config", str(demo_config), "--selector", "a b")
    assert bad.returncode == 2 and "label selector 'a b'" in bad.stderr
