"""Reading the real traces of ../shared/traces (CSV) into plain series: the only I/O of the replay.

Each series is one column of one file; timestamps are integer seconds (epoch, or seconds
since the trace start for the Azure file, which then starts on 1970-01-01). Gaps stay gaps.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from kubecap.errors import ConfigError


@dataclass(frozen=True)
class TraceSeries:
    """One real series: ``values[i]`` at ``times[i]`` (seconds), sampled every ``step`` seconds."""

    name: str
    times: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    step: int


# (file, value column, short name): every usage series of the bundle; limits and
# assigned sizes of the Google task are left out, they are not usage.
SERIES: tuple[tuple[str, str, str], ...] = (
    *((f"crane_dsp/input{i}.csv", "value", f"crane_input{i}") for i in range(8)),
    ("nab_aws_asg_cpu_5min.csv", "cpu_util_pct", "nab_asg_cpu"),
    ("nab_ec2_cpu_24ae8d_5min.csv", "cpu_util_pct", "nab_ec2_24ae8d"),
    ("nab_ec2_cpu_ac20cd_5min.csv", "cpu_util_pct", "nab_ec2_ac20cd"),
    ("google2019_task113-115_5min.csv", "avg_cpu", "google_avg_cpu"),
    ("google2019_task113-115_5min.csv", "max_cpu", "google_max_cpu"),
    ("google2019_task113-115_5min.csv", "avg_memory", "google_avg_memory"),
    ("google2019_task113-115_5min.csv", "max_memory", "google_max_memory"),
    ("azure2019_cluster_cpu_mem_5min.csv", "cpu_usage_sum", "azure_cpu"),
    ("azure2019_cluster_cpu_mem_5min.csv", "assigned_mem_sum", "azure_memory"),
    ("wc98_requests_per_min.csv", "requests", "wc98_requests"),
)


def default_folder(start: Path) -> Path:
    """``../shared/traces`` seen from the repository root above ``start``."""
    for parent in (start, *start.parents):
        candidate = parent.parent / "shared" / "traces"
        if (parent / "pyproject.toml").is_file() and candidate.is_dir():
            return candidate
    raise ConfigError(f"cannot find ../shared/traces above {start}: pass the traces folder explicitly")


def load_series(folder: Path, series: tuple[tuple[str, str, str], ...] = SERIES) -> list[TraceSeries]:
    """The series of ``folder``, in the order given; a ConfigError names a missing file or column."""
    out = []
    for file, column, name in series:
        path = folder / file
        try:
            with path.open(newline="") as handle:
                reader = csv.reader(handle)
                header = next(reader)
                index = header.index(column)
                rows = [(int(float(row[0])), float(row[index])) for row in reader if row and row[index] != ""]
        except FileNotFoundError:
            raise ConfigError(f"trace file {path} does not exist: check the traces folder") from None
        except ValueError as exc:
            raise ConfigError(f"trace file {path} has no usable column {column!r}: {exc}") from exc
        times = np.array([t for t, _ in rows], dtype=np.int64)
        values = np.array([v for _, v in rows], dtype=np.float64)
        step = int(np.median(np.diff(times))) if len(times) > 1 else 60
        out.append(TraceSeries(name, times, values, step))
    return out
