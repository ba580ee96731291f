"""Output formats: every format renders the same recommendations; patches are valid strategic merge patches."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from html.parser import HTMLParser

import yaml

from kubecap.domain.recommendation import Recommendation
from kubecap.domain.workload import WorkloadKind
from kubecap.recommend import patch
from kubecap.recommend.engine import recommend
from kubecap.recommend.formatters import FORMATTERS, Options
from kubecap.recommend.settings import EngineSettings
from kubecap.recommend.strategies.registry import default_registry

from .builders import MIB, days_of, flat, history, memory, ref

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def recommendations() -> list[Recommendation]:
    replicas = {"replicas_avg": 6.0, "replicas_min": 5.0}
    web = [{**flat(0.2), **memory(200 * MIB), "cpu_limit": 2.0, **replicas} for _ in range(3)]
    # The proxy's values already match what percentile recommends: it must not appear in the patch.
    proxy = [
        {
            **flat(0.005),
            **memory(50 * MIB),
            "cpu_request": 0.01,
            "mem_request": 100 * MIB,
            "mem_limit": 100 * MIB,
            **replicas,
        }
        for _ in range(3)
    ]
    job = [{**flat(0.2), **memory(200 * MIB)} for _ in range(3)]
    rows = (
        days_of(ref(), "app", web)
        + days_of(ref(), "proxy", proxy)
        + days_of(ref("etl", WorkloadKind.STATEFULSET, "data"), "worker", job)
    )
    strategy = default_registry().get("percentile")
    return recommend(history(rows), strategy, strategy.default_settings(), EngineSettings(), computed_at=NOW)


def render(name: str, recs: list[Recommendation], options: Options | None = None) -> str:
    out = io.StringIO()
    FORMATTERS[name](recs, out, options or Options())
    return out.getvalue()


def test_patch_is_one_strategic_merge_patch_per_changed_workload() -> None:
    recs = recommendations()
    documents = list(yaml.safe_load_all(render("patch", recs)))
    assert [d["metadata"] for d in documents] == [
        {"name": "etl", "namespace": "data"},
        {"name": "web", "namespace": "shop"},
    ]
    web = documents[1]
    assert web["apiVersion"] == "apps/v1" and web["kind"] == "Deployment"
    assert web["spec"] == {
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "resources": {
                            "requests": {"cpu": "200m", "memory": "230Mi"},
                            # KRR removes the CPU limit (null deletes it) and sets memory limit = request.
                            "limits": {"cpu": None, "memory": "230Mi"},
                        },
                    }
                ]
            }
        }
    }
    assert "# kubectl patch deployment web -n shop --type strategic --patch-file" in render("patch", recs)


def test_patch_replicas_only_when_asked() -> None:
    recs = recommendations()
    assert "replicas" not in patch.patches(recs)[1][1]["spec"]
    with_replicas = patch.patches(recs, replicas=True)[1][1]["spec"]
    # Peak total 0.2 × 6 + 0.005 × 6 = 1.23 cores at 60 % of today's 1.01 cores per pod needs 3,
    # but the workload never ran with fewer than 5.
    assert with_replicas["replicas"] == 5


def test_quantities() -> None:
    assert patch.memory_quantity(2 * 1024 * MIB) == "2Gi"
    assert patch.memory_quantity(300 * MIB) == "300Mi"
    assert patch.memory_quantity(1_000_000_001) == "1000000001"
    assert patch.cpu_quantity(1.5) == "1500m"


def test_json_yaml_and_csv_carry_the_same_records() -> None:
    recs = recommendations()
    as_json = json.loads(render("json", recs))
    as_yaml = yaml.safe_load(render("yaml", recs))
    as_csv = list(csv.DictReader(io.StringIO(render("csv", recs))))
    assert as_json == as_yaml
    assert len(as_json) == len(as_csv) == 3
    first = as_json[0]
    assert (first["namespace"], first["workload"], first["container"]) == ("data", "etl", "worker")
    assert first["recommended_cpu_request"] == 0.2 and first["strategy"] == "percentile"
    assert first["settings"]["cpu_percentile"] == 95
    assert as_csv[0]["explanation"] == first["explanation"]
    assert json.loads(as_csv[0]["settings"]) == first["settings"]


def test_table_and_html_show_changes_and_explanations() -> None:
    recs = recommendations()
    table = render("table", recs, Options(explain=True))
    assert "1 → 200m" in table and "1Gi → 230Mi" in table
    assert "CPU request 200m = P95 of the CPU usage over the last 3 days" in table
    page = render("html", recs)
    parser = HTMLParser()
    parser.feed(page)
    assert page.startswith("<!DOCTYPE html>") and page.count("<tr>") == 4
    assert "CPU request 200m = P95" in page
