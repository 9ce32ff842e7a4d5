"""Adverse events inside the engine: holds move cycles and never scans, exposure records, and the
calibrated scenario against the reference trial's published figures."""

import itertools
import math
import tomllib

import numpy as np
import pytest

from sim import records
from sim.engine import TrialPlan, _TrialRun, simulate_trial
from sim.rng import replicate_streams
from sim.runner import run
from sim.scenario import load_scenario, validate_scenario

SCENARIO = "ruxolitinib_trastuzumab"
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
        flags = patient.dose_held, patient.dose_reduced, patient.off_for_toxicity
        assert all(type(flag) is bool for flag in flags)
        if not (patient.dose_held or patient.dose_reduced):
            assert patient.rdi == pytest.approx(1.0)
        if patient.dose_reduced:
            assert patient.rdi < 1.0


def test_the_ae_table_counts_patients_by_highest_grade():
    # Counted here from the patients' records, one trial at a time, against the metrics.
    from sim.runner import _Context, replicate_values

    scenario = load_scenario(SCENARIO, AS_OBSERVED)
    context = _Context.of(scenario, seed=5, reps=20)
    names = [name for name, _ in context.metric_spec()]
    plan = TrialPlan.from_scenario(scenario)
    ae_names = [ae.name for ae in scenario.toxicity.ae]
    for replicate in range(20):
        values = dict(zip(names, replicate_values(context, replicate), strict=True))
        trial = simulate_trial(plan, replicate_streams(5, replicate))
        table = [p.ae_highest_grades for p in trial.patients
                 if p.status == records.TREATED and p.in_phase2 and p.ae_highest_grades]
        assert values["ae_patients_mean"] == len(table)
        for index, name in enumerate(ae_names):
            slug = name.lower().replace(" ", "_")
            for grade in range(1, 5):
                count = sum(grades[index] == grade for grades in table)
                assert values[f"ae_n_grade{grade}_{slug}"] == count
                assert values[f"ae_grade{grade}_{slug}"] == pytest.approx(count / len(table))


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


# --- exposure-response: the progression hazard times HR ^ (1 - RDI so far) ----------------------

# Every patient is reduced after cycle 1, deterministically: a day-1 drug at 20 mg (levels 10, 20),
# an AE of grade 1 with probability 1 in cycle 1 and never after (cycle factors 1, 0), and a rule
# reducing the drug one level at grade >= 1. So every patient gets 20 mg on day 0 and 10 mg on
# days 21, 42, ... with no hold: cycle k starts on day 21 (k - 1), and the RDI of the doses before
# it is r_1 = 1 and r_k = (1 + (k - 2) / 2) / (k - 1) for k >= 2 (doses 20 + 10 (k - 2) mg over
# (k - 1) planned 20 mg doses). Continuous assessment, no death or dropout.
REDUCED_AFTER_CYCLE_1 = """
[trial]
name = "reduced after cycle 1"
[accrual]
model = "fixed"
rate_per_month = 30.0
[treatment]
cycle_days = 21
[phase2]
n = 30
alpha = 0.05
null_median_weeks = 8
true_median_weeks = 13
follow_up_weeks = 26
[toxicity]
rdi_drug = "d"
[[toxicity.drug]]
name = "d"
schedule = "day1"
dose_levels = [10, 20]
start_level = 2
[[toxicity.ae]]
name = "x"
haematologic = false
drug = "d"
grade_probs_per_cycle = [1.0, 0.0, 0.0, 0.0]
cycle_factors = [1.0, 0.0]
[[toxicity.rule]]
drug = "d"
ae = "x"
min_grade = 1
action = "reduce"
"""


def test_a_dlt_counts_only_within_the_window_the_design_follows():
    # DLTs from the AE model over 2 cycles in a 42-day window: a hold in cycle 1 can push cycle 2
    # (and its DLT) past day 42, where the design no longer looks. Such a DLT is no DLT: neither
    # for the design nor in the record and dlt_at_level_K (before, 14 phase I patients in 200
    # trials of this scenario had a recorded DLT the design never saw).
    from importlib import resources

    text = resources.files("sim.scenarios").joinpath(f"{SCENARIO}.toml").read_text()
    data = tomllib.loads(text)
    data["phase1"].update(dlts_from="ae_model", dlt_window_days=42)
    data["toxicity"]["dlt"]["window_cycles"] = 2
    for ae in data["toxicity"]["ae"]:
        grades = ae["grade_probs_per_cycle"]
        ae["grade_probs_per_cycle"] = [grades[0], grades[1], min(6 * grades[2], 0.35), grades[3]]
    plan = TrialPlan.from_scenario(validate_scenario(data, "two-cycle window"))
    dlts = held = 0
    for replicate in range(200):
        for patient in simulate_trial(plan, replicate_streams(43, replicate)).patients:
            if patient.phase == 1 and patient.status == records.TREATED:
                held += patient.dose_held
                if patient.dlt_day < math.inf:
                    dlts += 1
                    assert patient.dlt_day - patient.treatment_start_day <= 42.0
    assert dlts > 50 and held > 50


def _closed_form_time(cumulative_hazard, inverse, hazard_ratio: float, target: float) -> float:
    """The time at which the hazard h0(t) HR ^ (1 - r_k) in cycle k (the construction above)
    accumulates `target` (ln 2: the median): walk the 21-day cycles until the cumulative hazard,
    sum over cycles of HR ^ (1 - r_k) (H0(end_k) - H0(start_k)), reaches it, then invert within
    the cycle: H0(t) = H0(start_k) + (target - H(start_k)) / multiplier_k."""
    accumulated = 0.0
    for k in itertools.count(1):
        r = 1.0 if k == 1 else (1 + (k - 2) * 0.5) / (k - 1)
        multiplier = hazard_ratio ** (1 - r)
        start, end = 21.0 * (k - 1), 21.0 * k
        piece = multiplier * (cumulative_hazard(end) - cumulative_hazard(start))
        if accumulated + piece >= target:
            return inverse(cumulative_hazard(start) + (target - accumulated) / multiplier)
        accumulated += piece
    raise AssertionError("unreachable")


def _treated_records(scenario, reps: int, seed: int) -> list[records.PatientRecord]:
    plan = TrialPlan.from_scenario(scenario)
    return [
        patient
        for replicate in range(reps)
        for patient in simulate_trial(plan, replicate_streams(seed, replicate)).patients
        if patient.status == records.TREATED
    ]


def _latent_days(patients) -> list[float]:
    return [p.latent_progression_day - p.treatment_start_day for p in patients]


@pytest.mark.parametrize(
    ("overrides", "hazard_ratio"),
    [
        ({}, 4.0),
        ({"pfs_model": "weibull", "weibull_shape": 1.5}, 4.0),
        ({}, 0.25),  # missed doses protect: later progression, past the first horizon
    ],
)
def test_exposure_response_median_matches_the_closed_form(overrides, hazard_ratio):
    """Closed form (the construction above): baseline exponential or Weibull with median
    13 weeks = 91 days, H0(t) = ln 2 t / 91 or (t / s)^1.5 with s = 91 / ln(2)^(1/1.5); the
    hazard is h0(t) HR ^ (1 - r_k) in cycle k, so the median solves sum_k HR ^ (1 - r_k)
    (H0(end_k) - H0(start_k)) = ln 2 (`_closed_form_median`). The simulated median of 3,000
    latent progression times (100 trials of 30, seed 41) must lie within 3 Monte Carlo SE of it,
    SE = 1 / (2 f(m) sqrt(n)), f(m) = h(m) S(m) = h0(m) HR ^ (1 - r) / 2 the density at the
    median (the sample median's asymptotic SE). The baseline's median (91 days) lies outside:
    the test sees the effect. And exactly, patient by patient: each linked time is the closed
    form's time for the patient's own draw H0(T0), T0 its time without the key (same seed).
    (The three cases share the same uniforms, mapped by a monotone transform: their medians
    deviate by the same number of SEs.)"""
    data = tomllib.loads(REDUCED_AFTER_CYCLE_1)
    data["toxicity"]["exposure_response_hazard_ratio"] = hazard_ratio
    for key, value in overrides.items():
        data["phase2"][key] = value
    scenario = validate_scenario(data, "reduced after cycle 1")
    if overrides:
        shape = 1.5
        scale = 91.0 / math.log(2) ** (1 / shape)

        def cumulative(t):
            return (t / scale) ** shape

        def inverse(h):
            return scale * h ** (1 / shape)

        def baseline_hazard(t):
            return shape / scale * (t / scale) ** (shape - 1)
    else:
        def cumulative(t):
            return math.log(2) * t / 91.0

        def inverse(h):
            return h * 91.0 / math.log(2)

        def baseline_hazard(t):
            return math.log(2) / 91.0

    expected = _closed_form_time(cumulative, inverse, hazard_ratio, math.log(2))
    cycle = math.floor(expected / 21.0) + 1
    r = 1.0 if cycle == 1 else (1 + (cycle - 2) * 0.5) / (cycle - 1)
    density = baseline_hazard(expected) * hazard_ratio ** (1 - r) * 0.5
    days = _latent_days(_treated_records(scenario, reps=100, seed=41))
    n = len(days)
    assert n == 3000
    # Patient by patient, exactly: the same uniforms without the key give each baseline time T0,
    # whose unit-exponential draw H0(T0) the closed-form hazard must reach at the linked time.
    del data["toxicity"]["exposure_response_hazard_ratio"]
    baseline = _latent_days(_treated_records(validate_scenario(data, "no link"), 100, 41))
    closed_form = [_closed_form_time(cumulative, inverse, hazard_ratio, cumulative(t))
                   for t in baseline]
    assert days == pytest.approx(closed_form, rel=1e-9, abs=1e-9)
    se = 1 / (2 * density * math.sqrt(n))
    simulated = float(np.median(days))
    assert abs(simulated - expected) <= 3 * se, (simulated, expected, se)
    assert abs(91.0 - expected) > 6 * se  # the effect is far larger than the tolerance


def test_exposure_response_hazard_ratio_1_changes_nothing():
    """HR = 1: HR ^ (1 - r) = 1 whatever the doses, so the progression hazard is the baseline's;
    every trial record (patients, cycles, AEs, RDI, events) must equal the one without the key,
    bit for bit: same seed, same uniforms. With phase I on, so the dose-finding drug's assigned
    level is exercised too."""
    base = load_scenario(SCENARIO)
    linked = load_scenario(SCENARIO, ["toxicity.exposure_response_hazard_ratio=1.0"])
    assert base.toxicity.exposure_response_hazard_ratio is None
    plain, with_key = TrialPlan.from_scenario(base), TrialPlan.from_scenario(linked)
    for replicate in range(40):
        one = simulate_trial(plain, replicate_streams(11, replicate), trace=True)
        two = simulate_trial(with_key, replicate_streams(11, replicate), trace=True)
        assert one == two, replicate
    assert run(base, 200, seed=12).metrics == run(linked, 200, seed=12).metrics


@pytest.mark.parametrize("hazard_ratio", [3.0, 0.5])
def test_exposure_response_moves_only_patients_who_missed_doses(hazard_ratio):
    """Per patient (the same uniforms with and without the key): HR > 1 can only bring
    progression forward and HR < 1 only delay it, since HR ^ (1 - r) is >= 1 or <= 1 for r in
    [0, 1]; a patient whose progression was seen without any hold or reduction before it took
    every planned dose up to it (r = 1 all along) and keeps the baseline time exactly; some
    patients move."""
    base = _treated_records(load_scenario(SCENARIO, AS_OBSERVED), reps=60, seed=13)
    linked = _treated_records(
        load_scenario(
            SCENARIO, [*AS_OBSERVED, f"toxicity.exposure_response_hazard_ratio={hazard_ratio}"]
        ),
        reps=60,
        seed=13,
    )
    assert [p.patient_id for p in base] == [p.patient_id for p in linked]
    moved = full_dose = 0
    for before, after in zip(_latent_days(base), _latent_days(linked), strict=True):
        if after != before:
            moved += 1
            assert (after < before) if hazard_ratio > 1 else (after > before)
    for before, after in zip(base, linked, strict=True):
        seen = after.progression_day < math.inf  # its course ran past the latent progression
        if seen and not (after.dose_held or after.dose_reduced):
            full_dose += 1
            assert after.latent_progression_day == before.latent_progression_day
    assert moved > 50 and full_dose > 50, (moved, full_dose)


def test_the_trace_shows_no_stop_or_resumption_that_the_end_of_treatment_forestalled():
    # A hold that would end treatment at its 28-day limit (day 38.5), progression seen on day 30:
    # the trace said "stopped after a 28-day hold" though no stop happened (the record was right).
    import types

    from test_dose_modification import POLICY, START, recovery_uniform, row

    from sim.dose_modification import run_course
    from sim.engine import _TrialRun

    logged = []
    run = types.SimpleNamespace(
        plan=types.SimpleNamespace(toxicity=types.SimpleNamespace(policy=POLICY)),
        log=lambda day, patient_id, event, detail: logged.append((day, detail)),
    )
    rows = [row(onset=0.5, anaemia=3, recovery=(recovery_uniform(40.0), 0.5))] + [row()] * 5
    for end_day, expected in (
        (30.0, "cycle 1: rux held until treatment ended on day 30.0"),
        (126.0, "cycle 1: rux stopped after a 28-day hold"),
    ):
        logged.clear()
        course = run_course(POLICY, START, rows, 0.0, end_day, 21.0)
        _TrialRun.log_dose_changes(run, types.SimpleNamespace(course=course, patient_id=1))
        assert logged == [(10.5, expected)]


def test_ae_rows_are_the_rows_of_whole_chunks_drawn_in_order():
    """Source: the AE stream drawn chunk after chunk (8 patients x 32 cycles each), as the engine
    once drew it, against the rows it now computes patient by patient, asked in any order and for
    ever longer courses; beyond 32 cycles, each patient's own stream (patient id at key 1000)."""
    plan = TrialPlan.from_scenario(load_scenario(SCENARIO))
    columns = plan.toxicity.policy.uniforms_per_cycle
    random = np.random.default_rng(3)
    for replicate in range(3):
        streams = replicate_streams(11, replicate)
        chunks = replicate_streams(11, replicate).adverse_events.random((6, 8, 32, columns))
        run = _TrialRun(plan, streams, trace=False)
        for _ in range(150):
            patient_id = int(random.integers(1, 49))
            cycles = int(random.choice([1, 3, 9, 31, 32, 45]))
            days = (cycles - 1) * plan.cycle_days - random.random()
            rows = run.ae_rows(patient_id, days)
            expected = chunks[(patient_id - 1) // 8, (patient_id - 1) % 8, :cycles]
            if cycles > 32:
                key = (replicate, 1000, patient_id)
                extra = np.random.default_rng(np.random.SeedSequence(11, spawn_key=key))
                expected = np.concatenate([expected, extra.random((cycles - 32, columns))])
            assert rows.flags.c_contiguous and np.array_equal(rows, expected)
