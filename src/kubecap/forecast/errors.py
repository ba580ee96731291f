"""Why a series cannot be forecast, as a typed error callers can fall back on.

A forecast is an optimisation: when the history cannot support one, the caller (predictive
replicas, cost forecasts) must fall back to reactive behaviour rather than act on a guess.
``CannotForecast`` carries a machine-readable ``reason`` for that decision and a one-sentence
message for people. The batch API returns these errors as values, one per series, instead
of raising.
"""

from __future__ import annotations

from enum import StrEnum

from kubecap.errors import KubecapError


class Reason(StrEnum):
    """The reason a series was not forecast."""

    EMPTY = "empty"
    TOO_SHORT = "too_short"
    ALL_ZERO = "all_zero"
    CONSTANT = "constant"
    GAPS = "gaps"
    LEVEL_SHIFT = "level_shift"
    NOT_PERIODIC = "not_periodic"


class CannotForecast(KubecapError):
    """The series cannot be forecast; ``reason`` says why, the message says what to do."""

    def __init__(self, name: str, reason: Reason, detail: str) -> None:
        label = f"series {name!r}" if name else "the series"
        super().__init__(f"cannot forecast {label}: {detail}")
        self.name = name
        self.reason = reason
        self.detail = detail

    def __reduce__(self) -> tuple[type[CannotForecast], tuple[str, Reason, str]]:
        return (CannotForecast, (self.name, self.reason, self.detail))
