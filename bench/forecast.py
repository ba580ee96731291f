"""Forecasting benchmark: period detection and day-ahead error on real traces, then speed.

Run ``python bench/forecast.py`` (``--help`` for sizes). It reads the real traces in
``../shared/traces`` beside the repository (``--traces`` to override) and prints

1. period detection on Crane's DSP test series (14-day windows, input0 has 8 days) against
   Crane's labels, and on the other traces;
2. the day-ahead asymmetric error on input0 (days 1-7 → day 8) beside Crane's estimators,
   re-implemented here, and the reference figure from the traces' README;
3. a rolling day-ahead (every day with at least 7 days of history, up to 14 days used) on
   every trace: ours — detection, estimator choice and abstention all automatic — against
   Crane's maxValue and fft estimators (margin 0.10, daily cycle) and Crane's own choice
   between them (the one that forecast the last day of the history best);
4. the same on Crane's series at the performance run's working grid (quality holds?);
5. the performance run: N synthetic series × D days at 1-minute resolution through
   ``forecast_many`` on a coarser working grid, with wall and CPU time and peak RSS, for
   each thread count asked for.

The last line of the output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kubecap.forecast import (
    DAY,
    Batch,
    CannotForecast,
    EstimatorSpec,
    Forecast,
    ForecastConfig,
    Series,
    asymmetric_mape,
    detect_period,
    forecast,
    forecast_many,
)
from kubecap.forecast.estimators import predict
from kubecap.forecast.model import format_seconds

FloatArray = NDArray[np.float64]

CRANE_LABELS = {0: DAY, 1: DAY, 2: 7 * DAY, 3: None, 4: None, 5: None, 6: None, 7: None}
CRANE_REFERENCE = {"input0_max_m0.10": 0.102, "input0_fft_m0.10": 0.116}
CRANE_MARGIN = 0.10
DEFAULT_TRACES = Path(__file__).resolve().parent.parent.parent / "shared" / "traces"


@dataclass(frozen=True)
class Trace:
    """One column of one real trace on its native grid (NaN where the source has no row)."""

    key: str
    start: float
    step: int
    values: FloatArray
    periodic: bool | None
    """Crane's label where there is one."""

    def series(self, end: int, history_days: int = 14) -> Series:
        lo = max(0, end - history_days * (DAY // self.step))
        t = self.start + self.step * np.arange(lo, end, dtype=np.float64)
        v = self.values[lo:end]
        ok = np.isfinite(v)
        return Series(t[ok], v[ok], self.key)


def load(path: Path, column: int, key: str, periodic: bool | None = None) -> Trace:
    data = np.loadtxt(path, delimiter=",", skiprows=1, usecols=(0, column))
    t, v = data[:, 0], data[:, 1]
    step = int(np.median(np.diff(t)))
    index = np.rint((t - t[0]) / step).astype(np.int64)
    values = np.full(int(index.max()) + 1, np.nan)
    values[index] = v
    return Trace(key, float(t[0]), step, values, periodic)


def traces(root: Path) -> list[Trace]:
    out = [
        load(root / "crane_dsp" / f"input{i}.csv", 1, f"crane input{i}", CRANE_LABELS[i] is not None)
        for i in range(8)
    ]
    out += [
        load(root / "wc98_requests_per_min.csv", 1, "wc98 requests"),
        load(root / "azure2019_cluster_cpu_mem_5min.csv", 1, "azure cpu"),
        load(root / "azure2019_cluster_cpu_mem_5min.csv", 2, "azure memory"),
        load(root / "google2019_task113-115_5min.csv", 2, "google task avg cpu"),
        load(root / "google2019_task113-115_5min.csv", 8, "google task avg memory"),
        load(root / "nab_aws_asg_cpu_5min.csv", 1, "nab asg cpu"),
        load(root / "nab_ec2_cpu_24ae8d_5min.csv", 1, "nab ec2 24ae8d cpu"),
        load(root / "nab_ec2_cpu_ac20cd_5min.csv", 1, "nab ec2 ac20cd cpu"),
    ]
    return out


# ---------------------------------------------------------------- Crane's DSP, re-implemented


def crane_forecasts(history: FloatArray, cycle: int, step: int) -> dict[str, FloatArray]:
    """Crane's maxValue and fft forecasts (margin 0.10) of the next cycle from whole cycles."""
    ok = np.isfinite(history)
    idx = np.arange(history.size)
    filled = np.interp(idx, idx[ok], history[ok]) if ok.any() else history
    k = filled.size // cycle
    cycles = filled[filled.size - k * cycle :].reshape(1, k, cycle)
    return {
        "max": predict(EstimatorSpec("max", cycles=k), cycles, step)[0] * (1 + CRANE_MARGIN),
        "fft": predict(EstimatorSpec("fft", cycles=k), cycles, step)[0] * (1 + CRANE_MARGIN),
    }


def crane_day_ahead(trace: Trace, end: int, actual: FloatArray) -> dict[str, float]:
    """Crane's errors for the day after ``end``: both estimators and Crane's own choice."""
    day = DAY // trace.step
    history = trace.values[max(0, end - 7 * day) : end]
    fc = crane_forecasts(history, day, trace.step)
    errors = {name: asymmetric_mape(actual, p) for name, p in fc.items()}
    # Crane picks the estimator that best forecast the last cycle of the history
    last = crane_forecasts(history[:-day], day, trace.step) if history.size >= 3 * day else fc
    choice = min(last, key=lambda name: asymmetric_mape(history[-day:], last[name]))
    errors["selected"] = errors[choice]
    return errors


# ---------------------------------------------------------------- evaluation


def native(fc: Forecast, step: int, size: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The forecast and its band on the trace's own grid."""
    reps = max(1, fc.step // step)
    point, lower, upper = (np.repeat(a, reps)[:size] for a in (fc.values, fc.lower, fc.upper))
    return point, lower, upper


def detection_rows(all_traces: list[Trace], config: ForecastConfig) -> list[dict[str, Any]]:
    """Period found in the last 14 days of each trace, against Crane's label where there is one."""
    rows = []
    for trace in all_traces:
        labelled = trace.key.startswith("crane")
        row: dict[str, Any] = {
            "trace": trace.key,
            "label": CRANE_LABELS[int(trace.key[-1])] if labelled else None,
            "period": None,
            "strength": None,
            "note": "",
        }
        try:
            report = detect_period(trace.series(trace.values.size, 14), config)
            row["period"] = report.period.seconds if report.period else None
            best = report.period or (report.candidates[0] if report.candidates else None)
            row["strength"] = round(best.strength, 3) if best else None
            row["note"] = report.reason
        except CannotForecast as exc:
            row["note"] = f"{exc.reason}: {exc.detail}"
        row["correct"] = row["period"] == row["label"] if labelled else None
        rows.append(row)
    return rows


@dataclass
class Rolling:
    """Day-ahead results of one trace."""

    trace: str
    days: int = 0
    forecast_days: int = 0
    abstained: dict[str, int] = field(default_factory=dict)
    ours: list[float] = field(default_factory=list)
    coverage: list[float] = field(default_factory=list)
    crane: dict[str, list[float]] = field(default_factory=lambda: {"max": [], "fft": [], "selected": []})
    crane_all: dict[str, list[float]] = field(default_factory=lambda: {"max": [], "fft": [], "selected": []})
    members: dict[str, int] = field(default_factory=dict)
    periods: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        def mean(xs: list[float]) -> float | None:
            good = [x for x in xs if np.isfinite(x)]
            return round(float(np.mean(good)), 4) if good else None

        crane = {name: mean(errors) for name, errors in self.crane.items()}
        crane_best = min((e for e in crane.values() if e is not None), default=None)
        ours = mean(self.ours)
        return {
            "days": self.days,
            "forecast_days": self.forecast_days,
            "abstained": self.abstained,
            "ours": ours,
            "crane_max": crane["max"],
            "crane_fft": crane["fft"],
            "crane_selected": crane["selected"],
            "crane_best": crane_best,
            "crane_selected_all_days": mean(self.crane_all["selected"]),
            "beats_crane": None if ours is None or crane_best is None else bool(ours < crane_best),
            "band_coverage": mean(self.coverage),
            "members": dict(sorted(self.members.items(), key=lambda kv: -kv[1])),
            "periods": self.periods,
        }


def rolling(trace: Trace, config: ForecastConfig, last_day: int | None = None) -> Rolling:
    """Forecast each day that has 7 days before it, from up to 14 days of history."""
    day = DAY // trace.step
    total = trace.values.size // day if last_day is None else min(last_day, trace.values.size // day)
    out = Rolling(trace.key)
    for d in range(7, total):
        end = d * day
        actual = trace.values[end : end + day]
        if not np.any(np.isfinite(actual) & (actual > 0)):
            continue
        out.days += 1
        crane = crane_day_ahead(trace, end, actual)
        for name, err in crane.items():
            out.crane_all[name].append(err)
        try:
            fc = forecast(trace.series(end, 14), DAY, config)
        except CannotForecast as exc:
            out.abstained[str(exc.reason)] = out.abstained.get(str(exc.reason), 0) + 1
            continue
        out.forecast_days += 1
        point, lower, upper = native(fc, trace.step, actual.size)
        out.ours.append(asymmetric_mape(actual, point))
        seen = np.isfinite(actual)
        out.coverage.append(float(np.mean((actual[seen] >= lower[seen]) & (actual[seen] <= upper[seen]))))
        for name, err in crane.items():
            out.crane[name].append(err)
        for member in fc.members:
            out.members[member.estimator] = out.members.get(member.estimator, 0) + 1
        key = str(fc.period) if fc.period else "none"
        out.periods[key] = out.periods.get(key, 0) + 1
    return out


def input0_day8(trace: Trace, config: ForecastConfig) -> dict[str, Any]:
    """Crane's reference case: days 1-7 of input0 forecast day 8."""
    day = DAY // trace.step
    end = 7 * day
    actual = trace.values[end : end + day]
    fc = forecast(trace.series(end, 14), DAY, config)
    point, _, _ = native(fc, trace.step, actual.size)
    crane = crane_day_ahead(trace, end, actual)
    return {
        "ours": round(asymmetric_mape(actual, point), 4),
        "estimator": fc.estimator,
        "crane_max": round(crane["max"], 4),
        "crane_fft": round(crane["fft"], 4),
        "crane_reference_max": CRANE_REFERENCE["input0_max_m0.10"],
        "crane_reference_fft": CRANE_REFERENCE["input0_fft_m0.10"],
    }


# ---------------------------------------------------------------- performance


def synthetic(series: int, days: int, step: int, seed: int) -> tuple[NDArray[np.float32], float]:
    """Usage-like series: a daily shape with a weekend step, growth, multiplicative noise and
    some gaps; a tenth are random walks without any period. Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    n = days * DAY // step
    t = np.arange(n, dtype=np.float32) * np.float32(step / DAY)  # in days
    out = np.empty((series, n), dtype=np.float32)
    for lo in range(0, series, 500):
        hi = min(series, lo + 500)
        s = hi - lo
        base = rng.lognormal(0.0, 1.0, (s, 1)).astype(np.float32)
        amp = rng.uniform(0.2, 0.9, (s, 1)).astype(np.float32)
        phase = rng.uniform(0, 1, (s, 1)).astype(np.float32)
        weekly = rng.uniform(0.0, 0.3, (s, 1)).astype(np.float32)
        growth = rng.normal(0.0, 0.01, (s, 1)).astype(np.float32)
        noise = rng.uniform(0.02, 0.3, (s, 1)).astype(np.float32)
        shape = 1 + amp * np.sin(2 * np.pi * (t[None, :] - phase)) + weekly * (np.floor(t) % 7 >= 5)
        x = base * np.maximum(shape, 0.05) * (1 + growth * t[None, :])
        x *= np.exp(noise * rng.standard_normal((s, n), dtype=np.float32))
        out[lo:hi] = x
    # a tenth without any period (random walk), a few gaps
    aperiodic = rng.choice(series, series // 10, replace=False)
    for r in aperiodic:
        out[r] = np.exp(np.cumsum(rng.normal(0, 0.01, n))).astype(np.float32)
    for r in rng.choice(series, series // 20, replace=False):
        g = int(rng.integers(0, n - 600))
        out[r, g : g + int(rng.integers(10, 600))] = np.nan
    return out, 1_700_000_000.0


def performance(
    values: NDArray[np.float32], start: float, step: int, working_step: int, workers: int
) -> dict[str, Any]:
    """Forecast the next day of every synthetic series; wall time and peak RSS so far."""
    series, points = values.shape
    batch = Batch(values, start, step)
    config = ForecastConfig(working_step=working_step, workers=workers)
    t1, c1 = time.perf_counter(), time.process_time()
    results = forecast_many(batch, DAY, config)
    elapsed, cpu = time.perf_counter() - t1, time.process_time() - c1
    forecasts = [r for r in results if isinstance(r, Forecast)]
    reasons: dict[str, int] = {}
    for r in results:
        if isinstance(r, CannotForecast):
            reasons[str(r.reason)] = reasons.get(str(r.reason), 0) + 1
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "series": series,
        "days": round(points * step / DAY, 2),
        "step": step,
        "working_step": working_step,
        "workers": workers,
        "points": int(values.size),
        "input_mb": round(values.nbytes / 2**20, 1),
        "forecast_s": round(elapsed, 2),
        "cpu_s": round(cpu, 2),
        "series_per_s": round(series / elapsed, 1),
        "forecasts": len(forecasts),
        "cannot_forecast": reasons,
        "peak_rss_mb": round(rss, 1),
    }


# ---------------------------------------------------------------- report


def fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.3f}"
    return str(x)


def period_label(seconds: int | None) -> str:
    if seconds is None:
        return "none"
    return format_seconds(seconds)


def report_detection(det: list[dict[str, Any]]) -> dict[str, Any]:
    print("Period detection (last 14 days; input0: 8 days) — strength: cross-validated share of variance")
    print(f"{'trace':24} {'label':>6} {'found':>6} {'strength':>8}  verdict  note")
    for row in det:
        labelled = row["trace"].startswith("crane")
        verdict = {True: "ok", False: "WRONG", None: ""}[row["correct"]]
        print(
            f"{row['trace']:24} {period_label(row['label']) if labelled else '':>6} "
            f"{period_label(row['period']):>6} {fmt(row['strength']):>8}  {verdict:7}  {row['note'][:72]}"
        )
    crane_rows = [r for r in det if r["trace"].startswith("crane")]
    return {
        "crane_correct": sum(bool(r["correct"]) for r in crane_rows),
        "crane_total": len(crane_rows),
        "false_periods_on_non_periodic": sum(
            r["period"] is not None for r in crane_rows if r["label"] is None
        ),
        "per_trace": {r["trace"]: {"period_s": r["period"], "strength": r["strength"]} for r in det},
    }


def report_input0(i0: dict[str, Any]) -> None:
    print(f"  ours {i0['ours']:.3f}  {i0['estimator']}")
    print(
        f"  crane maxValue m0.10 {i0['crane_max']:.3f} (traces README reference {i0['crane_reference_max']})"
    )
    print(
        f"  crane fft      m0.10 {i0['crane_fft']:.3f} (traces README reference {i0['crane_reference_fft']})"
    )


def report_rolling(all_traces: list[Trace], config: ForecastConfig) -> dict[str, Any]:
    print(
        f"{'trace':24} {'days':>4} {'fcast':>5} {'ours':>7} {'c.max':>7} {'c.fft':>7} {'c.sel':>7} "
        f"{'beats':>5} {'band':>5}  abstained"
    )
    out: dict[str, Any] = {}
    for trace in all_traces:
        r = rolling(trace, config).summary()
        out[trace.key] = r
        beats = {True: "yes", False: "NO", None: "-"}[r["beats_crane"]]
        print(
            f"{trace.key:24} {r['days']:>4} {r['forecast_days']:>5} {fmt(r['ours']):>7} "
            f"{fmt(r['crane_max']):>7} {fmt(r['crane_fft']):>7} {fmt(r['crane_selected']):>7} "
            f"{beats:>5} {fmt(r['band_coverage']):>5}  {_counts(r['abstained'])}"
        )
    return out


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--traces", type=Path, default=DEFAULT_TRACES, help="folder of the real traces")
    parser.add_argument("--series", type=int, default=10_000, help="series in the performance run")
    parser.add_argument("--days", type=int, default=14, help="days per series in the performance run")
    parser.add_argument("--step", type=int, default=60, help="seconds between points in the performance run")
    parser.add_argument("--working-step", type=int, default=300, help="grid the performance run works on")
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic performance data")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 2],
        help="thread counts to time the performance run with",
    )
    parser.add_argument("--skip-traces", action="store_true", help="only the performance run")
    parser.add_argument("--skip-performance", action="store_true", help="only the real traces")
    args = parser.parse_args(argv)

    figures: dict[str, Any] = {"benchmark": "forecast"}
    config = ForecastConfig()
    if not args.skip_traces:
        if not args.traces.is_dir():
            print(f"traces folder {args.traces} not found: pass --traces PATH", file=sys.stderr)
            return 2
        all_traces = traces(args.traces)
        t0 = time.perf_counter()
        figures["detection"] = report_detection(detection_rows(all_traces, config))

        print("\nDay-ahead on crane input0 (train days 1-7, forecast day 8), asymmetric MAPE")
        figures["input0_day8"] = input0_day8(all_traces[0], config)
        report_input0(figures["input0_day8"])

        print(
            "\nRolling day-ahead (each day with 7+ days before it, from up to 14 of them), mean asymmetric MAPE"
        )
        print(
            "ours: detection, estimators and abstention automatic; crane: daily cycle, last 7 days, margin 0.10;"
        )
        print(
            "c.sel: Crane's own pick between max and fft; beats: ours < best of the three on the days we forecast"
        )
        figures["rolling"] = report_rolling(all_traces, config)
        figures["rolling_false_period_days_on_non_periodic"] = sum(
            figures["rolling"][f"crane input{i}"]["forecast_days"] for i in range(3, 8)
        )

        coarse = ForecastConfig(working_step=args.working_step)
        print(f"\nSame on Crane's series worked at {args.working_step} s (the performance run's grid)")
        figures["coarse_detection"] = report_detection(detection_rows(all_traces[:8], coarse))
        figures["coarse_input0_day8"] = input0_day8(all_traces[0], coarse)
        report_input0(figures["coarse_input0_day8"])
        figures["coarse_rolling"] = report_rolling(all_traces[1:3], coarse)
        figures["traces_s"] = round(time.perf_counter() - t0, 1)

    if not args.skip_performance:
        t0 = time.perf_counter()
        values, start = synthetic(args.series, args.days, args.step, args.seed)
        print(
            f"\nPerformance: {args.series} synthetic series × {args.days} d at {args.step} s "
            f"({values.nbytes / 2**20:.0f} MB as float32, made in {time.perf_counter() - t0:.1f} s), "
            f"next day forecast, worked at {args.working_step} s"
        )
        runs = []
        for workers in args.workers:
            perf = performance(values, start, args.step, args.working_step, workers)
            runs.append(perf)
            print(
                f"  {workers} thread(s): {perf['forecast_s']} s wall, {perf['cpu_s']} s CPU "
                f"({perf['series_per_s']} series/s), "
                f"peak RSS {perf['peak_rss_mb']} MB, {perf['forecasts']} forecasts, "
                f"cannot forecast: {_counts(perf['cannot_forecast'])}"
            )
        figures["performance"] = runs
    print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
