import csv
import io
import json
from datetime import date

import pytest

from kubecap.domain.usage import UsageProfile
from kubecap.domain.workload import WorkloadKind, WorkloadRef
from kubecap.report.formatters import FORMATTERS
from kubecap.report.usage import default_window, usage_report

WEB = WorkloadRef("c", "shop", WorkloadKind.DEPLOYMENT, "web")


def row(day: int, window: str = "10:00-11:30", **figures: float | None) -> UsageProfile:
    return UsageProfile(workload=WEB, container="app", day=date(2026, 11, day), window=window, **figures)  # type: ignore[arg-type]


PROFILES = [
    row(
        17,
        cpu_p95=0.2,
        mem_max=300.0,
        cpu_request=0.5,
        mem_request=1000.0,
        replicas_avg=2,
        oom_kills=0,
        restarts=1,
    ),
    row(
        18,
        cpu_p95=0.34,
        mem_max=250.0,
        cpu_request=0.5,
        mem_request=1000.0,
        replicas_avg=4,
        oom_kills=1,
        restarts=1,
    ),
    row(
        19,
        cpu_p95=0.3,
        mem_max=None,
        cpu_request=0.25,
        mem_request=1000.0,
        replicas_avg=3,
        cpu_throttle_ratio=0.2,
    ),
    row(19, window="day", cpu_p95=0.9),
]


def test_peaks_are_each_workloads_own_highest_day() -> None:
    (r,) = usage_report(PROFILES, "10:00-11:30")
    assert (r.days, r.cpu_p95_peak, r.cpu_peak_day) == (3, 0.34, date(2026, 11, 18))
    assert (r.mem_max_peak, r.mem_peak_day) == (300.0, date(2026, 11, 17))
    assert r.cpu_request == 0.25  # the latest seen
    assert r.cpu_ratio == pytest.approx(0.34 / 0.25)
    assert r.mem_ratio == pytest.approx(0.3)
    assert (r.replicas_avg, r.cpu_throttle_max, r.oom_kills, r.restarts) == (3.0, 0.2, 1.0, 2.0)


def test_default_window_prefers_a_peak_window() -> None:
    assert default_window(PROFILES) == "10:00-11:30"
    assert default_window(PROFILES[-1:]) == "day"
    assert default_window([]) is None


def test_formatters() -> None:
    rows = usage_report(PROFILES, "10:00-11:30")
    out = io.StringIO()
    FORMATTERS["json"](rows, out)
    (record,) = json.loads(out.getvalue())
    assert record["cpu_p95_peak_cores"] == 0.34 and record["cpu_peak_day"] == "2026-11-18"
    out = io.StringIO()
    FORMATTERS["csv"](rows, out)
    (parsed,) = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert parsed["workload"] == "web" and parsed["memory_request_bytes"] == "1000.0"
    out = io.StringIO()
    FORMATTERS["table"](rows, out)
    assert "Deployment/web" in out.getvalue() and "340m" in out.getvalue()


def test_csv_of_nothing_still_has_a_header() -> None:
    out = io.StringIO()
    FORMATTERS["csv"]([], out)
    assert out.getvalue().startswith("cluster,namespace,kind,workload,container,window")
