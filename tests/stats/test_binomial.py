"""Clopper-Pearson interval: R's binom.test, scipy's binomtest, a published table, closed forms.

R 4.2.2:

> print(binom.test(4, 26)$conf.int, digits = 15)
[1] 0.0435634765389238 0.3486787855353615
attr(,"conf.level")
[1] 0.95
> print(binom.test(1, 26)$conf.int, digits = 15)
[1] 0.000973287893335031 0.196369646762538985
attr(,"conf.level")
[1] 0.95
> print(binom.test(0, 10)$conf.int, digits = 15)
[1] 0.000000000000000 0.308497107818761
attr(,"conf.level")
[1] 0.95
> print(binom.test(10, 10)$conf.int, digits = 15)
[1] 0.691502892181239 1.000000000000000
attr(,"conf.level")
[1] 0.95
> print(binom.test(7, 30, conf.level = 0.90)$conf.int, digits = 15)
[1] 0.114986895569739 0.393947422522363
attr(,"conf.level")
[1] 0.9
> print(binom.test(1, 100, conf.level = 0.99)$conf.int, digits = 17)
[1] 5.0124161977656443e-05 7.1957682401636247e-02
attr(,"conf.level")
[1] 0.98999999999999999
> print(1 - 0.995^(1/100), digits = 17)
[1] 5.012416197769376e-05
"""

import math

import pytest
from scipy import stats

from sim.stats.binomial import clopper_pearson


@pytest.mark.parametrize(
    ("successes", "n", "conf_level", "lower", "upper"),
    [
        (4, 26, 0.95, 0.0435634765389238, 0.3486787855353615),
        (1, 26, 0.95, 0.000973287893335031, 0.196369646762538985),
        (0, 10, 0.95, 0.0, 0.308497107818761),
        (10, 10, 0.95, 0.691502892181239, 1.0),
        (7, 30, 0.90, 0.114986895569739, 0.393947422522363),
        (1, 100, 0.99, 5.0124161977656443e-05, 7.1957682401636247e-02),
    ],
)
def test_matches_r_binom_test(successes, n, conf_level, lower, upper):
    """R's binom.test figures in the module docstring."""
    ci = clopper_pearson(successes, n, conf_level)
    assert ci.lower == pytest.approx(lower, rel=1e-12, abs=0.0)
    assert ci.upper == pytest.approx(upper, rel=1e-12)
    assert ci.proportion == successes / n


def test_reference_trial_clinical_benefit_rate():
    """DOMAIN.md section 1 (Kearney et al. 2021): CBR 4/26 = 15.4%, 95% CI 4%-35%."""
    ci = clopper_pearson(4, 26)
    assert round(100 * ci.proportion, 1) == 15.4
    assert (round(100 * ci.lower), round(100 * ci.upper)) == (4, 35)


def test_matches_a_published_table():
    """5 of 25: 95% limits 0.068 to 0.407 from the binomial tables of Conover, Practical
    Nonparametric Statistics, 3rd ed. (Wiley 1999), Table A4."""
    ci = clopper_pearson(5, 25)
    assert (round(ci.lower, 3), round(ci.upper, 3)) == (0.068, 0.407)


@pytest.mark.parametrize("n", [1, 2, 7, 26, 30, 100])
@pytest.mark.parametrize("conf_level", [0.8, 0.95, 0.99])
def test_matches_scipy_binomtest_for_every_count(n, conf_level):
    """scipy finds each limit with brentq(..., 0, 1) at its default xtol = 2e-12 (absolute), so
    its figures are good to about 1e-11 absolute; the beta quantile is more accurate (next test
    and R agree to 1e-15 where the limit has a closed form)."""
    for successes in range(n + 1):
        expected = stats.binomtest(successes, n).proportion_ci(conf_level, method="exact")
        ci = clopper_pearson(successes, n, conf_level)
        assert ci.lower == pytest.approx(expected.low, rel=1e-10, abs=1e-11)
        assert ci.upper == pytest.approx(expected.high, rel=1e-10, abs=1e-11)


@pytest.mark.parametrize("n", [1, 5, 26, 100, 300])
@pytest.mark.parametrize("conf_level", [0.95, 0.99])
def test_limits_with_one_term_tails_have_closed_forms(n, conf_level):
    """Where the tail that defines a limit (Clopper and Pearson 1934) has one term:
    x = 0: upper solves (1 - p)^n = alpha/2; x = n: lower solves p^n = alpha/2;
    x = 1: lower solves 1 - (1 - p)^n = alpha/2, so lower = 1 - (1 - alpha/2)^(1/n)
    (R's binom.test(1, 100, conf.level = 0.99) and 1 - 0.995^(1/100) in the module docstring
    agree with it to 1e-12).
    """
    tail = (1 - conf_level) / 2
    none = clopper_pearson(0, n, conf_level)
    assert none.lower == 0.0
    assert none.upper == pytest.approx(-math.expm1(math.log(tail) / n), rel=1e-12)
    every = clopper_pearson(n, n, conf_level)
    assert every.upper == 1.0
    assert every.lower == pytest.approx(math.exp(math.log(tail) / n), rel=1e-12)
    if n > 1:
        one = clopper_pearson(1, n, conf_level)
        assert one.lower == pytest.approx(-math.expm1(math.log1p(-tail) / n), rel=1e-12)


@pytest.mark.parametrize(
    ("successes", "n", "conf_level"),
    [(-1, 10, 0.95), (11, 10, 0.95), (1.5, 10, 0.95), (0, 0, 0.95), (1, 10, 1.0), (1, 10, 0.0)],
)
def test_bad_arguments_are_refused(successes, n, conf_level):
    with pytest.raises(ValueError):
        clopper_pearson(successes, n, conf_level)
