"""Adverse events inside the engine: holds move cycles and never scans, exposure records, and the
calibrated scenario against the reference trial's published figures."""

import itertools
import math

import pytest

from sim import records
from sim.engine import TrialPlan, simulate_trial
from sim.rng import replicate_streams
from sim.runner import run
from sim.scenario import load_scenario

SCENARIO = "ruxolitinib_trastuzumab_toxicity"
# The trial's phase II, as the calibration assumed it (docs/ae_calibration.md): phase I off (its
# patients were treated at the RP2D), PFS with the observed median of 8.3 weeks.
AS_OBSERVED = ["phase1.enabled=false", "phase2.true_median_weeks=8.3"]


def _treated(overrides=(), reps=150, seed=5):
    plan = TrialPlan.from_scenario(load_scenario(SCENARIO, [*AS_OBSERVED, *overrides]))
    for replicate in range(reps):
        trial = simulate_trial(plan, replicate_streams(seed, replicate))
        yield from (p for p in trial.patients if p.status == records.TREATED)


def test_holds_delay_cycles_and_never_move_scans():
    delayed = 0
    for patient in _treated():
        start = patient.treatment_start_day
        days = patient.cycle_start_days
        gaps = [later - earlier for earlier, later in itertools.pairwise(days)]
        assert all(gap >= 21 - 1e-9 for gap in gaps)
        delayed += any(gap > 21 + 1e-9 for gap in gaps)
        for number, day in enumerate(patient.scan_days, start=1):
            assert day == pytest.approx(start + 63 * number, abs=1e-9)
    assert delayed > 0  # some holds outlast their cycle


def test_exposure_is_recorded_for_every_treated_patient():
    for patient in _treated(reps=60):
        assert len(patient.ae_highest_grades) == 9
        assert all(0 <= grade <= 4 for grade in patient.ae_highest_grades)
        assert 0.0 <= patient.rdi <= 1.0 + 1e-12
        if not (patient.dose_held or patient.dose_reduced):
            assert patient.rdi == pytest.approx(1.0)
        if patient.dose_reduced:
            assert patient.rdi < 1.0


def test_same_numbers_whatever_the_workers():
    scenario = load_scenario(SCENARIO, AS_OBSERVED)
    one = run(scenario, 250, seed=9, workers=1).metrics
    two = run(scenario, 250, seed=9, workers=2).metrics
    assert one == two


# DOMAIN.md section 1 (Kearney et al. 2021, Table 2 and exposure): shares of 26 patients.
TRIAL = {
    "ae_any_anaemia": 13 / 26,
    "ae_grade3plus_anaemia": 7 / 26,
    "ae_any_neutrophil_count_decreased": 10 / 26,
    "ae_grade3plus_neutrophil_count_decreased": 6 / 26,
    "ae_any_fatigue": 9 / 26,
    "ae_any_wbc_decreased": 9 / 26,
    "ae_any_platelet_count_decreased": 8 / 26,
    "ae_any_ast_increased": 4 / 26,
    "ae_any_diarrhoea": 4 / 26,
    "dose_hold": 0.50,
    "dose_reduction": 0.27,
    "rdi_80": 0.81,
}


def test_calibrated_scenario_reproduces_the_trial_within_its_sampling_error():
    """Each published share must lie within 2 binomial SEs of a 26-patient trial,
    2 sqrt(p (1 - p) / 26), p the simulated mean share; 400 simulated trials of ~30 patients make
    the simulation's own SE (<= 0.005) small against that tolerance (>= 0.13)."""
    metrics = run(load_scenario(SCENARIO, AS_OBSERVED), 400, seed=26, workers=2).metrics
    for name, observed in TRIAL.items():
        p = metrics[name].estimate
        assert abs(p - observed) <= 2 * math.sqrt(p * (1 - p) / 26), (name, p, observed)


def test_trace_shows_each_dose_change_on_its_day():
    plan = TrialPlan.from_scenario(load_scenario(SCENARIO, AS_OBSERVED))
    seen = 0
    for replicate in range(20):
        trial = simulate_trial(plan, replicate_streams(3, replicate), trace=True)
        changed = {e.patient_id for e in trial.events if e.event == "dose_change"}
        for patient in trial.patients:
            if patient.status == records.TREATED and (patient.dose_held or patient.dose_reduced):
                assert patient.patient_id in changed
                seen += 1
        for event in trial.events:
            if event.event == "dose_change":
                assert any(word in event.detail for word in ("held", "reduced", "stopped"))
    assert seen > 0


def test_phase1_dlts_from_the_ae_model_occur_at_the_implied_rates():
    """phase1.dlts_from = "ae_model": a phase I patient has a DLT when the AE model's cycle-1
    grades meet toxicity.dlt (grade >= 3 non-haematologic, 4 haematologic). Each patient's DLT
    is independent of the level the design gave them, so over all trials the DLTs at level k
    number p_k x (patients at level k) in expectation (Wald's identity, whatever the design's
    adaptivity), p_k from sim.toxicity.implied_dlt_probabilities (checked against its closed
    form and Monte Carlo in tests/test_toxicity.py). The AE model is made toxic (grade 3
    probabilities x 4) so the rates are far from 0; tolerance 3 binomial SE of the total."""
    import tomllib
    from importlib import resources

    from sim.scenario import validate_scenario

    text = resources.files("sim.scenarios").joinpath(f"{SCENARIO}.toml").read_text()
    data = tomllib.loads(text)
    data["phase1"]["dlts_from"] = "ae_model"
    for ae in data["toxicity"]["ae"]:
        grades = ae["grade_probs_per_cycle"]
        ae["grade_probs_per_cycle"] = [grades[0], grades[1], min(10 * grades[2], 0.5), grades[3]]
    scenario = validate_scenario(data, "toxic")
    implied = scenario.phase1.true_dlt_probs
    assert implied[-1] > 0.1
    # The DLT is the patient's own AE: whoever had one has an AE at or above its DLT grade (not
    # so for DLTs drawn independently of the AEs, from true_dlt_probs).
    plan = TrialPlan.from_scenario(scenario)
    minimum = [3 if not ae["haematologic"] else 4 for ae in data["toxicity"]["ae"]]
    with_dlt = 0
    for replicate in range(100):
        for patient in simulate_trial(plan, replicate_streams(37, replicate)).patients:
            if patient.phase == 1 and patient.dlt_day < math.inf:
                with_dlt += 1
                assert patient.dlt_day - patient.treatment_start_day <= 21.0
                assert any(g >= m for g, m in zip(patient.ae_highest_grades, minimum, strict=True))
    assert with_dlt > 20
    reps = 600
    metrics = run(scenario, reps, seed=37).metrics
    for level, p in enumerate(implied, start=1):
        patients = metrics[f"n_at_level_{level}"].estimate * reps
        dlts = metrics[f"dlt_at_level_{level}"].estimate * reps
        assert abs(dlts - p * patients) <= 3 * math.sqrt(patients * p * (1 - p)) + 1e-9, level
