"""Randomized trials: the outcome model against closed forms, operating characteristics against
Schoenfeld's formula, the group-sequential integration and rpact's simulation.

Tolerances are 3 Monte Carlo SE; 10,000 replicates make them 0.0047 for a type I error of 0.025
and 0.009 for a power of 0.90.
"""

import math

import numpy as np
import pytest
from scipy.special import ndtri

from sim.outcomes import PiecewiseHazard
from sim.randomized import RandomizedPlan, simulate_cohort, simulate_randomized
from sim.rng import replicate_streams
from sim.runner import run
from sim.scenario import validate_scenario
from sim.stats import group_sequential as gs
from sim.units import DAYS_PER_MONTH, LN2

REPS = 10_000


def _scenario(randomized, treatment=None, accrual=None):
    data = {
        "trial": {"name": "randomized"},
        "accrual": accrual or {"rate_per_month": 40.0},
        "treatment": treatment or {"progression_assessment": "continuous"},
        "randomized": randomized,
    }
    return validate_scenario(data, "randomized")


def _within_3_se(estimate, expected) -> bool:
    """A simulated proportion is consistent with `expected`: within 3 binomial SE at `expected`
    (the SE of the estimate if `expected` is true; it stays > 0 when nothing was seen)."""
    se = math.sqrt(expected * (1 - expected) / estimate.replicates)
    return abs(estimate.estimate - expected) <= 3 * se


def _big_cohort(randomized, treatment=None):
    """One replicate with many patients, to check the outcome model's distributions."""
    plan = RandomizedPlan.from_scenario(_scenario(randomized, treatment))
    cohort, _ = simulate_cohort(plan, replicate_streams(11, 0))
    return cohort


PFS_OS = {
    "n": 40_000,
    "arms": ["control", "experimental"],
    "pfs": {"control_median_months": 6.4, "hazard_ratio": 0.65, "alpha": 0.0125,
            "planned_events": [478]},
    "os": {"control_median_months": 25.1, "hazard_ratio": 0.68, "alpha": 0.0125,
           "planned_events": [632]},
}


def test_pfs_and_os_have_their_exponential_medians_in_each_arm():
    """PFS = min(progression, death) is exponential with the PFS median, OS with the OS median:
    mean = median / ln 2, SE = mean / sqrt(n)."""
    cohort = _big_cohort(PFS_OS)
    for arm, (pfs_hr, os_hr) in ((0, (1.0, 1.0)), (1, (0.65, 0.68))):
        mine = cohort.arm == arm
        for times, median in ((cohort.pfs_event_time, 6.4 / pfs_hr),
                              (cohort.os_event_time, 25.1 / os_hr)):
            values = times[mine] / DAYS_PER_MONTH
            expected_mean = median / math.log(2)
            assert abs(values.mean() - expected_mean) <= 3 * expected_mean / math.sqrt(mine.sum())
            # and it is exponential: P(T > median) = 1/2, SE 1/(2 sqrt(n))
            assert abs((values > median).mean() - 0.5) <= 3 * 0.5 / math.sqrt(mine.sum())
    # PFS never after death, and death is a PFS event for the share c_OS / c_PFS of patients.
    assert np.all(cohort.pfs_event_time <= cohort.os_event_time)
    control = cohort.arm == 0
    death_share = (cohort.pfs_event_time == cohort.os_event_time)[control].mean()
    expected_share = 6.4 / 25.1
    assert abs(death_share - expected_share) <= 3 * math.sqrt(
        expected_share * (1 - expected_share) / control.sum()
    )


def test_crossover_lengthens_control_survival_as_the_closed_form_says():
    """Control, continuous assessment, everyone switching at progression with death hazard
    multiplied by h after it: with progression rate p and death rate d (both exponential),
    E[OS] = 1/d + P(progression first) (1/d) (1/h - 1), P(progression first) = p / (p + d)."""
    hazard_ratio = 0.5
    scenario = PFS_OS | {"crossover": {"probability": 1.0, "hazard_ratio": hazard_ratio}}
    cohort = _big_cohort(scenario)
    control = cohort.arm == 0
    death_rate = math.log(2) / 25.1
    progression_rate = math.log(2) / 6.4 - death_rate
    progression_first = progression_rate / (progression_rate + death_rate)
    expected = (1 / death_rate) * (1 + progression_first * (1 / hazard_ratio - 1))
    values = cohort.os_event_time[control] / DAYS_PER_MONTH
    assert abs(values.mean() - expected) <= 3 * values.std() / math.sqrt(control.sum())
    assert abs(cohort.switched[control].mean() - progression_first) <= 3 * math.sqrt(
        progression_first * (1 - progression_first) / control.sum()
    )
    assert not cohort.switched[cohort.arm == 1].any()


def test_scan_assessed_progression_is_seen_at_a_scan_and_deaths_when_they_happen():
    cohort = _big_cohort(PFS_OS, {"scan_interval_weeks": 6})
    death = cohort.pfs_event_time == cohort.os_event_time
    weeks = cohort.pfs_event_time[~death] / 42.0
    assert np.allclose(weeks, np.round(weeks)) and (weeks >= 1).all()
    assert death.any()


def _one_endpoint(hazard_ratio, planned_events, **extra):
    endpoint = {"control_median_months": 6.4, "hazard_ratio": hazard_ratio, "alpha": 0.025,
                "planned_events": planned_events}
    return {"n": 990, "arms": ["control", "experimental"], "pfs": endpoint | extra}


def test_type_i_error_of_three_looks_is_alpha():
    """Lan-DeMets O'Brien-Fleming, looks at 1/3, 2/3 and all of 508 events, HR 1, 9-weekly scans
    (tied event times): size 0.025 within 3 SE; each look spends its planned alpha."""
    scenario = _scenario(_one_endpoint(1.0, [170, 339, 508]), {"scan_interval_weeks": 9})
    result = run(scenario, REPS, seed=3)
    assert _within_3_se(result.metrics["reject_h0"], 0.025)
    planned = gs.group_sequential_boundaries([170 / 508, 339 / 508, 1.0], 0.025)
    spent = np.diff(np.concatenate(([0.0], planned.alpha_spent)))
    for look in range(3):
        assert _within_3_se(result.metrics[f"reject_at_look_{look + 1}"], spent[look])


def test_power_at_schoenfelds_event_count_is_the_nominal_power():
    """Schoenfeld (1981, Biometrika 68:316): d = 4 (z_{1-alpha} + z_{1-beta})^2 / log(HR)^2
    events give power 1 - beta with 1:1 allocation; HR 0.75, one-sided alpha 0.025, 90%: 508
    events (DOMAIN.md section 3)."""
    events = math.ceil(4 * (ndtri(0.975) + ndtri(0.9)) ** 2 / math.log(0.75) ** 2)
    assert events == 508
    result = run(_scenario(_one_endpoint(0.75, [events])), REPS, seed=5)
    assert _within_3_se(result.metrics["reject_h0"], 0.90)


def test_power_with_two_to_one_allocation_agrees_with_rpact_simulation():
    """With 2:1 allocation Schoenfeld's formula, d = (z_{1-alpha} + z_{1-beta})^2 /
    (w (1 - w) log(HR)^2) = 572 events, understates power: it linearises the log-rank drift
    w (1 - w) log(HR) where the exact per-event mean is w (1 - w)(HR - 1) / (w HR + 1 - w), larger
    in size when the bigger arm has the lower hazard (Hsieh 1992, Stat Med 11:1091, compares the
    formulas). So the check is against rpact's own simulation (rpact 3.3.4, R 4.2.2):

        d <- getDesignGroupSequential(kMax = 1, alpha = 0.025, sided = 1)
        s <- getSimulationSurvival(d, median2 = 6.4, hazardRatio = 0.75, plannedEvents = 572,
                                   maxNumberOfSubjects = 990, accrualTime = c(0, 24),
                                   allocation1 = 2, allocation2 = 1, directionUpper = FALSE,
                                   maxNumberOfIterations = 10000, seed = 1)
        s$overallReject                  # 0.9131
        getPowerSurvival(..., allocationRatioPlanned = 2, typeOfComputation = "Schoenfeld")
                                         # 0.9003

    within 3 SE of the difference of the two simulations.
    """
    share = 2 / 3
    events = math.ceil(
        (ndtri(0.975) + ndtri(0.9)) ** 2 / (share * (1 - share) * math.log(0.75) ** 2)
    )
    assert events == 572
    randomized = _one_endpoint(0.75, [events]) | {"ratio": [1, 2], "block_sizes": [6]}
    scenario = _scenario(randomized, accrual={"model": "fixed", "rate_per_month": 990 / 24})
    ours = run(scenario, REPS, seed=5).metrics["reject_h0"]
    rpact = 0.9131
    se = math.sqrt(ours.mc_se**2 + rpact * (1 - rpact) / 10_000)
    assert abs(ours.estimate - rpact) <= 3 * se, ours


def test_stratified_log_rank_holds_its_size_with_prognostic_strata():
    """A factor whose level doubles the hazard, 2:1 block-randomized within strata; the
    stratified test (survdiff with strata) is exact in size under HR 1."""
    randomized = _one_endpoint(1.0, [300]) | {
        "n": 600, "ratio": [1, 2], "block_sizes": [3, 6],
        "factors": [{"name": "visceral", "levels": ["no", "yes"], "prevalences": [0.4, 0.6],
                     "hazard_multipliers": [1.0, 2.0]}],
    }
    result = run(_scenario(randomized), REPS, seed=7)
    assert _within_3_se(result.metrics["reject_h0"], 0.025)


def test_futility_stops_under_the_null_match_the_numerical_integration():
    """Non-binding beta-spending futility (O'Brien-Fleming-like, beta 0.1, design HR 0.75):
    under HR 1 the probability of stopping for futility at each interim, and of rejecting, is
    what crossing_probabilities integrates for the same bounds at drift 0."""
    randomized = _one_endpoint(1.0, [170, 339, 508], futility="beta-spending", beta=0.1,
                               design_hazard_ratio=0.75)
    result = run(_scenario(randomized), REPS, seed=9)
    plan = RandomizedPlan.from_scenario(_scenario(randomized)).designs[0].planned
    crossing = gs.crossing_probabilities(
        plan.information_fractions, plan.efficacy_z, plan.futility_z, 0.0
    )
    # Look 3: ending without rejecting at the final look (the bounds meet there).
    for look in (1, 2, 3):
        assert _within_3_se(result.metrics[f"futility_at_look_{look}"], crossing.futility[look - 1])
    assert _within_3_se(result.metrics["reject_h0"], crossing.rejection)


def test_binding_futility_bounds_have_size_alpha_when_obeyed():
    """Binding beta-spending futility: the efficacy bounds assume futility stops are obeyed (as
    the simulation does), so the size is alpha itself, not below it as when non-binding."""
    randomized = _one_endpoint(1.0, [170, 339, 508], futility="beta-spending", beta=0.1,
                               design_hazard_ratio=0.75, binding_futility=True)
    result = run(_scenario(randomized), REPS, seed=31)
    assert _within_3_se(result.metrics["reject_h0"], 0.025)


def test_rejections_per_look_agree_with_rpact_simulation():
    """rpact 3.3.4 (R 4.2.2), on this machine, uniform accrual of 990 over 24 months:

        d <- getDesignGroupSequential(kMax = 3, alpha = 0.025, sided = 1, typeOfDesign = "asOF",
                                      informationRates = c(1/3, 2/3, 1))
        s <- getSimulationSurvival(d, median2 = 6.4, hazardRatio = 0.75,
                                   plannedEvents = c(170, 339, 508), maxNumberOfSubjects = 990,
                                   accrualTime = c(0, 24), directionUpper = FALSE,
                                   maxNumberOfIterations = 10000, seed = 1)
        s$rejectPerStage   # 0.0348 0.5227 0.3433 (overall 0.9008)
        s$analysisTime     # 10.95162 16.62859 21.55263 (months)

    Continuous assessment and evenly spaced accrual, as rpact assumes. Each figure has its own
    Monte Carlo error: compared within 3 SE of the difference.
    """
    randomized = _one_endpoint(0.75, [170, 339, 508])
    scenario = _scenario(randomized, accrual={"model": "fixed", "rate_per_month": 990 / 24})
    result = run(scenario, REPS, seed=13)
    for look, rpact in ((1, 0.0348), (2, 0.5227), (3, 0.3433)):
        ours = result.metrics[f"reject_at_look_{look}"]
        se = math.sqrt(ours.mc_se**2 + rpact * (1 - rpact) / 10_000)
        assert abs(ours.estimate - rpact) <= 3 * se, (look, ours, rpact)
    # The first look's date (every trial has it): rpact's 10.95 months.
    plan = RandomizedPlan.from_scenario(scenario)
    days = [simulate_randomized(plan, replicate_streams(13, i)).endpoints[0].looks[0].day
            for i in range(2000)]
    months = np.array(days) / DAYS_PER_MONTH
    # rpact's mean has its own Monte Carlo error, from 10,000 trials of the same distribution.
    se = months.std() * math.sqrt(1 / months.size + 1 / 10_000)
    assert abs(months.mean() - 10.95162) <= 3 * se


def test_event_driven_looks_count_exactly_the_planned_events():
    """The look is on the day of the d-th event, and the cut that day counts d events (calendar
    days compared, so rounding cannot drop the event of the day), with scans and with deaths."""
    randomized = PFS_OS | {"n": 400, "pfs": PFS_OS["pfs"] | {"planned_events": [100, 200, 300]},
                           "os": PFS_OS["os"] | {"planned_events": [150, 250]}}
    plan = RandomizedPlan.from_scenario(_scenario(randomized, {"scan_interval_weeks": 6}))
    for replicate in range(200):
        result = simulate_randomized(plan, replicate_streams(17, replicate))
        for endpoint, design in zip(result.endpoints, plan.designs, strict=True):
            for look in endpoint.looks:
                planned = design.planned_events[look.look - 1]
                shortfall = look is endpoint.looks[-1] and look.events < planned
                assert look.events == planned or shortfall, (replicate, look)


def test_two_experimental_arms_against_one_control_keep_the_familywise_error():
    """Three arms 1:1:1, each experimental arm against control at alpha / 2 (Bonferroni), one
    look at 300 events of the two arms compared, all hazard ratios 1. The two log-rank z share
    the control arm: asymptotically bivariate normal with correlation 1/2 (Dunnett 1955, JASA
    50:1096), so P(reject either) = 1 - P(Z1 < c, Z2 < c), c = z_{1 - 0.0125}."""
    from scipy.stats import multivariate_normal

    randomized = {
        "n": 900, "arms": ["control", "low", "high"], "block_sizes": [3, 6],
        "pfs": {"control_median_months": 6.4, "hazard_ratio": [1.0, 1.0], "alpha": 0.025,
                "planned_events": [300]},
    }
    result = run(_scenario(randomized, {"scan_interval_weeks": 8}), REPS, seed=19)
    for arm in ("low", "high"):
        assert _within_3_se(result.metrics[f"reject_h0_{arm}"], 0.0125)
    c = ndtri(1 - 0.0125)
    both_below = multivariate_normal([0, 0], [[1, 0.5], [0.5, 1]]).cdf([c, c])
    assert _within_3_se(result.metrics["reject_any"], 1 - both_below)


def test_weibull_endpoints_and_prognostic_strata_have_their_medians():
    """Weibull shape 1.5 shared by PFS and OS: P(T > median) = 1/2 in each arm, the
    experimental median being control * HR^(-1/k); in the stratum whose hazard is doubled the
    median is divided by 2^(1/k). SE 1/(2 sqrt(n))."""
    shape = 1.5
    weibull = {"model": "weibull", "weibull_shape": shape}
    randomized = PFS_OS | {
        "pfs": PFS_OS["pfs"] | weibull, "os": PFS_OS["os"] | weibull,
        "factors": [{"name": "risk", "levels": ["low", "high"], "prevalences": [0.5, 0.5],
                     "hazard_multipliers": [1.0, 2.0]}],
    }
    cohort = _big_cohort(randomized)
    for arm, (pfs_hr, os_hr) in ((0, (1.0, 1.0)), (1, (0.65, 0.68))):
        for stratum, multiplier in ((0, 1.0), (1, 2.0)):
            mine = (cohort.arm == arm) & (cohort.stratum == stratum)
            for times, control_median, hazard_ratio in (
                (cohort.pfs_event_time, 6.4, pfs_hr), (cohort.os_event_time, 25.1, os_hr)
            ):
                median = control_median * (hazard_ratio * multiplier) ** (-1 / shape)
                share = (times[mine] / DAYS_PER_MONTH > median).mean()
                assert abs(share - 0.5) <= 3 * 0.5 / math.sqrt(mine.sum()), (arm, stratum)


def test_haybittle_peto_with_three_looks_has_size_alpha():
    """Haybittle-Peto (interim z 3, final adjusted), looks at 170, 339, 508 events, HR 1: size
    0.025 within 3 SE; the interims spend P(Z_1 >= 3) and so on (crossing_probabilities)."""
    randomized = _one_endpoint(1.0, [170, 339, 508], efficacy="haybittle-peto")
    result = run(_scenario(randomized, {"scan_interval_weeks": 6}), REPS, seed=23)
    assert _within_3_se(result.metrics["reject_h0"], 0.025)
    planned = gs.group_sequential_boundaries(
        [170 / 508, 339 / 508, 1.0], 0.025, gs.HaybittlePeto(3.0)
    )
    spent = np.diff(np.concatenate(([0.0], planned.alpha_spent)))
    assert _within_3_se(result.metrics["reject_at_look_3"], spent[2])


def test_the_stratified_look_is_the_stratified_log_rank_of_the_cut():
    """With factors, each look's z is survdiff's stratified test of the cut (here against
    sim.stats.logrank.logrank_test with strata, itself checked against R in its own tests), not
    the unstratified one."""
    from sim.interim import analyse, cut
    from sim.stats.logrank import logrank_test

    randomized = _one_endpoint(0.8, [150, 300]) | {
        "n": 500, "factors": [{"name": "visceral", "levels": ["no", "yes"],
                               "prevalences": [0.4, 0.6], "hazard_multipliers": [1.0, 3.0]}],
    }
    plan = RandomizedPlan.from_scenario(_scenario(randomized))
    assert plan.stratified_test
    cohort, closed = simulate_cohort(plan, replicate_streams(29, 0))
    result = analyse(cohort, plan.designs, None, True, closed)
    for look in result.endpoints[0].looks:
        time, event, arm, stratum = cut(cohort, "pfs", look.day, result.n_enrolled, None)
        stratified = logrank_test(time, event, arm, stratum).z
        assert look.z == pytest.approx(stratified, abs=1e-12)
        assert abs(look.z - logrank_test(time, event, arm).z) > 1e-6


PIECEWISE = {
    "n": 40_000,
    "arms": ["control", "experimental"],
    "pfs": {"model": "piecewise-exponential", "piecewise_breaks_months": [4.0],
            "piecewise_control_medians_months": [8.0, 4.0], "hazard_ratio": 0.7,
            "alpha": 0.0125, "planned_events": [400]},
    "os": {"model": "piecewise-exponential", "piecewise_breaks_months": [4.0],
           "piecewise_control_medians_months": [40.0, 16.0], "hazard_ratio": 0.8,
           "alpha": 0.0125, "planned_events": [400]},
}


def test_piecewise_exponential_arms_have_their_survival_curves():
    """Piecewise-exponential PFS and OS (hazards change at 4 months): in each arm
    S(t) = exp(-HR H0(t)), H0 the control cumulative hazard, at 2, 4 and 8 months, within 3
    binomial SE; PFS = min(progression, death) keeps that margin."""
    cohort = _big_cohort(PIECEWISE)
    for endpoint, times, hazard_ratio in (("pfs", cohort.pfs_event_time, 0.7),
                                          ("os", cohort.os_event_time, 0.8)):
        medians = PIECEWISE[endpoint]["piecewise_control_medians_months"]
        control = PiecewiseHazard((4.0,), tuple(LN2 / m for m in medians))
        for arm, ratio in ((0, 1.0), (1, hazard_ratio)):
            mine = cohort.arm == arm
            for month in (2.0, 4.0, 8.0):
                expected = math.exp(-ratio * float(control.cumulative(month)))
                share = (times[mine] / DAYS_PER_MONTH > month).mean()
                se = math.sqrt(expected * (1 - expected) / mine.sum())
                assert abs(share - expected) <= 3 * se, (endpoint, arm, month)


def test_switching_with_hazard_ratio_one_changes_no_death():
    """Crossover whose hazard ratio is 1 leaves every death time as it was (the cumulative
    hazard continues at the same rate), piecewise and Weibull alike."""
    weibull = {"model": "weibull", "weibull_shape": 1.3}
    for randomized in (PIECEWISE, PFS_OS | {"pfs": PFS_OS["pfs"] | weibull,
                                             "os": PFS_OS["os"] | weibull}):
        plain = _big_cohort(randomized)
        switching = _big_cohort(randomized | {"crossover": {"probability": 1.0,
                                                             "hazard_ratio": 1.0}})
        assert switching.switched.sum() > 1000
        assert np.allclose(switching.os_event_time, plain.os_event_time, rtol=1e-9)


def test_accrual_that_ends_closes_on_the_day_its_rate_drops_to_zero():
    """40 a month for 6 months, then nobody, 990 wanted: accrual closes at month 6 (as sim.engine
    closes it), not at the last randomization."""
    accrual = {"model": "piecewise", "period_starts_months": [0, 6],
               "period_rates_per_month": [40.0, 0.0]}
    plan = RandomizedPlan.from_scenario(_scenario(_one_endpoint(0.75, [100]), accrual=accrual))
    for replicate in range(10):
        cohort, closed = simulate_cohort(plan, replicate_streams(1, replicate))
        assert closed == pytest.approx(6 * DAYS_PER_MONTH)
        assert cohort.registration_day[-1] < closed
