"""Simulated operating characteristics against closed forms, through the real runner.

Tolerances are 3 Monte Carlo SE of the simulated rate; 20,000 replicates make that about 0.005
for a rate near 0.05 and 0.008 near 0.85.
"""

import pytest

from sim.runner import run
from sim.scenario import validate_scenario
from sim.stats import onesample

REPS = 20_000


def _scenario(**phase2):
    """A scenario of the required keys only (the textbook model), plus what a test adds."""
    base = {"n": 30, "alpha": 0.05, "null_median_weeks": 8, "true_median_weeks": 13,
            "follow_up_weeks": 2000}  # long enough for every patient to have an event
    accrual = {"rate_per_month": phase2.pop("rate_per_month", 2.0)}
    return validate_scenario(
        {"trial": {"name": "textbook"}, "accrual": accrual, "phase2": base | phase2}, "textbook"
    )


def _within_3_se(estimate, expected) -> bool:
    return abs(estimate.estimate - expected) <= 3 * estimate.mc_se


@pytest.mark.parametrize("true_median_weeks", [13, 8])
def test_exponential_test_power_and_size_match_the_closed_form(true_median_weeks):
    # Closed form (Epstein and Sobel 1953): with every patient followed to an event,
    # 2 * hazard * sum(T) ~ chi2(2n), so P(reject) = P(chi2(60) > c * 8 / true median),
    # c = chi2(60) upper 5% point: 0.8523 at 13 weeks, exactly 0.05 at 8 weeks.
    result = run(_scenario(true_median_weeks=true_median_weeks), REPS, seed=2024, workers=2)
    expected = onesample.exponential_test_power(30, 0.05, 8 / true_median_weeks)
    assert result.metrics["events_mean"].estimate == 30  # the textbook case: no censoring
    assert result.metrics["early_termination"].estimate == 0
    assert result.reference["textbook_reject_h0"] == pytest.approx(expected)
    assert _within_3_se(result.metrics["reject_h0"], expected)


@pytest.mark.parametrize("method", ["normal", "exact-poisson"])
def test_one_sample_logrank_size_matches_its_closed_form(method):
    # With O = n = 30 and E = null hazard * sum(T) ~ Gamma(30, 1) under H0, the size has a closed
    # form (onesample.logrank_power_complete_followup): 0.0372 normal, 0.0345 exact Poisson.
    scenario = _scenario(true_median_weeks=8, test="one-sample-logrank", logrank_method=method)
    result = run(scenario, REPS, seed=99, workers=2)
    expected = onesample.logrank_power_complete_followup(
        30, 0.05, 1.0, method={"normal": "normal", "exact-poisson": "exact"}[method]
    )
    assert _within_3_se(result.metrics["reject_h0"], expected)


def test_tests_hold_their_size_under_realistic_censoring():
    # Poisson accrual at 1 a month, 10% screen failure, exponential dropout (median 50 weeks) and a
    # final analysis 12 weeks after the last start: censoring the closed forms do not cover. The
    # exponential test's chi-square reference is then the usual approximation and must stay within
    # 3 SE of alpha; the normal one-sample log-rank is conservative at this size (Wu, Pharm Stat
    # 2015;14:26-33) and must not exceed alpha by more than 3 SE.
    realistic = dict(rate_per_month=1.0, true_median_weeks=8, follow_up_weeks=12,
                     dropout_median_weeks=50)
    exponential = run(_scenario(**realistic), REPS, seed=5, workers=2)
    assert exponential.metrics["events_mean"].estimate < 29  # censoring did happen
    assert _within_3_se(exponential.metrics["reject_h0"], 0.05)
    logrank = run(_scenario(test="one-sample-logrank", **realistic), REPS, seed=5, workers=2)
    estimate = logrank.metrics["reject_h0"]
    assert estimate.estimate <= 0.05 + 3 * estimate.mc_se


def test_the_textbook_reference_adds_the_hazard_of_death():
    # PFS ends at progression (median 13 weeks) or death (40): exponential with median
    # 1 / (1/13 + 1/40) = 9.81 weeks; 30 patients followed to an event, so 2 lambda0 T is
    # chi-square on 60 df scaled by 8 / 9.81 (it was evaluated at 13, 0.852 for a true 0.323).
    from scipy import stats

    from sim.runner import reference_figures

    scenario = _scenario(death_median_weeks=40)
    pfs_median = 1 / (1 / 13 + 1 / 40)
    expected = stats.chi2.sf(stats.chi2.ppf(0.95, 60) * 8 / pfs_median, 60)
    assert reference_figures(scenario)["textbook_reject_h0"] == pytest.approx(expected, rel=1e-9)
    assert expected == pytest.approx(0.3228, abs=1e-4)
