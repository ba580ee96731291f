"""NaN-aware reductions over the last axis, vectorised and silent.

numpy's ``nanquantile`` walks rows one by one for multi-dimensional input and its ``nan*``
reductions warn on empty slices (warnings are errors in this project's tests). Missing
samples are routine here — gaps, history cut at a level shift, a phase window that runs
off the edge — so these helpers sort once and read every requested quantile from the
sorted array, returning NaN for an empty slice without a warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def count(x: FloatArray, axis: int = -1) -> NDArray[np.intp]:
    """Number of finite values along ``axis``."""
    return np.asarray(np.sum(np.isfinite(x), axis=axis), dtype=np.intp)


def nan_sum(x: FloatArray, axis: int = -1) -> FloatArray:
    """Sum of the finite values (0 for an empty slice)."""
    return np.asarray(np.sum(np.where(np.isfinite(x), x, 0.0), axis=axis), dtype=np.float64)


def nan_mean(x: FloatArray, axis: int = -1) -> FloatArray:
    """Mean of the finite values; NaN for an empty slice."""
    n = count(x, axis)
    s = nan_sum(x, axis)
    return np.asarray(np.divide(s, n, out=np.full(s.shape, np.nan), where=n > 0), dtype=np.float64)


def nan_max(x: FloatArray, axis: int = -1) -> FloatArray:
    """Maximum of the finite values; NaN for an empty slice."""
    return np.asarray(np.fmax.reduce(x, axis=axis), dtype=np.float64)


def sorted_last(x: FloatArray) -> tuple[FloatArray, NDArray[np.intp]]:
    """``x`` sorted along the last axis (NaNs last) and the count of finite values."""
    return np.sort(x, axis=-1), count(x, -1)


def quantiles_of_sorted(s: FloatArray, n: NDArray[np.intp], qs: Sequence[float]) -> FloatArray:
    """Quantiles (linear interpolation, numpy's default) of pre-sorted rows.

    Returns an array with a leading axis over ``qs``; NaN where a row has no finite value.
    """
    out = np.empty((len(qs), *s.shape[:-1]), dtype=np.float64)
    last = np.maximum(n - 1, 0)
    for i, q in enumerate(qs):
        pos = q * last
        lo = np.floor(pos).astype(np.intp)
        hi = np.minimum(lo + 1, last)
        frac = pos - lo
        v_lo = np.take_along_axis(s, lo[..., None], axis=-1)[..., 0]
        v_hi = np.take_along_axis(s, hi[..., None], axis=-1)[..., 0]
        out[i] = np.where(n > 0, v_lo + (v_hi - v_lo) * frac, np.nan)
    return out


def nan_quantile(x: FloatArray, q: float) -> FloatArray:
    """One quantile of the finite values along the last axis; NaN for an empty slice."""
    s, n = sorted_last(x)
    return np.asarray(quantiles_of_sorted(s, n, [q])[0], dtype=np.float64)


def nan_median(x: FloatArray) -> FloatArray:
    """Median of the finite values along the last axis; NaN for an empty slice."""
    return nan_quantile(x, 0.5)


def _edge_windows(x: NDArray[Any], length: int) -> NDArray[Any]:
    """Centred windows of ``length`` along the last axis, edges padded with the nearest value."""
    left, right = length // 2, (length - 1) // 2
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(left, right)], mode="edge")
    return np.lib.stride_tricks.sliding_window_view(padded, length, axis=-1)


def moving_sum(x: FloatArray, length: int) -> FloatArray:
    """Centred moving sum over ``length`` points along the last axis (edges use the nearest value)."""
    left, right = length // 2, (length - 1) // 2
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(left, right)], mode="edge")
    total = np.cumsum(padded, axis=-1)
    total = np.concatenate([np.zeros((*total.shape[:-1], 1)), total], axis=-1)
    return np.asarray(total[..., length:] - total[..., :-length], dtype=np.float64)


def moving_median(x: FloatArray, length: int) -> FloatArray:
    """Centred moving median over ``length`` points (odd) along the last axis; ``x`` has no NaN."""
    return np.asarray(np.median(_edge_windows(x, length), axis=-1), dtype=np.float64)


def moving_max(x: NDArray[np.bool_], length: int) -> NDArray[np.bool_]:
    """Centred moving "any" over ``length`` points along the last axis."""
    return np.asarray(_edge_windows(x, length).any(axis=-1), dtype=np.bool_)
