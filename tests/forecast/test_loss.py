import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubecap.forecast import asymmetric_error, asymmetric_mape
from kubecap.forecast.loss import MAX_UNDER, margin_error_sums

positive = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize(
    ("actual", "predicted", "expected"),
    [
        (100.0, 100.0, 0.0),
        (100.0, 125.0, 0.25),  # over by 25 %: linear
        (100.0, 200.0, 1.0),  # over by 100 %
        (100.0, 80.0, 1.0),  # under by 20 %: -ln(0.8)/ln(1.25) = 1
        (100.0, 64.0, 2.0),  # under by 36 %: 0.64 = 0.8², so 2
        (100.0, 0.0, math.log(100) / math.log(1.25)),  # e = 1 counts as e = 0.99
        (100.0, -5.0, math.log(100) / math.log(1.25)),  # e > 1 too
    ],
)
def test_hand_computed_points(actual: float, predicted: float, expected: float) -> None:
    assert asymmetric_error([actual], [predicted])[0] == pytest.approx(expected)


def test_zero_and_missing_actuals_are_left_out_of_the_mean() -> None:
    errors = asymmetric_error([0.0, np.nan, 100.0, 100.0], [5.0, 5.0, 125.0, 80.0])
    assert np.isnan(errors[0]) and np.isnan(errors[1])
    assert asymmetric_mape([0.0, np.nan, 100.0, 100.0], [5.0, 5.0, 125.0, 80.0]) == pytest.approx(0.625)


def test_a_window_without_positive_actual_has_no_error() -> None:
    assert math.isnan(asymmetric_mape([0.0, 0.0], [1.0, 2.0]))


@given(positive, st.floats(min_value=0.01, max_value=0.95))
def test_under_prediction_costs_more_than_the_same_over_prediction(actual: float, share: float) -> None:
    over, under = asymmetric_error([actual, actual], [actual * (1 + share), actual * (1 - share)])
    assert under > over > 0


@given(positive, positive, positive)
def test_error_grows_with_distance_on_each_side(actual: float, p1: float, p2: float) -> None:
    near, far = sorted((p1, p2), key=lambda p: abs(p - actual))
    if (near - actual) * (far - actual) > 0:  # same side of the actual
        e_near, e_far = asymmetric_error([actual, actual], [near, far])
        assert e_far >= e_near - 1e-12


@given(st.lists(st.tuples(positive, st.floats(min_value=-10, max_value=1e6)), min_size=1, max_size=30))
def test_margin_sums_match_the_pointwise_error(pairs: list[tuple[float, float]]) -> None:
    actual = np.array([[a for a, _ in pairs]])
    base = np.array([[p for _, p in pairs]])
    margins = np.array([0.0, 0.1, 0.5])
    sums, counts = margin_error_sums(actual, base, margins)
    for i, m in enumerate(margins):
        expected = np.nansum(asymmetric_error(actual, base * (1 + m)))
        assert sums[i, 0] == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert counts[0] == len(pairs)


def test_cap_is_the_documented_constant() -> None:
    assert asymmetric_error([1.0], [0.0])[0] == pytest.approx(-math.log(1 - MAX_UNDER) / math.log(1.25))
