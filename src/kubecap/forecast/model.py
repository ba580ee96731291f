"""Typed inputs and outputs of forecasting.

Callers pass arrays (the forecast package does no I/O): one ``Series`` of raw samples, or a
``Batch`` of many series already on one time grid (what a Prometheus range query over many
workloads returns). They get back ``PeriodReport``s and ``Forecast``s; a series that cannot
be forecast yields a ``CannotForecast`` (see ``errors``). All settings live in one frozen,
validated ``ForecastConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from kubecap.errors import ConfigError

FloatArray = NDArray[np.float64]

MINUTE = 60
HOUR = 3_600
DAY = 86_400
WEEK = 7 * DAY


def format_seconds(seconds: int) -> str:
    """A duration the way people write it: 7d, 1d, 12h, 1h30m, 5m, 30s."""
    if seconds <= 0:
        return f"{seconds}s"
    parts = []
    for unit, size in (("d", DAY), ("h", HOUR), ("m", MINUTE), ("s", 1)):
        if seconds >= size:
            count, seconds = divmod(seconds, size)
            parts.append(f"{count}{unit}")
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class Series:
    """Raw samples of one series: epoch seconds and values, any order, gaps allowed.

    Non-finite and negative values are treated as missing (usage is never negative).
    """

    timestamps: FloatArray
    values: FloatArray
    name: str = ""

    def __post_init__(self) -> None:
        t = np.asarray(self.timestamps, dtype=np.float64).ravel()
        v = np.asarray(self.values, dtype=np.float64).ravel()
        if t.shape != v.shape:
            raise ConfigError(
                f"series {self.name!r} has {t.size} timestamps but {v.size} values: "
                "pass one value per timestamp"
            )
        object.__setattr__(self, "timestamps", t)
        object.__setattr__(self, "values", v)


@dataclass(frozen=True, slots=True)
class Batch:
    """Many series on one grid: ``values[i, j]`` is series i at ``start + j*step``; NaN = missing.

    float32 values are kept as they are (half the memory of a big batch) and widened to
    float64 one chunk at a time; other types become float64.
    """

    values: NDArray[np.floating[Any]]
    start: float
    step: int
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        v = np.asarray(self.values)
        if v.dtype not in (np.float32, np.float64):
            v = v.astype(np.float64)
        if v.ndim == 1:
            v = v[None, :]
        if v.ndim != 2:
            raise ConfigError(f"a batch needs a 2-D array (series × time), got {v.ndim} dimensions")
        if self.step <= 0:
            raise ConfigError(f"batch step must be a positive number of seconds, got {self.step}")
        names = self.names or tuple(str(i) for i in range(v.shape[0]))
        if len(names) != v.shape[0]:
            raise ConfigError(f"a batch of {v.shape[0]} series needs {v.shape[0]} names, got {len(names)}")
        object.__setattr__(self, "values", v)
        object.__setattr__(self, "names", names)


@dataclass(frozen=True, slots=True)
class Regularised:
    """A series as the estimators see it: on the working grid, cleaned, NaN where missing."""

    name: str
    start: float
    step: int
    values: FloatArray
    """Gaps longer than ``max_fill`` and the history before a level shift are NaN."""
    filled: int
    """Points interpolated across short gaps (on the series' own grid)."""
    outliers: int
    """Isolated outliers replaced by their local median."""
    level_shift_at: float | None
    """Start of the history kept after the last level shift (None: no shift)."""


EstimatorKind = Literal["max", "fft", "seasonal", "profile", "flat"]


@dataclass(frozen=True, slots=True)
class EstimatorSpec:
    """One way to forecast the next cycle from the past ones (see ``estimators``).

    - ``max``: per-phase maximum of the last ``cycles`` cycles (Crane's maxValue).
    - ``fft``: low-pass FFT of the last ``cycles`` cycles — periods shorter than ``cutoff``
      seconds removed, only the ``components`` strongest frequencies kept — replaying its
      last cycle (Crane's fft).
    - ``seasonal``: a statistic of each phase over the last ``cycles`` cycles, pooling the
      phases within ``phase_window`` seconds either side.
    - ``profile``: the same statistic of each phase's share of its cycle's mean (the shape),
      times the mean of the most recent cycle (the level), so that growth carries over.
    - ``flat``: one constant, the statistic of the last ``cycles`` periods' values; used for
      series without a period when ``allow_aperiodic`` is set.

    The statistic is the ``q``-quantile, or with ``q=None`` the loss-optimal value: the
    forecast that would have had the lowest asymmetric error over the pooled samples.
    """

    kind: EstimatorKind
    q: float | None = None
    phase_window: int = 0
    cycles: int = 7
    components: int = 100
    cutoff: int = HOUR

    def __post_init__(self) -> None:
        if self.q is not None and not 0.0 <= self.q <= 1.0:
            raise ConfigError(f"estimator quantile must be within 0..1, got {self.q}")
        if self.cycles < 1 or self.components < 1 or self.phase_window < 0 or self.cutoff < 0:
            raise ConfigError(
                f"estimator {self.kind} needs positive cycles/components and non-negative windows"
            )

    @property
    def name(self) -> str:
        if self.kind == "max":
            return f"max({self.cycles}c)"
        if self.kind == "fft":
            return f"fft({self.components}f,>{format_seconds(self.cutoff)},{self.cycles}c)"
        statistic = "opt" if self.q is None else f"q={self.q:g}"
        window = f",±{format_seconds(self.phase_window)}" if self.phase_window else ""
        return f"{self.kind}({statistic}{window},{self.cycles}c)"


DEFAULT_ESTIMATORS: tuple[EstimatorSpec, ...] = (
    EstimatorSpec("max"),
    EstimatorSpec("fft"),
    EstimatorSpec("seasonal", q=0.75, phase_window=10 * MINUTE),
    EstimatorSpec("seasonal", phase_window=2 * MINUTE),
    EstimatorSpec("profile", phase_window=2 * MINUTE),
)
"""Crane's two estimators, a seasonal quantile, and the loss-optimal seasonal and profile."""

APERIODIC_ESTIMATORS: tuple[EstimatorSpec, ...] = (
    EstimatorSpec("flat", cycles=1),
    EstimatorSpec("flat", q=0.99, cycles=1),
    EstimatorSpec("flat", q=1.0, cycles=3),
)

DEFAULT_MARGINS: tuple[float, ...] = (0.0, 0.025, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)


@dataclass(frozen=True, slots=True)
class ForecastConfig:
    """How series are regularised, how periods are judged and how estimators are chosen.

    Times are in seconds. ``step`` is the grid raw samples are put on (None: inferred from
    their spacing); ``working_step`` an optional coarser grid the work is done on (None: the
    step) — periodicity is still judged against the variance at ``step``.
    """

    step: int | None = None
    working_step: int | None = None
    history: int = 14 * DAY
    """Only the most recent ``history`` seconds are used."""
    max_fill: int = HOUR
    """Gaps up to this long are interpolated; longer ones stay missing."""
    min_coverage: float = 0.5
    """Share of the history that must hold data after filling."""
    periods: tuple[int, ...] = (DAY, WEEK)
    """Periods always tried."""
    search_other_periods: bool = True
    """Also try the strongest periods of the periodogram (at least ``MIN_CYCLES_OTHER`` cycles)."""
    min_strength: float = 0.4
    """Cross-validated share of variance a period must explain to be claimed."""
    nested_gain: float = 0.1
    """A period that contains a shorter claimed one (7d ⊃ 1d) replaces it only if its
    cross-validated error is lower by this share."""
    min_cycles: int = 2
    """Full cycles of history a period needs."""
    outlier_threshold: float = 8.0
    """Robust standard deviations beyond which an isolated point is an outlier."""
    level_shift_ratio: float = 2.0
    """Sustained change of the daily level by this factor that cuts the history."""
    backtest_origins: int = 3
    """Rolling-origin backtests (one horizon apart) used to choose estimators and margins."""
    recency: float = 0.7
    """Weight of a backtest origin relative to the next newer one."""
    ensemble: int = 3
    """The forecast averages this many best estimators (each at its best margin); 1 = the best."""
    estimators: tuple[EstimatorSpec, ...] = DEFAULT_ESTIMATORS
    margins: tuple[float, ...] = DEFAULT_MARGINS
    band: float = 0.9
    """Nominal coverage of the uncertainty band."""
    allow_aperiodic: bool = False
    """Forecast series without a period with flat estimators instead of refusing."""
    chunk_size: int = 256
    """Series processed together (bounds memory of the batch API)."""
    workers: int = 1
    """Threads that process chunks of a batch at once (numpy's kernels release the GIL);
    results do not depend on it."""

    def __post_init__(self) -> None:
        problems = []
        positive = (
            "history",
            "max_fill",
            "chunk_size",
            "backtest_origins",
            "min_cycles",
            "ensemble",
            "workers",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be positive")
        if self.step is not None and self.step <= 0:
            problems.append("step must be a positive number of seconds")
        if self.working_step is not None and self.working_step <= 0:
            problems.append("working_step must be a positive number of seconds")
        if not 0 < self.min_coverage <= 1 or not 0 < self.band < 1 or not 0 < self.recency <= 1:
            problems.append("min_coverage and recency must be within (0, 1] and band within (0, 1)")
        if not self.periods or any(p <= 0 for p in self.periods):
            problems.append("periods must be positive numbers of seconds")
        if not self.estimators or not self.margins or any(m < 0 for m in self.margins):
            problems.append("estimators and margins must be non-empty and margins non-negative")
        if self.level_shift_ratio <= 1 or self.outlier_threshold <= 0 or not 0 <= self.nested_gain < 1:
            problems.append(
                "level_shift_ratio must exceed 1, outlier_threshold be positive, nested_gain in [0, 1)"
            )
        if problems:
            raise ConfigError(f"invalid forecast settings: {'; '.join(problems)}")


@dataclass(frozen=True, slots=True)
class Period:
    """A period found in a series: its length, how much it explains, how often it was seen."""

    seconds: int
    strength: float
    """Cross-validated share of the variance (at the series' own step) the period's
    profile explains: 1 is perfectly repeated, 0 or less is no better than a constant."""
    cycles: int

    def __str__(self) -> str:
        return format_seconds(self.seconds)


@dataclass(frozen=True, slots=True)
class PeriodReport:
    """The period used for forecasting (None: not periodic) and every candidate tried."""

    name: str
    period: Period | None
    candidates: tuple[Period, ...]
    reason: str

    @property
    def periodic(self) -> bool:
        return self.period is not None


@dataclass(frozen=True, slots=True)
class Member:
    """One estimator in a forecast's average: its name, margin and backtest error."""

    estimator: str
    margin: float
    backtest_error: float

    def __str__(self) -> str:
        return f"{self.estimator}+{self.margin:.1%}"


@dataclass(frozen=True, slots=True)
class Forecast:
    """The next ``horizon`` of one series on a regular grid, with an uncertainty band.

    ``values`` is what to provision for: the average of the best estimators, each with its
    margin, tuned to the asymmetric error (so it sits above the most likely value).
    ``lower``/``upper`` bound the actual with nominal probability ``coverage`` (from the
    backtest residuals).
    """

    name: str
    start: float
    step: int
    values: FloatArray
    lower: FloatArray
    upper: FloatArray
    coverage: float
    period: Period | None
    members: tuple[Member, ...]
    """The averaged estimators, best first."""
    backtest_error: float
    """Weighted mean asymmetric error of the forecast method over the backtest origins."""
    backtest_origins: int
    history_start: float
    """First timestamp of the history used (later than the data after a level shift)."""
    candidates: dict[str, float] = field(default_factory=dict)
    """Backtest error of every estimator tried, at its best margin."""

    @property
    def estimator(self) -> str:
        """How the values were made, e.g. ``mean(max(7c)+10.0%, seasonal(opt,±2m,7c)+5.0%)``."""
        if len(self.members) == 1:
            return str(self.members[0])
        return f"mean({', '.join(str(m) for m in self.members)})"

    @property
    def timestamps(self) -> FloatArray:
        return self.start + self.step * np.arange(self.values.size, dtype=np.float64)

    def peak(self) -> tuple[float, float]:
        """Time and value of the highest point of the forecast."""
        i = int(np.argmax(self.values))
        return float(self.start + i * self.step), float(self.values[i])
