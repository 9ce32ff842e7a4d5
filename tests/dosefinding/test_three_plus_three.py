"""The 3+3 design: trial tables, Storer's escalation probability, an exact probability tree."""

from math import sqrt

import numpy as np
import pytest
from exact_designs import exact_three_plus_three
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.dosefinding import (
    WAIT,
    Action,
    Decision,
    StopReason,
    ThreePlusThree,
    TreatedPatient,
    parse_outcomes,
)

WINDOW = 21.0


def decide(design, outcomes, *extra):
    return design.decide(parse_outcomes(outcomes, WINDOW) + list(extra))


def recommend(design, outcomes):
    return design.recommend(parse_outcomes(outcomes, WINDOW))


# -- trial tables (source: the rule as stated in the module docstring and issue 3) ---------------


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ("", Decision.treat(0)),
        ("1N", Decision.treat(0)),  # the cohort fills before anything is decided
        ("1NNN", Decision.treat(1)),  # 0/3: escalate
        ("1NNN 2NTN", Decision.treat(1)),  # 1/3: 3 more at the same level
        ("1NNN 2NTN 2NNN", Decision.treat(2)),  # 1/6: escalate
        ("1NNN 2NTN 2NTN", Decision.treat(0)),  # 2/6: 3 more at level 1, which had only 3
        ("1NNN 2NTN 2NTN 1NNT", Decision.stop(StopReason.RULE_COMPLETE)),  # level 1: 1/6
        ("1NNN 2NTN 2NTN 1NTT", Decision.stop(StopReason.TOO_TOXIC)),  # 3/6 at the lowest
        ("1TTN", Decision.stop(StopReason.TOO_TOXIC)),
        ("1NNN 2NNN 3NNN", Decision.treat(2)),  # 0/3 at the top: confirm with 3 more
        ("1NNN 2NNN 3NNN 3NTN", Decision.stop(StopReason.RULE_COMPLETE)),  # top: 1/6
        ("1NNN 2NNN 3NNN 3TNT", Decision.treat(1)),  # top fails: confirm level 2
        ("1NTN 1NNN 2TT", Decision.stop(StopReason.RULE_COMPLETE)),  # level 1 already had 6
    ],
)
def test_trial_table_with_confirmation(outcomes, expected):
    assert decide(ThreePlusThree(3), outcomes) == expected


@pytest.mark.parametrize(
    ("outcomes", "expected_decision", "expected_mtd"),
    [
        ("1NNN 2NTT", Decision.stop(StopReason.RULE_COMPLETE), 0),
        ("1NNN 2NNN 3NNN", Decision.stop(StopReason.RULE_COMPLETE), 2),  # 0/3 at the top
        ("1TT", Decision.stop(StopReason.TOO_TOXIC), None),
    ],
)
def test_trial_table_without_confirmation(outcomes, expected_decision, expected_mtd):
    design = ThreePlusThree(3, confirm_mtd_with_six=False)
    assert decide(design, outcomes) == expected_decision
    assert recommend(design, outcomes) == expected_mtd


@pytest.mark.parametrize(
    ("outcomes", "mtd"),
    [
        ("1NNN 2NTN 2NTN 1NNT", 0),
        ("1NNN 2NTN 2NTN 1NTT", None),
        ("1NNN 2NNN 3NNN 3NTN", 2),
        ("1NNN 2NNN 3NNN 3TNT 2NNN", 1),
        ("1NNN 2NNN 3NNN 3TNT 2NTT 1NNN", 0),  # down twice, each level confirmed with 6
    ],
)
def test_recommended_mtd(outcomes, mtd):
    design = ThreePlusThree(3)
    assert decide(design, outcomes).action is Action.STOP
    assert recommend(design, outcomes) == mtd


def test_start_above_the_lowest_level_tries_the_level_below_when_too_toxic():
    design = ThreePlusThree(4, start_level=2)
    assert decide(design, "") == Decision.treat(2)
    assert decide(design, "3TT") == Decision.treat(1)  # untried: a fresh 3+3 cohort
    assert decide(design, "3TT 2NTN") == Decision.treat(1)
    assert decide(design, "3TT 2NNN") == Decision.treat(1)  # 0/3 then confirmed with 6
    assert decide(design, "3TT 2NNN 2NTN") == Decision.stop(StopReason.RULE_COMPLETE)
    assert recommend(design, "3TT 2NNN 2NTN") == 1


def test_waits_for_a_full_cohort_but_acts_on_a_second_dlt_at_once():
    design = ThreePlusThree(3)
    open_window = TreatedPatient(0, 10.0, False)
    assert decide(design, "1NN", open_window) is WAIT
    assert decide(design, "1N", open_window) == Decision.treat(0)  # the cohort has a place
    # Two DLTs settle the level whatever the third shows: no waiting, and nothing above is tried.
    assert decide(design, "1NNN 2TT", TreatedPatient(1, 2.0, False)) == Decision.treat(0)


def test_max_n_stops_and_the_highest_cleared_level_is_recommended():
    design = ThreePlusThree(4, max_n=6)
    assert decide(design, "1NNN 2NTN") == Decision.stop(StopReason.MAX_N)
    assert recommend(design, "1NNN 2NTN") == 0
    assert recommend(design, "1NTN") is None
    # A finished rule reports why it finished, not that n ran out.
    no_confirmation = ThreePlusThree(4, max_n=6, confirm_mtd_with_six=False)
    assert decide(no_confirmation, "1NNN 2TTN") == Decision.stop(StopReason.RULE_COMPLETE)
    # With confirmation the rule needed 3 more at level 1: n ran out first.
    assert decide(ThreePlusThree(4, max_n=6), "1NNN 2TTN") == Decision.stop(StopReason.MAX_N)


# -- Storer's escalation probability, from the design object by exhaustive enumeration ---------


def escalation_probability(design, p):
    """P(the design ever treats level 1 | DLT probability p at level 0), every path enumerated."""

    def explore(patients, prob):
        decision = design.decide(patients)
        if decision.action is not Action.TREAT:
            return 0.0
        if decision.level == 1:
            return prob
        return explore(patients + [TreatedPatient(0, WINDOW, True)], prob * p) + explore(
            patients + [TreatedPatient(0, WINDOW, False)], prob * (1 - p)
        )

    return explore([], 1.0)


@pytest.mark.parametrize("p", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
def test_escalation_probability_matches_storer(p):
    """Source: Storer (1989), P(escalate) = (1 - p)^3 + 3 p (1 - p)^2 (1 - p)^3; the same values
    (0.91, 0.71, 0.49, 0.31, 0.17, 0.08 for p = 0.1 .. 0.6) are tabulated by Le Tourneau, Lee and
    Siu (2009, JNCI 101:708) as the probability of escalating under the 3+3."""
    expected = (1 - p) ** 3 + 3 * p * (1 - p) ** 2 * (1 - p) ** 3
    assert escalation_probability(ThreePlusThree(2), p) == pytest.approx(expected, rel=1e-12)


# -- exact probability tree (a second, independent implementation) vs Monte Carlo --------------


def simulate(design, p, rng):
    """One trial in which patients register faster than windows complete: each patient's DLT is
    drawn at treatment but seen only when the design waits (then every open window completes),
    so whole cohorts are treated before their outcomes are known, as the exact tree assumes."""
    patients, hidden_dlts, first_open = [], [], 0
    while (decision := design.decide(patients)).action is not Action.STOP:
        if decision.action is Action.WAIT:
            assert first_open < len(patients), "waiting with no open window"
        else:
            patients.append(TreatedPatient(decision.level, 0.0, False))
            hidden_dlts.append(bool(rng.random() < p[decision.level]))
            continue
        for i in range(first_open, len(patients)):
            patients[i] = TreatedPatient(patients[i].level, WINDOW, hidden_dlts[i])
        first_open = len(patients)
    for i in range(first_open, len(patients)):
        patients[i] = TreatedPatient(patients[i].level, WINDOW, hidden_dlts[i])
    return design.recommend(patients), patients


def check_against_exact(design, p, start, confirm, reps, seed, max_n=None):
    select, mean_n, mean_dlt = exact_three_plus_three(p, start, confirm, max_n)
    assert sum(select) == pytest.approx(1.0, abs=1e-12)
    rng = np.random.default_rng(seed)
    chosen = np.zeros(len(p) + 1)
    n_per_level = np.zeros((reps, len(p)))
    dlt_per_level = np.zeros((reps, len(p)))
    for r in range(reps):
        mtd, patients = simulate(design, p, rng)
        chosen[0 if mtd is None else mtd + 1] += 1
        for patient in patients:
            n_per_level[r, patient.level] += 1
            dlt_per_level[r, patient.level] += patient.dlt
    for k, exact in enumerate(select):
        estimate = chosen[k] / reps
        se = sqrt(exact * (1 - exact) / reps)
        assert abs(estimate - exact) <= 3 * se + 1e-12, ("selection", k, estimate, exact)
    for name, draws, exact_means in (("n", n_per_level, mean_n), ("dlt", dlt_per_level, mean_dlt)):
        se = draws.std(axis=0, ddof=1) / sqrt(reps)
        for k, exact in enumerate(exact_means):
            assert abs(draws[:, k].mean() - exact) <= 3 * se[k] + 1e-12, (name, k, exact)


@pytest.mark.parametrize(
    ("p", "start", "confirm", "seed"),
    [
        ((0.25, 0.35, 0.50, 0.65, 0.80), 0, True, 11),
        ((0.10, 0.15, 0.25, 0.40, 0.55), 0, True, 12),
        ((0.03, 0.07, 0.15, 0.25, 0.40), 0, False, 13),
        ((0.10, 0.20, 0.35, 0.50), 2, True, 14),
    ],
)
def test_monte_carlo_of_the_design_matches_the_exact_tree(p, start, confirm, seed):
    """Source: the exact tree above. The first three curves are scenarios 1, 3 and 4 of Jia,
    Ivanova and Lee (2017, J Biopharm Stat 27:495, Table 3), whose simulated 3+3 selection rows
    this tree reproduces to within 0.03 (their mean sample sizes are about one patient lower in
    scenarios 2 and 3, so their 3+3 variant or simulation differs slightly; not used as a check).
    Tolerance: 3 Monte Carlo SE, 6000 trials."""
    design = ThreePlusThree(len(p), start_level=start, confirm_mtd_with_six=confirm)
    check_against_exact(design, p, start, confirm, reps=6000, seed=seed)


@pytest.mark.parametrize(
    ("p", "start", "max_n", "seed"),
    [
        ((0.05, 0.10, 0.20, 0.25), 2, 10, 15),  # the reference trial's phase I with a 3+3
        ((0.05, 0.30, 0.45, 0.60), 1, 10, 16),
        ((0.10, 0.20, 0.35, 0.50), 0, 13, 17),
        ((0.30, 0.40, 0.50, 0.60), 0, 5, 18),
    ],
)
def test_a_3_plus_3_cut_short_by_max_n_matches_the_exact_tree(p, start, max_n, seed):
    """Source: the exact tree with the cap (tests/exact_designs.py). Tolerance: 3 Monte Carlo SE,
    6000 trials."""
    design = ThreePlusThree(len(p), start_level=start, max_n=max_n)
    check_against_exact(design, p, start, True, reps=6000, seed=seed, max_n=max_n)


def test_a_level_cleared_with_three_stays_cleared_when_its_confirmation_is_cut_short():
    # 0/3 at level 3, then 3/6 at level 4: level 3 needs 3 more; the 10th patient, the first of
    # them, is the last the cap allows. Level 3 was cleared (0/3) whatever that patient shows.
    design = ThreePlusThree(4, start_level=2, max_n=10)
    history = parse_outcomes("3NNN 4TNN 4TNT")
    for last in ("3N", "3T"):
        patients = history + parse_outcomes(last)
        assert design.decide(patients) == Decision.stop(StopReason.MAX_N)
        assert design.recommend(patients) == 2


# -- properties --------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    n_levels=st.integers(1, 6),
    start=st.integers(0, 5),
    confirm=st.booleans(),
    max_n=st.one_of(st.none(), st.integers(1, 40)),
    tape=st.lists(st.booleans(), min_size=45, max_size=45),
)
def test_properties_on_arbitrary_outcome_sequences(n_levels, start, confirm, max_n, tape):
    """Issue 3: no skipped level on the way up; never recommends a level with >= 2 DLTs (of 3 or
    6); the recommended level was tried; every treated level exists."""
    start = min(start, n_levels - 1)
    design = ThreePlusThree(n_levels, start_level=start, confirm_mtd_with_six=confirm, max_n=max_n)
    patients = []
    while (decision := design.decide(patients)).action is Action.TREAT:
        highest = max((q.level for q in patients), default=start - 1)
        assert 0 <= decision.level < n_levels
        assert decision.level <= max(highest + 1, start)
        patients.append(TreatedPatient(decision.level, WINDOW, tape[len(patients)]))
    assert decision.action is Action.STOP
    assert len(patients) <= 6 * n_levels + 3 and (max_n is None or len(patients) <= max_n)
    mtd = design.recommend(patients)
    if mtd is not None:
        at_mtd = [q for q in patients if q.level == mtd]
        assert at_mtd, "recommended an untried level"
        assert sum(q.dlt for q in at_mtd) <= 1
        if decision.stop_reason is StopReason.RULE_COMPLETE and confirm:
            assert len(at_mtd) >= 6
    if decision.stop_reason is StopReason.TOO_TOXIC:
        assert mtd is None
