"""Vectorised reductions of per-member values to groups (pods to workload containers).

NaN means "no value" throughout: it is left out of every reduction, and a group with no
value at all gets NaN (None once stored).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float64]
Vector = npt.NDArray[np.float64]


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
