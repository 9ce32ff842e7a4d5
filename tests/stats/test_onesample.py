"""One-sample tests against an exponential control: R, scipy.stats, closed forms, Monte Carlo.

R figures are from R 4.2.2. The R session used throughout (null median 8 weeks):

> null_hazard <- log(2) / 8   # per week: exponential control with median 8 weeks
> print(pchisq(2 * null_hazard * 300, df = 2 * 20, lower.tail = FALSE), digits = 15)
[1] 0.0970457818296069
> print(pchisq(2 * null_hazard * 150, df = 2 * 20, lower.tail = FALSE), digits = 15)
[1] 0.957426038753636
> print(poisson.test(0, 10, r = null_hazard, alternative = "less")$p.value, digits = 15)
[1] 0.420448207626857
> print(poisson.test(0, 80, r = null_hazard, alternative = "less")$p.value, digits = 15)
[1] 0.0009765625
> E <- null_hazard * 300
> print(pnorm((E - 20) / sqrt(E), lower.tail = FALSE), digits = 15)
[1] 0.119900249329017
> print(poisson.test(20, 300, r = null_hazard, alternative = "less")$p.value, digits = 15)
[1] 0.138962292349142
> print(poisson.test(12, 40, r = null_hazard, alternative = "less")$p.value, digits = 15)
[1] 0.999931044405473
> print(pchisq(qchisq(0.95, df = 60) * 8 / 13, df = 60, lower.tail = FALSE), digits = 15)
[1] 0.852260023218586
> n <- 30; z <- qnorm(0.95); threshold <- ((z + sqrt(z^2 + 4 * n)) / 2)^2
> print(pgamma(threshold, shape = n, rate = 8 / 13, lower.tail = FALSE), digits = 15)
[1] 0.823285273309375
> print(pgamma(threshold, shape = n, rate = 1, lower.tail = FALSE), digits = 15)
[1] 0.0372117000995128
> threshold <- qgamma(0.05, shape = n + 1, lower.tail = FALSE)
> print(pgamma(threshold, shape = n, rate = 8 / 13, lower.tail = FALSE), digits = 15)
[1] 0.81569217554408
> print(pgamma(threshold, shape = n, rate = 1, lower.tail = FALSE), digits = 15)
[1] 0.0345307151710828
> which(sapply(1:100, function(n)
+   pchisq(qchisq(0.95, 2 * n) * 8 / 13, 2 * n, lower.tail = FALSE)) >= 0.8)[1]
[1] 26
"""

import math

import numpy as np
import pytest
from scipy import optimize, stats

from sim.stats.onesample import (
    exponential_test,
    exponential_test_from_data,
    exponential_test_power,
    exponential_test_sample_size,
    logrank_power_complete_followup,
    one_sample_logrank,
    one_sample_logrank_from_data,
)

NULL_HAZARD = math.log(2) / 8  # per week: the reference design's historical control
DESIGN_HAZARD_RATIO = 8 / 13  # alternative median 13 weeks (DOMAIN.md section 1)


def test_exponential_test_p_values_match_r_pchisq():
    """R's pchisq figures in the module docstring: d = 20 events, T = 300 and 150 weeks."""
    result = exponential_test(20, 300.0, NULL_HAZARD)
    assert result.statistic == pytest.approx(2 * NULL_HAZARD * 300, rel=1e-15)
    assert result.df == 40
    assert result.p_value == pytest.approx(0.0970457818296069, rel=1e-12)
    assert exponential_test(20, 150.0, NULL_HAZARD).p_value == pytest.approx(
        0.957426038753636, rel=1e-12
    )


@pytest.mark.parametrize("events", [1, 2, 5, 17, 30, 60])
@pytest.mark.parametrize("total_time", [0.5, 10.0, 240.0, 2000.0])
def test_exponential_test_p_value_matches_scipy_chi2(events, total_time):
    expected = stats.chi2.sf(2 * NULL_HAZARD * total_time, 2 * events)
    result = exponential_test(events, total_time, NULL_HAZARD)
    assert result.p_value == pytest.approx(expected, rel=1e-12, abs=1e-300)


def test_exponential_test_with_no_event_is_the_exact_poisson_test():
    """d = 0: p = exp(-E), R's poisson.test(0, T, r, alternative = "less") (module docstring);
    T = 80 weeks is ten null medians, so p = 2^-10 exactly."""
    short = exponential_test(0, 10.0, NULL_HAZARD)
    assert short.df == 2
    assert short.p_value == pytest.approx(0.420448207626857, rel=1e-12)
    assert exponential_test(0, 80.0, NULL_HAZARD).p_value == pytest.approx(2.0**-10, rel=1e-12)


def test_exponential_test_with_no_time_at_risk_does_not_reject():
    assert exponential_test(0, 0.0, NULL_HAZARD).p_value == 1.0
    assert exponential_test(3, 0.0, NULL_HAZARD).p_value == 1.0


def test_exponential_test_from_data_sums_the_follow_up():
    times = np.array([3.0, 10.0, 7.5, 20.0, 1.0])
    events = np.array([True, True, False, True, False])
    from_data = exponential_test_from_data(times, events, NULL_HAZARD)
    assert from_data == exponential_test(3, 41.5, NULL_HAZARD)


def test_one_sample_logrank_matches_r():
    """O = 20, E = 300 * ln2 / 8: R's pnorm and poisson.test figures (module docstring)."""
    expected_events = NULL_HAZARD * 300
    normal = one_sample_logrank(20, expected_events, "normal")
    assert normal.statistic == pytest.approx(
        (expected_events - 20) / math.sqrt(expected_events), rel=1e-15
    )
    assert normal.p_value == pytest.approx(0.119900249329017, rel=1e-12)
    exact = one_sample_logrank(20, expected_events, "exact")
    assert exact.p_value == pytest.approx(0.138962292349142, rel=1e-12)
    assert one_sample_logrank(12, NULL_HAZARD * 40, "exact").p_value == pytest.approx(
        0.999931044405473, rel=1e-12
    )


@pytest.mark.parametrize("observed", [0, 1, 4, 20, 45])
@pytest.mark.parametrize("expected_events", [0.3, 5.0, 19.7, 44.0])
def test_one_sample_logrank_matches_scipy_distributions(observed, expected_events):
    z = (expected_events - observed) / math.sqrt(expected_events)
    normal = one_sample_logrank(observed, expected_events, "normal")
    exact = one_sample_logrank(observed, expected_events, "exact")
    assert normal.p_value == pytest.approx(stats.norm.sf(z), rel=1e-12, abs=1e-300)
    assert exact.p_value == pytest.approx(stats.poisson.cdf(observed, expected_events), rel=1e-12)


def test_one_sample_logrank_from_data_uses_the_exponential_expected_count():
    times = np.array([3.0, 10.0, 7.5, 20.0, 1.0])
    events = np.array([1, 1, 0, 1, 0])
    result = one_sample_logrank_from_data(times, events, NULL_HAZARD, "exact")
    assert result == one_sample_logrank(3, NULL_HAZARD * 41.5, "exact")


def test_one_sample_logrank_with_no_time_at_risk_does_not_reject():
    for method in ("normal", "exact"):
        assert one_sample_logrank(0, 0.0, method).p_value == 1.0
        assert one_sample_logrank(2, 0.0, method).p_value == 1.0


@pytest.mark.parametrize(
    "call",
    [
        lambda: exponential_test(-1, 10.0, NULL_HAZARD),
        lambda: exponential_test(1.5, 10.0, NULL_HAZARD),
        lambda: exponential_test(1, -1.0, NULL_HAZARD),
        lambda: exponential_test(1, math.nan, NULL_HAZARD),
        lambda: exponential_test(1, 10.0, 0.0),
        lambda: exponential_test_from_data([1.0, -2.0], [1, 1], NULL_HAZARD),
        lambda: exponential_test_from_data([1.0, 2.0], [1], NULL_HAZARD),
        lambda: one_sample_logrank(-1, 3.0),
        lambda: one_sample_logrank(1, -3.0),
        lambda: one_sample_logrank(1, 3.0, "wald"),
        lambda: exponential_test_power(0, 0.05, 0.5),
        lambda: exponential_test_power(30, 1.5, 0.5),
        lambda: exponential_test_power(30, 0.05, 0.0),
        lambda: exponential_test_sample_size(0.05, 0.8, 1.2),
        lambda: logrank_power_complete_followup(30, 0.05, 0.5, "wald"),
    ],
)
def test_bad_arguments_are_refused(call):
    with pytest.raises(ValueError):
        call()


def test_reference_design_power_with_complete_follow_up():
    """Null median 8 weeks, alternative 13, one-sided alpha 0.05, 30 patients (DOMAIN.md 1).

    With every patient followed to progression the exponential test has 85.2% power (R's
    pchisq figure in the module docstring); the protocol's "80% with 30 patients" is below that,
    as it should be once accrual and a finite follow-up leave some patients censored. 26
    patients followed to progression would give 80% (R's which(...) in the module docstring).
    """
    assert exponential_test_power(30, 0.05, DESIGN_HAZARD_RATIO) == pytest.approx(
        0.852260023218586, rel=1e-12
    )
    assert exponential_test_sample_size(0.05, 0.80, DESIGN_HAZARD_RATIO) == 26


@pytest.mark.parametrize("n", [1, 2, 10, 30, 200])
@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1])
def test_exponential_test_size_is_alpha_exactly(n, alpha):
    """Closed form: 2 * hazard * sum(T) ~ chi2(2n) exactly (Epstein and Sobel 1953)."""
    assert exponential_test_power(n, alpha, 1.0) == pytest.approx(alpha, rel=1e-10)


@pytest.mark.parametrize("n", [3, 30, 80])
@pytest.mark.parametrize("hazard_ratio", [1.0, 8 / 13, 0.4])
def test_exponential_power_agrees_with_the_test_itself(n, hazard_ratio):
    """Second route: solve exponential_test's p-value = alpha for the critical total time T*,
    then P(sum T > T*) with sum T ~ Gamma(n, scale = 1 / true hazard) from scipy.stats."""
    alpha = 0.05
    true_hazard = NULL_HAZARD * hazard_ratio
    critical_time = optimize.brentq(
        lambda t: exponential_test(n, t, NULL_HAZARD).p_value - alpha, 1e-9, 1e5, xtol=1e-12
    )
    expected = stats.gamma.sf(critical_time, n, scale=1 / true_hazard)
    assert exponential_test_power(n, alpha, hazard_ratio) == pytest.approx(expected, rel=1e-8)


def test_logrank_closed_forms_match_r():
    """R's pgamma figures in the module docstring (n = 30, alpha = 0.05)."""
    assert logrank_power_complete_followup(30, 0.05, DESIGN_HAZARD_RATIO) == pytest.approx(
        0.823285273309375, rel=1e-12
    )
    assert logrank_power_complete_followup(30, 0.05, 1.0) == pytest.approx(
        0.0372117000995128, rel=1e-12
    )
    assert logrank_power_complete_followup(30, 0.05, DESIGN_HAZARD_RATIO, "exact") == pytest.approx(
        0.81569217554408, rel=1e-12
    )
    assert logrank_power_complete_followup(30, 0.05, 1.0, "exact") == pytest.approx(
        0.0345307151710828, rel=1e-12
    )


@pytest.mark.parametrize("method", ["normal", "exact"])
@pytest.mark.parametrize("n", [2, 30, 80])
@pytest.mark.parametrize("hazard_ratio", [1.0, 8 / 13])
def test_logrank_closed_form_agrees_with_the_test_itself(method, n, hazard_ratio):
    """Second route: solve one_sample_logrank's p-value = alpha for the critical E*, then
    P(E > E*) with E ~ Gamma(n, scale = 1 / hazard_ratio) from scipy.stats."""
    alpha = 0.05
    critical = optimize.brentq(
        lambda e: one_sample_logrank(n, e, method).p_value - alpha, 1e-9, 1e4, xtol=1e-12
    )
    expected = stats.gamma.sf(critical, n, scale=1 / hazard_ratio)
    actual = logrank_power_complete_followup(n, alpha, hazard_ratio, method)
    assert actual == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize(
    ("hazard_ratio", "seed"), [(1.0, 20240611), (DESIGN_HAZARD_RATIO, 20240612)]
)
def test_closed_forms_agree_with_monte_carlo(hazard_ratio, seed):
    """30 exponential patients all followed to progression, 20,000 simulated trials per case:
    each test's rejection rate is within 3 Monte Carlo SE, sqrt(p (1 - p) / reps), of its closed
    form (exponential_test_power, logrank_power_complete_followup)."""
    n, alpha, reps = 30, 0.05, 20_000
    rng = np.random.default_rng(seed)
    true_hazard = NULL_HAZARD * hazard_ratio
    totals = rng.exponential(1 / true_hazard, size=(reps, n)).sum(axis=1)
    rejections = {"exponential": 0, "normal": 0, "exact": 0}
    for total in totals.tolist():
        rejections["exponential"] += exponential_test(n, total, NULL_HAZARD).p_value <= alpha
        expected_events = NULL_HAZARD * total
        rejections["normal"] += one_sample_logrank(n, expected_events).p_value <= alpha
        rejections["exact"] += one_sample_logrank(n, expected_events, "exact").p_value <= alpha
    closed_forms = {
        "exponential": exponential_test_power(n, alpha, hazard_ratio),
        "normal": logrank_power_complete_followup(n, alpha, hazard_ratio, "normal"),
        "exact": logrank_power_complete_followup(n, alpha, hazard_ratio, "exact"),
    }
    for name, closed_form in closed_forms.items():
        monte_carlo_se = math.sqrt(closed_form * (1 - closed_form) / reps)
        estimate = rejections[name] / reps
        assert abs(estimate - closed_form) < 3 * monte_carlo_se, (name, estimate, closed_form)


def test_sample_size_is_the_smallest_n_reaching_the_power():
    for target in (0.5, 0.8, 0.9):
        n = exponential_test_sample_size(0.05, target, DESIGN_HAZARD_RATIO)
        assert exponential_test_power(n, 0.05, DESIGN_HAZARD_RATIO) >= target
        assert n == 1 or exponential_test_power(n - 1, 0.05, DESIGN_HAZARD_RATIO) < target
