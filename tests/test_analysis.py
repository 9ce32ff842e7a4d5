"""The phase II cut: censoring as the reference protocol says, on hand-built records; and ORR,
CBR and competing death through the engine against closed forms."""

import math

import pytest

from sim import analysis, records
from sim.runner import run
from sim.scenario import validate_scenario

PLAN_SCANS = analysis.AnalysisPlan(
    null_hazard_per_day=math.log(2) / 56, alpha=0.05, test="exponential",
    logrank_method="normal", continuous_assessment=False, pfs_rate_day=182.625,
    cbr_min_days=168.0,
)
PLAN_CONTINUOUS = analysis.AnalysisPlan(**{**PLAN_SCANS.__dict__, "continuous_assessment": True})


def _patient(**fields):
    base = dict(patient_id=1, registration_day=10.0, status=records.TREATED,
                treatment_start_day=10.0)
    return records.PatientRecord(**(base | fields))


def test_progression_before_the_cut_is_an_event_from_registration():
    patient = _patient(progression_day=73.0, scan_days=(73.0,), scan_results=("PD",),
                       cycle_start_days=(10.0, 31.0, 52.0))
    data = analysis.cut((patient,), 400.0, PLAN_SCANS)
    assert data.times_days.tolist() == [63.0] and data.events.tolist() == [1]


def test_times_on_the_same_scan_tie_whatever_the_registration_day():
    # A progression seen at the 9-week scan of a patient registered on day 1.1 came out as
    # 62.99999999999999 days, one of a patient registered on day 0.7 as 63.0: the tie split,
    # and the Kaplan-Meier curve stepped twice (R's survfit merges such times: timefix).
    patients = [
        _patient(patient_id=1, registration_day=1.1, treatment_start_day=1.1,
                 progression_day=1.1 + 63, scan_days=(1.1 + 63,), scan_results=("PD",)),
        _patient(patient_id=2, registration_day=0.7, treatment_start_day=0.7,
                 progression_day=0.7 + 63, scan_days=(0.7 + 63,), scan_results=("PD",)),
        _patient(patient_id=3, registration_day=1.1, treatment_start_day=1.1,
                 scan_days=(1.1 + 63,), scan_results=("SD",), dropout_day=70.0),
    ]
    data = analysis.cut(tuple(patients), 400.0, PLAN_SCANS)
    assert data.times_days.tolist() == [63.0, 63.0, 63.0]
    assert data.events.tolist() == [1, 1, 0]


def test_progression_after_the_cut_is_not_seen():
    patient = _patient(progression_day=136.0, scan_days=(73.0, 136.0), scan_results=("SD", "PD"),
                       cycle_start_days=(10.0, 31.0, 52.0, 73.0, 94.0, 115.0))
    data = analysis.cut((patient,), 100.0, PLAN_SCANS)
    # censored at the last progression-free scan on or before the cut (day 73)
    assert data.times_days.tolist() == [63.0] and data.events.tolist() == [0]


def test_no_scan_yet_censors_at_the_last_follow_up_visit():
    patient = _patient(dropout_day=45.0, cycle_start_days=(10.0, 31.0))
    data = analysis.cut((patient,), 400.0, PLAN_SCANS)
    assert data.times_days.tolist() == [21.0] and data.events.tolist() == [0]


def test_continuous_assessment_censors_at_the_cut_or_dropout():
    still_on = _patient(progression_day=math.inf)
    dropped = _patient(patient_id=2, registration_day=20.0, treatment_start_day=20.0,
                       dropout_day=50.0)
    data = analysis.cut((still_on, dropped), 100.0, PLAN_CONTINUOUS)
    assert data.times_days.tolist() == [90.0, 30.0] and data.events.tolist() == [0, 0]


def test_death_is_an_event_and_untreated_patients_are_left_out():
    dead = _patient(death_day=40.0, cycle_start_days=(10.0, 31.0))
    failed = _patient(patient_id=2, status=records.SCREEN_FAILURE,
                      treatment_start_day=math.inf)
    data = analysis.cut((dead, failed), 400.0, PLAN_SCANS)
    assert data.times_days.tolist() == [30.0] and data.events.tolist() == [1]


def test_response_and_clinical_benefit_count_only_what_was_seen_by_the_cut():
    responder = _patient(responder=True, scan_days=(73.0, 136.0, 199.0),
                         scan_results=("PR", "PR", "PR"), progression_day=math.inf,
                         cycle_start_days=tuple(10.0 + 21 * k for k in range(10)))
    early = analysis.cut((responder,), 70.0, PLAN_SCANS)
    assert (early.responders, early.clinical_benefit) == (0, 0)
    later = analysis.cut((responder,), 250.0, PLAN_SCANS)
    assert (later.responders, later.clinical_benefit) == (1, 1)


def _followed_to_the_end(**phase2):
    base = {"n": 30, "alpha": 0.05, "null_median_weeks": 8, "true_median_weeks": 13,
            "follow_up_weeks": 3000}
    return validate_scenario(
        {"trial": {"name": "closed forms"}, "accrual": {"rate_per_month": 2.0},
         "treatment": {"scan_interval_weeks": 9}, "phase2": base | phase2},
        "closed forms",
    )


def test_orr_and_cbr_match_their_closed_forms():
    # Exponential PFS, median 13 weeks, scans at 9, 18, 27 ... weeks, everyone followed to
    # progression. A responder is seen at a progression-free scan, so ORR = p S(9 w). Clinical
    # benefit is progression-free for more than 24 weeks as observed: the progression is seen at
    # the 27-week scan or later, i.e. latent time beyond 18 weeks; so
    # CBR = S(18 w) + p (S(9 w) - S(18 w)).
    p = 0.3
    result = run(_followed_to_the_end(response_prob=p), 4000, seed=12, workers=2)

    def survival(weeks):
        return 2 ** (-weeks / 13)

    for name, expected in (("orr_mean", p * survival(9)),
                           ("cbr_mean", survival(18) + p * (survival(9) - survival(18)))):
        estimate = result.metrics[name]
        assert abs(estimate.estimate - expected) <= 3 * estimate.mc_se, (name, estimate, expected)


def test_competing_death_adds_its_hazard_to_pfs():
    # Progression median 12 weeks and death median 24 weeks: PFS hazard ln2 (1/12 + 1/24) =
    # ln2 / 8, exactly the null. With continuous assessment and complete follow-up the exponential
    # test's size is then exactly alpha (Epstein and Sobel 1953).
    scenario = validate_scenario(
        {"trial": {"name": "death"}, "accrual": {"rate_per_month": 2.0},
         "phase2": {"n": 30, "alpha": 0.05, "null_median_weeks": 8, "true_median_weeks": 12,
                    "death_median_weeks": 24, "follow_up_weeks": 3000}},
        "death",
    )
    estimate = run(scenario, 20_000, seed=31, workers=2).metrics["reject_h0"]
    assert abs(estimate.estimate - 0.05) <= 3 * estimate.mc_se, estimate


def test_a_trials_final_analysis_report_agrees_with_the_replicate_loop():
    # The report's full Kaplan-Meier fit (the R-checked kaplan_meier) and the loop's fast
    # median and rate are two computations of one analysis; the CIs hold their estimates.
    from sim.engine import TrialPlan, simulate_trial
    from sim.rng import replicate_streams
    from sim.runner import analysis_plan
    from sim.scenario import load_scenario
    from sim.stats.binomial import clopper_pearson

    scenario = load_scenario("ruxolitinib_trastuzumab", ["phase2.response_prob=0.3"])
    plan, trial_plan = analysis_plan(scenario), TrialPlan.from_scenario(scenario)
    names = [name for name, _ in analysis.metric_spec(4, True)]
    for replicate in range(30):
        trial = simulate_trial(trial_plan, replicate_streams(8, replicate))
        values = dict(zip(names, analysis.replicate_metrics(trial, plan, 4, True), strict=True))
        report = analysis.final_analysis(trial, plan)
        assert report.rejected == bool(values["reject_h0"])
        assert report.treated == values["n_treated_mean"]
        median = report.median_weeks
        if math.isnan(values["median_pfs_weeks_mean"]):
            assert math.isnan(median.estimate)
        else:
            assert median.estimate == pytest.approx(values["median_pfs_weeks_mean"], rel=1e-12)
            assert median.lower <= median.estimate <= median.upper or math.isnan(median.upper)
        assert report.pfs_rate == pytest.approx(values["pfs_rate_mean"], rel=1e-12)
        assert report.orr == clopper_pearson(report.responders, report.treated)
        assert report.orr.proportion == pytest.approx(values["orr_mean"])
