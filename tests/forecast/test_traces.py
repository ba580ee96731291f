"""Forecasting on real traces: Crane's DSP test series and their labels.

Crane asserts its period detection on 14-day windows (input0 has 8 days): inputs 0 and 1
are daily, input 2 weekly, inputs 3 to 7 not periodic. The day-ahead figure to beat on
input0 (days 1-7 forecast day 8) is Crane's best, 0.102 (maxValue, margin 0.10).
"""

from pathlib import Path

import numpy as np
import pytest

from kubecap.forecast import (
    DAY,
    WEEK,
    CannotForecast,
    ForecastConfig,
    Series,
    asymmetric_mape,
    detect_period,
    forecast,
)

from .helpers import load_trace

LABELS = {0: DAY, 1: DAY, 2: WEEK, 3: None, 4: None, 5: None, 6: None, 7: None}


def last_days(series: Series, days: int) -> Series:
    keep = series.timestamps >= series.timestamps[-1] - days * DAY
    return Series(series.timestamps[keep], series.values[keep], series.name)


@pytest.mark.parametrize(("index", "label"), LABELS.items())
def test_crane_labels_on_fourteen_day_windows(traces: Path, index: int, label: int | None) -> None:
    series = last_days(load_trace(traces / "crane_dsp" / f"input{index}.csv"), 14)
    try:
        found = detect_period(series).period
    except CannotForecast:  # unusable history (a fresh level shift) claims no period either
        found = None
    assert (found.seconds if found else None) == label


def test_input0_day8_beats_cranes_best(traces: Path) -> None:
    whole = load_trace(traces / "crane_dsp" / "input0.csv")
    cut = whole.timestamps[0] + 7 * DAY
    history = Series(whole.timestamps[whole.timestamps < cut], whole.values[whole.timestamps < cut])
    actual = whole.values[whole.timestamps >= cut]
    fc = forecast(history, DAY)
    assert fc.step == 60 and fc.values.size == actual.size
    assert asymmetric_mape(actual, fc.values) < 0.102


def test_non_periodic_inputs_are_never_forecast(traces: Path) -> None:
    # every day-ahead origin with a week of history: the forecaster must abstain each time
    for index in range(3, 8):
        series = load_trace(traces / "crane_dsp" / f"input{index}.csv")
        for day in (7, 10, 13):
            end = series.timestamps[0] + day * DAY
            keep = series.timestamps < end
            with pytest.raises(CannotForecast):
                forecast(Series(series.timestamps[keep], series.values[keep]), DAY)


def test_a_weekly_cluster_trace_with_a_coarse_working_grid(traces: Path) -> None:
    azure = load_trace(traces / "azure2019_cluster_cpu_mem_5min.csv", 1, "azure cpu")
    history = last_days(azure, 15)
    cut = history.timestamps[-1] - DAY
    past = Series(history.timestamps[history.timestamps <= cut], history.values[history.timestamps <= cut])
    actual = history.values[history.timestamps > cut]
    fc = forecast(past, DAY, ForecastConfig(working_step=900))
    assert fc.period is not None and fc.period.seconds == WEEK
    predicted = np.repeat(fc.values, 3)[: actual.size]
    assert asymmetric_mape(actual, predicted) < 0.15
