"""Log-rank test against a hand-worked example and R's survival::survdiff (survival 3.5.3,
R 4.2.2, Debian r-cran-survival), outputs pasted in each test's docstring.

The data sets are R's own (survival::aml, survival::ovarian, survival::veteran), copied here
column by column. survdiff's chisq is (O - E)^2 / V for two groups, i.e. our z^2; its printed
O, E and V were asked for with 12 significant digits, so they are compared at 1e-9.
"""

import math

import numpy as np
import pytest
from r_datasets import (
    AML_MAINTAINED,
    AML_STATUS,
    AML_TIME,
    OVARIAN_ECOG,
    OVARIAN_RX,
    OVARIAN_STATUS,
    OVARIAN_TIME,
    VETERAN_CELLTYPE,
    VETERAN_STATUS,
    VETERAN_TEST_ARM,
    VETERAN_TIME,
)

from sim.stats.logrank import logrank_test, risk_table

EXACT = 1e-9  # the statistic is exact arithmetic on counts; R printed 12 significant digits



def test_hand_worked_example_with_a_tie_and_a_risk_set_of_one():
    """Control: events at 2 and 4, censored at 6. Experimental: events at 4 and 7, censored at 5.

    time  n  n1  d  d1   E1 = d n1/n   V = d (n1/n)(1 - n1/n)(n - d)/(n - 1)
      2   6   3  1   0   1/2           1 (1/2)(1/2)(5/5)  = 1/4
      4   5   3  2   1   6/5           2 (3/5)(2/5)(3/4)  = 9/25
      7   1   1  1   1   1             0 (one at risk)
    O1 = 2, E1 = 27/10, V = 61/100; Z = (E - O)/sqrt(V) = 0.7/sqrt(0.61) > 0: the experimental arm
    had fewer events than expected. Peto HR = exp(-0.7/0.61).
    """
    time = [2, 4, 6, 4, 5, 7]
    event = [1, 1, 0, 1, 0, 1]
    experimental = [0, 0, 0, 1, 1, 1]
    result = logrank_test(time, event, experimental)
    assert result.observed_experimental == 2
    assert result.expected_experimental == pytest.approx(2.7, abs=1e-12)
    assert result.variance == pytest.approx(0.61, abs=1e-12)
    assert result.z == pytest.approx(0.7 / math.sqrt(0.61), abs=1e-12)
    assert result.chi_square == pytest.approx(0.49 / 0.61, abs=1e-12)
    assert result.p_one_sided == pytest.approx(0.5 * math.erfc(0.7 / math.sqrt(0.61) / 2**0.5))
    assert result.hazard_ratio == pytest.approx(math.exp(-0.7 / 0.61), abs=1e-12)
    assert result.events == 4

    table = risk_table(time, event, experimental)
    assert table.at_risk.tolist() == [6, 5, 1]
    assert table.at_risk_experimental.tolist() == [3, 3, 1]
    assert table.events.tolist() == [1, 2, 1]
    assert table.events_experimental.tolist() == [0, 1, 1]


def test_unstratified_matches_survdiff_on_aml():
    """> library(survival)
    > fit <- survdiff(Surv(time, status) ~ x, data = aml)
    > print(fit)
                     N Observed Expected (O-E)^2/E (O-E)^2/V
    x=Maintained    11        7 10.68934   1.27334   3.39639
    x=Nonmaintained 12       11  7.31066   1.86183   3.39639

     Chisq= 3.4  on 1 degrees of freedom, p= 0.06534
    > cat("obs:", format(fit$obs, digits = 12), " exp:", format(fit$exp, digits = 12),
    +     " var:", format(fit$var[1,1], digits = 12), " chisq:", format(fit$chisq, digits = 12))
    obs:  7 11  exp: 10.6893359923  7.3106640077  var: 4.00755074594  chisq: 3.39638869898

    Maintained is the experimental arm: fewer events than expected, so z = +sqrt(chisq).
    """
    result = logrank_test(AML_TIME, AML_STATUS, AML_MAINTAINED)
    assert result.observed_experimental == 7
    assert result.expected_experimental == pytest.approx(10.6893359923, rel=EXACT)
    assert result.variance == pytest.approx(4.00755074594, rel=EXACT)
    assert result.chi_square == pytest.approx(3.39638869898, rel=EXACT)
    assert result.z == pytest.approx(math.sqrt(3.39638869898), rel=EXACT)
    # survdiff's two-sided p 0.06534 is twice the one-sided p in the favoured direction.
    assert 2 * result.p_one_sided == pytest.approx(0.06534, abs=5e-6)
    assert result.hazard_ratio == pytest.approx(
        math.exp((7 - 10.6893359923) / 4.00755074594), rel=EXACT
    )
    swapped = logrank_test(AML_TIME, AML_STATUS, 1 - AML_MAINTAINED)
    assert swapped.z == pytest.approx(-result.z, rel=EXACT)
    assert swapped.hazard_ratio == pytest.approx(1 / result.hazard_ratio, rel=EXACT)


def test_stratified_matches_survdiff_on_ovarian():
    """> fit <- survdiff(Surv(futime, fustat) ~ rx + strata(ecog.ps), data = ovarian)
    > print(fit)
          N Observed Expected (O-E)^2/E (O-E)^2/V
    rx=1 13        7  5.49996  0.409117  0.767911
    rx=2 13        5  6.50004  0.346171  0.767911

     Chisq= 0.8  on 1 degrees of freedom, p= 0.3809
    > cat("obs:", format(rowSums(fit$obs), digits = 12), " exp:",
    +     format(rowSums(fit$exp), digits = 12), " var:", format(fit$var[1,1], digits = 12),
    +     " chisq:", format(fit$chisq, digits = 12))
    obs: 7 5  exp: 5.49995837496 6.50004162504  var: 2.93018806777  chisq: 0.767911418931

    rx = 2 as experimental: O = 5 < E = 6.50004, so z > 0.
    """
    result = logrank_test(OVARIAN_TIME, OVARIAN_STATUS, OVARIAN_RX == 2, strata=OVARIAN_ECOG)
    assert result.observed_experimental == 5
    assert result.expected_experimental == pytest.approx(6.50004162504, rel=EXACT)
    assert result.variance == pytest.approx(2.93018806777, rel=EXACT)
    assert result.chi_square == pytest.approx(0.767911418931, rel=EXACT)
    assert result.z > 0


def test_veteran_unstratified_and_stratified_match_survdiff():
    """Many tied times (137 patients, 128 events).

    > fit <- survdiff(Surv(time, status) ~ trt, data = veteran)
    > print(fit)
           N Observed Expected  (O-E)^2/E  (O-E)^2/V
    trt=1 69       64  64.5002 0.00387901 0.00822734
    trt=2 68       64  63.4998 0.00394012 0.00822734

     Chisq= 0  on 1 degrees of freedom, p= 0.9277
    > cat("obs:", format(fit$obs, digits = 12), " exp:", format(fit$exp, digits = 12),
    +     " var:", format(fit$var[1,1], digits = 12), " chisq:", format(fit$chisq, digits = 12))
    obs: 64 64  exp: 64.5001966636 63.4998033364  var: 30.4103883993  chisq: 0.00822734320235
    > fit <- survdiff(Surv(time, status) ~ trt + strata(celltype), data = veteran)
    > print(fit)
           N Observed Expected (O-E)^2/E (O-E)^2/V
    trt=1 69       64  68.2076  0.259553  0.701743
    trt=2 68       64  59.7924  0.296083  0.701743

     Chisq= 0.7  on 1 degrees of freedom, p= 0.4022
    > cat("obs:", format(rowSums(fit$obs), digits = 12), " exp:",
    +     format(rowSums(fit$exp), digits = 12), " var:", format(fit$var[1,1], digits = 12),
    +     " chisq:", format(fit$chisq, digits = 12))
    obs: 64 64  exp: 68.2075529769 59.7924470231  var: 25.2278872793  chisq: 0.701743346844

    trt = 2 ("test") as experimental: O = 64 > E in both, so z < 0.
    """
    plain = logrank_test(VETERAN_TIME, VETERAN_STATUS, VETERAN_TEST_ARM)
    assert plain.expected_experimental == pytest.approx(63.4998033364, rel=EXACT)
    assert plain.variance == pytest.approx(30.4103883993, rel=EXACT)
    assert plain.chi_square == pytest.approx(0.00822734320235, rel=EXACT)
    assert plain.z < 0

    stratified = logrank_test(
        VETERAN_TIME, VETERAN_STATUS, VETERAN_TEST_ARM, strata=VETERAN_CELLTYPE
    )
    assert stratified.observed_experimental == 64
    assert stratified.expected_experimental == pytest.approx(59.7924470231, rel=EXACT)
    assert stratified.variance == pytest.approx(25.2278872793, rel=EXACT)
    assert stratified.chi_square == pytest.approx(0.701743346844, rel=EXACT)
    assert stratified.z == pytest.approx(-math.sqrt(0.701743346844), rel=EXACT)
    # String labels give the same strata as integer codes.
    names = np.array(["squamous", "smallcell", "adeno", "large"])[VETERAN_CELLTYPE - 1]
    by_name = logrank_test(VETERAN_TIME, VETERAN_STATUS, VETERAN_TEST_ARM, strata=names)
    assert by_name.chi_square == pytest.approx(stratified.chi_square, rel=1e-14)


def test_row_order_does_not_matter():
    """The statistic is a function of the risk sets, not of the order patients are listed in."""
    rng = np.random.default_rng(7)
    order = rng.permutation(VETERAN_TIME.size)
    shuffled = logrank_test(
        VETERAN_TIME[order], VETERAN_STATUS[order], VETERAN_TEST_ARM[order],
        strata=VETERAN_CELLTYPE[order],
    )
    assert shuffled.chi_square == pytest.approx(0.701743346844, rel=EXACT)


def test_distinct_times_take_a_shortcut_to_the_same_table():
    """Without ties every event time is its own row; one stratum label for all sends the same
    data through the general bookkeeping of runs of equal times: the tables must be the same."""
    rng = np.random.default_rng(11)
    for n in (1, 2, 9, 500):
        time = rng.exponential(10.0, n)
        event = rng.random(n) < 0.6
        group = rng.random(n) < 0.5
        shortcut = risk_table(time, event, group)
        general = risk_table(time, event, group, strata=np.zeros(n))
        for field in ("at_risk", "at_risk_experimental", "events", "events_experimental", "time"):
            assert np.array_equal(getattr(shortcut, field), getattr(general, field)), (n, field)
        fast, slow = logrank_test(time, event, group), logrank_test(time, event, group, np.zeros(n))
        assert fast.variance == pytest.approx(slow.variance, rel=1e-13, abs=0.0)
        assert fast.expected_experimental == pytest.approx(slow.expected_experimental, rel=1e-13)
        assert fast.events == slow.events == event.sum()


def test_one_stratum_per_patient_has_no_information():
    """Each stratum's risk sets then hold one patient: every E_j = O_j and V_j = 0."""
    result = logrank_test([1.0, 2.0, 3.0], [1, 1, 1], [0, 1, 0], strata=[1, 2, 3])
    assert result.variance == 0.0
    assert math.isnan(result.z) and math.isnan(result.hazard_ratio)


def test_no_events_gives_nan_not_an_error():
    result = logrank_test([1.0, 2.0], [0, 0], [0, 1])
    assert result.events == 0 and math.isnan(result.z) and math.isnan(result.p_one_sided)
    empty = logrank_test([], [], [])
    assert empty.events == 0 and math.isnan(empty.z)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="one length"):
        logrank_test([1.0, 2.0], [1], [0, 1])
    with pytest.raises(ValueError, match="group"):
        logrank_test([1.0, 2.0], [1, 1], [0, 2])
    with pytest.raises(ValueError, match="finite"):
        logrank_test([1.0, math.nan], [1, 1], [0, 1])
