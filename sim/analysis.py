"""The phase II analysis: cut the patient records at a date, then test and estimate (pure).

PFS runs from registration to progression or death from any cause. Censoring follows the
reference protocol (Kearney et al. 2021; ../shared/DOMAIN.md section 1): with scan assessment a
patient without progression is censored at the last progression-free scan, or, with no scan yet, at
the last follow-up visit (the last cycle start); with continuous assessment at the cut date or the
day of dropout. Nothing after the cut date is read, and latent (unobserved) times never are.
"""

import itertools
import math
import re
from dataclasses import dataclass

import numpy as np

from sim import records
from sim.estimates import MEAN, PROPORTION, QUANTILES
from sim.stats import binomial, onesample, survival
from sim.units import DAYS_PER_MONTH, DAYS_PER_WEEK


@dataclass(frozen=True)
class AnalysisPlan:
    """What the protocol's analysis needs, in days."""

    null_hazard_per_day: float
    alpha: float
    test: str  # "exponential" or "one-sample-logrank"
    logrank_method: str  # "normal" or "exact-poisson"
    continuous_assessment: bool
    pfs_rate_day: float
    cbr_min_days: float
    min_patients_for_analysis: int = 0


@dataclass(frozen=True)
class PfsData:
    times_days: np.ndarray  # from registration
    events: np.ndarray  # 1 progression or death, 0 censored
    responders: int  # treated patients with a response (CR/PR) seen at a scan by the cut
    clinical_benefit: int  # responders, or progression-free longer than cbr_min_days


_TIME_DECIMALS = 6


def cut(patients: tuple[records.PatientRecord, ...], cut_day: float, plan: AnalysisPlan) -> PfsData:
    """PFS of every patient treated by `cut_day`, as known on that day."""
    times, events = [], []
    responders = benefit = 0
    for patient in patients:
        if not patient.in_phase2 or patient.treatment_start_day > cut_day:
            continue
        registered = patient.registration_day
        event_day = min(patient.progression_day, patient.death_day)
        if event_day <= cut_day:
            time, event = event_day - registered, 1
        else:
            last_known = min(cut_day, patient.dropout_day)
            if plan.continuous_assessment:
                time = last_known - registered
            else:
                time = _last_at_or_before(patient.scan_days, last_known)
                if time is None:
                    time = _last_at_or_before(patient.cycle_start_days, last_known)
                time = (registered if time is None else time) - registered
            event = 0
        # Days since registration from calendar days carry rounding noise (63 comes out as
        # 62.999999999999993 or 63.00000000000001): tied scan days would split, an event could
        # follow a censoring at "the same" time, and the KM curve and CBR would move (R's
        # survfit merges such near-ties too: timefix). Rounded to a millionth of a day.
        time = round(time, _TIME_DECIMALS)
        times.append(time)
        events.append(event)
        responded = responded_by(patient, cut_day)
        responders += responded
        benefit += responded or time > plan.cbr_min_days
    return PfsData(np.array(times), np.array(events, dtype=np.int64), responders, benefit)


def responded_by(patient: records.PatientRecord, cut_day: float) -> bool:
    """A response (CR or PR) was seen at a scan on or before `cut_day`."""
    if records.RESPONSE not in patient.scan_results:  # most patients: settled at C speed
        return False
    return any(
        day <= cut_day and result == records.RESPONSE
        for day, result in zip(patient.scan_days, patient.scan_results, strict=True)
    )


def _last_at_or_before(days: tuple[float, ...], limit: float) -> float | None:
    last = None
    for day in days:
        if day > limit:
            break
        last = day
    return last


PHASE2_METRICS = (
    ("reject_h0", PROPORTION),
    ("reject_h0_if_completed", PROPORTION),
    ("early_termination", PROPORTION),
    ("terminated_slow_accrual", PROPORTION),
    ("efficacy_analysed", PROPORTION),
    ("n_registered_mean", MEAN),
    ("n_treated_mean", MEAN),
    ("n_treated", QUANTILES),
    ("events_mean", MEAN),
    ("duration_months_mean", MEAN),
    ("accrual_months_mean", MEAN),
    ("close_months", QUANTILES),
    ("median_pfs_weeks_mean", MEAN),
    ("median_pfs_reached", PROPORTION),
    ("pfs_rate_mean", MEAN),
    ("orr_mean", MEAN),
    ("cbr_mean", MEAN),
)


# Closure reasons that count as "closed for slow accrual".
SLOW_ACCRUAL = frozenset(
    {records.CLOSED_DEADLINE, records.CLOSED_SLOW_ACCRUAL, records.CLOSED_ACCRUAL_ENDED}
)


def metric_slug(name: str) -> str:
    """A name (an AE type, an arm) as it appears in metric names: "WBC decreased" ->
    "wbc_decreased"."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def toxicity_metrics(ae_names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Per AE type: shares of patients by highest grade (the trial's AE table), "any" and
    "grade 3 or more"; then dose holds, reductions, stops for toxicity and RDI; then the AE
    table's counts: patients in it, and per AE type patients by highest grade."""
    spec: list[tuple[str, str]] = []
    counts: list[tuple[str, str]] = [("ae_patients_mean", MEAN)]
    for name in ae_names:
        slug = metric_slug(name)
        spec += [(f"ae_any_{slug}", MEAN), (f"ae_grade3plus_{slug}", MEAN)]
        spec += [(f"ae_grade{grade}_{slug}", MEAN) for grade in range(1, 5)]
        counts += [(f"ae_n_grade{grade}_{slug}", MEAN) for grade in range(1, 5)]
    return (
        *spec,
        ("dose_hold", MEAN),
        ("dose_reduction", MEAN),
        ("discontinued_toxicity", MEAN),
        ("rdi_80", MEAN),
        ("rdi_mean", MEAN),
        *counts,
    )


def metric_spec(
    phase1_levels: int, has_phase2: bool, ae_names: tuple[str, ...] = ()
) -> tuple[tuple[str, str], ...]:
    """(name, kind) of every metric a replicate reports, in order.

    Phase I levels are 1-based in names, as protocols number them; level 0 of p_select_level_K
    means no dose was recommended.
    """
    phase1: list[tuple[str, str]] = []
    if phase1_levels:
        phase1 += [(f"p_select_level_{k}", PROPORTION) for k in range(phase1_levels + 1)]
        phase1 += [(f"n_at_level_{k}", MEAN) for k in range(1, phase1_levels + 1)]
        phase1 += [(f"dlt_at_level_{k}", MEAN) for k in range(1, phase1_levels + 1)]
        phase1 += [
            ("p_stop_toxicity", PROPORTION),
            ("phase1_n_mean", MEAN),
            ("phase1_duration_months_mean", MEAN),
            ("patients_lost_waiting_mean", MEAN),
        ]
    toxicity = toxicity_metrics(ae_names) if ae_names else ()
    if has_phase2:
        return (*phase1, *PHASE2_METRICS, *toxicity)
    return (
        *phase1,
        ("n_registered_mean", MEAN),
        ("duration_months_mean", MEAN),
        ("orr_mean", MEAN),
        *toxicity,
    )


def replicate_metrics(
    trial: records.TrialRecord,
    plan: AnalysisPlan,
    phase1_levels: int,
    has_phase2: bool,
    ae_count: int = 0,
) -> list[float]:
    """One replicate's metrics at its final analysis, in `metric_spec` order (NaN: undefined)."""
    values: list[float] = []
    if phase1_levels:
        values += _phase1_metrics(trial, phase1_levels)
    if has_phase2:
        values += _phase2_metrics(trial, plan)
    else:
        phase1_patients = [
            p for p in trial.patients if p.phase == 1 and p.status == records.TREATED
        ]
        responders = sum(responded_by(p, trial.analysis_day) for p in phase1_patients)
        values += [
            len(trial.patients),
            trial.analysis_day / DAYS_PER_MONTH,
            responders / len(phase1_patients) if phase1_patients else math.nan,
        ]
    if ae_count:
        if has_phase2:
            population = [p for p in trial.patients if p.in_phase2 and p.status == records.TREATED]
        else:
            population = [p for p in trial.patients if p.status == records.TREATED]
        values += _toxicity_values(population, ae_count)
    return values


def _toxicity_values(patients: list[records.PatientRecord], ae_count: int) -> list[float]:
    """Shares of `patients` (those with a treatment record by the cut) for toxicity_metrics."""
    patients = [p for p in patients if p.ae_highest_grades]
    n = len(patients)
    if n == 0:  # no share is defined; every count is 0
        return [math.nan] * (6 * ae_count + 5) + [0.0] * (1 + 4 * ae_count)
    values: list[float] = []
    counts: list[float] = [n]
    # Every highest grade (0-4) as one byte, patient by patient: AE type a's are every
    # ae_count-th from a, counted by bytes.count (a scan in C, no comparison of int objects).
    table = bytes(itertools.chain.from_iterable(p.ae_highest_grades for p in patients))
    for index in range(ae_count):
        grades = table[index::ae_count]
        by_grade = [grades.count(grade) for grade in range(1, 5)]
        any_grade = n - grades.count(0)
        values += [any_grade / n, (by_grade[2] + by_grade[3]) / n, *[c / n for c in by_grade]]
        counts += by_grade
    rdis = [p.rdi for p in patients]
    return [
        *values,
        sum([p.dose_held for p in patients]) / n,  # (lists: summed faster than generators)
        sum([p.dose_reduced for p in patients]) / n,
        sum([p.off_for_toxicity for p in patients]) / n,
        sum([r >= 0.8 for r in rdis]) / n,
        sum(rdis) / n,
        *counts,
    ]


def _phase1_metrics(trial: records.TrialRecord, levels: int) -> list[float]:
    selected = [0.0] * (levels + 1)
    selected[0 if trial.selected_level is None else trial.selected_level + 1] = 1.0
    treated = [0.0] * levels
    dlts = [0.0] * levels
    lost = 0
    for patient in trial.patients:
        if patient.status == records.LOST_WAITING:
            lost += 1
        elif patient.phase == 1 and patient.status == records.TREATED:
            treated[patient.level] += 1
            dlts[patient.level] += patient.dlt_day <= trial.analysis_day
    # Phase I ends with its answer, or, cut short, when accrual closed.
    answered = math.isfinite(trial.phase1_end_day)
    ended = trial.phase1_end_day if answered else trial.accrual_closed_day
    return [
        *selected,
        *treated,
        *dlts,
        float(answered and trial.selected_level is None),  # its answer: no dose
        sum(treated),
        ended / DAYS_PER_MONTH,
        lost,
    ]


def _phase2_metrics(trial: records.TrialRecord, plan: AnalysisPlan) -> list[float]:
    data = cut(trial.patients, trial.analysis_day, plan)
    treated = len(data.times_days)
    # Months to the last registration: undefined (left out of the mean) if nobody registered.
    last_registration = trial.patients[-1].registration_day if trial.patients else math.nan
    analysed = treated > 0 and treated >= plan.min_patients_for_analysis
    if treated:
        reject = float(analysed and reject_h0(data, plan))
        median_days, rate = survival.km_median_and_survival_at(
            data.times_days, data.events, plan.pfs_rate_day
        )
        median_weeks = median_days / DAYS_PER_WEEK
        orr, cbr = data.responders / treated, data.clinical_benefit / treated
    else:
        reject, median_weeks, rate, orr, cbr = 0.0, math.nan, math.nan, math.nan, math.nan
    reached = math.isfinite(median_weeks)
    return [
        reject,
        math.nan if trial.closed_early else reject,
        float(trial.closed_early),
        float(trial.closure_reason in SLOW_ACCRUAL),
        float(analysed),
        len(trial.patients),
        treated,
        treated,
        float(data.events.sum()),
        trial.analysis_day / DAYS_PER_MONTH,
        last_registration / DAYS_PER_MONTH,
        trial.accrual_closed_day / DAYS_PER_MONTH,
        median_weeks if reached else math.nan,
        float(reached) if treated else math.nan,
        rate,
        orr,
        cbr,
    ]


def reject_h0(data: PfsData, plan: AnalysisPlan) -> bool:
    """The protocol's one-sided test of H0: hazard = the historical control's."""
    return _p_value(data, plan) <= plan.alpha


def _p_value(data: PfsData, plan: AnalysisPlan) -> float:
    events = int(data.events.sum())
    time_at_risk = float(data.times_days.sum())
    if plan.test == "exponential":
        result = onesample.exponential_test(events, time_at_risk, plan.null_hazard_per_day)
    else:
        expected = plan.null_hazard_per_day * time_at_risk
        result = onesample.one_sample_logrank(events, expected, method=plan.logrank_method)
    return result.p_value


@dataclass(frozen=True)
class FinalAnalysis:
    """One trial's final analysis as its report gives it: the test, the Kaplan-Meier median PFS
    with its 95% Brookmeyer-Crowley CI (log-log: R's survfit with conf.type = "log-log"), the
    PFS rate, and the ORR with its exact Clopper-Pearson 95% CI. Times in weeks; nan where
    undefined or not reached."""

    treated: int
    events: int
    analysed: bool  # enough patients for the efficacy analysis (phase2.min_patients_for_analysis)
    p_value: float
    rejected: bool
    median_weeks: survival.SurvivalQuantile | None
    pfs_rate: float
    responders: int
    orr: binomial.BinomialCI | None


def final_analysis(trial: records.TrialRecord, plan: AnalysisPlan) -> FinalAnalysis:
    """The analysis of one simulated trial at its final analysis day, with its CIs (for a report
    of that trial, e.g. `trialsim trace`; the replicate loop reads only the estimates)."""
    data = cut(trial.patients, trial.analysis_day, plan)
    treated = len(data.times_days)
    if not treated:
        return FinalAnalysis(0, 0, False, math.nan, False, None, math.nan, 0, None)
    analysed = treated >= plan.min_patients_for_analysis
    p_value = _p_value(data, plan)
    curve = survival.kaplan_meier(data.times_days / DAYS_PER_WEEK, data.events)
    rate = curve.survival_at(plan.pfs_rate_day / DAYS_PER_WEEK)
    return FinalAnalysis(
        treated=treated,
        events=int(data.events.sum()),
        analysed=analysed,
        p_value=p_value,
        rejected=analysed and p_value <= plan.alpha,
        median_weeks=curve.median(),
        pfs_rate=float(rate),
        responders=data.responders,
        orr=binomial.clopper_pearson(data.responders, treated),
    )
