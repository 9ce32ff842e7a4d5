"""Engine invariants on many simulated trials (no statistics here: only what must always hold)."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import engine, records
from sim.engine import TrialPlan, simulate_trial, visit_schedule
from sim.rng import replicate_streams
from sim.scenario import load_scenario, validate_scenario

REFERENCE = "ruxolitinib_trastuzumab"


def _trials(overrides=(), reps=200, seed=11, trace=False):
    """Trials of the reference scenario's phase II alone, without its AE model (phase I and the
    AE model have their own tests: here cycles are never held)."""
    base = ["phase1.enabled=false", "toxicity.enabled=false"]
    plan = TrialPlan.from_scenario(load_scenario(REFERENCE, [*base, *overrides]))
    return [simulate_trial(plan, replicate_streams(seed, i), trace=trace) for i in range(reps)]


def _treated(trial):
    return [p for p in trial.patients if p.status == records.TREATED]


def test_cycles_are_cycle_days_apart_and_scans_at_scan_interval_multiples():
    for trial in _trials(["phase2.death_median_weeks=40", "phase2.dropout_median_weeks=60"]):
        for patient in _treated(trial):
            start = patient.treatment_start_day
            assert patient.cycle_start_days[0] == start
            for number, day in enumerate(patient.cycle_start_days):
                assert day == pytest.approx(start + 21 * number, abs=1e-9)
            for number, day in enumerate(patient.scan_days, start=1):
                assert day == pytest.approx(start + 63 * number, abs=1e-9)


_days = st.floats(0, 1000, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(
    start=_days,
    length=_days,
    cycle_days=st.one_of(st.sampled_from([21.0, 28.0]), st.floats(0.5, 60)),
    scan_days=st.one_of(st.sampled_from([63.0, math.inf]), st.floats(1, 120)),
    cut=st.one_of(_days, st.integers(0, 30)),
)
def test_visits_up_to_a_cut_are_the_whole_schedule_cut_there(
    start, length, cycle_days, scan_days, cut
):
    # The engine lays out visits only up to the data cut; integer cuts land on scan days.
    until = start + (cut * min(scan_days, cycle_days) if isinstance(cut, int) else cut)
    cycles, scans = visit_schedule(start, start + length, cycle_days, scan_days)
    assert visit_schedule(start, start + length, cycle_days, scan_days, until) == (
        [day for day in cycles if day <= until],
        [day for day in scans if day <= until],
    )


def test_nothing_happens_before_registration_or_after_the_analysis():
    for trial in _trials(trace=True, reps=50):
        registered = {p.patient_id: p.registration_day for p in trial.patients}
        for event in trial.events:
            start = registered.get(event.patient_id, 0.0)  # id 0: a trial-level event
            assert start <= event.day <= trial.analysis_day
        for patient in _treated(trial):
            assert patient.registration_day <= patient.treatment_start_day


def test_progression_is_never_seen_before_its_latent_time():
    for overrides in ([], ["phase2.clinical_progression_prob=0.5"],
                      ["treatment.progression_assessment=continuous"]):
        for trial in _trials(overrides, reps=100):
            for patient in _treated(trial):
                if patient.progression_day < math.inf:
                    assert patient.progression_day >= patient.latent_progression_day


def test_scan_assessment_sees_progression_at_the_first_scan_after_it():
    for trial in _trials(reps=100):
        for patient in _treated(trial):
            if patient.progression_day < math.inf:
                assert patient.scan_days[-1] == patient.progression_day
                assert patient.scan_results[-1] == records.PROGRESSIVE
                assert patient.progression_day - patient.latent_progression_day < 63 + 1e-9
                assert all(result != records.PROGRESSIVE for result in patient.scan_results[:-1])


def test_a_scan_is_read_before_the_cycle_that_starts_the_same_day():
    # Day 63 of treatment is both the first scan and the start of cycle 4: progression seen at
    # that scan means no cycle 4.
    for trial in _trials(trace=True, reps=30):
        for patient in _treated(trial):
            if patient.progression_day == patient.treatment_start_day + 63:
                assert len(patient.cycle_start_days) == 3
        day_events = {}
        for event in trial.events:
            day_events.setdefault((event.patient_id, event.day), []).append(event.event)
        for kinds in day_events.values():
            if "scan" in kinds and "cycle_start" in kinds:
                assert kinds.index("scan") < kinds.index("cycle_start")


def test_accrual_stops_at_the_target_number_treated():
    for trial in _trials(["accrual.max_months=1000"], reps=50):
        assert len(_treated(trial)) == 30
        assert not trial.closed_early
        assert trial.accrual_closed_day == trial.patients[-1].registration_day


def test_accrual_deadline_closes_the_trial_early_with_the_patients_it_has():
    for trial in _trials(["accrual.rate_per_month=0.3", "accrual.max_months=24"], reps=50):
        assert trial.closed_early
        assert len(_treated(trial)) < 30
        assert trial.accrual_closed_day == pytest.approx(24 * 365.25 / 12)
        assert all(p.registration_day <= trial.accrual_closed_day for p in trial.patients)


def test_final_analysis_is_follow_up_after_the_last_start_unless_everyone_is_done():
    for trial in _trials(["accrual.rate_per_month=0.5", "accrual.max_months=40"], reps=100):
        last_start = max(p.treatment_start_day for p in _treated(trial))
        planned = max(last_start + 26 * 7, trial.accrual_closed_day)
        open_patients = [
            p for p in _treated(trial)
            if min(p.progression_day, p.death_day, p.dropout_day) == math.inf
        ]
        if open_patients:
            assert trial.analysis_day == pytest.approx(planned)
        else:
            assert trial.analysis_day <= planned + 1e-9


def test_fixed_accrual_spaces_registrations_evenly():
    trial = _trials(["accrual.model=fixed", "accrual.screen_failure_prob=0",
                     "accrual.pretreatment_withdrawal_prob=0"], reps=1)[0]
    gap = 365.25 / 12 / 1.0
    days = [p.registration_day for p in trial.patients]
    assert days == pytest.approx([gap * k for k in range(1, 31)])


def test_the_same_replicate_gives_the_same_trial():
    plan = TrialPlan.from_scenario(load_scenario(REFERENCE))  # with phase I
    first = simulate_trial(plan, replicate_streams(5, 17), trace=True)
    again = simulate_trial(plan, replicate_streams(5, 17), trace=True)
    assert first == again


def test_the_size_of_the_draw_chunks_moves_no_number(monkeypatch):
    """Patients' draws come off their streams _CHUNK rows at a time, in order: the chunk size is
    a matter of speed only (phase I, phase II and the AE model each draw so)."""
    plan = TrialPlan.from_scenario(load_scenario(REFERENCE))
    trials = [simulate_trial(plan, replicate_streams(5, i), trace=True) for i in range(3)]
    monkeypatch.setattr(engine, "_CHUNK", 3)
    assert [simulate_trial(plan, replicate_streams(5, i), trace=True) for i in range(3)] == trials


def test_a_scenario_of_only_required_keys_is_the_textbook_model():
    scenario = validate_scenario(
        {
            "trial": {"name": "textbook"},
            "accrual": {"rate_per_month": 2.0},
            "phase2": {"n": 20, "alpha": 0.05, "null_median_weeks": 8,
                       "true_median_weeks": 8, "follow_up_weeks": 1000},
        },
        "textbook",
    )
    assert scenario.progression_assessment == "continuous"
    trial = simulate_trial(TrialPlan.from_scenario(scenario), replicate_streams(1, 0))
    for patient in trial.patients:
        assert patient.status == records.TREATED
        assert patient.scan_days == ()
        assert patient.progression_day == patient.latent_progression_day


def test_subgroups_mix_their_survival_curves():
    # 20% long-benefit patients (median 80 weeks), the rest at the base median of 8 weeks:
    # S(t) = 0.2 * 2^(-t/80) + 0.8 * 2^(-t/8), t in weeks (Kolmogorov-Smirnov, fixed seed).
    from scipy import stats

    trials = _trials(["phase2.true_median_weeks=8",
                      "phase2.subgroups=[{name=\"HR+ long benefit\", share=0.2, median_weeks=80}]"],
                     reps=300)
    latent_weeks = [(p.latent_progression_day - p.treatment_start_day) / 7
                    for trial in trials for p in _treated(trial)]
    assert len(latent_weeks) > 8000

    def cdf(weeks):
        return 1 - (0.2 * 2 ** (-weeks / 80) + 0.8 * 2 ** (-weeks / 8))

    assert stats.kstest(latent_weeks, cdf).pvalue > 1e-3
