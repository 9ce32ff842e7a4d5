"""Pearson's chi-square goodness of fit for counts, shared by the accrual tests."""

import numpy as np
from scipy import stats


def chi_square_pvalue(values, pmf):
    """Pearson's chi-square test of integer `values` against a pmf: an array pmf[k], k = 0..K (the
    rest of the mass is the upper tail), or a function of k evaluated well past the largest value.
    Bins are pooled left to right to an expected count >= 5."""
    if callable(pmf):
        pmf = pmf(np.arange(int(values.max()) + 50))
    n = values.size
    expected = np.append(n * pmf, n * (1.0 - pmf.sum()))
    observed = np.bincount(np.minimum(values, pmf.size), minlength=pmf.size + 1)
    observed_bins, expected_bins = [], []
    run_observed = run_expected = 0.0
    for obs, exp in zip(observed, expected, strict=True):
        run_observed += obs
        run_expected += exp
        if run_expected >= 5.0:
            observed_bins.append(run_observed)
            expected_bins.append(run_expected)
            run_observed = run_expected = 0.0
    observed_bins[-1] += run_observed
    expected_bins[-1] += run_expected
    return stats.chisquare(observed_bins, expected_bins).pvalue
