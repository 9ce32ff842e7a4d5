"""Accrual prediction (Poisson-gamma posterior and posterior predictive) against closed forms,
Monte Carlo and calibration under the prior.

Monte Carlo checks use fixed seeds and a tolerance of 3 Monte Carlo standard errors; pmf checks use
Pearson's chi-square goodness-of-fit test at level 0.001 (bins pooled to an expected count >= 5).
"""

import math

import numpy as np
import pytest
from goodness_of_fit import chi_square_pvalue
from scipy import optimize, stats

from sim.accrual import PiecewiseLinearIntensity
from sim.accrual_prediction import (
    GammaRate,
    RatePosterior,
    SiteRate,
    empirical_bayes_prior,
    pooled_posterior,
    predict_target,
    predicted_count_pmf,
    probability_target_by,
    site_posteriors,
)
from sim.units import DAYS_PER_MONTH

MONTH = DAYS_PER_MONTH


def assert_proportion_within_3se(hits, probability):
    standard_error = math.sqrt(probability * (1.0 - probability) / hits.size)
    assert abs(hits.mean() - probability) <= 3.0 * standard_error, (hits.mean(), probability)


# --- posteriors ----------------------------------------------------------------------------------


def test_pooled_posterior_is_conjugate_gamma():
    """Source: Poisson-gamma conjugacy (Gelman et al., BDA 3rd ed., section 2.6): n registrations
    in T months turn Gamma(a, b) into Gamma(a + n, b + T). 12 in 10 months: Jeffreys' Gamma(1/2, 0)
    gives Gamma(12.5, 10); Gamma(2, 8) gives Gamma(14, 18)."""
    days = np.linspace(5.0, 9.5 * MONTH, 12)
    jeffreys = pooled_posterior(days, 10.0 * MONTH)
    assert jeffreys.prior_source == "jeffreys" and jeffreys.registered == 12
    assert jeffreys.sites[0].posterior.shape == 12.5
    assert jeffreys.sites[0].posterior.rate_months == pytest.approx(10.0, rel=1e-12)
    given = pooled_posterior(days, 10.0 * MONTH, GammaRate(2.0, 8.0))
    assert given.prior_source == "given"
    assert given.sites[0].posterior.shape == 14.0
    assert given.sites[0].posterior.rate_months == pytest.approx(18.0, rel=1e-12)
    assert given.rate_mean_per_month == pytest.approx(14.0 / 18.0)


def test_site_posteriors_hand_worked():
    """Source: conjugacy per centre (as above), prior Gamma(2, 8), as of month 12. Centre a, open
    from day 0, 3 registrations: Gamma(5, 20). Centre b, open from month 4, 1: Gamma(3, 16).
    Centre c opens at month 14: no data, so its posterior is the prior Gamma(2, 8)."""
    activation = {"a": 0.0, "b": 4.0 * MONTH, "c": 14.0 * MONTH}
    posterior = site_posteriors(
        [10.0, 5.0 * MONTH, 100.0, 200.0],
        ["a", "b", "a", "a"],
        activation,
        12.0 * MONTH,
        GammaRate(2.0, 8.0),
    )
    by_site = {s.site: s for s in posterior.sites}
    assert by_site["a"].posterior.shape == 5.0
    assert by_site["a"].posterior.rate_months == pytest.approx(20.0, rel=1e-12)
    assert by_site["b"].posterior.shape == 3.0
    assert by_site["b"].posterior.rate_months == pytest.approx(16.0, rel=1e-12)
    assert by_site["c"].posterior == GammaRate(2.0, 8.0)
    assert (by_site["a"].registered, by_site["b"].registered, by_site["c"].registered) == (3, 1, 0)
    # Only the open centres make up the current rate: 5/20 + 3/16.
    assert posterior.rate_mean_per_month == pytest.approx(0.25 + 0.1875)


def test_site_posteriors_reject_inconsistent_data():
    activation = {"a": 0.0, "b": 6.0 * MONTH}
    with pytest.raises(ValueError, match="before its activation"):
        site_posteriors([30.0], ["b"], activation, 12.0 * MONTH, GammaRate(1.0, 4.0))
    with pytest.raises(ValueError, match="no activation day"):
        site_posteriors([30.0], ["z"], activation, 12.0 * MONTH, GammaRate(1.0, 4.0))
    with pytest.raises(ValueError, match=r"\[0, as_of_day"):
        pooled_posterior([30.0, 400.0], 12.0 * MONTH)


# --- empirical Bayes -----------------------------------------------------------------------------


def negative_binomial_log_likelihood(prior, counts, exposures):
    """Independent coding of the marginal likelihood: n_i ~ NegBin(a, b / (b + T_i)) (scipy)."""
    return stats.nbinom.logpmf(
        counts, prior.shape, prior.rate_months / (prior.rate_months + exposures)
    ).sum()


def test_empirical_bayes_equal_exposures_matches_an_independent_fit_and_the_sample_mean():
    """Sources: (1) with equal exposures T the score equation for the mean gives m = mean(n) / T
    (the negative binomial MLE of the mean is the sample mean, for any shape); (2) an independent
    maximiser (Nelder-Mead on scipy's nbinom log-pmf in (size, prob)): our likelihood is at least
    as high and the shapes agree."""
    rng = np.random.default_rng(31)
    exposure = 12.0
    counts = rng.negative_binomial(2.0, 8.0 / (8.0 + exposure), size=60)
    prior = empirical_bayes_prior(counts, np.full(counts.size, exposure))
    assert prior.mean_per_month == pytest.approx(counts.mean() / exposure, rel=1e-5)
    independent = optimize.minimize(
        lambda x: -stats.nbinom.logpmf(counts, math.exp(x[0]), 1.0 / (1.0 + math.exp(-x[1]))).sum(),
        x0=np.array([0.0, 0.0]),
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 10_000},
    )
    ours = negative_binomial_log_likelihood(prior, counts, np.full(counts.size, exposure))
    assert ours >= -independent.fun - 1e-6
    assert prior.shape == pytest.approx(math.exp(independent.x[0]), rel=1e-4)


def test_empirical_bayes_unequal_exposures_is_a_maximum():
    """Source: definition of the MLE, with the likelihood coded independently (scipy's nbinom):
    moving either parameter by 1% in either direction lowers the likelihood."""
    rng = np.random.default_rng(32)
    exposures = rng.uniform(3.0, 24.0, 40)
    rates = rng.gamma(1.5, 0.4 / 1.5, 40)
    counts = rng.poisson(rates * exposures)
    prior = empirical_bayes_prior(counts, exposures)
    best = negative_binomial_log_likelihood(prior, counts, exposures)
    for shape_factor, rate_factor in [(1.01, 1.0), (0.99, 1.0), (1.0, 1.01), (1.0, 0.99)]:
        moved = GammaRate(prior.shape * shape_factor, prior.rate_months * rate_factor)
        assert negative_binomial_log_likelihood(moved, counts, exposures) < best


def test_empirical_bayes_without_extra_poisson_variation_is_a_common_rate():
    """Source: counts exactly proportional to exposure show no over-dispersion, so the likelihood
    increases with the shape up to its bound (1e4) and the mean is the pooled rate 4 / 8 = 0.5."""
    prior = empirical_bayes_prior([2, 4, 6], [4.0, 8.0, 12.0])
    assert prior.shape == pytest.approx(1e4)
    assert prior.mean_per_month == pytest.approx(0.5, rel=1e-4)


def test_site_posteriors_empirical_bayes_prior_used_for_every_centre():
    """Source: Anisimov and Fedorov 2007: each centre's posterior is Gamma(a + n_i, b + T_i) with
    the empirical-Bayes (a, b) of the open centres; a centre not yet open keeps (a, b)."""
    activation = {"a": 0.0, "b": 0.0, "c": 3.0 * MONTH, "d": 20.0 * MONTH}
    days = [20.0, 50.0, 90.0, 130.0, 200.0, 250.0, 300.0, 330.0]
    sites = ["a", "a", "a", "b", "a", "c", "a", "a"]
    posterior = site_posteriors(days, sites, activation, 12.0 * MONTH)
    expected_prior = empirical_bayes_prior([6, 1, 1], [12.0, 12.0, 9.0])
    assert posterior.prior_source == "empirical-bayes"
    assert posterior.prior == expected_prior
    by_site = {s.site: s.posterior for s in posterior.sites}
    assert by_site["a"] == GammaRate(expected_prior.shape + 6, expected_prior.rate_months + 12.0)
    assert by_site["d"] == expected_prior


# --- predictive count ----------------------------------------------------------------------------


def test_predicted_count_pooled_is_negative_binomial_and_matches_monte_carlo():
    """Sources: gamma-Poisson mixture (Anisimov 2011): under Gamma(14, 18) the count in the next 6
    months is NegBin(14, 18 / 24); and a Monte Carlo draw of rate then count (chi-square)."""
    posterior = pooled_posterior(np.linspace(5.0, 9.5 * MONTH, 12), 10.0 * MONTH, GammaRate(2, 8))
    pmf = predicted_count_pmf(posterior, 6.0 * MONTH, 40)
    assert pmf == pytest.approx(stats.nbinom.pmf(np.arange(41), 14.0, 18.0 / 24.0), rel=1e-12)
    rng = np.random.default_rng(41)
    counts = rng.poisson(rng.gamma(14.0, 1.0 / 18.0, 40_000) * 6.0)
    assert chi_square_pvalue(counts, pmf) > 0.001


def test_predicted_count_per_site_with_a_future_centre_matches_monte_carlo():
    """Source: Monte Carlo of the model (each centre's rate from its posterior, then Poisson counts
    over its open time in the window; centre c opens 2 months into the 6-month window), against
    the exact convolution of negative binomials (chi-square)."""
    posterior = RatePosterior(
        as_of_day=12.0 * MONTH,
        registered=4,
        prior=GammaRate(2.0, 8.0),
        prior_source="given",
        sites=(
            SiteRate("a", 0.0, 3, 12.0, GammaRate(5.0, 20.0)),
            SiteRate("b", 4.0 * MONTH, 1, 8.0, GammaRate(3.0, 16.0)),
            SiteRate("c", 14.0 * MONTH, 0, 0.0, GammaRate(2.0, 8.0)),
        ),
    )
    pmf = predicted_count_pmf(posterior, 6.0 * MONTH, 30)
    rng = np.random.default_rng(42)
    draws = 40_000
    open_months = np.array([6.0, 6.0, 4.0])
    shapes, rates = np.array([5.0, 3.0, 2.0]), np.array([20.0, 16.0, 8.0])
    site_rates = rng.gamma(shapes, 1.0 / rates, size=(draws, 3))
    counts = rng.poisson(site_rates * open_months).sum(axis=1)
    assert chi_square_pvalue(counts, pmf) > 0.001
    # Exact mean: sum of a_i / b_i * open months = 1.5 + 1.125 + 1.0.
    assert (np.arange(31) * pmf).sum() == pytest.approx(3.625, rel=1e-6)


# --- time to target ------------------------------------------------------------------------------


def pooled_gamma_posterior(shape, rate_months, registered, as_of_month):
    return RatePosterior(
        as_of_month * MONTH,
        registered,
        GammaRate(0.5, 0.0),
        "jeffreys",
        (SiteRate("all", 0.0, registered, as_of_month, GammaRate(shape, rate_months)),),
    )


def f_closed_form(shape, rate_months, remaining, as_of_month, level, deadline_month):
    """Time to R more under one Gamma(A, B) rate: tau = (R B / A) F(2R, 2A) months, mean
    R B / (A - 1) (derivation in sim/accrual_prediction.py; Anisimov 2011)."""
    scale = remaining * rate_months / shape
    f = stats.f(2 * remaining, 2 * shape)
    tail = (1.0 - level) / 2.0
    return {
        "mean": as_of_month + remaining * rate_months / (shape - 1.0),
        "median": as_of_month + scale * f.ppf(0.5),
        "lower": as_of_month + scale * f.ppf(tail),
        "upper": as_of_month + scale * f.ppf(1.0 - tail),
        "by_deadline": f.cdf((deadline_month - as_of_month) / scale),
    }


def as_months(prediction):
    return {
        "mean": prediction.mean_day / MONTH,
        "median": prediction.median_day / MONTH,
        "lower": prediction.lower_day / MONTH,
        "upper": prediction.upper_day / MONTH,
        "by_deadline": prediction.probability_by_deadline,
    }


def test_pooled_time_to_target_is_scaled_f():
    """Source: f_closed_form (F distribution), for Gamma(14, 18) as of month 10 with 12
    registered, target 40 (R = 28), 80% interval, deadline month 48."""
    posterior = pooled_gamma_posterior(14.0, 18.0, 12, 10.0)
    prediction = predict_target(posterior, 40, level=0.8, deadline_day=48.0 * MONTH)
    expected = f_closed_form(14.0, 18.0, 28, 10.0, 0.8, 48.0)
    assert as_months(prediction) == pytest.approx(expected, rel=1e-10)
    assert prediction.level == 0.8 and prediction.target == 40 and prediction.registered == 12


def test_per_site_time_to_target_matches_f_when_rates_sum_to_one_gamma():
    """Source: two centres open since day 0 with Gamma(5, 20) and Gamma(3, 20) posteriors have a
    total rate Gamma(8, 20) (gammas with a common rate add), so the convolution path must give
    f_closed_form(8, 20, R = 16) (to the root finder's and quadrature's tolerance)."""
    posterior = site_posteriors(
        [10.0, 50.0, 100.0, 200.0],
        ["a", "b", "a", "a"],
        {"a": 0.0, "b": 0.0},
        12.0 * MONTH,
        GammaRate(2.0, 8.0),
    )
    assert [s.posterior for s in posterior.sites] == [GammaRate(5.0, 20.0), GammaRate(3.0, 20.0)]
    prediction = predict_target(posterior, 20, level=0.9, deadline_day=40.0 * MONTH)
    expected = f_closed_form(8.0, 20.0, 16, 12.0, 0.9, 40.0)
    assert as_months(prediction) == pytest.approx(expected, rel=1e-6)


def test_per_site_time_to_target_with_future_centre_matches_monte_carlo():
    """Source: Monte Carlo of the model: rates from the centres' posteriors, then the time for the
    superposed process (centre c opens 3 months from now) to bring R = 12 more, by inverting its
    cumulative intensity at a Gamma(R, 1) unit-process time. Checks the mean, the probability by
    the deadline and the interval's coverage, each within 3 SE."""
    as_of = 12.0 * MONTH
    posterior = site_posteriors(
        [10.0, 40.0, 60.0, 100.0, 150.0, 200.0, 240.0, 300.0, 320.0, 350.0],
        ["a", "a", "b", "a", "b", "a", "a", "b", "a", "a"],
        {"a": 0.0, "b": 0.0, "c": as_of + 3.0 * MONTH},
        as_of,
        GammaRate(4.0, 16.0),
    )
    prediction = predict_target(posterior, 22, level=0.9, deadline_day=as_of + 18.0 * MONTH)
    rng = np.random.default_rng(43)
    draws = 20_000
    shapes = np.array([s.posterior.shape for s in posterior.sites])
    rates = np.array([s.posterior.rate_months for s in posterior.sites])
    opens_in_days = np.array([0.0, 0.0, 3.0 * MONTH])
    unit_times = rng.gamma(12.0, 1.0, draws)
    site_rates = rng.gamma(shapes, 1.0 / rates, size=(draws, 3)) / MONTH  # per day
    days_to_target = np.array(
        [
            PiecewiseLinearIntensity.from_sites(opens_in_days, r).inverse(u)
            for r, u in zip(site_rates, unit_times, strict=True)
        ]
    )
    target_days = as_of + days_to_target
    # Total shape 4 + 7 + 3 + 4 + ... > 2: the variance exists, so the sample sd gives the SE.
    standard_error = target_days.std(ddof=1) / math.sqrt(draws)
    assert abs(target_days.mean() - prediction.mean_day) <= 3.0 * standard_error
    assert_proportion_within_3se(
        target_days <= prediction.deadline_day, prediction.probability_by_deadline
    )
    inside = (target_days >= prediction.lower_day) & (target_days <= prediction.upper_day)
    assert_proportion_within_3se(inside, 0.9)
    assert_proportion_within_3se(target_days <= prediction.median_day, 0.5)


def test_mean_is_infinite_when_total_shape_at_most_one():
    """Source: E[1/Y] for Y ~ Gamma(A) is infinite when A <= 1, so is the mean time (nothing yet
    registered, Jeffreys' prior: A = 1/2)."""
    posterior = pooled_posterior([], 3.0 * MONTH)
    prediction = predict_target(posterior, 5)
    assert prediction.mean_day == math.inf
    assert math.isfinite(prediction.upper_day) and prediction.probability_by_deadline is None


# --- calibration under the prior -----------------------------------------------------------------


def test_pooled_prediction_is_calibrated_when_the_prior_is_true():
    """Source: a posterior predictive under the true prior is calibrated (Cook, Gelman and Rubin
    2006, J Comput Graph Stat 15:675): draw a rate from Gamma(3, 12), registrations over 12 months,
    predict the day of 10 more, then draw that day: the 90% interval covers it 90% of the time,
    and the mean predicted probability of the deadline (month 30) is the frequency of making it."""
    rng = np.random.default_rng(51)
    prior = GammaRate(3.0, 12.0)
    as_of = 12.0 * MONTH
    deadline = 30.0 * MONTH
    replicates = 4000
    covered = np.empty(replicates, dtype=bool)
    made_it = np.empty(replicates, dtype=bool)
    predicted = np.empty(replicates)
    for replicate in range(replicates):
        rate_per_day = rng.gamma(prior.shape, 1.0 / prior.rate_months) / MONTH
        registered = rng.poisson(rate_per_day * as_of)
        days = np.sort(rng.uniform(0.0, as_of, registered))
        target = registered + 10
        prediction = predict_target(
            pooled_posterior(days, as_of, prior), target, level=0.9, deadline_day=deadline
        )
        true_day = as_of + rng.gamma(10.0, 1.0 / rate_per_day)
        covered[replicate] = prediction.lower_day <= true_day <= prediction.upper_day
        made_it[replicate] = true_day <= deadline
        predicted[replicate] = prediction.probability_by_deadline
    assert_proportion_within_3se(covered, 0.9)
    difference = made_it - predicted
    assert abs(difference.mean()) <= 3.0 * difference.std(ddof=1) / math.sqrt(replicates)


def test_per_site_prediction_is_calibrated_when_the_prior_is_true():
    """Source: as above (Cook, Gelman and Rubin 2006), per centre: four centres with rates from
    Gamma(2, 8), opening at months 0, 2, 5 and 15, observed to month 12, target = registered + 15.
    The probability integral transform P(predicted day <= true day) must be Uniform(0, 1):
    Kolmogorov-Smirnov at level 0.001, and the central 90% within 3 SE."""
    rng = np.random.default_rng(52)
    prior = GammaRate(2.0, 8.0)
    as_of = 12.0 * MONTH
    activation_days = np.array([0.0, 2.0, 5.0, 15.0]) * MONTH
    activation = {f"site{i}": day for i, day in enumerate(activation_days)}
    replicates = 4000
    transformed = np.empty(replicates)
    for replicate in range(replicates):
        site_rates = rng.gamma(prior.shape, 1.0 / prior.rate_months, 4) / MONTH
        intensity = PiecewiseLinearIntensity.from_sites(activation_days, site_rates)
        # Registrations so far: Poisson per centre over its open time, uniform within it.
        days, sites = [], []
        for index, (opened, rate) in enumerate(zip(activation_days, site_rates, strict=True)):
            open_days = max(as_of - opened, 0.0)
            for day in rng.uniform(opened, opened + open_days, rng.poisson(rate * open_days)):
                days.append(day)
                sites.append(f"site{index}")
        posterior = site_posteriors(days, sites, activation, as_of, prior)
        # The true day of the 15th further registration: invert the cumulative intensity.
        further = rng.gamma(15.0, 1.0)
        true_day = float(intensity.inverse(intensity.cumulative(as_of) + further))
        transformed[replicate] = probability_target_by(posterior, len(days) + 15, true_day)
    assert stats.kstest(transformed, "uniform").pvalue > 0.001
    assert_proportion_within_3se((transformed >= 0.05) & (transformed <= 0.95), 0.9)


def test_quantiles_invert_the_cdf():
    """Source: definition of a quantile: P(target by the q-quantile day) = q (per-site path)."""
    posterior = site_posteriors(
        [10.0, 60.0, 200.0],
        ["a", "b", "a"],
        {"a": 0.0, "b": 30.0, "c": 500.0},
        12.0 * MONTH,
        GammaRate(2.0, 8.0),
    )
    prediction = predict_target(posterior, 15, level=0.8)
    for day, probability in [
        (prediction.lower_day, 0.1),
        (prediction.median_day, 0.5),
        (prediction.upper_day, 0.9),
    ]:
        assert probability_target_by(posterior, 15, day) == pytest.approx(probability, abs=1e-7)


def test_prediction_rejects_reached_target_and_bad_level():
    posterior = pooled_posterior([10.0, 20.0, 30.0], 2.0 * MONTH)
    with pytest.raises(ValueError, match="already reached"):
        predict_target(posterior, 3)
    with pytest.raises(ValueError, match="level"):
        predict_target(posterior, 10, level=1.0)
