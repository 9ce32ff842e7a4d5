"""Dose holds, reductions and discontinuation against hand-worked sequences; a patient's dose
stays within [lowest level, assigned level] whatever the grades (property test); one patient's
course and relative dose intensity against hand-worked timelines.

The regimen mirrors the reference trial's (DOMAIN.md section 1): a daily study drug with four
levels (10, 15, 20, 25 mg bid) and a day-1 antibody (6 mg/kg), with the rules proposed in
docs/ae_calibration.md. Recovery times are Weibull(median 10 days, shape 1.5), so a recovery
uniform of 0.5 means exactly 10 days.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.dose_modification import (
    DosePeriod,
    DrugAction,
    ModificationPolicy,
    ModificationRule,
    RecoveryTime,
    rdi_so_far,
    relative_dose_intensity,
    run_course,
)
from sim.toxicity import AdverseEventType, DLTDefinition, Drug, ToxicityModel

RUX = Drug("rux", "daily", (10.0, 15.0, 20.0, 25.0), "mg bid", max_reductions=2, max_hold_days=28)
TRAS = Drug("tras", "day1", (6.0,), "mg/kg", max_reductions=0, required=False)
# AE order: anaemia, neutropenia, platelets, AST, heart failure. Each has P(grade = g) = 0.1 for
# g = 1, 2, 3 and 0.05 for g = 4 at every level, so an AE uniform u gives grade 4 below 0.05,
# 3 below 0.15, 2 below 0.25, 1 below 0.35 and none above.
PROBS = (0.1, 0.1, 0.1, 0.05)
AES = (
    AdverseEventType("anaemia", True, "rux", PROBS),
    AdverseEventType("neutropenia", True, "rux", PROBS),
    AdverseEventType("platelets", True, "rux", PROBS),
    AdverseEventType("AST", False, "rux", PROBS),
    AdverseEventType("heart failure", False, "tras", PROBS),
)
MODEL = ToxicityModel((RUX, TRAS), AES)
U_FOR_GRADE = {0: 0.9, 1: 0.3, 2: 0.2, 3: 0.1, 4: 0.01}
RECOVERY = RecoveryTime(10.0, 1.5)
RULES = (
    ModificationRule("rux", "haematologic", 4, "hold", RECOVERY, 1, reduce_from_occurrence=1),
    ModificationRule("rux", "neutropenia", 3, "hold", RECOVERY, 1, reduce_from_occurrence=1),
    ModificationRule("rux", "haematologic", 3, "hold", RECOVERY, 1, reduce_from_occurrence=2),
    ModificationRule("rux", "non-haematologic", 4, "discontinue"),
    ModificationRule("rux", "non-haematologic", 3, "hold", RECOVERY, 1, reduce_from_occurrence=2),
    ModificationRule("tras", "heart failure", 2, "discontinue"),
)
POLICY = ModificationPolicy(MODEL, RULES)
START = (3, 0)  # 25 mg bid, 6 mg/kg


def grades(**by_name):
    """Grades per AE type in MODEL's order, e.g. grades(anaemia=3)."""
    names = [ae.name.replace(" ", "_") for ae in AES]
    return [by_name.get(name, 0) for name in names]


def recovery_uniform(days):
    """The recovery uniform that gives exactly `days` days."""
    return 1.0 - RECOVERY.survival(days)


HALF = (0.5, 0.5)  # recovery uniforms per drug: 10 days each


def assert_periods(actual, expected):
    """Same levels, days equal to rounding (a recovery time from its uniform is not exact)."""
    assert [p.level for p in actual] == [level for _, _, level in expected]
    days = [day for p in actual for day in (p.start_day, p.end_day)]
    assert days == pytest.approx([day for start, end, _ in expected for day in (start, end)])


# --- recovery time -------------------------------------------------------------------------------


def test_recovery_time_is_its_inverse_distribution_function():
    assert RECOVERY.days(0.5) == pytest.approx(10.0)
    for u in (0.01, 0.3, 0.9, 0.999):
        assert RECOVERY.survival(RECOVERY.days(u)) == pytest.approx(1 - u)
    # Shape 1: exponential, -median / ln 2 * ln(1 - u).
    assert RecoveryTime(7.0).days(0.75) == pytest.approx(14.0)


# --- decide: hand-worked sequences ---------------------------------------------------------------


def test_no_adverse_event_changes_nothing():
    state = POLICY.start(START)
    decision = POLICY.decide(state, grades(anaemia=2, AST=2, heart_failure=1), HALF)
    assert decision.actions == (DrugAction.CONTINUE, DrugAction.CONTINUE)
    assert decision.state == state
    assert not decision.held


def test_repeated_grade3_anaemia_holds_then_reduces_then_discontinues():
    """Rule 'other haematologic >= 3': same level the first time, one lower from the second; a
    third reduction exceeds max_reductions = 2 and stops the study drug, which ends treatment."""
    state = POLICY.start(START)
    expected_levels = [3, 2, 1]
    for occurrence, level in enumerate(expected_levels, start=1):
        decision = POLICY.decide(state, grades(anaemia=3), HALF)
        assert decision.actions[0] is DrugAction.HOLD
        assert decision.hold_days[0] == pytest.approx(10.0)
        assert decision.hold_days[1] == 0  # the antibody is not held itself
        assert decision.state.levels == (level, 0)
        assert decision.state.occurrences[2] == occurrence
        assert decision.fired == (2,)
        state = decision.state
    assert state.reductions == (2, 0) and state.holds == 3
    decision = POLICY.decide(state, grades(anaemia=3), HALF)
    # The study drug stops, and with it treatment; the antibody, still going, stops with it.
    assert decision.actions == (DrugAction.DISCONTINUE, DrugAction.CONTINUE)
    assert decision.state.off_treatment and decision.off_after_days == 0
    assert decision.state.levels == (None, 0)
    with pytest.raises(ValueError, match="ended"):
        POLICY.decide(decision.state, grades(), HALF)


def test_grade3_neutropenia_reduces_at_once_and_below_the_lowest_level_discontinues():
    state = POLICY.start((1, 0))
    decision = POLICY.decide(state, grades(neutropenia=3), HALF)
    assert decision.actions[0] is DrugAction.HOLD and decision.state.levels == (0, 0)
    decision = POLICY.decide(decision.state, grades(neutropenia=3), HALF)
    assert decision.actions[0] is DrugAction.DISCONTINUE and decision.state.off_treatment


def test_the_first_matching_rule_handles_an_ae():
    """Grade 4 anaemia: rule 0 (haematologic 4, reduce at once) comes before rule 2."""
    decision = POLICY.decide(POLICY.start(START), grades(anaemia=4), HALF)
    assert decision.fired == (0,) and decision.state.levels == (2, 0)


def test_a_rule_fires_once_a_cycle_and_several_rules_make_one_hold_and_one_reduction():
    state = POLICY.start(START)
    # Anaemia and platelets both grade 3: rule 2 fires once, first occurrence, no reduction.
    decision = POLICY.decide(state, grades(anaemia=3, platelets=3), HALF)
    assert decision.state.occurrences[2] == 1 and decision.state.levels == (3, 0)
    # Neutropenia (rule 1, reduce) with anaemia (rule 2, hold): the longest hold, one reduction.
    decision = POLICY.decide(state, grades(anaemia=3, neutropenia=3), (0.9, 0.5))
    assert decision.fired == (1, 2)
    assert decision.hold_days[0] == pytest.approx(RECOVERY.days(0.9))
    assert decision.state.levels == (2, 0) and decision.state.reductions == (1, 0)


def test_a_hold_longer_than_the_limit_discontinues_after_the_limit():
    u = recovery_uniform(35.0)
    decision = POLICY.decide(POLICY.start(START), grades(anaemia=3), (u, 0.5))
    assert decision.actions[0] is DrugAction.DISCONTINUE
    assert decision.hold_days[0] == 28.0 and decision.held
    assert decision.state.off_treatment and decision.off_after_days == 28.0
    assert decision.state.holds == 1
    # Just within the limit: held and resumed.
    decision = POLICY.decide(POLICY.start(START), grades(anaemia=3), (recovery_uniform(27.9), 0.5))
    assert decision.actions[0] is DrugAction.HOLD and not decision.state.off_treatment


def test_grade4_non_haematologic_discontinues_the_study_drug_and_ends_treatment():
    decision = POLICY.decide(POLICY.start(START), grades(AST=4), HALF)
    assert decision.fired == (3,)
    assert decision.state.off_treatment and decision.state.levels == (None, 0)


def test_heart_failure_stops_the_antibody_while_the_study_drug_goes_on():
    """As in the reference trial: trastuzumab stopped for grade 2 heart failure, ruxolitinib
    continued (DOMAIN.md section 1). The study drug's class rules do not see an AE attributed
    to the antibody, even at grade 4."""
    state = POLICY.start(START)
    decision = POLICY.decide(state, grades(heart_failure=4), HALF)
    assert decision.actions == (DrugAction.CONTINUE, DrugAction.DISCONTINUE)
    assert decision.state.levels == (3, None) and not decision.state.off_treatment
    later = POLICY.decide(decision.state, grades(anaemia=3), HALF)
    assert later.actions == (DrugAction.HOLD, DrugAction.OFF)


def test_a_reduce_rule_lowers_the_level_without_a_hold():
    policy = ModificationPolicy(MODEL, (ModificationRule("rux", "AST", 2, "reduce"),))
    decision = policy.decide(policy.start(START), grades(AST=2), HALF)
    assert decision.actions[0] is DrugAction.REDUCE
    assert decision.state.levels == (2, 0) and not decision.held


def test_stopping_every_drug_ends_treatment_even_if_none_is_required():
    optional = Drug("rux", "daily", (10.0, 25.0), required=False)
    model = ToxicityModel((optional,), (AdverseEventType("AST", False, "rux", PROBS),))
    policy = ModificationPolicy(model, (ModificationRule("rux", "any", 3, "discontinue"),))
    decision = policy.decide(policy.start((1,)), [3], (0.5,))
    assert decision.state.off_treatment


def test_bad_rules_are_refused():
    with pytest.raises(ValueError, match="neither"):
        ModificationPolicy(MODEL, (ModificationRule("rux", "rash", 3, "hold", RECOVERY),))
    with pytest.raises(ValueError, match="unknown drug"):
        ModificationPolicy(MODEL, (ModificationRule("x", "any", 3, "discontinue"),))
    with pytest.raises(ValueError, match="recovery"):
        ModificationRule("rux", "any", 3, "hold")
    with pytest.raises(ValueError, match="assigned level"):
        POLICY.start((4, 0))


# --- property: the dose stays within [lowest, assigned] ------------------------------------------

GRADE_ROWS = st.lists(st.integers(0, 4), min_size=len(AES), max_size=len(AES))


@settings(max_examples=300, deadline=None)
@given(
    assigned=st.integers(0, 3),
    cycles=st.lists(
        st.tuples(GRADE_ROWS, st.floats(0, 1, exclude_max=True), st.floats(0, 1, exclude_max=True)),
        min_size=1,
        max_size=25,
    ),
)
def test_levels_never_rise_above_the_assigned_level_nor_fall_below_the_lowest(assigned, cycles):
    state = POLICY.start((assigned, 0))
    previous = state.levels
    for row, u_rux, u_tras in cycles:
        decision = POLICY.decide(state, row, (u_rux, u_tras))
        state = decision.state
        for d, drug in enumerate(MODEL.drugs):
            level = state.levels[d]
            if previous[d] is None:
                assert level is None  # a stopped drug stays stopped
            elif level is not None:
                assert 0 <= level <= previous[d] <= state.assigned[d]
                assert level == state.assigned[d] - state.reductions[d]
            assert state.reductions[d] <= drug.reductions_allowed
            assert decision.hold_days[d] <= drug.max_hold_days
        previous = state.levels
        if state.off_treatment:
            assert state.levels[0] is None  # the required study drug stopped
            break


@settings(max_examples=150, deadline=None)
@given(
    assigned=st.integers(0, 3),
    end_day=st.floats(1.0, 300.0),
    seed_rows=st.lists(
        st.lists(st.floats(0, 1, exclude_max=True), min_size=8, max_size=8),
        min_size=15,
        max_size=15,
    ),
)
def test_a_course_gives_doses_only_within_the_assigned_range_and_in_time_order(
    assigned, end_day, seed_rows
):
    course = run_course(POLICY, (assigned, 0), seed_rows, 0.0, end_day, 21.0)
    for d, periods in enumerate(course.periods):
        for period in periods:
            assert period.level is None or 0 <= period.level <= (assigned, 0)[d]
            assert 0 <= period.start_day < period.end_day <= course.end_day <= end_day
        for before, after in zip(periods, periods[1:], strict=False):
            assert before.end_day <= after.start_day + 1e-9
        rdi = relative_dose_intensity(MODEL.drugs[d], (assigned, 0)[d], periods, 21.0)
        assert math.isnan(rdi) or 0 <= rdi <= 1 + 1e-12
    starts = course.cycle_start_days
    assert len(starts) == len(course.levels) == len(course.grades_by_cycle(MODEL))
    assert course.uniform_rows == tuple(seed_rows)  # the rows given, kept whole
    assert all(b - a >= 21.0 - 1e-9 for a, b in zip(starts, starts[1:], strict=False))


# --- the fast path against deciding every cycle in turn -----------------------------------------

# A model with cycle factors (cycles 1 and 2 differ from the rest) and level multipliers, so that
# the fast path's row-by-row part, its minima and its regrading after a reduction all run.
FACTORED = ToxicityModel(
    (RUX, TRAS),
    (
        AdverseEventType("anaemia", True, "rux", PROBS, (0.4, 0.6, 0.8, 1.0), (1.6, 1.3, 1.0)),
        AdverseEventType("neutropenia", True, "rux", PROBS, (0.5, 0.7, 0.9, 1.0), (0.5, 1.0)),
        AdverseEventType("platelets", True, "rux", PROBS),
        AdverseEventType("AST", False, "rux", PROBS, (), (1.2, 1.0)),
        AdverseEventType("heart failure", False, "tras", PROBS),
    ),
)
FACTORED_POLICY = ModificationPolicy(FACTORED, RULES)


def step_by_step(policy, assigned, rows, start_day, end_day, cycle_days):
    """The reference: every cycle graded and decided in turn, one period per drug and cycle
    piece, the rules of sim/dose_modification.py's docstring spelled out again."""
    model = policy.model
    n_ae, drugs = model.n_ae, model.drugs
    state = policy.start(assigned)
    highest = [0] * n_ae
    periods = [[] for _ in drugs]
    starts = []
    day, number, ended = start_day, 0, end_day

    def add(d, begin, finish, level, cut):
        finish = min(finish, cut)
        if finish > begin:
            periods[d].append(DosePeriod(begin, finish, level))

    while day < end_day:
        row = rows[number]
        number += 1
        starts.append(day)
        due, onset, levels = day + cycle_days, day + row[n_ae] * cycle_days, state.levels
        if onset >= end_day:  # this cycle's AEs would show after the end
            for d, level in enumerate(levels):
                if level is not None:
                    add(d, day, due, level, end_day)
            break
        grades = model.grades(row[:n_ae], levels, number)
        highest = [max(h, g) for h, g in zip(highest, grades, strict=True)]
        decision = policy.decide(state, grades, row[n_ae + 1 :])
        new = decision.state
        if new.off_treatment and onset + decision.off_after_days >= end_day:
            new = new._replace(off_treatment=False)  # the end comes before the rule's stop
            next_day = end_day
        elif new.off_treatment:
            next_day = ended = onset + decision.off_after_days
        else:
            next_day = min(max(due, onset + max(decision.hold_days)), end_day)
        for d, level in enumerate(levels):
            if level is None:
                continue
            action, recovered = decision.actions[d], onset + decision.hold_days[d]
            if drugs[d].schedule == "day1":
                add(d, day, due, level, next_day)
                add(d, due, recovered if action is DrugAction.DISCONTINUE else next_day, None,
                    next_day)  # fmt: skip
            elif action is DrugAction.CONTINUE:
                add(d, day, next_day, level, next_day)
            else:
                add(d, day, onset, level, next_day)
                add(d, onset, recovered, None, next_day)
                if action is not DrugAction.DISCONTINUE:
                    add(d, recovered, next_day, new.levels[d], next_day)
        state = new
        if new.off_treatment:
            break
        day = next_day
    return starts, tuple(highest), ended, state, periods


def assert_same_course(policy, assigned, rows, end_day):
    course = run_course(policy, assigned, rows, 0.0, end_day, 21.0)
    starts, highest, ended, state, periods = step_by_step(
        policy, assigned, rows, 0.0, end_day, 21.0
    )
    assert list(course.cycle_start_days) == pytest.approx(starts)
    assert course.highest_grades == highest
    assert course.end_day == pytest.approx(ended)
    assert course.state == state
    for d, drug in enumerate(policy.model.drugs):
        fast = relative_dose_intensity(drug, assigned[d], course.periods[d], 21.0)
        slow = relative_dose_intensity(drug, assigned[d], periods[d], 21.0)
        assert fast == pytest.approx(slow, nan_ok=True)
        held = any(p.level is None for p in periods[d])
        assert held == any(p.level is None for p in course.periods[d])
    return course.decisions


@settings(max_examples=300, deadline=None)
@given(
    factored=st.booleans(),
    assigned=st.integers(0, 3),
    end_day=st.floats(1.0, 300.0),
    rows=st.lists(
        st.lists(st.floats(0, 1, exclude_max=True), min_size=8, max_size=8),
        min_size=15,
        max_size=15,
    ),
)
def test_the_fast_path_gives_the_step_by_step_course(factored, assigned, end_day, rows):
    assert_same_course(FACTORED_POLICY if factored else POLICY, (assigned, 0), rows, end_day)


def test_the_fast_path_gives_the_step_by_step_course_for_many_patients():
    """2,000 patients with uniforms that make AEs rarer (as in a real model): long uneventful
    runs between events, which the fast path settles at once."""
    rng = np.random.default_rng(17)
    events = 0
    for _ in range(2000):
        end_day = float(rng.uniform(1, 400))
        rows = rng.random((20, 8))
        rows[:, :5] **= 0.4  # P(an AE in a cycle) = 0.35^2.5 = 0.07 instead of 0.35
        policy = FACTORED_POLICY if rng.random() < 0.5 else POLICY
        events += len(assert_same_course(policy, (int(rng.integers(0, 4)), 0), rows, end_day))
    assert events > 1000  # the comparison covers eventful courses too


# --- one patient's course, by hand ---------------------------------------------------------------


def row(onset=0.5, recovery=HALF, **by_grade):
    """One cycle's uniforms: an AE uniform giving each named grade, the onset, recoveries."""
    return [U_FOR_GRADE[g] for g in grades(**by_grade)] + [onset, *recovery]


def test_a_course_without_adverse_events():
    """Progression seen at the day-63 scan: cycles on days 0, 21, 42; the cycle due on day 63 is
    not given (the scan is read first); both drugs at full intensity."""
    course = run_course(POLICY, START, [row()] * 3, 0.0, 63.0, 21.0)
    assert course.cycle_start_days == (0.0, 21.0, 42.0)
    assert course.periods[0] == (DosePeriod(0.0, 63.0, 3),)  # a daily drug: one period
    assert course.periods[1] == (DosePeriod(0.0, 63.0, 0),)  # three administrations
    assert course.periods[1][0].administrations(21.0) == 3
    assert course.end_day == 63.0 and not course.held and not course.reduced
    for d in range(2):
        assert relative_dose_intensity(MODEL.drugs[d], START[d], course.periods[d], 21) == 1.0
    assert course.highest_grades == (0, 0, 0, 0, 0)


def test_a_hold_inside_the_cycle_keeps_the_next_cycle_on_time():
    """Grade 3 anaemia shows on day 10.5 (onset uniform 0.5); 10 days' hold; back on day 20.5 at
    the same level; cycle 2 on day 21. RDI = (63 - 10) / 63."""
    rows = [row(anaemia=3), row(), row()]
    course = run_course(POLICY, START, rows, 0.0, 63.0, 21.0)
    assert course.cycle_start_days == (0.0, 21.0, 42.0)
    assert course.periods[0] == (
        DosePeriod(0.0, 10.5, 3),
        DosePeriod(10.5, 20.5, None),
        DosePeriod(20.5, 21.0, 3),
        DosePeriod(21.0, 63.0, 3),
    )
    assert course.held and not course.reduced
    rdi = relative_dose_intensity(RUX, 3, course.periods[0], 21.0)
    assert rdi == pytest.approx(53 / 63)
    assert course.highest_grades[0] == 3
    # Per-cycle detail, for a trace or a DLT: cycle 1's AEs showed on day 10.5; grade 3
    # haematologic is not a DLT (DOMAIN.md section 1).
    assert course.onset_days(MODEL) == pytest.approx([10.5, 31.5, 52.5])
    assert course.grades_by_cycle(MODEL) == [[3, 0, 0, 0, 0], [0] * 5, [0] * 5]
    assert not DLTDefinition().is_dlt(MODEL, course.grades_by_cycle(MODEL)[0])


def test_a_hold_past_the_due_day_delays_the_next_cycle_and_not_the_end():
    """Anaemia grade 3 on day 10.5, 20 days to recover: cycle 2 starts on day 30.5, cycle 3 on
    51.5; progression is still seen on day 63 (scans keep their calendar), so cycle 3 is cut.
    Study drug: 10.5 + 21 + 11.5 = 43 of 63 days. Antibody: 3 doses over max(63, 51.5 + 21) =
    72.5 days, RDI 3 x 21 / 72.5."""
    rows = [row(anaemia=3, recovery=(recovery_uniform(20.0), 0.5)), row(), row()]
    course = run_course(POLICY, START, rows, 0.0, 63.0, 21.0)
    assert course.cycle_start_days == pytest.approx([0.0, 30.5, 51.5])
    assert_periods(course.periods[1], [(0.0, 21.0, 0), (21.0, 30.5, None), (30.5, 63.0, 0)])
    assert relative_dose_intensity(RUX, 3, course.periods[0], 21.0) == pytest.approx(43 / 63)
    assert relative_dose_intensity(TRAS, 0, course.periods[1], 21.0) == pytest.approx(63 / 72.5)


def test_a_reduction_is_given_at_the_lower_level_after_the_hold():
    """Neutropenia grade 3 in cycle 2 on day 21 + 0.25 x 21 = 26.25: held 10 days, back at 20 mg
    on day 36.25. Taken: 25 x 26.25 + 20 x (63 - 36.25) mg-days of 25 x 63 planned."""
    rows = [row(), row(onset=0.25, neutropenia=3), row()]
    course = run_course(POLICY, START, rows, 0.0, 63.0, 21.0)
    assert course.reduced and course.state.levels == (2, 0)
    expected = (25 * 26.25 + 20 * (63 - 36.25)) / (25 * 63)
    assert relative_dose_intensity(RUX, 3, course.periods[0], 21.0) == pytest.approx(expected)


def test_a_hold_too_long_ends_treatment_at_the_limit():
    rows = [row(onset=0.5, anaemia=3, recovery=(recovery_uniform(40.0), 0.5))] + [row()] * 5
    course = run_course(POLICY, START, rows, 0.0, 126.0, 21.0)
    assert course.off_for_toxicity and course.end_day == pytest.approx(10.5 + 28)
    assert_periods(course.periods[0], [(0.0, 10.5, 3), (10.5, 38.5, None)])
    assert relative_dose_intensity(RUX, 3, course.periods[0], 21.0) == pytest.approx(10.5 / 38.5)
    # The antibody, not held itself, is on treatment until day 38.5: its day-21 dose waited for
    # the delayed cycle 2, which never came.
    assert course.periods[1] == (DosePeriod(0.0, 21.0, 0), DosePeriod(21.0, 38.5, None))


def test_a_drug_still_going_is_taken_until_treatment_ends():
    # A daily drug not held while the required one is held past its limit: taken until the
    # required drug's stop on day 38.5, not only until the AE's onset (it was recorded as
    # stopping at the onset, its RDI 0.677 instead of 1 in the review's example).
    daily = Drug("b", "daily", (5.0, 10.0), required=False)
    model = ToxicityModel((RUX, daily), (AdverseEventType("anaemia", True, "rux", PROBS),))
    policy = ModificationPolicy(model, (ModificationRule("rux", "anaemia", 3, "hold", RECOVERY),))
    # One AE uniform, the onset, a recovery uniform per drug.
    rows = [[U_FOR_GRADE[3], 0.5, recovery_uniform(40.0), 0.5]] + [[0.9, 0.5, 0.5, 0.5]] * 5
    course = run_course(policy, (3, 1), rows, 0.0, 126.0, 21.0)
    assert course.off_for_toxicity and course.end_day == pytest.approx(38.5)
    assert_periods(course.periods[1], [(0.0, 38.5, 1)])
    assert relative_dose_intensity(daily, 1, course.periods[1], 21.0) == 1.0


def test_a_stop_the_end_comes_before_is_no_stop():
    # The hold would end treatment on day 38.5 (onset 10.5 + the 28-day limit); progression is
    # seen on day 30: treatment was not stopped for toxicity (it was counted as stopped).
    rows = [row(onset=0.5, anaemia=3, recovery=(recovery_uniform(40.0), 0.5))] + [row()] * 5
    course = run_course(POLICY, START, rows, 0.0, 30.0, 21.0)
    assert not course.off_for_toxicity and course.end_day == 30.0
    assert course.held
    assert_periods(course.periods[0], [(0.0, 10.5, 3), (10.5, 30.0, None)])


def test_an_ae_that_ends_treatment_at_its_onset_happened_and_can_be_a_dlt():
    # Grade-4 AST in cycle 1 stops treatment on its onset day (10.5), and so does grade-4
    # neutropenia at the lowest level (no level to reduce to). The cycle's grades read 0 because
    # the course ended on that day, so phase I never saw these DLTs (the AE table did).
    for assigned, ae in (((3, 0), {"AST": 4}), ((0, 0), {"neutropenia": 4})):
        rows = [row(**ae)] + [row()] * 5
        course = run_course(POLICY, assigned, rows, 0.0, 126.0, 21.0)
        assert course.off_for_toxicity and course.end_day == pytest.approx(10.5)
        first = course.grades_by_cycle(MODEL)[0]
        assert first == grades(**ae)
        assert DLTDefinition().is_dlt(MODEL, first, 1)


def test_the_antibody_stops_for_heart_failure_and_the_study_drug_goes_on():
    """The reference trial's patient: antibody stopped after two cycles, study drug on."""
    rows = [row(), row(heart_failure=2)] + [row()] * 4
    course = run_course(POLICY, START, rows, 0.0, 126.0, 21.0)
    assert len(course.cycle_start_days) == 6 and not course.off_for_toxicity
    assert course.periods[1] == (DosePeriod(0.0, 21.0, 0), DosePeriod(21.0, 42.0, 0))
    assert relative_dose_intensity(TRAS, 0, course.periods[1], 21.0) == 1.0
    assert relative_dose_intensity(RUX, 3, course.periods[0], 21.0) == 1.0
    assert course.levels[2:] == ((3, None),) * 4


def test_adverse_events_after_treatment_ended_do_not_count():
    """Death on day 10; the cycle's AEs would show on day 18.9 (onset 0.9): none counted."""
    course = run_course(POLICY, START, [row(onset=0.9, anaemia=4)], 0.0, 10.0, 21.0)
    assert course.highest_grades[0] == 0 and course.decisions == ()
    assert course.grades_by_cycle(MODEL) == [[0] * 5]
    assert course.periods[0] == (DosePeriod(0.0, 10.0, 3),)


# --- relative dose intensity, by hand ------------------------------------------------------------


def test_relative_dose_intensity_of_a_daily_drug():
    """25 mg for 21 days, held 7, 20 mg for 21: (25 x 21 + 20 x 21) / (25 x 49) = 945 / 1225."""
    periods = (DosePeriod(0, 21, 3), DosePeriod(21, 28, None), DosePeriod(28, 49, 2))
    assert relative_dose_intensity(RUX, 3, periods, 21.0) == pytest.approx(945 / 1225)
    # Against a patient assigned 20 mg the same doses are 100% of what was planned at 20 mg,
    # less the hold: (20 x 42) / (20 x 49) would be 42/49; at 25 mg for 21 days it is above that.
    assert relative_dose_intensity(RUX, 2, periods, 21.0) == pytest.approx(945 / (20 * 49))
    assert math.isnan(relative_dose_intensity(RUX, 3, (DosePeriod(0, 7, None),), 21.0))


def test_relative_dose_intensity_of_a_day1_drug():
    """Doses of 6, 6, 4 mg/kg on days 0, 28, 49, each cycle 21 days: the time runs to 49 + 21 =
    70 days, 70 / 21 planned doses of 6: (16 / 6) / (70 / 21) = 0.8. A course cut short by
    progression mid-cycle still counts a whole cycle after its last dose (Lyman)."""
    antibody = Drug("ab", "day1", (4.0, 6.0))
    periods = (
        DosePeriod(0, 21, 1),
        DosePeriod(21, 28, None),
        DosePeriod(28, 49, 1),
        DosePeriod(49, 70, 0),
    )
    assert relative_dose_intensity(antibody, 1, periods, 21.0) == pytest.approx(0.8)
    cut = (DosePeriod(0, 21, 1), DosePeriod(21, 42, 1), DosePeriod(42, 50, 1))
    assert relative_dose_intensity(antibody, 1, cut, 21.0) == pytest.approx(1.0)


def test_rdi_so_far_steps_at_each_cycle_start_by_hand():
    """The exposure-response link's r: 1 in cycle 1, then the RDI of the doses before each cycle
    start (the two hand-worked histories above, cut there), then the whole course's from the day a
    rule ended treatment.

    Daily, 25 mg assigned, cycles on days 0, 28, 49: before day 28, 25 x 21 of 25 x 28 = 0.75;
    before 49, 945 / 1225; with 20 mg to day 60 where treatment ended, (945 + 20 x 11) / 1500.
    Day-1 antibody, 6 mg/kg, cycles on days 0, 28, 49: before 28 one dose of 28 / 21 planned,
    0.75; before 49 two of 49 / 21, 6 / 7."""
    daily = (DosePeriod(0, 21, 3), DosePeriod(21, 28, None), DosePeriod(28, 49, 2))
    steps = rdi_so_far(RUX, 3, daily, (0.0, 28.0, 49.0), None, 21.0)
    assert [day for day, _ in steps] == [0.0, 28.0, 49.0]
    assert [r for _, r in steps] == pytest.approx([1.0, 0.75, 945 / 1225])
    ended = rdi_so_far(RUX, 3, (*daily, DosePeriod(49, 60, 2)), (0.0, 28.0, 49.0), 60.0, 21.0)
    assert ended[-1] == (60.0, pytest.approx(1165 / 1500))
    antibody = Drug("ab", "day1", (4.0, 6.0))
    periods = (DosePeriod(0, 21, 1), DosePeriod(21, 28, None), DosePeriod(28, 49, 1))
    steps = rdi_so_far(antibody, 1, periods, (0.0, 28.0, 49.0), None, 21.0)
    assert [r for _, r in steps] == pytest.approx([1.0, 0.75, 6 / 7])


def test_rdi_so_far_is_exactly_1_at_full_dose_and_holds_when_the_drug_stops():
    """Every dose at the assigned level: r is 1.0 exactly (no ratio of sums off by a rounding),
    so the link leaves such a patient's progression time untouched. A drug stopped on day 10
    while the other drugs go on keeps its r (its time on treatment ended with it)."""
    pieces = [DosePeriod(0.1 * k, 0.1 * (k + 1), 3) for k in range(630)]
    steps = rdi_so_far(RUX, 3, pieces, (0.0, 21.0, 42.0), None, 21.0)
    assert [r for _, r in steps] == [1.0, 1.0, 1.0]
    stopped = rdi_so_far(RUX, 3, (DosePeriod(0, 5, 3), DosePeriod(5, 10, 2)), (0.0, 21.0, 42.0),
                         None, 21.0)
    assert [r for _, r in stopped] == pytest.approx([1.0, 0.9, 0.9])


def test_uniform_columns_per_cycle():
    assert POLICY.uniforms_per_cycle == len(AES) + 1 + 2
