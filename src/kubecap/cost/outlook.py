"""Next month's cost from the daily cost history.

The forecast module is asked first (it finds weekly cycles when there are enough weeks);
when it cannot forecast (too short, constant, gaps), the mean of the last 7 days stands in,
and the result says which was used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np

from kubecap.cost.workloads import DAY_HOURS
from kubecap.domain.recommendation import MONTH_HOURS
from kubecap.forecast import DAY, WEEK, CannotForecast, ForecastConfig, Series, forecast

# A daily grid: only a weekly cycle can show in one point per day; eight weeks of history at most.
_CONFIG = ForecastConfig(
    step=DAY, max_fill=DAY, history=8 * WEEK, periods=(WEEK,), search_other_periods=False
)

FORECAST = "forecast"
RECENT_MEAN = "mean of the last 7 days"


@dataclass(frozen=True, slots=True)
class Outlook:
    monthly_usd: float
    method: str
    """``FORECAST`` or ``RECENT_MEAN``."""
    reason: str = ""
    """Why the forecast module could not forecast (empty when it did)."""


def next_month(daily: Mapping[date, float]) -> Outlook | None:
    """Next month's cost from cost per day (None without any day)."""
    if not daily:
        return None
    days = sorted(daily)
    stamps = np.array([datetime.combine(d, time(), UTC).timestamp() for d in days])
    values = np.array([daily[d] for d in days])
    try:
        predicted = forecast(Series(stamps, values, "cost"), timedelta(days=30), _CONFIG)
    except CannotForecast as exc:
        recent = values[-7:]
        return Outlook(float(recent.mean()) / DAY_HOURS * MONTH_HOURS, RECENT_MEAN, str(exc))
    return Outlook(float(np.mean(predicted.values)) / DAY_HOURS * MONTH_HOURS, FORECAST)
