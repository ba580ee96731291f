"""Forecasting of periodic load: period detection, estimators chosen by backtest, bands.

Pure numpy, no I/O: callers pass arrays (``Series`` or ``Batch``) and get typed
results. See docs/forecast.md for the method and its evaluation on real traces.
"""

from kubecap.forecast.errors import CannotForecast, Reason
from kubecap.forecast.loss import asymmetric_error, asymmetric_mape
from kubecap.forecast.model import (
    DAY,
    DEFAULT_ESTIMATORS,
    HOUR,
    WEEK,
    Batch,
    EstimatorSpec,
    Forecast,
    ForecastConfig,
    Member,
    Period,
    PeriodReport,
    Regularised,
    Series,
)
from kubecap.forecast.pipeline import (
    detect_period,
    detect_periods,
    forecast,
    forecast_many,
    regularise,
    series_to_batch,
)

__all__ = [
    "DAY",
    "DEFAULT_ESTIMATORS",
    "HOUR",
    "WEEK",
    "Batch",
    "CannotForecast",
    "EstimatorSpec",
    "Forecast",
    "ForecastConfig",
    "Member",
    "Period",
    "PeriodReport",
    "Reason",
    "Regularised",
    "Series",
    "asymmetric_error",
    "asymmetric_mape",
    "detect_period",
    "detect_periods",
    "forecast",
    "forecast_many",
    "regularise",
    "series_to_batch",
]
