"""BOIN (Liu and Yuan 2015): boundaries, decisions, selection, and an exact probability tree."""

from functools import cache
from math import comb, floor

import numpy as np
import pytest
from exact_designs import assert_matches_exact
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import beta

from sim.dosefinding import (
    BOIN,
    WAIT,
    Action,
    Decision,
    StopReason,
    TreatedPatient,
    boin_boundaries,
    parse_outcomes,
)
from sim.dosefinding.boin import isotonic_regression, select_mtd

WINDOW = 21.0


def patients_from_counts(treated, dlts):
    patients = []
    for level, (n, y) in enumerate(zip(treated, dlts, strict=True)):
        patients += [TreatedPatient(level, WINDOW, True)] * y
        patients += [TreatedPatient(level, WINDOW, False)] * (n - y)
    return patients


# -- boundaries ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "lambda_e", "lambda_d"), [(0.25, 0.197, 0.298), (0.30, 0.236, 0.358)]
)
def test_boundaries_match_liu_and_yuan_table(target, lambda_e, lambda_d):
    """Source: Liu and Yuan (2015, JRSS C 64:507), table of the optimal boundaries for
    phi1 = 0.6 phi, phi2 = 1.4 phi, printed to three decimals (0.35852 appears as 0.358, so the
    printed digit is not always the rounded one: agreement is required to within one unit in the
    third decimal, the table's precision)."""
    escalate, deescalate = boin_boundaries(target)
    assert abs(escalate - lambda_e) < 1e-3
    assert abs(deescalate - lambda_d) < 1e-3


def test_decision_table_for_target_030():
    """Source: Liu and Yuan's rule written out per number treated: escalate if y <= n lambda_e,
    de-escalate if y >= n lambda_d, eliminate if P(p > 0.3 | Beta(y + 1, n - y + 1)) > 0.95 with
    n >= 3. For n = 3, 6, ..., 30 this gives the table BOIN::get.boundary(0.3, 10, 3) prints:
    escalate <= 0 1 2 2 3 4 4 5 6 7, de-escalate >= 2 3 4 5 6 7 8 9 10 11,
    eliminate >= 3 4 5 7 8 9 10 11 12 14."""
    design = BOIN(5, 0.3, max_n=30)
    lambda_e, lambda_d = 0.2364907, 0.3585195
    for n in range(1, 31):
        assert design.escalate_max[n] == floor(n * lambda_e)
        assert design.deescalate_min[n] == min(y for y in range(n + 2) if y >= n * lambda_d)
        if n >= 3:
            expected = min(
                (y for y in range(n + 1) if beta.sf(0.3, y + 1, n - y + 1) > 0.95), default=n + 1
            )
            assert design.eliminate_min[n] == expected
    cohorts = range(3, 31, 3)
    assert [design.escalate_max[n] for n in cohorts] == [0, 1, 2, 2, 3, 4, 4, 5, 6, 7]
    assert [design.deescalate_min[n] for n in cohorts] == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert [design.eliminate_min[n] for n in cohorts] == [3, 4, 5, 7, 8, 9, 10, 11, 12, 14]


# -- decisions ------------------------------------------------------------------------------------


def test_published_trial_path():
    """Source: the BOIN example trial (target 0.3, five levels, cohorts of 3) that the R package
    escalation checks against BOIN in tests/testthat/test_boin.R ('BOIN recommendations match
    published example'): next levels 2, 3, 2, 3, 3, 4, 3, 3, 3, 3 (1-based)."""
    design = BOIN(5, 0.3, max_n=60)
    cohorts = "1NNN 2NNN 3NTT 2NTN 3NNN 3NNN 4TTT 3NTN 3NNT 3TNN".split()
    expected_next = [2, 3, 2, 3, 3, 4, 3, 3, 3, 3]
    for i, level in enumerate(expected_next, start=1):
        assert design.decide(parse_outcomes(" ".join(cohorts[:i]))) == Decision.treat(level - 1)


def test_escalation_is_blocked_at_the_top_and_into_eliminated_levels():
    design = BOIN(3, 0.3, max_n=60)
    assert design.decide(parse_outcomes("1NNN 2NNN 3NNN")) == Decision.treat(2)
    # 3/3 at level 3 eliminates it; level 2 then escalates only as far as level 2.
    assert design.decide(parse_outcomes("1NNN 2NNN 3TTT 2NNN")) == Decision.treat(1)


def test_lowest_level_eliminated_stops_for_toxicity():
    """Source: Liu and Yuan (2015) safety rule; 3/3 gives P(p > 0.3) = 1 - 0.3^4 > 0.95."""
    design = BOIN(4, 0.3, max_n=30)
    assert design.decide(parse_outcomes("1TTT")) == Decision.stop(StopReason.TOO_TOXIC)
    assert design.recommend(parse_outcomes("1TTT")) is None
    assert design.decide(parse_outcomes("1NTT")) == Decision.treat(0)  # 2/3: de-escalation blocked


def test_cohorts_fill_then_wait_for_their_windows():
    design = BOIN(4, 0.3, max_n=12)
    open_window = TreatedPatient(1, 5.0, False)
    assert design.decide(parse_outcomes("1NNN 2N") + [open_window]) == Decision.treat(1)
    assert design.decide(parse_outcomes("1NNN 2NN") + [open_window]) is WAIT
    assert design.decide(
        parse_outcomes("1NNN 2NNN 3NNN 4NN") + [TreatedPatient(3, 5.0, False)]
    ) == (Decision.stop(StopReason.MAX_N))


def test_n_earlystop_stops_when_staying_at_a_full_level():
    """Source: BOIN's n.earlystop rule (BOIN::get.oc documentation): stop when the level the
    design stays at already has n.earlystop patients."""
    design = BOIN(3, 0.3, max_n=30, n_earlystop=6)
    assert design.decide(parse_outcomes("1NNN 2NTN 2NNT")) == Decision.stop(StopReason.CONVERGED)
    assert design.decide(parse_outcomes("1NNN 2NNN")) == Decision.treat(2)


# -- selection ------------------------------------------------------------------------------------


def test_select_mtd_example():
    """Source: BOIN::select.mtd documentation example (Yan et al. 2020, J Stat Softw 94(13)):
    npts = (3, 3, 15, 9, 0), ntox = (0, 0, 4, 4, 0), target 0.3 -> MTD 3 (1-based), the answer
    escalation's test_select_boin_mtd.R also asserts."""
    design = BOIN(5, 0.3, max_n=60)
    assert design.recommend(patients_from_counts([3, 3, 15, 9, 0], [0, 0, 4, 4, 0])) == 2


def test_isotonic_regression_pools_adjacent_violators():
    """Source: pool-adjacent-violators by hand: (0.5, 0.1) with weights (3, 6) pool to 0.2333."""
    assert isotonic_regression([0.0, 0.5, 0.1, 0.6], [3, 3, 6, 3]) == pytest.approx(
        [0.0, (1.5 + 0.6) / 9, (1.5 + 0.6) / 9, 0.6]
    )
    assert isotonic_regression([0.3, 0.2, 0.1], [1, 1, 1]) == pytest.approx([0.2, 0.2, 0.2])


def test_tie_rules():
    """Source: Liu and Yuan (2015), section 2.3: ties below the target take the highest level,
    ties above it the lowest."""
    assert select_mtd(0.3, [0.1, 0.2, 0.2, 0.5], [0, 1, 2, 3]) == 2
    assert select_mtd(0.3, [0.1, 0.4, 0.4, 0.5], [0, 1, 2, 3]) == 1
    assert select_mtd(0.3, [0.25, 0.35], [0, 1]) == 0  # equidistant across phi: the one below
    # Through the design: 1/3 then 0/3 pool to 1/6 at both levels, below 0.3: the higher one.
    assert BOIN(3, 0.3, max_n=12).recommend(parse_outcomes("1NTN 2NNN")) == 1


# -- exact probability tree (a second, independent implementation) vs Monte Carlo ---------------


def exact_boin(p, target, cohort, max_n, start=0, n_earlystop=None):
    """Selection probabilities (index 0: none) and expected patients per level, every cohort
    outcome enumerated; isotonic estimates by the max-min formula
    p~_j = max_{i <= j} min_{k >= j} (weighted mean of the smoothed rates i..k) rather than by
    pooling (BOIN::select.mtd's rates (y + 0.05) / (n + 0.1), weights 1 / their variance)."""
    lambda_e = np.log((1 - 0.6 * target) / (1 - target)) / np.log(
        target * (1 - 0.6 * target) / (0.6 * target * (1 - target))
    )
    lambda_d = np.log((1 - target) / (1 - 1.4 * target)) / np.log(
        1.4 * target * (1 - target) / (target * (1 - 1.4 * target))
    )
    n_levels = len(p)
    select = [0.0] * (n_levels + 1)
    mean_n = [0.0] * n_levels

    @cache
    def too_toxic(treated, dlts):
        return treated >= 3 and beta.sf(target, dlts + 1, treated - dlts + 1) > 0.95

    def eliminated_from(n, y):
        for k in range(n_levels):
            if too_toxic(n[k], y[k]):
                return k
        return n_levels

    def finish(n, y, prob):
        for k in range(n_levels):
            mean_n[k] += prob * n[k]
        select[selected(tuple(n), tuple(y))] += prob

    @cache
    def selected(n, y):
        """0: none; k + 1: level k."""
        top = eliminated_from(n, y)
        levels = [k for k in range(top) if n[k]]
        if not levels:
            return 0
        smoothed = [(y[k] + 0.05) / (n[k] + 0.1) for k in levels]
        weight = [1 / (a * (1 - a) / (n[k] + 1.1)) for a, k in zip(smoothed, levels, strict=True)]

        def mean(i, k):
            return sum(
                w * a for w, a in zip(weight[i : k + 1], smoothed[i : k + 1], strict=True)
            ) / sum(weight[i : k + 1])

        rates = []
        for j in range(len(levels)):
            rates.append(max(min(mean(i, k) for k in range(j, len(levels))) for i in range(j + 1)))
        best = min(abs(r - target) for r in rates)
        tied = [j for j, r in enumerate(rates) if abs(r - target) <= best + 1e-12]
        below = [j for j in tied if rates[j] < target]
        return levels[max(below)] + 1 if below else levels[min(tied)] + 1

    def step(level, n, y, prob):
        if sum(n) >= max_n:
            finish(n, y, prob)
            return
        size = min(cohort, max_n - sum(n))
        for x in range(size + 1):
            n2, y2 = list(n), list(y)
            n2[level] += size
            y2[level] += x
            pr = prob * comb(size, x) * p[level] ** x * (1 - p[level]) ** (size - x)
            top = eliminated_from(n2, y2)
            if top == 0:
                select[0] += pr
                for k in range(n_levels):
                    mean_n[k] += pr * n2[k]
                continue
            if sum(n2) >= max_n:
                finish(n2, y2, pr)
                continue
            rate = y2[level] / n2[level]
            if rate <= lambda_e and level + 1 < min(n_levels, top):
                nxt = level + 1
            elif rate >= lambda_d and level > 0:
                nxt = level - 1
            else:
                nxt = level
            nxt = min(nxt, top - 1)
            if n_earlystop is not None and nxt == level and n2[level] >= n_earlystop:
                finish(n2, y2, pr)
                continue
            step(nxt, n2, y2, pr)

    step(start, [0] * n_levels, [0] * n_levels, 1.0)
    return select, mean_n


def simulate(design, p, rng):
    """One trial; DLTs are seen only when the design waits (whole cohorts before outcomes)."""
    patients, hidden_dlts, first_open = [], [], 0
    while (decision := design.decide(patients)).action is not Action.STOP:
        if decision.action is Action.TREAT:
            patients.append(TreatedPatient(decision.level, 0.0, False))
            hidden_dlts.append(bool(rng.random() < p[decision.level]))
            continue
        assert first_open < len(patients), "waiting with no open window"
        for i in range(first_open, len(patients)):
            patients[i] = TreatedPatient(patients[i].level, WINDOW, hidden_dlts[i])
        first_open = len(patients)
    for i in range(first_open, len(patients)):
        patients[i] = TreatedPatient(patients[i].level, WINDOW, hidden_dlts[i])
    return design.recommend(patients), patients, decision


@pytest.mark.parametrize(
    ("p", "max_n", "start", "n_earlystop", "seed"),
    [
        ((0.05, 0.15, 0.30, 0.45, 0.60), 18, 0, None, 21),  # BOIN::get.oc's example curve
        ((0.30, 0.45, 0.60, 0.70), 18, 1, None, 22),  # toxic: elimination and early stops
        ((0.10, 0.25, 0.30, 0.50), 21, 0, 9, 23),
    ],
)
def test_monte_carlo_of_the_design_matches_the_exact_tree(p, max_n, start, n_earlystop, seed):
    """Source: the exact tree above. Tolerance: 3 Monte Carlo SE, 6000 trials."""
    design = BOIN(len(p), 0.3, max_n=max_n, start_level=start, n_earlystop=n_earlystop)
    select, mean_n = exact_boin(p, 0.3, 3, max_n, start, n_earlystop)
    assert sum(select) == pytest.approx(1.0, abs=1e-12)
    reps = 6000
    rng = np.random.default_rng(seed)
    chosen = np.zeros(len(p) + 1)
    n_per_level = np.zeros((reps, len(p)))
    for r in range(reps):
        mtd, patients, _ = simulate(design, p, rng)
        chosen[0 if mtd is None else mtd + 1] += 1
        for patient in patients:
            n_per_level[r, patient.level] += 1
    assert_matches_exact(chosen, n_per_level, select, mean_n)


# BOIN::get.oc (the design's authors' R package; Yan et al. 2020, J Stat Softw 94(13)), R 4.2.2,
# get.boundary, select.mtd and get.oc of cran/BOIN (commit 0665b33f) sourced locally. That copy
# reproduces the printed output of openpharma/bfboin's "Compare_to_original_BOIN" article exactly
# (get.oc(target=0.25, p.true=c(0.1,0.5), ncohort=10, cohortsize=3, n.earlystop=9,
# extrasafe=TRUE, offset=0.1, ntrial=10000, seed=6): selpercent 77.75 18.42, percentstop 3.83).
#
# > show <- function(o) cat("selpercent", o$selpercent, "\npercentstop", o$percentstop,
# +                         "\nnpatients", o$npatients, "\n")
# > show(get.oc(target=0.3, p.true=c(0.05,0.15,0.30,0.45,0.60), ncohort=6, cohortsize=3,
# +             ntrial=100000, seed=6))
# selpercent 1.496 29.138 46.408 20.738 2.204
# percentstop 0.016
# npatients 3.95691 6.10008 5.65089 2.05407 0.23601
# > show(get.oc(target=0.3, p.true=c(0.30,0.45,0.60,0.70), ncohort=6, cohortsize=3,
# +             startdose=2, ntrial=100000, seed=6))
# selpercent 56.016 31.207 2.87 0.112
# percentstop 9.795
# npatients 7.59309 8.18832 1.50873 0.09612
# > show(get.oc(target=0.25, p.true=c(0.04,0.12,0.25,0.43,0.63), ncohort=10, cohortsize=3,
# +             n.earlystop=9, ntrial=100000, seed=6))
# selpercent 3.004 30.62 54.369 11.648 0.346
# percentstop 0.013
# npatients 5.03643 8.12616 7.65684 3.40596 0.52185
# > show(get.oc(target=0.25, p.true=c(0.02,0.06,0.10,0.25,0.40), ncohort=10, cohortsize=3,
# +             n.earlystop=12, ntrial=100000, seed=6))
# selpercent 0.117 2.385 23.971 56.864 16.66
# percentstop 0.003
# npatients 3.87309 5.06253 7.94295 8.42091 3.65934
# (p, target, max_n, start, n_earlystop, percentstop + selpercent, npatients)
# fmt: off
GET_OC = [
    ((0.05, 0.15, 0.30, 0.45, 0.60), 0.3, 18, 0, None,
     (0.016, 1.496, 29.138, 46.408, 20.738, 2.204),
     (3.95691, 6.10008, 5.65089, 2.05407, 0.23601)),
    ((0.30, 0.45, 0.60, 0.70), 0.3, 18, 1, None,
     (9.795, 56.016, 31.207, 2.87, 0.112),
     (7.59309, 8.18832, 1.50873, 0.09612)),
    ((0.04, 0.12, 0.25, 0.43, 0.63), 0.25, 30, 0, 9,
     (0.013, 3.004, 30.62, 54.369, 11.648, 0.346),
     (5.03643, 8.12616, 7.65684, 3.40596, 0.52185)),
    ((0.02, 0.06, 0.10, 0.25, 0.40), 0.25, 30, 0, 12,
     (0.003, 0.117, 2.385, 23.971, 56.864, 16.66),
     (3.87309, 5.06253, 7.94295, 8.42091, 3.65934)),
]
# fmt: on


@pytest.mark.parametrize(
    ("p", "target", "max_n", "start", "n_earlystop", "percents", "npatients"), GET_OC
)
def test_exact_tree_matches_the_boin_package(
    p, target, max_n, start, n_earlystop, percents, npatients
):
    """Source: BOIN::get.oc output above (100,000 trials). Tolerance: 3 of its Monte Carlo SE,
    sqrt(q (1 - q) / 100000) for a percentage q; for mean patients per level, whose SD the
    package does not print, the bound SD <= max_n / 2 (a count between 0 and max_n)."""
    select, mean_n = exact_boin(p, target, 3, max_n, start, n_earlystop)
    for exact, published in zip(select, percents, strict=True):
        se = 100 * np.sqrt(exact * (1 - exact) / 100_000)
        assert abs(100 * exact - published) <= 3 * se + 1e-9, (exact, published)
    for exact, published in zip(mean_n, npatients, strict=True):
        assert abs(exact - published) <= 3 * (max_n / 2) / np.sqrt(100_000)


# Zhao, Yuan, Korn and Freidlin (2024), Clin Cancer Res 30(4):673, Supplementary Table A16
# (standard BOIN, target 0.25, 10 cohorts of 3 from the lowest dose, elimination cutoff 0.95,
# stop at 9 patients at the dose the rule stays at), % correct selection, as transcribed in
# gosukehommaEX/simFastBOIN inst/validation/compare-with-Zhao2024.R. The number of simulated
# trials is not given there; the article's two runs of one design (its Table 4 and A2) differ by
# 0.7 points RMS (an SE near 0.5 points each): the SE is taken at 5,000 trials (0.7 points).
ZHAO_2024_A16 = [
    ((0.25, 0.41, 0.45, 0.49, 0.53), 0, 78.6),
    ((0.12, 0.25, 0.42, 0.49, 0.55), 1, 55.2),
    ((0.04, 0.12, 0.25, 0.43, 0.63), 2, 54.5),
    ((0.02, 0.06, 0.10, 0.25, 0.40), 3, 53.2),
    ((0.02, 0.05, 0.08, 0.11, 0.25), 4, 59.5),
]


@pytest.mark.parametrize(("p", "mtd", "published"), ZHAO_2024_A16)
def test_exact_tree_matches_zhao_2024_table_a16(p, mtd, published):
    """Source: the table above. Tolerance: 3 binomial SE at 5,000 trials, plus the rounding."""
    select, _ = exact_boin(p, 0.25, 3, 30, 0, n_earlystop=9)
    exact = select[mtd + 1]
    se = 100 * np.sqrt(exact * (1 - exact) / 5000)
    assert abs(100 * exact - published) <= 3 * se + 0.05


# -- properties ---------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    n_levels=st.integers(1, 6),
    start=st.integers(0, 5),
    cohort=st.integers(1, 4),
    max_n=st.integers(1, 36),
    target=st.sampled_from([0.2, 0.25, 0.3, 0.33]),
    tape=st.lists(st.booleans(), min_size=36, max_size=36),
)
def test_properties_on_arbitrary_outcome_sequences(n_levels, start, cohort, max_n, target, tape):
    """Issue 3: never more than one level up at a time; the recommended level was tried and not
    eliminated; a stop for toxicity recommends nothing."""
    start = min(start, n_levels - 1)
    design = BOIN(n_levels, target, max_n=max_n, start_level=start, cohort_size=cohort)
    patients = []
    current = start
    while (decision := design.decide(patients)).action is Action.TREAT:
        assert 0 <= decision.level < n_levels and decision.level <= current + 1
        current = decision.level
        patients.append(TreatedPatient(decision.level, WINDOW, tape[len(patients)]))
    assert decision.action is Action.STOP and len(patients) <= max_n
    mtd = design.recommend(patients)
    if mtd is not None:
        at_mtd = [q for q in patients if q.level == mtd]
        assert at_mtd, "recommended an untried level"
        if len(at_mtd) >= 3:
            assert (
                beta.sf(
                    target,
                    sum(q.dlt for q in at_mtd) + 1,
                    len(at_mtd) - sum(q.dlt for q in at_mtd) + 1,
                )
                <= 0.95
            )
    if decision.stop_reason is StopReason.TOO_TOXIC:
        assert mtd is None
