"""Phase I inside the engine: designs asked at the right moments, waiting slots, DLT draws, the
seamless move into phase II, and designs compared on the same simulated patients."""

import math

import numpy as np
import pytest
from exact_designs import exact_three_plus_three
from scipy import stats

from sim import analysis, records, runner
from sim.engine import TrialPlan, simulate_trial
from sim.rng import replicate_streams
from sim.runner import compare, run
from sim.scenario import load_scenario

REFERENCE = "ruxolitinib_trastuzumab"
MONTH = 365.25 / 12
NERATINIB = "tdm1_neratinib"


def _trials(name, overrides=(), reps=200, seed=21):
    plan = TrialPlan.from_scenario(load_scenario(name, overrides))
    return [simulate_trial(plan, replicate_streams(seed, i)) for i in range(reps)]


def _phase1(trial):
    return [p for p in trial.patients if p.phase == 1 and p.status == records.TREATED]


def test_three_plus_three_selection_in_the_engine_matches_the_exact_tree():
    # Selection does not depend on timing (waits only delay patients), so the engine's selection
    # probabilities must match the exact enumeration of the 3+3 tree (tests/exact_designs.py).
    p = [0.08, 0.15, 0.35, 0.50]
    select, _, _ = exact_three_plus_three(p, start=0, confirm=True)
    result = run(load_scenario(NERATINIB, ["phase1.max_wait_days=1000"]), 6000, seed=4, workers=2)
    for level, expected in enumerate(select):
        estimate = result.metrics[f"p_select_level_{level}"]
        se = math.sqrt(expected * (1 - expected) / 6000)
        assert abs(estimate.estimate - expected) <= 3 * se, (level, estimate, expected)


def test_boin_in_the_engine_matches_the_boin_package():
    # BOIN::get.oc(target=0.3, p.true=c(0.30,0.45,0.60,0.70), ncohort=6, cohortsize=3,
    # startdose=2, ntrial=100000, seed=6), pasted with its R call in
    # tests/dosefinding/test_boin.py: selpercent 56.016 31.207 2.87 0.112, percentstop 9.795.
    # The engine adds calendar time (cohorts wait for their windows, for up to 1000 days here),
    # which must not change what BOIN selects. Tolerance: 3 SE of the difference of the estimates.
    published = (0.09795, 0.56016, 0.31207, 0.0287, 0.00112)
    overrides = [
        "phase1.design=boin", "phase1.n=18", "phase1.target_dlt=0.3", "phase1.start_level=2",
        "phase1.true_dlt_probs=[0.30, 0.45, 0.60, 0.70]", "phase1.max_wait_days=1000",
    ]  # fmt: skip
    reps = 6000
    result = run(load_scenario(NERATINIB, overrides), reps, seed=5, workers=2)
    for level, expected in enumerate(published):
        estimate = result.metrics[f"p_select_level_{level}"].estimate
        se = math.sqrt(expected * (1 - expected) * (1 / reps + 1 / 100_000))
        assert abs(estimate - expected) <= 3 * se, (level, estimate, expected)


def test_each_patients_dlt_follows_the_true_probability_of_its_level():
    # A patient's level depends only on earlier patients, so given its level its DLT is
    # Bernoulli(p_true[level]); its day is uniform on the 21-day window.
    p = [0.05, 0.10, 0.20, 0.25]
    by_level = {level: [] for level in range(4)}
    onset_fractions = []
    for trial in _trials(REFERENCE, reps=1500):
        for patient in _phase1(trial):
            dlt = patient.dlt_day < math.inf
            by_level[patient.level].append(dlt)
            if dlt:
                onset_fractions.append((patient.dlt_day - patient.treatment_start_day) / 21)
    for level, outcomes in by_level.items():
        rate = np.mean(outcomes)
        se = math.sqrt(p[level] * (1 - p[level]) / len(outcomes))
        assert abs(rate - p[level]) <= 3 * se, (level, rate, len(outcomes))
    assert stats.kstest(onset_fractions, "uniform").pvalue > 1e-3


def test_no_dlt_happens_after_a_patient_is_off_study():
    # Death with a 3-week median: a DLT drawn after the patient's death did not happen (172 such
    # DLTs in 300 trials were seen by the design and counted before).
    off = 0
    for trial in _trials(REFERENCE, ["phase2.death_median_weeks=3"], reps=300, seed=7):
        for patient in _phase1(trial):
            ended = min(patient.death_day, patient.progression_day, patient.dropout_day)
            off += ended < patient.treatment_start_day + 21
            assert patient.dlt_day == math.inf or patient.dlt_day < ended
    assert off > 100  # many patients are off study within their window


def test_a_deadline_during_the_last_windows_keeps_phase_ones_answer():
    # Replicate 15: the 10th patient starts on day 288.05 and the design stops (max_n); the
    # deadline (10 months, day 304.38) comes before the last window ends on day 309.05. The
    # phase I answer was thrown away (no dose, and a phase I lasting until the final analysis).
    scenario = load_scenario(REFERENCE, ["accrual.max_months=10"])
    trial = simulate_trial(TrialPlan.from_scenario(scenario), replicate_streams(1, 15))
    assert trial.closure_reason == records.CLOSED_DEADLINE
    assert trial.selected_level == 2 and trial.phase1_end_day == pytest.approx(309.05, abs=0.01)
    assert trial.accrual_closed_day < trial.phase1_end_day <= trial.analysis_day
    assert not [p for p in trial.patients if p.in_phase2 and p.phase == 2]
    values = _metrics(scenario, trial)
    assert values["p_select_level_3"] == 1.0 and values["p_stop_toxicity"] == 0.0
    assert values["phase1_duration_months_mean"] == pytest.approx(309.05 / MONTH, abs=1e-3)


def test_a_phase_one_cut_short_by_accrual_lasts_until_accrual_closed():
    # A 2-month deadline closes accrual while the design still wants patients: no dose, and
    # phase I lasted until then (it counted up to the final analysis, months of follow-up later).
    scenario = load_scenario(REFERENCE, ["accrual.max_months=2"])
    for trial in _trials(REFERENCE, ["accrual.max_months=2"], reps=20):
        assert math.isnan(trial.phase1_end_day) and trial.selected_level is None
        values = _metrics(scenario, trial)
        assert values["p_select_level_0"] == 1.0 and values["p_stop_toxicity"] == 0.0
        assert values["phase1_duration_months_mean"] == pytest.approx(2.0)


def _metrics(scenario, trial):
    names = [name for name, _ in analysis.metric_spec(4, True)]
    values = analysis.replicate_metrics(trial, runner.analysis_plan(scenario), 4, True)
    return dict(zip(names, values, strict=True))


def test_patients_wait_no_longer_than_allowed_and_the_rest_are_lost():
    overrides = ["accrual.rate_per_month=6", "phase1.max_wait_days=10"]
    lost = 0
    for trial in _trials(NERATINIB, overrides, reps=100):
        for patient in trial.patients:
            if patient.status == records.TREATED:
                assert patient.treatment_start_day - patient.registration_day <= 10 + 1e-9
            lost += patient.status == records.LOST_WAITING
    assert lost > 0  # 3+3 cohorts wait for their windows while six patients a month arrive


def test_tite_crm_never_makes_a_patient_wait():
    for trial in _trials(REFERENCE, ["accrual.rate_per_month=8"], reps=100):
        assert all(p.status != records.LOST_WAITING for p in trial.patients)
        for patient in _phase1(trial):
            assert patient.treatment_start_day == patient.registration_day


def test_no_design_skips_an_untried_level_on_the_way_up():
    for design in ("3+3", "tite-crm", "boin", "crm"):
        for trial in _trials(REFERENCE, [f"phase1.design={design}", "phase1.n=12"], reps=60):
            highest = trial.patients and _phase1(trial)[0].level
            for patient in _phase1(trial):
                assert patient.level <= highest + 1
                highest = max(highest, patient.level)
            if trial.selected_level is not None:
                assert trial.selected_level in {p.level for p in _phase1(trial)}


def test_phase_two_treats_the_recommended_dose_after_phase_one_ends():
    for trial in _trials(REFERENCE, reps=150):
        phase2 = [p for p in trial.patients if p.phase == 2 and p.status == records.TREATED]
        if trial.selected_level is None:
            assert phase2 == []
            continue
        assert all(p.level == trial.selected_level for p in phase2)
        assert all(p.treatment_start_day >= trial.phase1_end_day for p in phase2)
        for patient in _phase1(trial):
            assert patient.in_phase2 == (patient.level == trial.selected_level)
        analysed = [p for p in trial.patients if p.in_phase2]
        if not trial.closed_early:
            assert len(analysed) == 30
        # the recommendation waits for every window: 21 days, or a DLT, which ends it early
        for patient in _phase1(trial):
            completed = min(patient.dlt_day, patient.treatment_start_day + 21)
            assert trial.phase1_end_day >= completed - 1e-9


def test_phase_one_patients_need_not_count_toward_phase_two():
    for trial in _trials(REFERENCE, ["phase1.count_toward_phase2=false",
                                     "accrual.max_months=1000"], reps=50):
        assert not any(p.in_phase2 for p in _phase1(trial))
        assert sum(p.in_phase2 for p in trial.patients) == 30


def test_no_dose_recommended_stops_the_trial_for_toxicity():
    result = run(load_scenario(NERATINIB, ["phase1.true_dlt_probs=[0.7, 0.8, 0.9, 0.95]"]),
                 300, seed=2)
    assert result.metrics["p_select_level_0"].estimate == pytest.approx(
        result.metrics["p_stop_toxicity"].estimate)
    assert result.metrics["p_stop_toxicity"].estimate > 0.9


@pytest.mark.parametrize("design", ["tite-crm", "crm"])
def test_a_stop_for_toxicity_is_binding(design):
    # The CRM's safety rule may fire while windows at the lowest level are open; if they then end
    # without a DLT the data no longer meet the rule, but the trial has stopped: no dose, no
    # phase II (with the rule re-applied at the end, 14 of these 300 TITE-CRM trials went on).
    overrides = [
        f"phase1.design={design}", "phase1.start_level=1", "phase1.prior_mtd_level=1",
        "phase1.true_dlt_probs=[0.45, 0.5, 0.6, 0.7]", "phase1.n=12",
    ]  # fmt: skip
    trials = _trials(REFERENCE, overrides, reps=300)
    stopped = [t for t in trials if t.phase1_stop_reason == "too_toxic"]
    assert len(stopped) > 150
    for trial in stopped:
        assert trial.selected_level is None and trial.closure_reason == records.CLOSED_TOXICITY
        assert not any(p.phase == 2 and p.status == records.TREATED for p in trial.patients)


def test_designs_are_compared_on_the_same_patients():
    scenarios = {d: load_scenario(REFERENCE, [f"phase1.design={d}"]) for d in ("tite-crm", "boin")}
    plans = {d: TrialPlan.from_scenario(s) for d, s in scenarios.items()}
    for replicate in range(20):
        tite, boin = (simulate_trial(plans[d], replicate_streams(3, replicate)) for d in plans)
        shared = min(len(tite.patients), len(boin.patients))
        assert [p.registration_day for p in tite.patients[:shared]] == \
            [p.registration_day for p in boin.patients[:shared]]
    result = compare(scenarios, 600, seed=3, workers=2)
    for name, difference in result.differences["boin"].items():
        marginal = result.metrics["boin"][name].estimate - result.metrics["tite-crm"][name].estimate
        if difference.replicates == 600:
            assert difference.estimate == pytest.approx(marginal, abs=1e-9)
    # pairing removes the shared accrual noise from the duration difference
    paired = result.differences["boin"]["phase1_duration_months_mean"].mc_se
    unpaired = math.hypot(result.metrics["boin"]["phase1_duration_months_mean"].mc_se,
                          result.metrics["tite-crm"]["phase1_duration_months_mean"].mc_se)
    assert paired < unpaired / 5


def test_phase_two_starts_nobody_when_phase_one_patients_already_meet_its_n():
    # Phase II needs 2; phase I patients at the recommended dose count toward it, so when phase I
    # treated 2 or more there, accrual closes at the hand-over and no one starts phase II.
    overrides = ["phase2.n=2", "accrual.rate_per_month=6", "phase1.max_wait_days=200"]
    checked = 0
    for trial in _trials(REFERENCE, overrides, reps=100):
        at_dose = [p for p in _phase1(trial) if p.level == trial.selected_level]
        if len(at_dose) >= 2:
            checked += 1
            assert not any(p.phase == 2 and p.status == records.TREATED for p in trial.patients)
            assert trial.closure_reason == records.CLOSED_TARGET
    assert checked > 50
