"""Derive the compact trace copy that the kubecap package ships for its simulated cluster.

Installed users have no ``../shared/traces``, yet the demo scenario follows real utilisation
traces. This script reads a few varied series from that folder, fills the small gaps by
linear interpolation, downsamples them to 5-minute means, cuts each to whole days (so that
replaying it cyclically keeps its time of day), normalises it to 0..1 (min-max) and writes

    src/kubecap/metrics/data/traces.npz   one uint16 array per series (0..65535 = 0..1) + "meta" (JSON)
    src/kubecap/metrics/data/ATTRIBUTION.md  provenance and licence of every series used
    src/kubecap/metrics/data/<licence files>  the licence texts that must accompany them

Run it from the repository root: ``python scripts/derive_traces.py`` (options: --traces, --out).
The arrays are deterministic: re-running it on the same input gives the same values.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

STEP = 300
DAY = 86400
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Source:
    """Where one bundled series comes from and how much of it is kept."""

    name: str
    file: str
    column: str
    description: str
    provenance: str
    licences: tuple[str, ...]
    first_day: int = 0
    """Whole days of the source (counted from its first midnight) skipped before the kept span."""
    days: int | None = None
    """Whole days kept (None: as many as the source has)."""
    longest_run: bool = False
    """Keep only the longest stretch without gaps (for sources that are mostly missing)."""


_CRANE = "gocrane/crane@2b0ddae8, pkg/prediction/dsp/test_data/ — Apache-2.0."
_NAB = (
    "numenta/NAB@ea702d75, data/realKnownCause/cpu_utilization_asg_misconfiguration.csv, "
    "data/realAWSCloudwatch/ec2_cpu_utilization_{24ae8d,ac20cd}.csv — MIT. Naive source times read as UTC."
)
_GOOGLE = (
    "muse-research-lab/cloud-forecast-lstm@78b489c2, docs/113/115-300000000-2678700000000.csv "
    "(Google cluster-usage traces v3, May 2019) — repo MIT, data CC-BY-4.0 (attribute Google)."
)
_AZURE = (
    "alejandrofdez-us/DataCenter-Traces-Datasets@003bb8e7, azure_v2/ (Azure Public Dataset V2) — CC-BY-4.0."
)
_WC98 = (
    "nimamahmoudi/worldcup98-dataset@82460213, invocation_count.csv — MIT; "
    "the ITA/HP notice must accompany it "
    '(M. Arlitt and T. Jin, "1998 World Cup Web Site Access Logs", 1998).'
)

SOURCES: tuple[Source, ...] = (
    Source(
        "crane_daily",
        "crane_dsp/input1.csv",
        "value",
        "Crane DSP input1: production series, periodic with 1 day, sharp peak 11:00-12:00 (trace clock)",
        _CRANE,
        ("crane_LICENSE_Apache-2.0.txt",),
    ),
    Source(
        "crane_weekly",
        "crane_dsp/input2.csv",
        "value",
        "Crane DSP input2: production series, periodic with 1 week, busy nights and a midday plateau",
        _CRANE,
        ("crane_LICENSE_Apache-2.0.txt",),
        days=14,
    ),
    Source(
        "crane_nightly",
        "crane_dsp/input0.csv",
        "value",
        "Crane DSP input0: production series, periodic with 1 day, peak around 02:00 (trace clock)",
        _CRANE,
        ("crane_LICENSE_Apache-2.0.txt",),
    ),
    Source(
        "wc98",
        "wc98_requests_per_min.csv",
        "requests",
        "Requests per minute to the 1998 World Cup web site during the tournament: diurnal + flash crowds",
        _WC98,
        ("worldcup98-dataset_LICENSE_MIT.txt", "WorldCup98_ITA_notice.txt"),
        first_day=39,
        days=28,
    ),
    Source(
        "azure_cpu",
        "azure2019_cluster_cpu_mem_5min.csv",
        "cpu_usage_sum",
        "Azure 2019 cluster-wide VM CPU usage: daily and weekly cycle (relative clock)",
        _AZURE,
        ("DataCenter-Traces-Datasets_metadata_CC-BY-4.0.jsonld",),
        days=28,
    ),
    Source(
        "azure_memory",
        "azure2019_cluster_cpu_mem_5min.csv",
        "assigned_mem_sum",
        "Azure 2019 cluster-wide assigned VM memory: slow daily and weekly cycle (relative clock)",
        _AZURE,
        ("DataCenter-Traces-Datasets_metadata_CC-BY-4.0.jsonld",),
        days=28,
    ),
    Source(
        "google_cpu",
        "google2019_task113-115_5min.csv",
        "avg_cpu",
        "Google Borg task 113/115 average CPU (May 2019), its longest stretch without gaps",
        _GOOGLE,
        ("cloud-forecast-lstm_LICENSE_MIT.txt",),
        longest_run=True,
    ),
    Source(
        "google_memory",
        "google2019_task113-115_5min.csv",
        "avg_memory",
        "Google Borg task 113/115 average memory (May 2019), its longest stretch without gaps",
        _GOOGLE,
        ("cloud-forecast-lstm_LICENSE_MIT.txt",),
        longest_run=True,
    ),
    Source(
        "nab_asg",
        "nab_aws_asg_cpu_5min.csv",
        "cpu_util_pct",
        "AWS autoscaling-group CPU %: spikes every hour, regime changes",
        _NAB,
        ("NAB_LICENSE_MIT.txt",),
        days=28,
    ),
    Source(
        "nab_cron",
        "nab_ec2_cpu_24ae8d_5min.csv",
        "cpu_util_pct",
        "EC2 CPU %: nearly idle with a nightly cron spike 03:05-03:40",
        _NAB,
        ("NAB_LICENSE_MIT.txt",),
    ),
)


def read_column(path: Path, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Timestamps (int seconds) and one named column of a trace CSV."""
    header = path.read_text().splitlines()[0].split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1, usecols=(0, header.index(column)))
    return data[:, 0].astype(np.int64), data[:, 1]


def longest_run(times: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The longest stretch whose samples are at most one source step apart."""
    step = int(np.median(np.diff(times)))
    breaks = np.flatnonzero(np.diff(times) > step)
    starts = np.r_[0, breaks + 1]
    ends = np.r_[breaks + 1, len(times)]
    best = int(np.argmax(ends - starts))
    return times[starts[best] : ends[best]], values[starts[best] : ends[best]]


def to_grid(times: np.ndarray, values: np.ndarray) -> tuple[int, np.ndarray]:
    """5-minute means on an aligned grid; missing buckets are filled by linear interpolation."""
    first = int(times[0]) // STEP * STEP
    bucket = (times - first) // STEP
    count = np.bincount(bucket)
    total = np.bincount(bucket, weights=values)
    grid = np.full(len(count), np.nan)
    present = count > 0
    grid[present] = total[present] / count[present]
    index = np.arange(len(grid))
    grid = np.interp(index, index[present], grid[present])
    return first, grid


def whole_days(first: int, grid: np.ndarray, source: Source) -> tuple[int, np.ndarray]:
    """Cut the grid to whole days so that a cyclic replay keeps the time of day."""
    per_day = DAY // STEP
    if not source.longest_run:
        # Start at the first midnight of the trace clock; a replay then starts at 00:00.
        skip = (-first) % DAY // STEP
        first, grid = first + skip * STEP, grid[skip:]
    first += source.first_day * DAY
    grid = grid[source.first_day * per_day :]
    days = len(grid) // per_day if source.days is None else source.days
    if days < 1 or len(grid) < days * per_day:
        raise SystemExit(f"{source.name}: {source.file} has fewer than {days} whole days after skipping")
    return first, grid[: days * per_day]


def derive(source: Source, traces: Path) -> tuple[np.ndarray, dict[str, object]]:
    times, values = read_column(traces / source.file, source.column)
    if source.longest_run:
        times, values = longest_run(times, values)
    first, grid = whole_days(*to_grid(times, values), source)
    low, high = float(grid.min()), float(grid.max())
    normalised = (grid - low) / (high - low)
    quantised = np.round(normalised * 65535).astype(np.uint16)
    per_day = DAY // STEP
    start_second = first % DAY
    # Mean daily profile in the trace clock: where its typical daily peak sits.
    slots = (np.arange(len(grid)) + start_second // STEP) % per_day
    profile = np.bincount(slots, weights=normalised, minlength=per_day) / np.bincount(
        slots, minlength=per_day
    )
    peak_seconds = int(np.argmax(profile)) * STEP
    meta: dict[str, object] = {
        "name": source.name,
        "description": source.description,
        "file": source.file,
        "column": source.column,
        "step": STEP,
        "start_second_of_day": int(start_second),
        "days": len(grid) // per_day,
        "source_min": low,
        "source_max": high,
        "mean_daily_peak": f"{peak_seconds // 3600:02d}:{peak_seconds % 3600 // 60:02d}",
    }
    return quantised, meta


def attribution(metas: list[dict[str, object]]) -> str:
    lines = [
        "# Bundled utilisation traces",
        "",
        "`traces.npz` holds compact derived copies of public, real-world utilisation series so that the",
        "simulated cluster (`kubecap.metrics.simulated`) and `kubecap demo` work without the source data.",
        "Each series was gap-filled (linear), averaged to 5 minutes, cut to whole days of its own clock",
        "and min-max normalised to 0..1 (stored as uint16) by `scripts/derive_traces.py`. None of the",
        "values was made up.",
        "",
        "| series | what | days | typical daily peak (trace clock) | source file, column |",
        "|---|---|---|---|---|",
    ]
    for meta in metas:
        lines.append(
            f"| `{meta['name']}` | {meta['description']} | {meta['days']} | {meta['mean_daily_peak']} "
            f"| {meta['file']}, `{meta['column']}` |"
        )
    lines += ["", "## Provenance and licences", ""]
    seen: set[str] = set()
    for source in SOURCES:
        if source.provenance in seen:
            continue
        seen.add(source.provenance)
        names = ", ".join(f"`{s.name}`" for s in SOURCES if s.provenance == source.provenance)
        texts = ", ".join(f"`{t}`" for t in source.licences)
        lines.append(f"- {names}: {source.provenance} Licence text: {texts}.")
    lines += [
        "",
        "Attribution for the CC-BY-4.0 data: Google cluster-usage traces v3 (Google LLC, 2019); Azure Public",
        "Dataset V2 (Microsoft, 2019) as organised by Alejandro Fernández, DataCenter Traces Datasets,",
        "https://doi.org/10.5281/zenodo.14564847 (licence https://creativecommons.org/licenses/by/4.0/).",
        "The derived series here are normalised and downsampled versions of the originals.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--traces", type=Path, default=ROOT.parent / "shared" / "traces")
    parser.add_argument("--out", type=Path, default=ROOT / "src" / "kubecap" / "metrics" / "data")
    args = parser.parse_args()
    traces: Path = args.traces
    out: Path = args.out
    if not (traces / "README.md").is_file():
        raise SystemExit(f"no traces at {traces}: pass --traces pointing at shared/traces")
    out.mkdir(parents=True, exist_ok=True)

    arrays: dict[str, np.ndarray] = {}
    metas: list[dict[str, object]] = []
    for source in SOURCES:
        arrays[source.name], meta = derive(source, traces)
        metas.append(meta)
    arrays["meta"] = np.array(json.dumps(metas, sort_keys=True))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    (out / "traces.npz").write_bytes(buffer.getvalue())
    (out / "ATTRIBUTION.md").write_text(attribution(metas))
    for licence in sorted({t for s in SOURCES for t in s.licences}):
        shutil.copyfile(traces / "licenses" / licence, out / licence)
    size = (out / "traces.npz").stat().st_size
    print(f"wrote {len(metas)} series to {out / 'traces.npz'} ({size / 1024:.0f} KiB)")
    for meta in metas:
        print(
            f"  {meta['name']:<14} {meta['days']:>3} d  peak {meta['mean_daily_peak']}  {meta['description']}"
        )


if __name__ == "__main__":
    main()
