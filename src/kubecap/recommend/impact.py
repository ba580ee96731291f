"""Savings and risk of recommended values, from the same history the strategy read.

Savings (per month, at the current replicas and OpenCost's default prices unless told
otherwise) are Δrequest × replicas × price × 730 h; they are unknown (None) for a container
without a current request, since nothing is reserved today to compare with. Risk is what
the history says would have happened with the new values: the share of time CPU usage
exceeded the new request (read from the days' mixed CPU distribution), the days whose
memory maximum exceeded the new request and the new limit (an OOM kill), the highest CPU
throttling and the OOM kills seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kubecap.domain.recommendation import GIB, MONTH_HOURS
from kubecap.recommend.distribution import CPU_LEVELS, Mixture, cpu_knots
from kubecap.recommend.history import DailyHistory, IntVector, Vector, row_max, row_mean
from kubecap.recommend.settings import EngineSettings


@dataclass(frozen=True)
class SavingsColumns:
    cpu_core_hours: Vector
    mem_gib_hours: Vector
    usd: Vector


@dataclass(frozen=True)
class RiskColumns:
    cpu_time_above_request: Vector
    mem_days_above_request: IntVector
    mem_days_above_limit: IntVector
    days: IntVector
    throttle_max: Vector
    oom_kills: Vector


def replicas_now(history: DailyHistory) -> Vector:
    """Per container, the average number of replicas over the history (NaN without data)."""
    replicas = np.where(
        np.isnan(history.whole["replicas_avg"]), history.peak["replicas_avg"], history.whole["replicas_avg"]
    )
    return row_mean(replicas)


def savings(
    cpu_now: Vector,
    cpu_new: Vector,
    mem_now: Vector,
    mem_new: Vector,
    replicas: Vector,
    settings: EngineSettings,
) -> SavingsColumns:
    """Monthly savings of going from the current to the new requests (negative: it costs more)."""
    hours = np.nan_to_num(replicas, nan=1.0) * MONTH_HOURS
    core_hours = (cpu_now - cpu_new) * hours
    gib_hours = (mem_now - mem_new) / GIB * hours
    usd = np.nan_to_num(core_hours) * settings.cpu_price + np.nan_to_num(gib_hours) * settings.memory_price
    unknown = np.isnan(core_hours) & np.isnan(gib_hours)
    return SavingsColumns(core_hours, gib_hours, np.where(unknown, np.nan, usd))


def risk(history: DailyHistory, cpu_request: Vector, mem_request: Vector, mem_limit: Vector) -> RiskColumns:
    """What ``history`` says the new values would have met."""
    whole = history.whole
    mixture = Mixture.build(cpu_knots(whole), CPU_LEVELS, whole["samples"])
    with np.errstate(invalid="ignore"):
        above = mixture.share_above(cpu_request)
    mem_max = whole["mem_max"]
    days = (~np.isnan(mem_max)).sum(axis=1).astype(np.int64)
    over_request = (mem_max > mem_request[:, None]).sum(axis=1).astype(np.int64)
    over_limit = (mem_max > mem_limit[:, None]).sum(axis=1).astype(np.int64)
    throttle_max = row_max(whole["cpu_throttle_ratio"])
    ooms = np.nansum(whole["oom_kills"], axis=1)
    return RiskColumns(above, over_request, over_limit, days, throttle_max, ooms)
