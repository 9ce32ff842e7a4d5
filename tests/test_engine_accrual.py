"""Accrual models and closure rules inside the engine: hand-worked cases and the samplers' own
streams (the samplers themselves are validated in tests/test_accrual.py)."""

import dataclasses
import math

import pytest

from sim import records
from sim.engine import TrialPlan, accrual_model, simulate_trial
from sim.rng import replicate_streams
from sim.runner import run
from sim.scenario import load_scenario, validate_scenario

MONTH = 365.25 / 12


def _scenario(accrual, **phase2):
    base = {"n": 20, "alpha": 0.05, "null_median_weeks": 8, "true_median_weeks": 13,
            "follow_up_weeks": 10}
    return validate_scenario(
        {"trial": {"name": "accrual"}, "accrual": accrual, "phase2": base | phase2}, "accrual"
    )


def _trial(scenario, replicate=0, seed=1):
    return simulate_trial(TrialPlan.from_scenario(scenario), replicate_streams(seed, replicate))


@pytest.mark.parametrize(
    "accrual",
    [
        {"model": "poisson", "rate_per_month": 2.0},
        {"model": "piecewise", "period_starts_months": [0, 3, 6],
         "period_rates_per_month": [0.5, 0.0, 3.0]},
        {"model": "sites", "site_rates_per_month": [0.4, 0.8, 1.0],
         "site_activation_months": [0, 2, 5], "ramp_up_months": 2},
        {"model": "poisson-gamma", "sites": 4, "rate_per_site_month": 0.5, "rate_shape": 2.0,
         "activation_window_months": [0, 6]},
    ],
)
def test_registrations_are_the_accrual_models_own_stream(accrual):
    scenario = _scenario(accrual)
    for replicate in range(5):
        trial = _trial(scenario, replicate)
        stream = accrual_model(scenario.accrual).arrival_days(
            replicate_streams(1, replicate).accrual
        )
        expected = [next(stream) for _ in trial.patients]
        assert [p.registration_day for p in trial.patients] == expected
        assert len(trial.patients) == 20 and trial.closure_reason == records.CLOSED_TARGET


def test_a_pause_registers_nobody():
    scenario = _scenario({"model": "piecewise", "period_starts_months": [0, 3, 6],
                          "period_rates_per_month": [0.5, 0.0, 3.0]})
    for replicate in range(30):
        days = [p.registration_day for p in _trial(scenario, replicate).patients]
        assert not any(3 * MONTH <= day < 6 * MONTH for day in days)


def test_checkpoint_counts_a_registration_due_on_its_day():
    # Fixed accrual at 1 a month registers patient k on day k * MONTH; the 12th arrives exactly
    # on month 12, the checkpoint's day, and counts before the decision (sim.closure's rule).
    stays = _scenario({"model": "fixed", "rate_per_month": 1.0,
                       "checkpoints": [{"month": 12, "min_registered": 12}]})
    trial = _trial(stays)
    assert trial.closure_reason == records.CLOSED_TARGET and len(trial.patients) == 20
    closes = _scenario({"model": "fixed", "rate_per_month": 1.0,
                        "checkpoints": [{"month": 12, "min_registered": 13}]})
    trial = _trial(closes)
    assert trial.closure_reason == records.CLOSED_SLOW_ACCRUAL
    assert trial.accrual_closed_day == pytest.approx(12 * MONTH)
    assert len(trial.patients) == 12


class _GivenDays:
    """Registrations on given days (as registration dates from a file fall on whole days)."""

    end_day = math.inf  # ends without saying when: accrual closes at the last registration

    def __init__(self, *days):
        self.days = days

    def arrival_days(self, rng):
        yield from self.days


@pytest.mark.parametrize("on_day", [2, 3])
def test_every_registration_on_a_checkpoints_day_counts(on_day):
    # Two or three registrations on the checkpoint's day (16 months = day 487), 3 needed by
    # then: all of that day's registrations count before the decision (only the first did).
    checkpoint_day = 16 * MONTH
    plan = TrialPlan.from_scenario(
        _scenario({"model": "poisson", "rate_per_month": 1.0,
                   "checkpoints": [{"month": 16, "min_registered": 3}]})
    )  # fmt: skip
    days = (100.0, *[checkpoint_day] * on_day, 600.0)
    trial = simulate_trial(dataclasses.replace(plan, accrual=_GivenDays(*days)),
                           replicate_streams(1, 0))  # fmt: skip
    assert trial.closure_reason != records.CLOSED_SLOW_ACCRUAL
    assert len(trial.patients) == len(days)


def test_deadline_and_too_few_for_an_efficacy_analysis():
    # 1 a month, deadline at 10.5 months: 10 patients, closed early for slow accrual; with at
    # least 15 needed for the efficacy analysis, H0 is never rejected.
    scenario = _scenario({"model": "fixed", "rate_per_month": 1.0, "max_months": 10.5},
                         true_median_weeks=40, min_patients_for_analysis=15)
    result = run(scenario, 200, seed=3)
    metrics = result.metrics
    assert metrics["terminated_slow_accrual"].estimate == 1.0
    assert metrics["n_treated_median"].estimate == 10
    assert metrics["close_months_median"].estimate == pytest.approx(10.5, abs=1e-3)
    assert metrics["efficacy_analysed"].estimate == 0.0
    assert metrics["reject_h0"].estimate == 0.0
    assert metrics["reject_h0_if_completed"].replicates == 0
    enough = run(_scenario({"model": "fixed", "rate_per_month": 1.0, "max_months": 10.5},
                           true_median_weeks=40, min_patients_for_analysis=10), 200, seed=3)
    assert enough.metrics["efficacy_analysed"].estimate == 1.0
    assert enough.metrics["reject_h0"].estimate > 0.5


def test_closing_probability_by_a_checkpoint_matches_the_poisson_count():
    # Poisson accrual at 1 a month and a checkpoint "at least 8 by month 12": the trial closes
    # there with probability P(Poisson(12) <= 7) = 0.0895 (sum of the Poisson pmf).
    scenario = _scenario({"rate_per_month": 1.0,
                          "checkpoints": [{"month": 12, "min_registered": 8}]})
    expected = sum(math.exp(-12) * 12**k / math.factorial(k) for k in range(8))
    estimate = run(scenario, 6000, seed=8, workers=2).metrics["terminated_slow_accrual"]
    assert abs(estimate.estimate - expected) <= 3 * estimate.mc_se, (estimate, expected)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["accrual.model=sites"], "accrual.site_rates_per_month: missing"),
        (["accrual.model=poisson-gamma", "accrual.sites=3"], "needs sites, rate_per_site_month"),
        (["accrual.ramp_up_months=2"], "only applies when accrual.model"),
        (["accrual.model=piecewise", "accrual.period_starts_months=[0, 2]",
          "accrual.period_rates_per_month=[1, 1]"], 'rate_per_month: only applies when '
                                                     'accrual.model is "poisson", "fixed"'),
        (["accrual.checkpoints=[{month=12, min_registered=8}, {month=6, min_registered=3}]"],
         "increasing months"),
    ],
)
def test_accrual_keys_that_depend_on_each_other(overrides, message):
    from sim.errors import ScenarioError

    with pytest.raises(ScenarioError) as raised:
        load_scenario("ruxolitinib_trastuzumab", [*overrides])
    assert message in str(raised.value)


def test_piecewise_periods_must_start_at_opening():
    from sim.errors import ScenarioError

    with pytest.raises(ScenarioError) as raised:
        _scenario({"model": "piecewise", "period_starts_months": [1, 2],
                   "period_rates_per_month": [1, 1]})
    assert "increasing months starting at 0" in str(raised.value)


def test_the_observed_accrual_scenario_makes_the_real_trials_fate_likely():
    # The reference trial closed early for slow accrual (DOMAIN.md section 1); calibrated to its
    # real accrual, the bundled scenario must make that the likely outcome.
    result = run(load_scenario("ruxolitinib_trastuzumab_observed_accrual"), 1000, seed=1,
                 workers=2)
    estimate = result.metrics["terminated_slow_accrual"]
    assert estimate.estimate - 3 * estimate.mc_se > 0.5


def test_accrual_that_ends_closes_on_the_day_its_rate_drops_to_zero():
    # One a month for 12 months, then nobody: accrual closes at month 12, where a deadline at 12
    # months would close it, not at the last registration (not known to be the last when it
    # happens). Before, the close fell on the last registration, about a month earlier.
    ends = _scenario({"model": "piecewise", "period_starts_months": [0, 12],
                      "period_rates_per_month": [1.0, 0.0]}, n=40)
    deadline = _scenario({"model": "poisson", "rate_per_month": 1.0, "max_months": 12}, n=40)
    for replicate in range(20):
        trial = _trial(ends, replicate)
        assert trial.closure_reason == records.CLOSED_ACCRUAL_ENDED
        assert trial.accrual_closed_day == pytest.approx(12 * MONTH)
        assert trial.patients[-1].registration_day < 12 * MONTH
        assert _trial(deadline, replicate).accrual_closed_day == trial.accrual_closed_day


def test_months_to_the_last_registration_leave_out_trials_with_nobody():
    # Poisson at 0.1 a month with a deadline at T = 3 months: nobody registers with probability
    # e^(-0.3) (no month to a last registration then; it counted as 0 before). Given somebody,
    # P(last <= t) = (e^(-0.1 (T - t)) - e^(-0.3)) / (1 - e^(-0.3)), whose mean is
    # T - ((1 - e^(-0.3)) / 0.1 - T e^(-0.3)) / (1 - e^(-0.3)).
    reps = 4000
    scenario = _scenario({"model": "poisson", "rate_per_month": 0.1, "max_months": 3})
    estimate = run(scenario, reps, seed=1).metrics["accrual_months_mean"]
    some = 1 - math.exp(-0.3)
    assert abs(estimate.replicates - reps * some) <= 3 * math.sqrt(reps * some * (1 - some))
    expected = 3 - ((1 - math.exp(-0.3)) / 0.1 - 3 * math.exp(-0.3)) / some
    assert abs(estimate.estimate - expected) <= 3 * estimate.mc_se, (estimate, expected)
