"""Block summaries merged in order against direct numpy computation; rsimsum's MC SE formulas."""

import math

import numpy as np
import pytest

from sim.estimates import MEAN, PROPORTION, QUANTILES, BlockSummary, estimates


def _merged(values, block):
    total = None
    for start in range(0, len(values), block):
        summary = BlockSummary.of(values[start : start + block])
        total = summary if total is None else total.merge(summary)
    return total


def test_merging_blocks_equals_one_pass_over_all_replicates():
    rng = np.random.default_rng(3)
    values = np.column_stack([rng.random(1234) < 0.3, rng.normal(5, 2, 1234)]).astype(float)
    values[rng.random(1234) < 0.2, 1] = np.nan  # undefined in some replicates
    for block in (1, 7, 100, 5000):
        result = estimates(_merged(values, block), ("power", "median"), (PROPORTION, MEAN))
        p = values[:, 0].mean()
        assert result["power"].estimate == pytest.approx(p, rel=1e-12)
        assert result["power"].mc_se == pytest.approx(math.sqrt(p * (1 - p) / 1234), rel=1e-12)
        defined = values[~np.isnan(values[:, 1]), 1]
        assert result["median"].replicates == len(defined)
        assert result["median"].estimate == pytest.approx(defined.mean(), rel=1e-12)
        expected_se = defined.std(ddof=1) / math.sqrt(len(defined))
        assert result["median"].mc_se == pytest.approx(expected_se, rel=1e-10)


def test_a_metric_never_defined_has_no_estimate():
    summary = BlockSummary.of(np.array([[np.nan], [np.nan]]))
    result = estimates(summary, ("median",), (MEAN,))["median"]
    assert result.replicates == 0 and math.isnan(result.estimate)
    assert result.as_dict() == {"estimate": None, "mc_se": None, "replicates": 0}


def test_quantiles_are_order_statistics_merged_exactly_across_blocks():
    from sim.estimates import QUANTILES

    rng = np.random.default_rng(5)
    values = np.round(rng.gamma(2.0, 3.0, size=(999, 1)), 3)
    for block in (1, 100, 999):
        result = estimates(_merged_kinds(values, block, (QUANTILES,)), ("t",), (QUANTILES,))
        for suffix, p in (("q10", 0.1), ("median", 0.5), ("q90", 0.9)):
            # numpy's "inverted_cdf" is the order statistic of rank ceil(R p)
            expected = np.quantile(values[:, 0], p, method="inverted_cdf")
            assert result[f"t_{suffix}"].estimate == pytest.approx(expected, abs=1e-9)
            assert result[f"t_{suffix}"].replicates == 999
            assert result[f"t_{suffix}"].mc_se > 0


def _merged_kinds(values, block, kinds):
    total = None
    for start in range(0, len(values), block):
        summary = BlockSummary.of(values[start : start + block], kinds)
        total = summary if total is None else total.merge(summary)
    return total


def test_a_quantile_se_is_unknown_when_its_ranks_run_off_the_sample():
    """The SE reads ranks R p -/+ sqrt(R p (1 - p)); at the 10% quantile of 3 values the lower
    one is below 1: no SE (it was 0, claiming no Monte Carlo error); from R = 10 there is one."""
    for reps, known in ((3, False), (9, False), (10, True)):
        values = np.arange(reps, dtype=float)[:, None] * 1.5 + 1.0
        summary = BlockSummary.of(values, (QUANTILES,))
        low = estimates(summary, ("x",), (QUANTILES,))["x_q10"]
        assert math.isfinite(low.mc_se) == known, (reps, low)
