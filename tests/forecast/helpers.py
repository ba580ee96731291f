"""Series builders shared by the forecast tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kubecap.forecast import DAY, Series
from kubecap.forecast.model import FloatArray

START = 1_700_006_400.0  # a Wednesday, 00:00 UTC
TRACES = Path(__file__).resolve().parents[3] / "shared" / "traces"


def grid(days: float, step: int = 300) -> FloatArray:
    return START + step * np.arange(int(days * DAY / step), dtype=np.float64)


def daily_sine(days: float = 14, step: int = 300, *, base: float = 10.0, amplitude: float = 5.0) -> Series:
    """A pure daily sine: base ± amplitude, peaking at 06:00 UTC."""
    t = grid(days, step)
    return Series(t, base + amplitude * np.sin(2 * np.pi * (t - START) / DAY), "sine")


def noisy(series: Series, scale: float, seed: int = 0) -> Series:
    rng = np.random.default_rng(seed)
    return Series(
        series.timestamps, series.values * np.exp(scale * rng.standard_normal(series.values.size)), "noisy"
    )


def load_trace(path: Path, column: int = 1, name: str = "") -> Series:
    data = np.loadtxt(path, delimiter=",", skiprows=1, usecols=(0, column))
    return Series(data[:, 0], data[:, 1], name or path.stem)
