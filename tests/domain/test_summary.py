import numpy as np
import pytest

from kubecap.domain import summary

NAN = np.nan


def test_quantile_matches_prometheus_linear_interpolation() -> None:
    # quantile_over_time(0.95, ...) over 1..5: rank 0.95*4 = 3.8 -> 4 + 0.8*(5-4) = 4.8
    m = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])
    assert summary.quantile(m, 0.95)[0] == pytest.approx(4.8)
    assert summary.quantile(m, 0.5)[0] == pytest.approx(3.0)


def test_missing_points_are_ignored_and_empty_rows_are_nan() -> None:
    m = np.array([[NAN, 1.0, NAN, 3.0], [NAN, NAN, NAN, NAN]])
    assert summary.counts(m).tolist() == [2, 0]
    assert summary.maximum(m)[0] == 3.0
    assert np.isnan(summary.maximum(m)[1])
    assert summary.mean(m)[0] == 2.0
    assert summary.minimum(m)[0] == 1.0
    assert summary.optional(summary.quantile(m, 0.9)[1]) is None
