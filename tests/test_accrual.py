"""Accrual samplers against closed forms.

Monte Carlo checks use fixed seeds and a tolerance of 3 Monte Carlo standard errors; pmf checks use
Pearson's chi-square goodness-of-fit test at level 0.001 (bins pooled to an expected count >= 5).
"""

import itertools
import math

import numpy as np
import pytest
from goodness_of_fit import chi_square_pvalue
from scipy import stats

from sim.accrual import (
    FixedAccrual,
    FixedActivation,
    PiecewiseAccrual,
    PiecewiseLinearIntensity,
    PoissonAccrual,
    PoissonGammaAccrual,
    SitesAccrual,
    UniformActivation,
    first_arrival_days,
)
from sim.units import DAYS_PER_MONTH

REPS = 20_000


def counts_by_months(model, months, reps, seed):
    """Registrations by each of `months` (inclusive), one row per replicate."""
    rng = np.random.default_rng(seed)
    limits = np.asarray(months, dtype=float) * DAYS_PER_MONTH
    last = limits.max()
    counts = np.empty((reps, limits.size), dtype=np.int64)
    for replicate in range(reps):
        days = []
        for day in model.arrival_days(rng):
            if day > last:
                break
            days.append(day)
        counts[replicate] = np.searchsorted(np.array(days), limits, side="right")
    return counts


def nth_arrival_months(model, n, reps, seed):
    rng = np.random.default_rng(seed)
    return (
        np.array(
            [next(itertools.islice(model.arrival_days(rng), n - 1, None)) for _ in range(reps)]
        )
        / DAYS_PER_MONTH
    )


def assert_mean_within_3se(values, expected_mean, sd=None):
    """|sample mean - expected| <= 3 SE; SE from the known sd if given, else the sample sd."""
    spread = np.std(values, ddof=1) if sd is None else sd
    standard_error = spread / math.sqrt(len(values))
    assert abs(np.mean(values) - expected_mean) <= 3.0 * standard_error, (
        np.mean(values),
        expected_mean,
        standard_error,
    )


def ramp_integral(elapsed_months, ramp_months):
    """Integral of a unit rate ramped linearly over ramp_months, from activation to elapsed_months
    after it (hand integration: x^2 / (2d) during the ramp, x - d/2 after it)."""
    x = max(elapsed_months, 0.0)
    if ramp_months == 0.0:
        return x
    if x <= ramp_months:
        return x * x / (2.0 * ramp_months)
    return x - ramp_months / 2.0


# --- the foundation's models must not move -------------------------------------------------------


def test_poisson_accrual_stream_is_cumulated_exponential_gaps():
    """Source: PoissonAccrual's definition (exponential gaps of mean 1/rate, drawn 32 at a time);
    pins the stream bit for bit so that results of existing scenarios do not move."""
    stream = PoissonAccrual(0.6).arrival_days(np.random.default_rng(11))
    drawn = list(itertools.islice(stream, 40))
    reference_rng = np.random.default_rng(11)
    gaps = np.concatenate([reference_rng.exponential(DAYS_PER_MONTH / 0.6, 32) for _ in range(2)])
    assert drawn == np.cumsum(gaps)[:40].tolist()


def test_fixed_accrual_is_evenly_spaced():
    """Source: FixedAccrual's definition: registration k on day k * month / rate."""
    stream = FixedAccrual(0.5).arrival_days(np.random.default_rng(0))
    expected = [k * DAYS_PER_MONTH / 0.5 for k in range(1, 6)]
    assert list(itertools.islice(stream, 5)) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("model", [FixedAccrual(41.25), PoissonAccrual(0.6)])
def test_bulk_arrival_days_are_the_stream_bit_for_bit(model):
    stream = model.arrival_days(np.random.default_rng(5))
    bulk = first_arrival_days(model, np.random.default_rng(5), 990)
    assert bulk.tolist() == list(itertools.islice(stream, 990))


def test_poisson_count_by_month_is_poisson():
    """Source: a Poisson process of rate r has N(t) ~ Poisson(r t); here 0.6 * 12 = 7.2."""
    counts = counts_by_months(PoissonAccrual(0.6), [12.0], REPS, seed=101)[:, 0]
    assert_mean_within_3se(counts, 7.2, sd=math.sqrt(7.2))
    assert chi_square_pvalue(counts, lambda k: stats.poisson.pmf(k, 7.2)) > 0.001


# --- the piecewise-linear intensity --------------------------------------------------------------


def test_intensity_hand_worked_ramps():
    """Hand integration. Centre 1: rate 0 -> 1/day over days 0-4; centre 2: 0 -> 2/day over days
    10-14; rate 3/day after. Lambda(t) = t^2/8 (t <= 4); 2 + (t - 4) (4 <= t <= 10);
    8 + (t - 10) + (t - 10)^2 / 4 (10 <= t <= 14); 16 + 3 (t - 14)."""
    intensity = PiecewiseLinearIntensity.from_sites(
        np.array([0.0, 10.0]), np.array([1.0, 2.0]), 4.0
    )
    days = np.array([0.0, 2.0, 4.0, 7.0, 10.0, 12.0, 14.0, 20.0])
    expected = np.array([0.0, 0.5, 2.0, 5.0, 8.0, 11.0, 16.0, 34.0])
    assert intensity.cumulative(days) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert intensity.inverse(expected) == pytest.approx(days, rel=1e-12, abs=1e-12)


def test_intensity_inverse_round_trip_with_pause():
    """Source: Lambda^-1(Lambda(t)) = t wherever the rate is positive (definition of the inverse);
    a pause maps to its end, so no arrival falls inside it."""
    intensity = PiecewiseLinearIntensity.from_steps(
        np.array([0.0, 30.0, 60.0, 90.0]), np.array([0.2, 0.0, 0.5, 0.1])
    )
    rng = np.random.default_rng(5)
    days = np.concatenate([rng.uniform(0.0, 30.0, 200), rng.uniform(60.0, 400.0, 200)])
    assert intensity.inverse(intensity.cumulative(days)) == pytest.approx(days, rel=1e-12)
    assert intensity.inverse(np.array([6.0 + 1e-9]))[0] == pytest.approx(60.0)


# --- piecewise -----------------------------------------------------------------------------------

PIECEWISE = PiecewiseAccrual((0.0, 6.0, 9.0, 15.0), (1.0, 0.0, 2.0, 0.5))
# Hand-integrated rate: months 0-6 at 1, 6-9 paused, 9-15 at 2, then 0.5.
PIECEWISE_EXPECTED = {4.0: 4.0, 8.0: 6.0, 12.0: 12.0, 20.0: 20.5}


def test_piecewise_expected_count_hand_worked():
    """Source: hand integration of the rate (PIECEWISE_EXPECTED)."""
    for month, expected in PIECEWISE_EXPECTED.items():
        assert PIECEWISE.expected_count(month) == pytest.approx(expected, rel=1e-12)


def test_piecewise_counts_are_poisson_with_integrated_mean():
    """Source: an inhomogeneous Poisson process has N(t) ~ Poisson(Lambda(t)) (Lambda hand-
    integrated above); and no registration falls in the pause (months 6-9)."""
    months = list(PIECEWISE_EXPECTED)
    counts = counts_by_months(PIECEWISE, months + [6.0, 9.0], REPS, seed=202)
    for column, month in enumerate(months):
        mean = PIECEWISE_EXPECTED[month]
        assert_mean_within_3se(counts[:, column], mean, sd=math.sqrt(mean))
    assert np.array_equal(counts[:, -2], counts[:, -1])  # nothing registered in the pause
    assert chi_square_pvalue(counts[:, 2], lambda k: stats.poisson.pmf(k, 12.0)) > 0.001


def test_piecewise_ending_at_zero_is_a_finite_stream():
    """Source: with rate 0 after month 5 the process has Poisson(Lambda(inf)) = Poisson(1.5 * 5)
    registrations in all, and the stream stops."""
    model = PiecewiseAccrual((0.0, 5.0), (1.5, 0.0))
    rng = np.random.default_rng(303)
    totals = np.array([len(list(model.arrival_days(rng))) for _ in range(REPS)])
    assert_mean_within_3se(totals, 7.5, sd=math.sqrt(7.5))
    assert chi_square_pvalue(totals, lambda k: stats.poisson.pmf(k, 7.5)) > 0.001


def test_the_day_accrual_ends_is_where_the_rate_stays_zero():
    month = 365.25 / 12
    assert PiecewiseAccrual((0.0, 5.0), (1.5, 0.0)).end_day == pytest.approx(5 * month)
    assert PiecewiseAccrual((0.0, 3.0, 5.0), (1.5, 0.0, 0.0)).end_day == pytest.approx(3 * month)
    assert PiecewiseAccrual((0.0, 3.0, 5.0), (1.5, 0.0, 2.0)).end_day == math.inf  # a pause
    assert PiecewiseAccrual((0.0,), (0.0,)).end_day == 0.0
    assert SitesAccrual((0.0, 0.0)).end_day == 0.0
    assert SitesAccrual((0.0, 0.5)).end_day == math.inf
    assert PoissonAccrual(2.0).end_day == math.inf


def test_piecewise_rejects_bad_periods():
    with pytest.raises(ValueError, match="one rate per period"):
        PiecewiseAccrual((0.0, 6.0), (1.0,))
    with pytest.raises(ValueError, match="0 then increasing"):
        PiecewiseAccrual((1.0, 6.0), (1.0, 2.0))
    with pytest.raises(ValueError, match=">= 0"):
        PiecewiseAccrual((0.0,), (-1.0,))


# --- sites ---------------------------------------------------------------------------------------

SITE_RATES = (0.2, 0.3, 0.1, 0.4)
SITE_ACTIVATION = (0.0, 2.0, 4.0, 10.0)
RAMP = 3.0


def sites_expected(month):
    """Hand integration: sum over centres of rate * ramp_integral(month - activation)."""
    return sum(
        r * ramp_integral(month - a, RAMP) for r, a in zip(SITE_RATES, SITE_ACTIVATION, strict=True)
    )


def test_sites_expected_count_hand_worked():
    """Source: hand arithmetic. Month 12: 0.2*10.5 + 0.3*8.5 + 0.1*6.5 + 0.4*(2^2/6) = 5.5667;
    month 6: 0.2*4.5 + 0.3*2.5 + 0.1*(2^2/6) = 1.7167."""
    assert sites_expected(12.0) == pytest.approx(2.1 + 2.55 + 0.65 + 0.4 * 4.0 / 6.0)
    assert sites_expected(6.0) == pytest.approx(0.9 + 0.75 + 0.1 * 4.0 / 6.0)
    intensity = SitesAccrual(SITE_RATES, FixedActivation(SITE_ACTIVATION), RAMP).intensity(
        np.random.default_rng(0)
    )
    assert intensity.cumulative(12.0 * DAYS_PER_MONTH) == pytest.approx(sites_expected(12.0))


def test_sites_fixed_activation_counts_are_poisson():
    """Source: superposed Poisson processes are Poisson with the summed rate, so N(t) ~
    Poisson(sites_expected(t)) (hand-integrated)."""
    model = SitesAccrual(SITE_RATES, FixedActivation(SITE_ACTIVATION), RAMP)
    months = [1.0, 6.0, 12.0, 24.0]
    counts = counts_by_months(model, months, REPS, seed=404)
    for column, month in enumerate(months):
        mean = sites_expected(month)
        assert_mean_within_3se(counts[:, column], mean, sd=math.sqrt(mean))
    assert (
        chi_square_pvalue(counts[:, 2], lambda k: stats.poisson.pmf(k, sites_expected(12.0)))
        > 0.001
    )


def test_sites_uniform_activation_expected_counts():
    """Source: hand integration over A ~ Uniform(0, W), W = 6, ramp d = 2, unit rate:
    t >= W + d: E[g(t - A)] = t - W/2 - d/2, so month 12 gives (0.5+0.5+1) * 8 = 16;
    t = 3 <= W: (1/W) * integral_0^t g = (d^2/6 + ((t - d/2)^2 - (d/2)^2)/2) / W = 13/36,
    times 2 = 0.7222. Activation is random, so the SE uses the sample sd."""
    model = SitesAccrual((0.5, 0.5, 1.0), UniformActivation(0.0, 6.0), 2.0)
    counts = counts_by_months(model, [3.0, 12.0], REPS, seed=505)
    assert_mean_within_3se(counts[:, 0], 2.0 * 13.0 / 36.0)
    assert_mean_within_3se(counts[:, 1], 16.0)


# --- Poisson-gamma -------------------------------------------------------------------------------

PG_SITES, PG_SHAPE, PG_MEAN = 4, 2.0, 0.25
PG_RATE = PG_SHAPE / PG_MEAN  # b = 8 months


def test_poisson_gamma_mean_time_to_n():
    """Source: Anisimov and Fedorov 2007 (Stat Med 26:4958); derivation. The C centres' rates are
    iid Gamma(a, b) and all open on day 0, so the total rate L ~ Gamma(Ca, b) and, given L, the
    time to the n-th registration T_n ~ Gamma(n, L) with E[T_n | L] = n / L. Since
    E[1/L] = b / (Ca - 1) (Ca > 1): E[T_n] = n b / (Ca - 1). For the SE:
    Var T_n = E[n / L^2] + Var(n / L) = b^2 (n + n^2 / (Ca - 1)) / ((Ca - 1)(Ca - 2)).
    C = 4, a = 2, b = 8 months, n = 40: E[T_40] = 320 / 7 = 45.71 months."""
    n, ca, b = 40, PG_SITES * PG_SHAPE, PG_RATE
    model = PoissonGammaAccrual(PG_SITES, PG_MEAN, PG_SHAPE)
    times = nth_arrival_months(model, n, REPS, seed=606)
    sd = b * math.sqrt((n + n * n / (ca - 1.0)) / ((ca - 1.0) * (ca - 2.0)))
    assert_mean_within_3se(times, n * b / (ca - 1.0), sd=sd)


def test_poisson_gamma_count_by_month_is_negative_binomial():
    """Source: Anisimov and Fedorov 2007: N(t) | L ~ Poisson(L t) with L ~ Gamma(Ca, b) is
    NegBin(size Ca, prob b / (b + t)); t = 12: NegBin(8, 0.4), mean 12, variance 30. Fails if the
    rates were drawn per registration instead of once per replicate (that would be Poisson)."""
    model = PoissonGammaAccrual(PG_SITES, PG_MEAN, PG_SHAPE)
    counts = counts_by_months(model, [12.0], REPS, seed=707)[:, 0]
    size, prob = PG_SITES * PG_SHAPE, PG_RATE / (PG_RATE + 12.0)
    assert_mean_within_3se(counts, 12.0, sd=math.sqrt(30.0))
    assert chi_square_pvalue(counts, lambda k: stats.nbinom.pmf(k, size, prob)) > 0.001


def test_poisson_gamma_with_activation_and_ramp_expected_count():
    """Source: E[N(t)] = sum over centres of E[rate] * ramp_integral(t - a_i) (hand-integrated,
    as for SitesAccrual) with E[rate] = 0.25 / month; counts are mixed Poisson, so the SE uses the
    sample sd."""
    model = PoissonGammaAccrual(4, PG_MEAN, PG_SHAPE, FixedActivation(SITE_ACTIVATION), RAMP)
    counts = counts_by_months(model, [12.0], REPS, seed=808)[:, 0]
    expected = PG_MEAN * sum(ramp_integral(12.0 - a, RAMP) for a in SITE_ACTIVATION)
    assert_mean_within_3se(counts, expected)


def test_sites_without_activation_open_together():
    """Source: with every centre open at month 0 the rate is the sum, 0.2 + 0.4: Lambda(12 months)
    = 7.2 (hand arithmetic)."""
    intensity = SitesAccrual((0.2, 0.4)).intensity(np.random.default_rng(0))
    assert intensity.cumulative(12.0 * DAYS_PER_MONTH) == pytest.approx(7.2, rel=1e-12)


def test_sites_and_poisson_gamma_reject_bad_centres():
    with pytest.raises(ValueError, match="activation months"):
        SitesAccrual((0.1, 0.2), FixedActivation((0.0,)))
    with pytest.raises(ValueError, match="integer"):
        PoissonGammaAccrual(4.0, PG_MEAN, PG_SHAPE)
    with pytest.raises(ValueError, match="> 0"):
        PoissonGammaAccrual(4, PG_MEAN, 0.0)


def test_streams_are_increasing_and_reproducible():
    """Source: the sampler interface (increasing days, drawn from the given Generator only)."""
    models = [
        PIECEWISE,
        SitesAccrual(SITE_RATES, UniformActivation(0.0, 6.0), RAMP),
        PoissonGammaAccrual(50, PG_MEAN, PG_SHAPE, UniformActivation(0.0, 12.0), RAMP),
    ]
    for model in models:
        first = list(itertools.islice(model.arrival_days(np.random.default_rng(9)), 300))
        again = list(itertools.islice(model.arrival_days(np.random.default_rng(9)), 300))
        assert first == again
        assert np.all(np.diff(first) > 0.0) and first[0] > 0.0
