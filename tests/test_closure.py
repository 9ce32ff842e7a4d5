"""Early-closure rules against hand-worked cases, and against Poisson closed forms by Monte Carlo
(fixed seed, tolerance 3 Monte Carlo SE)."""

import math

import numpy as np
import pytest
from scipy import stats

from sim.accrual import FixedAccrual, PoissonAccrual
from sim.closure import Checkpoint, ClosureReason, ClosureRules
from sim.units import DAYS_PER_MONTH

MONTH = DAYS_PER_MONTH


def days(*months):
    return [m * MONTH for m in months]


# --- hand-worked cases ---------------------------------------------------------------------------


def test_deadline_closes_with_those_registered_by_then():
    """Hand-worked: deadline month 12, target 5, registrations at months 1, 3, 13: accrual closes
    on the deadline (day 12 * 30.4375 = 365.25) with the first two."""
    closure = ClosureRules(max_months=12).evaluate(days(1, 3, 13), target=5)
    assert closure.reason == ClosureReason.DEADLINE == "deadline"
    assert closure.day == pytest.approx(365.25)
    assert closure.registered == 2 and closure.registration_days == tuple(days(1, 3))
    assert closure.closed_early


def test_target_reached_before_the_deadline():
    """Hand-worked: the 5th registration is at month 5 < 12: complete, closed that day."""
    closure = ClosureRules(max_months=12).evaluate(days(1, 2, 3, 4, 5, 6), target=5)
    assert closure.reason == ClosureReason.TARGET_REACHED
    assert closure.day == 5 * MONTH and closure.registered == 5 and not closure.closed_early


def test_checkpoints_pass_and_fail():
    """Hand-worked: "fewer than 3 by month 6" and "fewer than 8 by month 12", target 20, no
    deadline. Registrations at months 1, 2, 5, 7, 8, 9, 10, 11.5, 13: 3 by month 6 and 8 by month
    12, both pass, and with no deadline accrual stays open. Without the month-11.5 one, 7 < 8 by
    month 12: closed for slow accrual on day 12 * 30.4375 with 7."""
    rules = ClosureRules(checkpoints=(Checkpoint(12, 8), Checkpoint(6, 3)))
    passing = rules.evaluate(days(1, 2, 5, 7, 8, 9, 10, 11.5, 13), target=20)
    assert passing.reason == ClosureReason.OPEN and passing.day is None
    assert passing.registered == 9
    failing = rules.evaluate(days(1, 2, 5, 7, 8, 9, 10, 13), target=20)
    assert failing.reason == ClosureReason.SLOW_ACCRUAL == "slow_accrual"
    assert failing.day == pytest.approx(365.25) and failing.registered == 7
    early = rules.evaluate(days(1, 2, 7), target=20)
    assert early.reason == ClosureReason.SLOW_ACCRUAL and early.day == pytest.approx(6 * MONTH)
    assert early.registered == 2


def test_registration_on_the_checkpoint_day_counts():
    """Convention (sim/closure.py): "by month m" includes month m's own registrations. Third
    registration exactly on the month-6 checkpoint: 3 by month 6, so it passes."""
    rules = ClosureRules(checkpoints=(Checkpoint(6, 3),))
    closure = rules.evaluate([10.0, 20.0, Checkpoint(6, 3).day, 300.0], target=5)
    assert closure.reason == ClosureReason.OPEN and closure.registered == 4


def test_target_reached_on_a_checkpoint_or_deadline_day_is_complete():
    """Convention: the target reached that day wins, whatever the rule would have said."""
    rules = ClosureRules(max_months=6, checkpoints=(Checkpoint(6, 10),))
    closure = rules.evaluate(days(1, 2, 6), target=3)
    assert closure.reason == ClosureReason.TARGET_REACHED and closure.day == 6 * MONTH


def test_failed_checkpoint_on_the_deadline_day_is_slow_accrual():
    """Convention: a failed checkpoint on the deadline day is reported as slow accrual; a passed
    one leaves the deadline as the reason."""
    failing = ClosureRules(max_months=24, checkpoints=(Checkpoint(24, 5),))
    assert failing.evaluate(days(1, 2, 3), target=10).reason == ClosureReason.SLOW_ACCRUAL
    assert failing.evaluate(days(1, 2, 3, 4, 5), target=10).reason == ClosureReason.DEADLINE


def test_rules_after_as_of_day_are_not_consulted():
    """Hand-worked: data to month 10 only; the month-12 checkpoint and month-24 deadline are still
    to come, so accrual is open with the 2 registrations so far (the month-11 one is ignored)."""
    rules = ClosureRules(max_months=24, checkpoints=(Checkpoint(12, 5),))
    closure = rules.evaluate(days(1, 4, 11), target=10, as_of_day=10 * MONTH)
    assert closure.reason == ClosureReason.OPEN and closure.registered == 2


def test_reference_trial_shaped_case():
    """Hand-worked, shaped like the reference trial (DOMAIN.md section 1: 40 planned, about 28 in
    46 months): one registration every 2 months, "fewer than 10 by month 24" (12: passes), deadline
    month 46: 23 registered (months 2, 4, ..., 46, the last on the deadline day itself)."""
    rules = ClosureRules(max_months=46, checkpoints=(Checkpoint(24, 10),))
    closure = rules.evaluate(days(*range(2, 80, 2)), target=40)
    assert closure.reason == ClosureReason.DEADLINE and closure.registered == 23


def test_minimum_for_efficacy_analysis():
    """Hand-worked: with a minimum of 10, 9 registered is not analysed and 10 is."""
    rules = ClosureRules(max_months=12, min_patients_for_analysis=10)
    assert not rules.evaluate(days(*range(1, 10)), target=20).analysable
    assert rules.evaluate(days(*np.linspace(1, 11, 10)), target=20).analysable
    assert rules.efficacy_analysis_allowed(10) and not rules.efficacy_analysis_allowed(9)
    assert ClosureRules().efficacy_analysis_allowed(0)


def test_evaluate_reads_an_infinite_stream_lazily():
    """FixedAccrual(1 per month) registers patient k on month k: 6 by month 6 passes "fewer than
    5 by month 6" and the 10th arrives at month 10 (hand-worked). An infinite Poisson stream stops
    at the deadline."""
    rules = ClosureRules(checkpoints=(Checkpoint(6, 5),))
    stream = FixedAccrual(1.0).arrival_days(np.random.default_rng(0))
    closure = rules.evaluate(stream, target=10)
    assert closure.reason == ClosureReason.TARGET_REACHED
    assert closure.day == pytest.approx(10 * MONTH)
    poisson = PoissonAccrual(0.1).arrival_days(np.random.default_rng(1))
    assert ClosureRules(max_months=12).evaluate(poisson, target=1000).reason == "deadline"


def test_decision_days_for_an_engine():
    """Hand-worked schedule: checkpoints at months 6 and 12 (given out of order), deadline 18, a
    checkpoint at 24 (after the deadline, so never consulted)."""
    rules = ClosureRules(
        max_months=18, checkpoints=(Checkpoint(12, 8), Checkpoint(24, 30), Checkpoint(6, 3))
    )
    assert rules.decision_days() == pytest.approx(days(6, 12, 18))
    assert rules.next_decision_day(0.0) == pytest.approx(6 * MONTH)
    assert rules.next_decision_day(6 * MONTH) == pytest.approx(12 * MONTH)
    # An engine clock a few ulps past the checkpoint is the same day, not before the next one.
    assert rules.next_decision_day(6 * MONTH * (1 + 1e-15)) == pytest.approx(12 * MONTH)
    assert rules.next_decision_day(18 * MONTH) is None
    assert rules.decision_at(6 * MONTH * (1 - 1e-15), registered=2) == ClosureReason.SLOW_ACCRUAL
    assert rules.decision_at(6 * MONTH, registered=3) is None
    assert rules.decision_at(18 * MONTH, registered=39) == ClosureReason.DEADLINE
    with pytest.raises(ValueError, match="not a decision day"):
        rules.decision_at(7 * MONTH, registered=3)


def test_engine_style_stepping_agrees_with_evaluate():
    """Source: evaluate (hand-checked above). An engine that walks next_decision_day and asks
    decision_at, counting registrations up to each decision day, must reach the same outcome."""
    rules = ClosureRules(
        max_months=30, checkpoints=(Checkpoint(6, 2), Checkpoint(12, 6), Checkpoint(18, 10))
    )
    rng = np.random.default_rng(7)
    for _ in range(300):
        registrations = np.cumsum(rng.exponential(MONTH / rng.uniform(0.3, 1.2), 60))
        target = 15
        expected = rules.evaluate(registrations.tolist(), target)
        target_day = registrations[target - 1]
        outcome = (ClosureReason.TARGET_REACHED, target_day)
        day = rules.next_decision_day(-math.inf)
        while day is not None and day < target_day:
            registered = int(np.searchsorted(registrations, day, side="right"))
            reason = rules.decision_at(day, registered)
            if reason is not None:
                outcome = (reason, day)
                break
            day = rules.next_decision_day(day)
        assert (expected.reason, expected.day) == outcome


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="increase"):
        ClosureRules().evaluate([5.0, 3.0], target=3)
    with pytest.raises(ValueError, match="month > 0"):
        Checkpoint(0, 3)
    with pytest.raises(ValueError, match="max_months"):
        ClosureRules(max_months=-1)
    with pytest.raises(ValueError, match="target"):
        ClosureRules().evaluate([], target=0)


# --- against Poisson closed forms ----------------------------------------------------------------


def test_closure_probabilities_for_poisson_accrual():
    """Source: Poisson process with rate r = 0.6 / month (independent increments). Rules: "fewer
    than 10 by month 24" and deadline month 48, target 40 (shaped like the reference trial).
    P(slow accrual) = P(N(24) < 10) = Poisson(14.4) cdf at 9;
    P(target by 48 months) = P(N(48) >= 40) = Poisson(28.8) sf at 39 (passing the checkpoint is
    implied: 40 by month 48 does not need 10 by month 24, so subtract
    P(N(24) < 10, N(48) >= 40) = sum_j P(N(24) = j) P(N(24, 48] >= 40 - j), j < 10);
    P(deadline) = 1 - the other two."""
    rules = ClosureRules(max_months=48, checkpoints=(Checkpoint(24, 10),))
    rate = 0.6
    first_half = stats.poisson(rate * 24)
    slow = first_half.cdf(9)
    completed_despite_slow_start = sum(
        first_half.pmf(j) * stats.poisson(rate * 24).sf(39 - j) for j in range(10)
    )
    completed = stats.poisson(rate * 48).sf(39) - completed_despite_slow_start
    deadline = 1.0 - slow - completed
    rng = np.random.default_rng(8)
    replicates = 20_000
    reasons = [
        rules.evaluate(PoissonAccrual(rate).arrival_days(rng), target=40).reason
        for _ in range(replicates)
    ]
    for reason, probability in [
        (ClosureReason.SLOW_ACCRUAL, slow),
        (ClosureReason.TARGET_REACHED, completed),
        (ClosureReason.DEADLINE, deadline),
    ]:
        observed = sum(r == reason for r in reasons) / replicates
        standard_error = math.sqrt(probability * (1.0 - probability) / replicates)
        assert abs(observed - probability) <= 3.0 * standard_error, (reason, observed, probability)
