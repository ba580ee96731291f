import numpy as np
import pytest

from kubecap.domain import summary

NAN = np.nan
GROUP = np.array([0, 0, 1, 2], dtype=np.int64)


def test_weighted_mean_counts_each_member_by_its_weight() -> None:
    values = np.array([[0.8, 1.0], [0.2, NAN], [0.5, 0.5], [NAN, NAN]])
    weights = np.array([5.0, 2.0, 0.0, 3.0])
    got = summary.weighted_mean_by_group(values, weights, GROUP, 3)
    assert got[0, 0] == pytest.approx((0.8 * 5 + 0.2 * 2) / 7)
    assert got[0, 1] == pytest.approx(1.0)  # the NaN member is left out, not counted as zero
    assert np.isnan(got[1]).all()  # weight 0: no data behind it
    assert np.isnan(got[2]).all()


def test_max_and_sum_leave_nan_out() -> None:
    values = np.array([3.0, NAN, NAN, -1.0])
    assert summary.max_by_group(values, GROUP, 3).tolist()[0] == 3.0
    assert np.isnan(summary.max_by_group(values, GROUP, 3)[1])
    assert summary.max_by_group(values, GROUP, 3)[2] == -1.0
    sums = summary.sum_by_group(values, GROUP, 3)
    assert sums[0] == 3.0 and np.isnan(sums[1]) and sums[2] == -1.0


def test_optional() -> None:
    assert summary.optional(NAN) is None
    assert summary.optional(np.float64(2.5)) == 2.5
