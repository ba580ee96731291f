"""Small composable steps that build one resource value for every container, and say why.

A recommendation is composed, as in the VPA's estimators, from steps such as percentile →
margin → bounds → minimum → rounding. Each step maps an ``Estimate`` (a value per container
and the notes so far) to the next one and adds a note: a phrase per container, written only
for the containers it changed. The explanation of a value is its notes, in order:
"CPU request 340m = highest daily 10:00-11:30 P95 of the last 10 days (2026-11-18), no margin".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property

import numpy as np
import numpy.typing as npt

from kubecap.domain.quantity import format_cpu

Vector = npt.NDArray[np.float64]
Matrix = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]
Phrase = Callable[[int], str]

MIB = float(2**20)
MILLICORE = 1e-3


@dataclass(frozen=True)
class Note:
    """A phrase for the containers in ``where`` (all of them when None)."""

    phrase: Phrase
    where: Mask | None = None

    @cached_property
    def _where(self) -> list[bool] | None:
        # A Python list: indexing it per container is ten times cheaper than indexing the array.
        return None if self.where is None else self.where.tolist()

    def applies(self, i: int) -> bool:
        where = self._where
        return where is None or where[i]


@dataclass(frozen=True)
class Estimate:
    """One resource value per container (NaN: none) and how it came about."""

    values: Vector
    notes: tuple[Note, ...] = field(default=())

    def then(self, values: Vector, phrase: Phrase | None = None, where: Mask | None = None) -> Estimate:
        notes = self.notes if phrase is None else (*self.notes, Note(phrase, where))
        return Estimate(np.asarray(values, dtype=float), notes)

    def phrases(self, i: int) -> list[str]:
        return [note.phrase(i) for note in self.notes if note.applies(i)]


def unit_format(resource: str) -> Callable[[float], str]:
    return format_cpu if resource == "cpu" else format_memory


def format_memory(value: float) -> str:
    """Bytes as whole MiB ("300Mi") or GiB when exact ("2Gi"): the units recommendations round to."""
    mib = round(value / MIB)
    return f"{mib // 1024}Gi" if mib >= 1024 and mib % 1024 == 0 else f"{mib}Mi"


def percent(fraction: float) -> str:
    return f"{fraction * 100:g} %"


# --- estimators: where a value starts ---------------------------------------------------------


def highest_daily(matrix: Matrix, first_day: date, what: Callable[[int], str]) -> Estimate:
    """Per container, the highest daily value of ``matrix`` and the day it happened.

    ``what(i)`` names the figure for container i ("daily 10:00-11:30 P95 of the last 10 days").
    """
    filled = ~np.isnan(matrix).all(axis=1) if matrix.shape[1] else np.zeros(matrix.shape[0], dtype=bool)
    safe = np.where(np.isnan(matrix), -np.inf, matrix)
    column = np.argmax(safe, axis=1) if matrix.shape[1] else np.zeros(matrix.shape[0], dtype=np.int64)
    values = np.where(filled, safe[np.arange(len(safe)), column] if matrix.shape[1] else np.nan, np.nan)

    def phrase(i: int) -> str:
        return f"= highest {what(i)} ({first_day + timedelta(days=int(column[i]))})"

    return Estimate(values).then(values, phrase)


def given(values: Vector, phrase: Phrase) -> Estimate:
    """A starting value computed elsewhere (a percentile of a mixture, for instance)."""
    return Estimate(np.asarray(values, dtype=float)).then(values, phrase)


# --- steps --------------------------------------------------------------------------------------


def with_margin(estimate: Estimate, fraction: float | Vector, *, say_none: bool = True) -> Estimate:
    """Add a safety margin (a fraction of the value, one for all or one per container)."""
    margin = np.broadcast_to(np.asarray(fraction, dtype=float), estimate.values.shape)
    values = estimate.values * (1.0 + margin)
    if np.ndim(fraction) == 0:
        if float(fraction) == 0.0:
            return estimate.then(values, (lambda i: "no margin") if say_none else None)
        return estimate.then(values, lambda i: f"+{percent(float(fraction))} margin")
    return estimate.then(
        values, lambda i: f"+{percent(float(margin[i]))} margin" if margin[i] else "no margin"
    )


def scaled(estimate: Estimate, factor: Vector, phrase: Phrase, where: Mask | None = None) -> Estimate:
    """Multiply by a per-container factor (confidence multipliers, bumps)."""
    return estimate.then(estimate.values * factor, phrase, where)


def at_least(estimate: Estimate, minimum: float | Vector, resource: str) -> Estimate:
    """Raise values below a minimum to it (missing values stay missing)."""
    floor = np.broadcast_to(np.asarray(minimum, dtype=float), estimate.values.shape)
    raised = estimate.values < floor
    fmt = unit_format(resource)
    return estimate.then(
        np.where(raised, floor, estimate.values),
        lambda i: f"raised to the {fmt(float(floor[i]))} minimum",
        raised,
    )


def at_most(estimate: Estimate, cap: Vector, phrase: Phrase) -> Estimate:
    """Lower values above a per-container cap (NaN caps leave values alone)."""
    over = estimate.values > cap
    return estimate.then(np.where(over, cap, estimate.values), phrase, over)


def round_up(estimate: Estimate, unit: float) -> Estimate:
    """Round up to whole units (CPU millicores, memory MiB); rounding is never explained."""
    # The tolerance keeps a value that is a whole number of units up to float noise where it is.
    units = np.ceil(estimate.values / unit - 1e-9)
    return estimate.then(np.where(np.isnan(estimate.values), np.nan, units * unit))
