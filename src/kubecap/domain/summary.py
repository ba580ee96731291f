"""Summaries over a window's evaluation points, vectorised over many rows at once.

Each input is a matrix with one row per workload container (or workload) and one column per
evaluation point, NaN where the row has no value at that point. The quantile method is
numpy's "linear", which is Prometheus' quantile_over_time: rank q·(n−1), interpolated.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float64]
Vector = npt.NDArray[np.float64]


def counts(matrix: Matrix) -> npt.NDArray[np.int64]:
    """Points with a value, per row."""
    return np.sum(~np.isnan(matrix), axis=1).astype(np.int64)


def _reduce_rows(matrix: Matrix, reducer: str, q: float = 0.0) -> Vector:
    out = np.full(matrix.shape[0], np.nan)
    filled = counts(matrix) > 0
    if filled.any():
        rows = matrix[filled]
        if reducer == "quantile":
            out[filled] = np.nanquantile(rows, q, axis=1, method="linear")
        elif reducer == "max":
            out[filled] = np.nanmax(rows, axis=1)
        elif reducer == "min":
            out[filled] = np.nanmin(rows, axis=1)
        elif reducer == "mean":
            out[filled] = np.nanmean(rows, axis=1)
        else:
            raise ValueError(f"unknown reducer {reducer!r}")
    return out


def quantile(matrix: Matrix, q: float) -> Vector:
    return _reduce_rows(matrix, "quantile", q)


def maximum(matrix: Matrix) -> Vector:
    return _reduce_rows(matrix, "max")


def minimum(matrix: Matrix) -> Vector:
    return _reduce_rows(matrix, "min")


def mean(matrix: Matrix) -> Vector:
    return _reduce_rows(matrix, "mean")


def optional(value: float) -> float | None:
    """A float for storage: NaN (no data) becomes None."""
    return None if np.isnan(value) else float(value)


IntVector = npt.NDArray[np.int64]


def weighted_mean_by_group(values: Matrix, weights: Vector, group: IntVector, groups: int) -> Matrix:
    """Per group, the mean of the members' rows weighted by ``weights``; NaN members are left out.

    This pools per-pod figures into a workload container's figure: each pod's quantile
    counts as many times as the pod has points in the window, so a pod that lived ten
    minutes weighs a ninth of one that lived the whole 90.
    """
    usable = ~np.isnan(values) & (weights[:, None] > 0)
    weighted = np.where(usable, values * weights[:, None], 0.0)
    mass = np.where(usable, weights[:, None], 0.0)
    totals = np.zeros((groups, values.shape[1]))
    masses = np.zeros((groups, values.shape[1]))
    np.add.at(totals, group, weighted)
    np.add.at(masses, group, mass)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(masses > 0, totals / masses, np.nan)


def max_by_group(values: Vector, group: IntVector, groups: int) -> Vector:
    """Per group, the largest member value ignoring NaN (NaN when none)."""
    out = np.full(groups, -np.inf)
    np.fmax.at(out, group, np.where(np.isnan(values), -np.inf, values))
    return np.where(np.isneginf(out), np.nan, out)


def sum_by_group(values: Vector, group: IntVector, groups: int) -> Vector:
    """Per group, the sum of member values ignoring NaN (NaN when every member is NaN)."""
    total = np.zeros(groups)
    seen = np.zeros(groups)
    np.add.at(total, group, np.nan_to_num(values, nan=0.0))
    np.add.at(seen, group, (~np.isnan(values)).astype(np.float64))
    return np.where(seen > 0, total, np.nan)
