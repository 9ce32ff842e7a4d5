"""Kaplan-Meier: against R's survival package (pasted calls and output) and scipy.stats.ecdf.

R version 4.2.2, survival 3.5-3 (Debian r-cran-survival). scipy.stats.ecdf(CensoredData) is an
independent implementation of the same estimator and of Greenwood's variance.
"""

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from sim.stats.survival import (
    QUANTILE_TOLERANCE,
    kaplan_meier,
    km_median_and_survival_at,
)

NA = math.nan
CONF_TYPES = ("log-log", "log", "plain")

PROPERTY_SETTINGS = settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def r_quantiles(times, events, conf_type):
    """Our figures in the order R prints unlist(quantile(fit)) for probs 0.25, 0.5, 0.75."""
    km = kaplan_meier(times, events)
    q = [km.quantile(p, conf_type=conf_type) for p in (0.25, 0.5, 0.75)]
    return [x.estimate for x in q] + [x.lower for x in q] + [x.upper for x in q]


def assert_same(actual, expected, rel=1e-9):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        if math.isnan(e):
            assert math.isnan(a), (actual, expected)
        else:
            assert a == pytest.approx(e, rel=rel, abs=0.0), (actual, expected)


def parse_dataset(text):
    tokens = text.split()
    times = np.array([float(tok.rstrip("+")) for tok in tokens])
    events = np.array([not tok.endswith("+") for tok in tokens])
    return times, events


def test_table_with_a_censoring_tied_to_an_event_matches_r():
    """A censoring at an event time (t = 2) is still at risk at that event, as R counts it.

    Expected values: the product-limit and Greenwood closed forms (5/6, 2/3, 4/9, 4/9, 0;
    sqrt(1/30), sqrt(1/30 + 1/20), sqrt(1/30 + 1/20 + 1/6), inf), and R, which agrees:

    > library(survival)
    > time <- c(1, 2, 2, 3, 4, 5); status <- c(1, 1, 0, 1, 0, 1)
    > fit <- survfit(Surv(time, status) ~ 1)
    > print(data.frame(time = fit$time, n.risk = fit$n.risk, n.event = fit$n.event,
    +                  n.censor = fit$n.censor, surv = fit$surv, std.err = fit$std.err))
      time n.risk n.event n.censor      surv   std.err
    1    1      6       1        0 0.8333333 0.1825742
    2    2      5       1        1 0.6666667 0.2886751
    3    3      3       1        0 0.4444444 0.5000000
    4    4      2       0        1 0.4444444 0.5000000
    5    5      1       1        0 0.0000000       Inf
    > print(summary(fit, times = c(0, 1, 1.5, 2, 4.5, 5))$surv)
    [1] 1.0000000 0.8333333 0.8333333 0.6666667 0.4444444 0.0000000
    > print(summary(fit)$std.err)
    [1] 0.1521452 0.1924501 0.2222222       NaN
    """
    km = kaplan_meier([1, 2, 2, 3, 4, 5], [1, 1, 0, 1, 0, 1])
    np.testing.assert_array_equal(km.time, [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(km.n_risk, [6, 5, 3, 2, 1])
    np.testing.assert_array_equal(km.n_event, [1, 1, 1, 0, 1])
    np.testing.assert_array_equal(km.n_censor, [0, 1, 0, 1, 0])
    np.testing.assert_allclose(km.survival, [5 / 6, 2 / 3, 4 / 9, 4 / 9, 0.0], rtol=1e-15)
    expected_se = [math.sqrt(1 / 30), math.sqrt(1 / 30 + 1 / 20), 0.5, 0.5, math.inf]
    np.testing.assert_allclose(km.se_log_survival, expected_se, rtol=1e-15)
    np.testing.assert_allclose(km.se_log_survival[:4], [0.1825742, 0.2886751, 0.5, 0.5], rtol=5e-7)
    np.testing.assert_allclose(
        km.survival_at([0, 1, 1.5, 2, 4.5, 5]),
        [1.0, 0.8333333, 0.8333333, 0.6666667, 0.4444444, 0.0],
        rtol=5e-7,
    )
    # Greenwood's variance of S is S^2 times the sum; R's summary gives NaN (0 * Inf) at S = 0.
    np.testing.assert_allclose(
        km.greenwood_variance[:4],
        np.array([5 / 6, 2 / 3, 4 / 9, 4 / 9]) ** 2 * [1 / 30, 1 / 30 + 1 / 20, 0.25, 0.25],
        rtol=1e-15,
    )
    at_events = km.n_event > 0
    np.testing.assert_allclose(
        np.sqrt(km.greenwood_variance[at_events]), [0.1521452, 0.1924501, 0.2222222, NA], rtol=5e-7
    )


def test_aml_maintained_greenwood_and_log_log_band_match_r():
    """Greenwood standard error of S and the log-log band on the aml data (Miller 1981).

    > library(survival)
    > m <- subset(aml, x == "Maintained"); print(m$time); print(m$status)
     [1]   9  13  13  18  23  28  31  34  45  48 161
     [1] 1 1 0 1 1 0 1 1 0 1 0
    > fit <- survfit(Surv(time, status) ~ 1, data = m, conf.type = "log-log")
    > print(summary(fit), digits = 10)
     time n.risk n.event     survival      std.err  lower 95% CI upper 95% CI
        9     11       1 0.9090909091 0.0866784172 0.50808020577 0.9866738227
       13     10       1 0.8181818182 0.1162912998 0.44742861468 0.9511622286
       18      8       1 0.7159090909 0.1396649706 0.35019038591 0.8990239742
       23      7       1 0.6136363636 0.1526323310 0.26575204000 0.8352992433
       31      5       1 0.4909090909 0.1641932672 0.16733090978 0.7533997904
       34      4       1 0.3681818182 0.1626688858 0.09282957494 0.6570408324
       48      2       1 0.1840909091 0.1534927458 0.01173848012 0.5250148427
    """
    times = [9, 13, 13, 18, 23, 28, 31, 34, 45, 48, 161]
    events = [1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 0]
    # R's summary rows: time, n.risk, n.event, survival, std.err, lower 95% CI, upper 95% CI
    r_rows = np.array(
        [
            [9, 11, 1, 0.9090909091, 0.0866784172, 0.50808020577, 0.9866738227],
            [13, 10, 1, 0.8181818182, 0.1162912998, 0.44742861468, 0.9511622286],
            [18, 8, 1, 0.7159090909, 0.1396649706, 0.35019038591, 0.8990239742],
            [23, 7, 1, 0.6136363636, 0.1526323310, 0.26575204000, 0.8352992433],
            [31, 5, 1, 0.4909090909, 0.1641932672, 0.16733090978, 0.7533997904],
            [34, 4, 1, 0.3681818182, 0.1626688858, 0.09282957494, 0.6570408324],
            [48, 2, 1, 0.1840909091, 0.1534927458, 0.01173848012, 0.5250148427],
        ]
    )
    km = kaplan_meier(times, events)
    rows = km.n_event > 0
    lower, upper = km.confidence_band(0.95, "log-log")
    np.testing.assert_array_equal(km.time[rows], r_rows[:, 0])
    np.testing.assert_array_equal(km.n_risk[rows], r_rows[:, 1])
    np.testing.assert_array_equal(km.n_event[rows], r_rows[:, 2])
    # R prints 10 significant digits (11 for the lower limits).
    np.testing.assert_allclose(km.survival[rows], r_rows[:, 3], rtol=1e-9)
    np.testing.assert_allclose(np.sqrt(km.greenwood_variance[rows]), r_rows[:, 4], rtol=1e-8)
    np.testing.assert_allclose(lower[rows], r_rows[:, 5], rtol=1e-8)
    np.testing.assert_allclose(upper[rows], r_rows[:, 6], rtol=1e-8)


# fmt: off
OVARIAN_FUTIME = [59, 115, 156, 421, 431, 448, 464, 475, 477, 563, 638, 744, 769, 770, 803, 855,
                  1040, 1106, 1129, 1206, 1227, 268, 329, 353, 365, 377]
OVARIAN_FUSTAT = [1, 1, 1, 0, 1, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0]

# name: (times, events, {conf_type: unlist(quantile(fit)) as R prints it})
R_QUANTILE_CASES = {
    "ties and censoring at an event time": (
        [1, 2, 2, 3, 4, 5], [1, 1, 0, 1, 0, 1], {
            "log-log": [2, 3, 5, 1, 1, 2, NA, NA, NA],
            "log": [2, 3, 5, 1, 2, 3, NA, NA, NA],
            "plain": [2, 3, 5, 1, 2, 3, NA, NA, NA],
        }),
    "aml maintained": (
        [9, 13, 13, 18, 23, 28, 31, 34, 45, 48, 161], [1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 0], {
            "log-log": [18, 31, 48, 9, 13, 31, 34, NA, NA],
            "log": [18, 31, 48, 13, 18, 34, NA, NA, NA],
            "plain": [18, 31, 48, 9, 18, 31, 34, 48, NA],
        }),
    "ovarian, 26 patients": (
        OVARIAN_FUTIME, OVARIAN_FUSTAT, {
            "log-log": [365, 638, NA, 115, 431, NA, 563, NA, NA],
            "log": [365, 638, NA, 268, 464, NA, NA, NA, NA],
            "plain": [365, 638, NA, 268, 464, NA, 563, NA, NA],
        }),
    "no censoring, even n: S = 0.5 on a flat stretch": (
        [1, 2, 3, 4], [1, 1, 1, 1], {
            "log-log": [1.5, 2.5, 3.5, 1, 1, 1, 3, NA, NA],
            "log": [1.5, 2.5, 3.5, 1, 1, 2, NA, NA, NA],
            "plain": [1.5, 2.5, 3.5, 1, 1, 2, 3, NA, NA],
        }),
    "no censoring, odd n": (
        [3, 5, 7, 11, 13], [1, 1, 1, 1, 1], {
            "log-log": [5, 7, 11, 3, 3, 3, 11, NA, NA],
            "log": [5, 7, 11, 3, 5, 7, NA, NA, NA],
            "plain": [5, 7, 11, 3, 3, 5, 11, NA, NA],
        }),
    "all censored": (
        [2, 4, 6], [0, 0, 0], {
            "log-log": [NA] * 9,
            "log": [NA] * 9,
            "plain": [NA] * 9,
        }),
    "median not reached": (
        [1, 3, 4, 5, 6, 8], [1, 1, 0, 0, 0, 0], {
            "log-log": [3, NA, NA, 1, 1, 3, NA, NA, NA],
            "log": [3, NA, NA, 1, 3, NA, NA, NA, NA],
            "plain": [3, NA, NA, 1, 3, NA, NA, NA, NA],
        }),
    "S = 0.5 to the last follow-up, n = 2": (
        [1, 2], [1, 0], {
            "log-log": [1, 1.5, NA, 1, 1, 1, NA, NA, NA],
            "log": [1, 1.5, NA, 1, 1, 1, NA, NA, NA],
            "plain": [1, 1.5, NA, 1, 1, 1, NA, NA, NA],
        }),
    "S = 0.5 to the last follow-up, n = 4": (
        [1, 2, 3, 4], [1, 1, 0, 0], {
            "log-log": [1.5, 3, NA, 1, 1, 1, NA, NA, NA],
            "log": [1.5, 3, NA, 1, 1, 2, NA, NA, NA],
            "plain": [1.5, 3, NA, 1, 1, 2, NA, NA, NA],
        }),
    "events at time 0": (
        [0, 0, 1, 2, 3], [1, 0, 1, 1, 0], {
            "log-log": [1, 2, NA, 0, 0, 0, 2, NA, NA],
            "log": [1, 2, NA, 0, 1, 1, NA, NA, NA],
            "plain": [1, 2, NA, 0, 0, 1, 2, NA, NA],
        }),
    "one patient, one event": (
        [5], [1], {
            "log-log": [5, 5, 5, NA, NA, NA, NA, NA, NA],
            "log": [5, 5, 5, NA, NA, NA, NA, NA, NA],
            "plain": [5, 5, 5, NA, NA, NA, NA, NA, NA],
        }),
}
# fmt: on


@pytest.mark.parametrize("conf_type", CONF_TYPES)
@pytest.mark.parametrize("case", list(R_QUANTILE_CASES))
def test_quantiles_and_their_cis_match_r(case, conf_type):
    r"""Quartiles with Brookmeyer-Crowley CIs read off each band, as R's quantile.survfit.

    Each line R prints is unlist(quantile(fit)) for probs 0.25, 0.5, 0.75: the three quantiles,
    their lower limits, their upper limits. R's NA ("not reached") is our NaN.

    > library(survival)
    > q3 <- function(time, status) {
    +   for (ct in c("log-log", "log", "plain")) {
    +     fit <- survfit(Surv(time, status) ~ 1, conf.type = ct)
    +     cat(sprintf("%-8s", ct), unlist(quantile(fit)), "\n")
    +   }
    + }
    > q3(c(1, 2, 2, 3, 4, 5), c(1, 1, 0, 1, 0, 1))
    log-log  2 3 5 1 1 2 NA NA NA
    log      2 3 5 1 2 3 NA NA NA
    plain    2 3 5 1 2 3 NA NA NA
    > m <- subset(aml, x == "Maintained"); q3(m$time, m$status)
    log-log  18 31 48 9 13 31 34 NA NA
    log      18 31 48 13 18 34 NA NA NA
    plain    18 31 48 9 18 31 34 48 NA
    > q3(ovarian$futime, ovarian$fustat)
    log-log  365 638 NA 115 431 NA 563 NA NA
    log      365 638 NA 268 464 NA NA NA NA
    plain    365 638 NA 268 464 NA 563 NA NA
    > q3(c(1, 2, 3, 4), c(1, 1, 1, 1))
    log-log  1.5 2.5 3.5 1 1 1 3 NA NA
    log      1.5 2.5 3.5 1 1 2 NA NA NA
    plain    1.5 2.5 3.5 1 1 2 3 NA NA
    > q3(c(3, 5, 7, 11, 13), rep(1, 5))
    log-log  5 7 11 3 3 3 11 NA NA
    log      5 7 11 3 5 7 NA NA NA
    plain    5 7 11 3 3 5 11 NA NA
    > q3(c(2, 4, 6), c(0, 0, 0))
    log-log  NA NA NA NA NA NA NA NA NA
    log      NA NA NA NA NA NA NA NA NA
    plain    NA NA NA NA NA NA NA NA NA
    > q3(c(1, 3, 4, 5, 6, 8), c(1, 1, 0, 0, 0, 0))
    log-log  3 NA NA 1 1 3 NA NA NA
    log      3 NA NA 1 3 NA NA NA NA
    plain    3 NA NA 1 3 NA NA NA NA
    > q3(c(1, 2), c(1, 0))
    log-log  1 1.5 NA 1 1 1 NA NA NA
    log      1 1.5 NA 1 1 1 NA NA NA
    plain    1 1.5 NA 1 1 1 NA NA NA
    > q3(c(1, 2, 3, 4), c(1, 1, 0, 0))
    log-log  1.5 3 NA 1 1 1 NA NA NA
    log      1.5 3 NA 1 1 2 NA NA NA
    plain    1.5 3 NA 1 1 2 NA NA NA
    > q3(c(0, 0, 1, 2, 3), c(1, 0, 1, 1, 0))
    log-log  1 2 NA 0 0 0 2 NA NA
    log      1 2 NA 0 1 1 NA NA NA
    plain    1 2 NA 0 0 1 2 NA NA
    > q3(5, 1)
    log-log  5 5 5 NA NA NA NA NA NA
    log      5 5 5 NA NA NA NA NA NA
    plain    5 5 5 NA NA NA NA NA NA
    """
    times, events, expected = R_QUANTILE_CASES[case]
    assert_same(r_quantiles(times, events, conf_type), expected[conf_type])


def test_conf_level_other_than_95_matches_r():
    """A 90% band moves the CI limits, as R's conf.int.

    > fit <- survfit(Surv(futime, fustat) ~ 1, data = ovarian, conf.int = 0.90,
    +                conf.type = "log-log")
    > print(unlist(quantile(fit)))
    quantile.25 quantile.50 quantile.75    lower.25    lower.50    lower.75
            365         638          NA         156         464          NA
       upper.25    upper.50    upper.75
            475          NA          NA
    """
    km = kaplan_meier(OVARIAN_FUTIME, OVARIAN_FUSTAT)
    q = [km.quantile(p, conf_level=0.90, conf_type="log-log") for p in (0.25, 0.5, 0.75)]
    actual = [x.estimate for x in q] + [x.lower for x in q] + [x.upper for x in q]
    assert_same(actual, [365, 638, NA, 156, 464, NA, 475, NA, NA])


def test_ovarian_survival_at_one_and_two_years_matches_r():
    """> print(summary(survfit(Surv(futime, fustat) ~ 1, data = ovarian),
    +               times = c(365, 730))$surv, digits = 15)
    [1] 0.730769230769231 0.496732026143791
    """
    km = kaplan_meier(OVARIAN_FUTIME, OVARIAN_FUSTAT)
    np.testing.assert_allclose(
        km.survival_at([365, 730]), [0.730769230769231, 0.496732026143791], rtol=1e-14
    )


def test_curve_at_one_half_up_to_round_off_is_treated_as_exactly_one_half():
    """12 deaths among 24 give S = 12/24 mathematically but 0.50000000000000011 in floating point.

    R's quantile.survfit documents that a flat stretch within `tolerance` of 1 - p is an exact
    match, so the median is the midpoint of the stretch, (12 + 24) / 2 = 18, and that is what
    quantile(fit) prints. quantile(fit, 0.5) alone prints NA because findq's early exit compares
    max(1 - S) with min(probs) without the tolerance; print(fit) (survmean, a third rule) gives
    the start of the stretch, 12. We follow the documentation and quantile(fit):

    > fit <- survfit(Surv(1:24, rep(1:0, each = 12)) ~ 1, conf.type = "log-log")
    > print(sprintf("%.17g", fit$surv[12]))
    [1] "0.50000000000000011"
    > print(unlist(quantile(fit)))
    quantile.25 quantile.50 quantile.75    lower.25    lower.50    lower.75
            6.5        18.0          NA         1.0         7.0          NA
       upper.25    upper.50    upper.75
           10.0          NA          NA
    > print(unlist(quantile(fit, 0.5)))
    quantile.50    lower.50    upper.50
             NA           7          NA
    > print(fit)
          n events median 0.95LCL 0.95UCL
    [1,] 24     12     12       7      NA
    """
    times = np.arange(1.0, 25.0)
    events = np.repeat([1, 0], 12)
    km = kaplan_meier(times, events)
    assert km.survival[11] == 0.50000000000000011
    assert_same(r_quantiles(times, events, "log-log"), [6.5, 18, NA, 1, 7, NA, 10, NA, NA])
    assert km_median_and_survival_at(times, events, 12.0) == (18.0, km.survival[11])


# Sixty data sets drawn once with numpy.random.default_rng(20240611): n from 1 to 30; integer
# times (many ties, some 0) or exponential times rounded to 0.1; event probability 0, 0.3, 0.7,
# 0.9 or 1. "+" marks a censored time; ";" ends a data set.
RANDOM_BATCH = """\
3+ 7+ 12+ 4+ 8+ 12+ 11+ 3+ 4+ 12+ 2+ 10+ 10+ 2+ 7+ ;
11+ 3 11 3+ 4+ 4+ 11 6+ 3+ 11 9+ 5+ 0+ 10+ 4+ 9+ ;
15.7 18.6 4.9 14.4+ 2.4+ 1.8 0.6+ 0.6 26.4+ ;
7 7 5 ;
10 2 3 7 9 12 2 1 6 12 4 8 5 8 10 1 5 5 12 6 2 9 4 ;
1.4+ 14.2+ 14+ 0.5+ 21.5+ 22.6+ 15.9+ 7+ 12.1+ 4.2+ 15.1+ 5.2+ 15.6+ 6.5+ ;
1+ 4 2 6 ;
7 7+ 4 3 10+ 10+ 8+ 9+ 11 7 12 12 7 5 11 1 4 8 11 8 6+ 11 6 7 2 6+ 2 8 4 11+ ;
3.3 1.8 28.1 6 1.4 11.1 15.9 1.8 25.5 2.4 6 2 8.9 3 10.6 16.1 24.1 23.6 8.7 15.6 9.1 6.7 5.8
0.1 ;
8 3 10 ;
10+ 2+ 8+ 5+ 1+ 12+ 10+ 4+ 8+ 7+ 2+ 6+ 3+ 9+ 12+ 11+ 2+ 4+ 3+ 9+ 8+ 1+ ;
9.6 1.7+ 4.7+ 4.5+ 20.8+ 17.2 26.7+ 6.7+ 24.1+ ;
1 4 8 5 9 2 8+ 1 5+ 9 4 5+ ;
2 4 11 8 7 12 4+ 8 11 1 8 4 7 4 4 10 12 3 10+ ;
5.4 0.5 2.9 12.4 37.1 15.2 24.4 9.7 ;
11+ 1+ 8+ 11+ 4+ 12+ 2+ 6+ 11+ 5+ 8+ 6+ 2+ 1+ 11+ 5+ 7+ 5+ 8+ 12+ 5+ 7+ 1+ 4+ 1+ ;
12+ 11+ 6 6 9+ 3+ 8+ 4+ 6 12 6+ 4+ 9+ 9+ 5+ 5 3+ 9 1+ 5+ 2+ 11+ 2+ 11 ;
36.7+ 0.8 17.6+ 5.2+ 2.4 0.6 30.3+ 0.2 6+ 6.6+ 17.5 3.1 11+ 10.4 1.9 9.3 14.1+ 26+ 3+ 20.1
16 2.6 3.2 0.8 10.7 0.2 3.8 4.1+ 3.1+ 1.8 ;
2 5 8 8 8 4 10 7 8 2 6 1 5 2 7 1 4+ 10+ 8 11 1 9 10 5 8 10 9 5+ 12 ;
7 2 4 3 11 3 11 6 9 ;
7.8+ 24.9+ 3.8+ 4.6+ 14.3+ 5.6+ 8.8+ 3+ 5.5+ ;
7 1+ 12+ 7+ 6+ 8 7 5+ 2 10 10 1+ 2+ 3 6 1+ 1+ 4+ 1+ 9 11 2+ 3 0+ 6 7+ 5+ ;
1 10 11 2 8 3 10+ 6 5 12+ 8 6+ 12+ 4 5 11 9+ 8+ 4 9 8+ 5 ;
12.8 5.4 21.6 6.4 0.4 17.8 2+ 6 24.6 ;
9 3 3 12 8 11 2 1 2 11 10 11 7 9 9 3 1 8 1 5 4 ;
3+ 7+ 3+ 7+ 4+ 6+ 3+ 6+ 3+ 1+ 6+ 12+ 5+ 12+ 8+ 7+ 11+ 5+ 2+ 6+ 2+ 3+ 9+ 12+ 2+ 3+ 12+ 7+ 7+
2+ ;
40.2+ 11.2 ;
12 10 12 ;
7 1 5 3 8 4 4 3 7 1+ 5 10+ 1 6+ 4 10+ 1+ 2+ 10+ 8 12 ;
0.4 4.5 13.7 16.8 4.4 ;
9+ 7+ 3+ 8+ 3+ 7+ 12+ 5+ 1+ 11+ 12+ 12+ 3+ 9+ 11+ 11+ 10+ 5+ 10+ 4+ 10+ 12+ 10+ ;
2+ 8 8+ 3 8+ 9+ 9+ 2 2+ 10+ 7+ 12+ 12+ 12 2+ ;
8.9+ 7+ 1.7+ 10.5+ ;
1 6 8 1 8+ 5 6+ 3 4 12 11 2 11 9 7 4 2 2 11 2 ;
12 0 5 4 2 10 8 7 9 ;
12.1+ 5.1+ 8.3+ 15.5+ 3.2+ 17.5+ 26.4+ 10.4+ 5.6+ 12.5+ 24.4+ 16.9+ 27.1+ 25.1+ 19.8+ 7.2+
9.7+ 1.3+ 4.8+ 23.2+ 1.8+ 9.8+ 0+ 1.2+ 6.9+ ;
1 6 2+ 1+ 7+ 12+ 5+ 7 4 6+ 1+ 12+ 11+ 8+ 4 7+ 5+ 2+ 5 ;
12 9 5+ 11 12 6 9+ 1 5+ 1 2 12 11 1 6 9 3 ;
3.2 3.5 3 4.7 2 2.6 13.6 1 9 16.5 0.4 1.4 4.7 6.6 10.9 1.8 3 1.2 18.5 15.2 5.6 24.1 15 0.5
59.2 9.7 ;
9 4 9 8 6 5 11 4 4 3 9 8 2 7 9 5 10 11 5 1 9 1 7 1 8 ;
8+ 2+ 7+ 2+ 10+ 5+ 5+ 1+ 10+ 12+ 1+ 11+ 11+ 4+ ;
1.5+ 2.1 1.9 15.1+ 36.2+ 4.1 0.1+ 13.4+ 2 12.7 36.3 2.9+ 11.1+ 6.1 28.7 5 1.2+ 0 1.3 0.5+
5.1 6.3+ 12.7 ;
10 2 6 6 3 5+ 8 8 6 3 2 12 6+ 9+ 11 12 ;
4 11 12+ 4 8 7 2 9 7 11 5 7 3 10 1 12+ 5 3 ;
9.6 13.4 6.5 13.1 13.7 3.3 17.1 ;
7+ 12+ 5+ 4+ 12+ 1+ 3+ 5+ 11+ 5+ 8+ 5+ 4+ 12+ 9+ 4+ 6+ 9+ 12+ 4+ 3+ 6+ 12+ 9+ 8+ ;
4+ 2+ 9+ 7+ 9+ 11 1+ 1+ 5+ 1+ 2+ ;
3.8 21.6+ 4.9+ 2.9+ 5.8 5.9 ;
7 9 3 4 10 3 7 1 3 7+ 8 8 9+ 12 4 2+ 2 12 ;
9 2 12 4 1 8 11 6 4 6 12 2 11 1 7 7 10 4 7 ;
13.8+ 12.5+ 29.5+ 1.2+ 6.7+ 4.9+ 1.6+ 11.4+ 16.5+ 4.9+ 22.3+ 2.9+ ;
9+ 4 2+ 4 4+ 3 5 6+ 3+ 12+ 6+ 2+ 12+ 8+ 8+ 0+ 5+ 10+ 4+ 5+ 11+ 2 7+ 3+ 6+ 10 1+ 1 0 6+ ;
1+ 10+ ;
9 2.3 22.1+ 16.9 2.1 8.8 0.4 33.3 7.8 38.4 13.6 2.4 2.4 29 5.3 0.6 12.1 10.1 9.7 14.9 10.9
18.2 9.1+ 5 1.5 46.8 ;
4 5 4 9 8 10 9 11 5 8 2 3 2 1 11 4 3 0 9 8 8 10 10 2 7 0 5 12 12 ;
11+ 12+ 10+ 2+ 6+ 7+ 5+ 9+ 3+ 2+ 2+ 12+ 2+ 6+ 5+ 10+ 3+ 12+ 4+ 7+ 11+ 2+ 11+ 10+ 3+ ;
2.3+ 0.4 3.1 27.4 6.1+ 1+ 3.5+ 6.4 9.1 0.6+ 3.4 6.4+ 11.8+ 2.3+ 0.7+ 2.6+ 5.6+ 10.7+ 5.6+ ;
8+ 5+ 11 11 1+ 9 10 9 4 7+ 3 10+ 8 10 4 3 9 6 7 1+ 3+ 7 4 9 3+ 2+ 9 5 ;
1 10 4 10+ 1 8 10+ 2 3 1 10 5 3 4 11+ 8 2 10 9 12 12+ 11+ 6 3 7+ 6 ;
7.4 18 18.9 1.2 2.6 26.6 6.3 5.9 1.8 1 11.9 6.8 5.3 3.7 21.7 2.2 1.3 0.4 9.9 6.4 18.8 0.9
23.6 2.6 0.9 ;
"""

# Printed by the R script in test_random_data_sets_match_r, with RANDOM_BATCH in batch.txt.
RANDOM_BATCH_R_OUTPUT = """\
NA NA NA NA NA NA NA NA NA
11 11 NA 11 11 NA 11 11 NA
15.7  0.6   NA 15.7  4.9   NA 15.7  1.8   NA
 7  5 NA  7  5 NA  7  5 NA
6 4 8 6 4 9 6 4 8
NA NA NA NA NA NA NA NA NA
 4  2 NA  4  2 NA  4  2 NA
 8  7 11  8  7 11  8  7 11
 7.7  3.0 11.1  7.7  5.8 15.6  7.7  3.3 11.1
 8  3 NA  8  3 NA  8  3 NA
NA NA NA NA NA NA NA NA NA
  NA  9.6   NA   NA 17.2   NA   NA  9.6   NA
6.5 1.0  NA 6.5 4.0  NA 6.5 4.0  NA
 8  4 10  8  4 11  8  4 10
11.05  0.50 24.40 11.05  5.40    NA 11.05  2.90 24.40
NA NA NA NA NA NA NA NA NA
12  6 NA 12  9 NA 12  9 NA
10.4  3.1 20.1 10.4  3.2   NA 10.4  3.1 20.1
8 5 8 8 5 9 8 5 8
 6  2 NA  6  3 NA  6  3  9
NA NA NA NA NA NA NA NA NA
 8  6 10  8  7 NA  8  7 10
 8  5 11  8  5 NA  8  5 11
12.8  0.4 21.6 12.8  6.0   NA 12.8  5.4 21.6
 7  3  9  7  3 10  7  3  9
NA NA NA NA NA NA NA NA NA
25.7 11.2   NA 25.7 11.2   NA 25.7 11.2   NA
12 10 NA 12 10 NA 12 10 NA
 7  4  8  7  4 NA  7  4  8
4.5 0.4  NA 4.5 4.4  NA 4.5 0.4  NA
NA NA NA NA NA NA NA NA NA
NA  8 NA NA 12 NA NA 12 NA
NA NA NA NA NA NA NA NA NA
 5.5  2.0  9.0  5.5  3.0 11.0  5.5  2.0  9.0
 7  0 10  7  4 NA  7  4  9
NA NA NA NA NA NA NA NA NA
NA  5 NA NA  6 NA NA  6 NA
 9  2 11  9  6 NA  9  3 11
 4.7  2.6  9.7  4.7  3.0 13.6  4.7  3.0  9.7
7 4 9 7 5 9 7 4 9
NA NA NA NA NA NA NA NA NA
12.7  2.1   NA 12.7  5.0   NA 12.7  4.1 28.7
 8  3 11  8  6 NA  8  6 11
 7  4  9  7  4 11  7  4  9
13.1  3.3 13.7 13.1  6.5   NA 13.1  6.5 13.7
NA NA NA NA NA NA NA NA NA
11 NA NA 11 NA NA 11 NA NA
5.9 3.8  NA 5.9 5.8  NA 5.9 3.8  NA
 7  3  9  7  4 NA  7  3  9
 7  4  9  7  4 11  7  4  9
NA NA NA NA NA NA NA NA NA
NA 10 NA NA 10 NA NA 10 NA
NA NA NA NA NA NA NA NA NA
 9.7  5.0 14.9  9.7  5.3 16.9  9.7  5.3 14.9
7 4 9 7 4 9 7 4 9
NA NA NA NA NA NA NA NA NA
9.1 3.4  NA 9.1 6.4  NA 9.1 6.4  NA
 9  6  9  9  7 10  9  7  9
 7  3 10  7  4 10  7  4 10
 5.9  2.2  9.9  5.9  2.6 11.9  5.9  2.2  9.9
"""


def test_random_data_sets_match_r():
    r"""Median and its CI for each conf.type on 60 data sets, against R (output pasted above).

    R script (batch.txt holds the text of RANDOM_BATCH), run with Rscript; its output is
    RANDOM_BATCH_R_OUTPUT, one line per data set: median, lower, upper for "log-log", then
    "log", then "plain":

        library(survival)
        text <- paste(readLines("batch.txt"), collapse = " ")
        datasets <- trimws(strsplit(text, ";")[[1]])
        for (data in datasets[datasets != ""]) {
          tok <- strsplit(data, "\\s+")[[1]]
          time <- as.numeric(sub("+", "", tok, fixed = TRUE))
          status <- as.integer(!grepl("+", tok, fixed = TRUE))
          row <- c()
          for (ct in c("log-log", "log", "plain")) {
            q <- quantile(survfit(Surv(time, status) ~ 1, conf.type = ct))
            row <- c(row, q$quantile["50"], q$lower["50"], q$upper["50"])
          }
          cat(format(row, digits = 15), "\n")
        }
    """
    datasets = [d for d in RANDOM_BATCH.replace("\n", " ").split(";") if d.strip()]
    r_rows = RANDOM_BATCH_R_OUTPUT.strip().splitlines()
    assert len(datasets) == len(r_rows) == 60
    for data, r_row in zip(datasets, r_rows, strict=True):
        times, events = parse_dataset(data)
        expected = [NA if tok == "NA" else float(tok) for tok in r_row.split()]
        km = kaplan_meier(times, events)
        actual = []
        for conf_type in CONF_TYPES:
            median = km.median(conf_type=conf_type)
            actual += [median.estimate, median.lower, median.upper]
        assert_same(actual, expected)
        fast_median, _ = km_median_and_survival_at(times, events, 6.0)
        assert_same([fast_median], expected[:1])


@st.composite
def censored_samples(draw, max_n=40):
    """Small samples like a phase II trial's: many ties (scan-grid times) or continuous times."""
    n = draw(st.integers(1, max_n))
    if draw(st.booleans()):
        times = draw(st.lists(st.integers(0, 12), min_size=n, max_size=n))
    else:
        finite = st.floats(0.0, 200.0, allow_nan=False, allow_infinity=False)
        times = draw(st.lists(finite, min_size=n, max_size=n))
    events = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return np.asarray(times, dtype=float), np.asarray(events)


def scipy_sf(times, events):
    sample = stats.CensoredData(uncensored=times[events], right=times[~events])
    return stats.ecdf(sample).sf


@PROPERTY_SETTINGS
@given(censored_samples())
def test_curve_matches_scipy_ecdf(sample):
    times, events = sample
    km = kaplan_meier(times, events)
    sf = scipy_sf(times, events)
    np.testing.assert_array_equal(km.time, sf.quantiles)
    np.testing.assert_allclose(km.survival, sf.probabilities, rtol=1e-12, atol=1e-15)
    grid = np.concatenate([[0.0], km.time, (km.time[:-1] + km.time[1:]) / 2])
    np.testing.assert_allclose(km.survival_at(grid), sf.evaluate(grid), rtol=1e-12, atol=1e-15)


@PROPERTY_SETTINGS
@given(censored_samples(), st.sampled_from([0.8, 0.9, 0.95]))
def test_greenwood_bands_match_scipy_ecdf(sample, conf_level):
    """scipy's "linear" and "log-log" intervals are R's "plain" and "log-log" (both Greenwood).

    Both leave the same points undefined (NaN): S = 0, and S = 1 for log-log.
    """
    times, events = sample
    km = kaplan_meier(times, events)
    sf = scipy_sf(times, events)
    for ours, theirs in (("plain", "linear"), ("log-log", "log-log")):
        lower, upper = km.confidence_band(conf_level, ours)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ci = sf.confidence_interval(conf_level, method=theirs)
        np.testing.assert_allclose(lower, ci.low.probabilities, rtol=1e-9, atol=1e-14)
        np.testing.assert_allclose(upper, ci.high.probabilities, rtol=1e-9, atol=1e-14)


def median_by_documented_rule(time, survival, last_time):
    """R's documented median, written plainly: where the curve first gets to 0.5 or below; if it
    sits at 0.5 there (within the tolerance), the midpoint of that flat stretch, which ends at the
    next drop or, if none, at the last follow-up time; NaN if the curve never gets to 0.5."""
    tol = QUANTILE_TOLERANCE
    reached = np.flatnonzero(survival <= 0.5 + tol)
    if reached.size == 0:
        return NA
    first = reached[0]
    if abs(survival[first] - 0.5) >= tol:
        return float(time[first])
    drops = np.flatnonzero(survival < survival[first])
    end = time[drops[0]] if drops.size else last_time
    return float((time[first] + end) / 2)


@PROPERTY_SETTINGS
@given(censored_samples())
def test_median_follows_the_documented_rule_on_scipys_curve(sample):
    times, events = sample
    sf = scipy_sf(times, events)
    expected = median_by_documented_rule(sf.quantiles, sf.probabilities, times.max())
    assert_same([kaplan_meier(times, events).median().estimate], [expected], rel=0.0)


@PROPERTY_SETTINGS
@given(censored_samples(max_n=60), st.floats(0.0, 250.0), st.booleans())
def test_fast_path_equals_the_full_estimate(sample, landmark, landmark_on_a_time):
    times, events = sample
    if landmark_on_a_time:
        landmark = float(times[int(landmark) % times.size])
    km = kaplan_meier(times, events)
    median, survival = km_median_and_survival_at(times, events, landmark)
    assert_same([median, survival], [km.median().estimate, km.survival_at(landmark)], rel=0.0)
    as_ints = km_median_and_survival_at(times, events.astype(np.int64), landmark)
    assert_same(list(as_ints), [median, survival], rel=0.0)


def test_survival_at_is_right_continuous_and_undefined_beyond_follow_up():
    """Closed forms: S = 1 before the first death, drops at a death time (right-continuous),
    is NaN after the last follow-up if the curve has not reached 0, and 0 after it if it has."""
    km = kaplan_meier([2, 4, 6], [1, 1, 0])
    np.testing.assert_array_equal(
        km.survival_at([0, 1.999, 2, 3, 4, 6]), [1, 1, 2 / 3, 2 / 3, 1 / 3, 1 / 3]
    )
    assert math.isnan(km.survival_at(6.001))
    assert math.isnan(km_median_and_survival_at(np.array([2.0, 4, 6]), np.array([1, 1, 0]), 7.0)[1])
    ended = kaplan_meier([2, 4], [1, 1])
    assert ended.survival_at(100.0) == 0.0
    assert km_median_and_survival_at(np.array([2.0, 4]), np.array([1, 1]), 100.0) == (3.0, 0.0)
    assert isinstance(km.survival_at(3), float)


@pytest.mark.parametrize(
    ("times", "events"),
    [
        ([], []),
        ([1.0, -0.5], [1, 1]),
        ([1.0, math.nan], [1, 1]),
        ([1.0, math.inf], [1, 0]),
        ([1.0, 2.0], [1]),
        ([1.0, 2.0], [1, 2]),
        ([[1.0, 2.0]], [[1, 1]]),
    ],
)
def test_bad_input_is_refused(times, events):
    with pytest.raises(ValueError):
        kaplan_meier(times, events)


def test_bad_conf_options_and_probability_are_refused():
    km = kaplan_meier([1, 2], [1, 1])
    with pytest.raises(ValueError, match="conf_type"):
        km.median(conf_type="logit")
    with pytest.raises(ValueError, match="conf_level"):
        km.median(conf_level=95)
    with pytest.raises(ValueError, match="probability"):
        km.quantile(1.0)
    with pytest.raises(ValueError):
        km_median_and_survival_at(np.array([]), np.array([]), 1.0)


def test_result_arrays_are_read_only():
    km = kaplan_meier([1, 2], [1, 0])
    with pytest.raises(ValueError):
        km.survival[0] = 0.5


@pytest.mark.parametrize("seed", range(40))
def test_km_median_from_risk_sets_is_the_km_median_bit_for_bit(seed):
    """The median from a log-rank risk table's rows equals the Kaplan-Meier median of each
    group's data exactly: ties (times on a grid), censoring, curves ending at 0.5 or above it."""
    from sim.stats.logrank import risk_table
    from sim.stats.survival import km_median_and_survival_at, km_median_from_risk_sets

    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 60))
    time = np.ceil(rng.exponential(5.0, n)) if seed % 2 else rng.exponential(5.0, n)
    event = rng.random(n) < (0.3 if seed % 3 == 0 else 0.8)
    if seed == 4:  # exactly half the patients have an event, the rest censored later
        time, event = np.arange(1.0, 9.0), np.array([1, 1, 1, 1, 0, 0, 0, 0], bool)
    group = rng.random(n) < 0.5 if seed != 4 else np.array([0, 1] * 4, bool)
    table = risk_table(time, event, group)
    experimental = (table.at_risk_experimental, table.events_experimental)
    control = (table.at_risk - experimental[0], table.events - experimental[1])
    for member, (at_risk, events) in ((False, control), (True, experimental)):
        mine = group == member
        if not mine.any():
            continue
        expected = km_median_and_survival_at(time[mine], event[mine], 0.0)[0]
        got = km_median_from_risk_sets(table.time, at_risk, events, time[mine].max())
        assert got == expected or (math.isnan(got) and math.isnan(expected))
