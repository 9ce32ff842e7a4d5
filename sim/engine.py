"""The discrete-event engine: the only module that imports simpy.

One simpy Environment per replicate. Processes: accrual (registers patients, closes at the target,
the deadline, or when the trial stops), one process per treated patient (follow-up until
progression, death or dropout), a DLT-window watcher per phase I patient, a timer per patient
waiting for a phase I slot, and the controller (final-analysis date). The engine records what
happens and asks the dose-finding design (sim.dosefinding) every phase I decision; statistics are
computed afterwards on the records (sim.analysis).

Same-day order (pinned in tests): a scan is read before the cycle that would start that day, so a
progression seen at the day-63 scan means cycle 4 is not given.
"""

import bisect
import math
from dataclasses import dataclass, field

import numpy as np
import simpy

from sim import records
from sim._course import pcg64_fill
from sim.accrual import (
    AccrualModel,
    FixedAccrual,
    FixedActivation,
    PiecewiseAccrual,
    PoissonAccrual,
    PoissonGammaAccrual,
    SitesAccrual,
    UniformActivation,
)
from sim.closure import Checkpoint, ClosureRules
from sim.dose_modification import (
    Course,
    CourseSummary,
    DoseState,
    ModificationPolicy,
    ModificationRule,
    RecoveryTime,
    course_summary,
    rdi_so_far,
)
from sim.dosefinding import Action, DoseFindingDesign, StopReason, TreatedPatient, build_design
from sim.outcomes import (
    Exponential,
    PiecewiseExponential,
    TimeToEventModel,
    Weibull,
    time_with_hazard_multipliers,
)
from sim.rng import ReplicateStreams, spawned_uniform_stream
from sim.scenario import Scenario
from sim.toxicity import DLTDefinition, model_from_sections
from sim.units import DAYS_PER_WEEK

# Each patient's uniforms, one row per registered patient in registration order, drawn in chunks
# from the "patients" stream. Columns are fixed so a patient keeps its numbers whatever the
# scenario uses (common random numbers); add new columns at the end only.
PATIENT_COLUMNS = (
    "screen_failure",
    "withdrawal",
    "subgroup",
    "progression",
    "death",
    "dropout",
    "clinical_progression",
    "response",
)
# Phase I toxicity, from the "toxicity" stream: a DLT at level d iff propensity < p_true[d]
# (the same patients at every design), and the DLT's day within the window.
TOXICITY_COLUMNS = ("dlt_propensity", "dlt_onset")
_COLUMN = {name: index for index, name in enumerate(PATIENT_COLUMNS)}
# Patients' draws are made _CHUNK rows at a time. Rows come off the stream in order, so the size
# moves no number; 32 was the fastest of 16, 32 and 64 for phase I trials of 10 to 30 patients.
_CHUNK = 32


@dataclass(frozen=True)
class Phase1Plan:
    design: DoseFindingDesign
    true_dlt_probs: tuple[float, ...]
    start_level: int  # 0-based
    dlt_window_days: float
    early_onset: bool  # DLT days front-loaded in the window rather than uniform
    max_wait_days: float
    count_toward_phase2: bool
    # DLTs from the AE model: the definition applied to each patient's cycles (None: DLTs drawn
    # from true_dlt_probs with a propensity).
    dlt_definition: DLTDefinition | None = None


# Adverse-event uniforms: a fixed block of rows (one row a cycle) per registered patient, the
# "adverse_events" stream's numbers in patient order, so a patient keeps its numbers whatever
# happens to others; a course longer than the block continues on a stream of its own.
_AE_BLOCK_CYCLES = 32


@dataclass(frozen=True)
class ToxicityPlan:
    policy: ModificationPolicy
    start_levels: tuple[int, ...]  # per drug, 0-based
    dose_finding_drug: int | None  # index of the drug a phase I doses
    rdi_drug: int
    # Exposure-response: the progression hazard is the baseline's times this ^ (1 - r), r the
    # RDI of rdi_drug so far (None: no link, progression ignores the doses).
    exposure_response_hazard_ratio: float | None = None
    # The dose state a patient starts at (policy.start), made once rather than at every start:
    # start_state at start_levels; states_by_dose[level] when a phase I gives the dose-finding
    # drug this level, the others at their start levels.
    start_state: DoseState = field(init=False, repr=False, compare=False)
    states_by_dose: tuple[DoseState, ...] = field(init=False, repr=False, compare=False)
    rdi_doses: tuple[float, ...] = field(init=False, repr=False, compare=False)  # as summary reads

    def __post_init__(self) -> None:
        drug, starts = self.dose_finding_drug, self.start_levels
        by_dose = ()
        if drug is not None:
            levels = range(self.policy.model.drugs[drug].levels)
            by_dose = tuple((*starts[:drug], level, *starts[drug + 1 :]) for level in levels)
        object.__setattr__(self, "start_state", self.policy.start(starts))
        object.__setattr__(self, "states_by_dose", tuple(map(self.policy.start, by_dose)))
        doses = self.policy.model.drugs[self.rdi_drug].dose_levels
        object.__setattr__(self, "rdi_doses", tuple(map(float, doses)))

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> "ToxicityPlan":
        toxicity = scenario.toxicity
        rules = tuple(
            ModificationRule(
                drug=r.drug,
                ae=r.ae,
                min_grade=r.min_grade,
                action=r.action,
                recovery=(
                    None
                    if r.recovery_median_days is None
                    else RecoveryTime(r.recovery_median_days, r.recovery_shape)
                ),
                recover_to_grade=r.recover_to_grade,
                reduce_from_occurrence=r.reduce_from_occurrence,
            )
            for r in toxicity.rule
        )
        names = [d.name for d in toxicity.drug]
        return cls(
            policy=ModificationPolicy(model_from_sections(toxicity.drug, toxicity.ae), rules),
            start_levels=tuple(d.start_level - 1 for d in toxicity.drug),
            dose_finding_drug=(
                None
                if toxicity.dose_finding_drug is None
                else names.index(toxicity.dose_finding_drug)
            ),
            rdi_drug=names.index(toxicity.rdi_drug),
            exposure_response_hazard_ratio=toxicity.exposure_response_hazard_ratio,
        )


@dataclass(frozen=True)
class TrialPlan:
    """A scenario in engine terms (days, samplers): derived once, shared by every replicate."""

    phase2_n: int  # 0: a phase I-only trial
    accrual: AccrualModel
    closure: ClosureRules  # accrual deadline and monitoring checkpoints
    screen_failure_prob: float
    withdrawal_prob: float
    cycle_days: float
    scan_interval_days: float  # inf when there are no scans
    continuous_assessment: bool
    subgroup_edges: tuple[float, ...]  # cumulative shares of the named subgroups
    # progression_models[level]: subgroups first, the base population last
    progression_models: tuple[tuple[TimeToEventModel, ...], ...]
    response_probs: tuple[float, ...]  # by level
    death: TimeToEventModel | None
    dropout: TimeToEventModel | None
    clinical_progression_prob: float
    follow_up_days: float
    phase1: Phase1Plan | None
    toxicity: ToxicityPlan | None = None

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> "TrialPlan":
        accrual, treatment = scenario.accrual, scenario.treatment
        phase1 = scenario.phase1 if scenario.has_phase1 else None
        phase2 = scenario.phase2
        levels = phase1.levels if phase1 else 1
        scan_weeks = treatment.scan_interval_weeks
        medians = (
            phase1.true_median_weeks_by_level
            if phase1 and phase1.true_median_weeks_by_level
            else [phase2.true_median_weeks] * levels
        )
        groups = phase2.subgroups if phase2 else []
        models = tuple(
            (
                *(Exponential(g.median_weeks * DAYS_PER_WEEK) for g in groups),
                _base_model(phase2, median * DAYS_PER_WEEK),
            )
            for median in medians
        )
        if phase1 and phase1.response_prob_by_level is not None:
            response = tuple(phase1.response_prob_by_level)
        else:
            response = (phase2.response_prob if phase2 else 0.0,) * levels
        return cls(
            phase2_n=phase2.n if phase2 else 0,
            accrual=accrual_model(accrual),
            closure=ClosureRules(
                accrual.max_months,
                tuple(Checkpoint(c.month, c.min_registered) for c in accrual.checkpoints),
            ),
            screen_failure_prob=accrual.screen_failure_prob,
            withdrawal_prob=accrual.pretreatment_withdrawal_prob,
            cycle_days=treatment.cycle_days,
            scan_interval_days=scan_weeks * DAYS_PER_WEEK if scan_weeks else math.inf,
            continuous_assessment=scenario.progression_assessment == "continuous",
            subgroup_edges=tuple(np.cumsum([g.share for g in groups]).tolist()),
            progression_models=models,
            response_probs=response,
            death=_optional_exponential(phase2.death_median_weeks if phase2 else None),
            dropout=_optional_exponential(phase2.dropout_median_weeks if phase2 else None),
            clinical_progression_prob=phase2.clinical_progression_prob if phase2 else 0.0,
            follow_up_days=(phase2.follow_up_weeks if phase2 else phase1.follow_up_weeks)
            * DAYS_PER_WEEK,
            phase1=_phase1_plan(scenario) if phase1 else None,
            toxicity=(None if scenario.toxicity is None else ToxicityPlan.from_scenario(scenario)),
        )


def accrual_model(accrual) -> AccrualModel:
    """The sampler of a scenario's [accrual] section."""
    if accrual.model == "poisson":
        return PoissonAccrual(accrual.rate_per_month)
    if accrual.model == "fixed":
        return FixedAccrual(accrual.rate_per_month)
    if accrual.model == "piecewise":
        return PiecewiseAccrual(
            tuple(accrual.period_starts_months), tuple(accrual.period_rates_per_month)
        )
    if accrual.site_activation_months is not None:
        activation = FixedActivation(tuple(accrual.site_activation_months))
    elif accrual.activation_window_months is not None:
        activation = UniformActivation(*accrual.activation_window_months)
    else:
        activation = None
    if accrual.model == "sites":
        return SitesAccrual(tuple(accrual.site_rates_per_month), activation, accrual.ramp_up_months)
    return PoissonGammaAccrual(
        accrual.sites,
        accrual.rate_per_site_month,
        accrual.rate_shape,
        activation,
        accrual.ramp_up_months,
    )


def _base_model(phase2, median_days: float) -> TimeToEventModel:
    if phase2 is not None and phase2.pfs_model == "weibull":
        return Weibull(median_days, phase2.weibull_shape)
    if phase2 is not None and phase2.pfs_model == "piecewise-exponential":
        return PiecewiseExponential(
            tuple(w * DAYS_PER_WEEK for w in phase2.piecewise_breaks_weeks),
            tuple(w * DAYS_PER_WEEK for w in phase2.piecewise_median_weeks),
        )
    return Exponential(median_days)


def _optional_exponential(median_weeks: float | None) -> TimeToEventModel | None:
    return None if median_weeks is None else Exponential(median_weeks * DAYS_PER_WEEK)


def build_phase1_design(scenario: Scenario) -> DoseFindingDesign:
    """The scenario's dose-finding design (levels 1-based in the scenario, 0-based here)."""
    phase1 = scenario.phase1
    return build_design(
        phase1.design,
        n_levels=phase1.levels,
        start_level=phase1.start_level - 1,
        max_n=phase1.n,
        cohort_size=phase1.cohort_size,
        target_dlt=phase1.target_dlt,
        dlt_window_days=phase1.dlt_window_days,
        skeleton=phase1.skeleton,
        indifference_halfwidth=phase1.indifference_halfwidth,
        prior_mtd_level=None if phase1.prior_mtd_level is None else phase1.prior_mtd_level - 1,
        model=phase1.model,
        prior_sd=phase1.prior_sd,
        tite_weights=phase1.tite_weights,
        estimate=phase1.crm_estimate,
        no_skip_escalation=phase1.no_skip_escalation,
        safety_threshold=phase1.safety_threshold,
        confirm_mtd_with_six=phase1.confirm_mtd_with_six,
    )


def _phase1_plan(scenario: Scenario) -> Phase1Plan:
    phase1 = scenario.phase1
    return Phase1Plan(
        design=build_phase1_design(scenario),
        true_dlt_probs=tuple(phase1.true_dlt_probs),
        start_level=phase1.start_level - 1,
        dlt_window_days=phase1.dlt_window_days,
        early_onset=phase1.dlt_onset == "early",
        max_wait_days=phase1.max_wait_days,
        count_toward_phase2=phase1.count_toward_phase2,
        dlt_definition=(
            DLTDefinition(**scenario.toxicity.dlt.model_dump())
            if phase1.dlts_from == "ae_model" else None
        ),
    )


@dataclass
class _PatientDraws:
    """A chunk of patients' uniforms, turned into latent quantities as Python lists."""

    screen_failed: list[bool]
    withdrew: list[bool]
    progression_days: list[list[float]]  # [level][patient], from treatment start
    subgroups: list[int]  # index of the patient's model in progression_models[level]
    death_days: list[float]
    dropout_days: list[float]
    clinical: list[bool]
    response_uniforms: list[float]


def _draw_patients(plan: TrialPlan, rng: np.random.Generator) -> _PatientDraws:
    u = rng.random((_CHUNK, len(PATIENT_COLUMNS)))
    progression_u = u[:, _COLUMN["progression"]]
    group = np.searchsorted(plan.subgroup_edges, u[:, _COLUMN["subgroup"]], side="right")
    by_level = []
    drawn: dict = {}  # levels with the same models (often all of them) share one list
    for models in plan.progression_models:
        times = drawn.get(models)
        if times is None:
            if len(models) == 1:
                times = models[0].times_from_uniforms(progression_u).tolist()
            else:
                chunk = np.empty(_CHUNK)
                for index, model in enumerate(models):
                    chosen = group == index
                    chunk[chosen] = model.times_from_uniforms(progression_u[chosen])
                times = chunk.tolist()
            drawn[models] = times
        by_level.append(times)
    never = [math.inf] * _CHUNK

    def latent(model: TimeToEventModel | None, column: str) -> list[float]:
        return never if model is None else model.times_from_uniforms(u[:, _COLUMN[column]]).tolist()

    return _PatientDraws(
        screen_failed=(u[:, _COLUMN["screen_failure"]] < plan.screen_failure_prob).tolist(),
        withdrew=(u[:, _COLUMN["withdrawal"]] < plan.withdrawal_prob).tolist(),
        progression_days=by_level,
        subgroups=group.tolist(),
        death_days=latent(plan.death, "death"),
        dropout_days=latent(plan.dropout, "dropout"),
        clinical=(u[:, _COLUMN["clinical_progression"]] < plan.clinical_progression_prob).tolist(),
        response_uniforms=u[:, _COLUMN["response"]].tolist(),
    )


class _Patient:
    """One registered patient's state; the class attributes are the defaults (set per patient
    only when they change: most registrations never need most of them)."""

    draws: _PatientDraws | None = None
    draw_index = 0
    phase = 2
    level = 0
    in_phase2 = False
    start_day = math.inf
    latent_progression_day = math.inf
    observed_progression_day = math.inf  # when it will be seen, if followed that long
    death_day = math.inf
    dropout_day = math.inf
    responder = False
    end_day = math.inf  # follow-up ends: progression seen, death or dropout
    end_kind = ""
    dlt_day = math.inf
    phase1_index = -1  # phase I: position in treatment order
    # With an AE model: cycles, AEs and dose changes; only what the record reads (a summary)
    # unless the run traces them or a phase I reads its DLTs from them.
    course: Course | CourseSummary | None = None
    dose_start: DoseState | None = None  # with an AE model: the doses treatment starts at
    ae_rows: np.ndarray | None = None

    def __init__(self, patient_id: int, registration_day: float, status: str) -> None:
        self.patient_id = patient_id
        self.registration_day = registration_day
        self.status = status

    def visits(self, until_day: float, plan: "TrialPlan") -> tuple[tuple[float, ...], ...]:
        """(cycle start days, scan days) of this patient's follow-up up to `until_day`."""
        if self.course is not None:  # holds delay cycles; scans keep their calendar
            starts = self.course.cycle_start_days  # increasing: those by the day are a prefix
            cycles = starts[: bisect.bisect_right(starts, until_day)]
            scans = scan_schedule(self.start_day, self.end_day, plan.scan_interval_days, until_day)
        else:
            cycles, scans = visit_schedule(
                self.start_day, self.end_day, plan.cycle_days, plan.scan_interval_days, until_day
            )
        return tuple(cycles), tuple(scans)

    def scan_result(self, day: float) -> str:
        if day == self.observed_progression_day:
            return records.PROGRESSIVE
        return records.RESPONSE if self.responder else records.STABLE

    def record(self, cut_day: float, plan: "TrialPlan") -> records.PatientRecord:
        """What happened to this patient by `cut_day` (the simulation's last day)."""
        if self.start_day == math.inf:  # never treated
            return records.PatientRecord(
                self.patient_id, self.registration_day, self.status, in_phase2=False
            )
        # Follow-up that ended by the cut ended by its own day, so every visit laid out happened.
        cycles, scans = self.visits(cut_day, plan)
        end_kind = self.end_kind if self.end_day <= cut_day else ""
        if scans:
            seen = records.RESPONSE if self.responder else records.STABLE
            results = (seen,) * len(scans)
            if scans[-1] == self.observed_progression_day:
                results = (*results[:-1], records.PROGRESSIVE)
        else:
            results = ()
        end = self.end_day
        exposure = self.exposure(cut_day, plan) if self.course is not None else _NO_AE
        # Every field in order (a keyword call took 3.5 times as long: one record a patient)
        return records.PatientRecord._make(
            (
                self.patient_id,
                self.registration_day,
                self.status,
                self.start_day,
                self.latent_progression_day,
                end if end_kind == "progression" else math.inf,
                end if end_kind == "death" else math.inf,
                end if end_kind == "dropout" else math.inf,
                cycles,
                scans,
                results,
                self.responder,
                self.phase,
                self.level,
                self.in_phase2,
                self.dlt_day if self.dlt_day <= cut_day else math.inf,
                *exposure,
            )
        )

    def exposure(self, cut_day: float, plan: "TrialPlan") -> tuple:
        """The record's AE fields (`_AE_FIELDS`): AE grades, dose changes and RDI of the
        treatment given by `cut_day`."""
        toxicity, course = plan.toxicity, self.course
        drug = toxicity.rdi_drug  # (the course's assigned levels are the patient's)
        if self.end_day > cut_day:  # still on study at the cut: the same course, stopped there
            if cut_day <= self.start_day:
                return _NO_AE
            end = min(cut_day, self.end_day)
            course = toxicity.policy.kernel.summary(
                self.dose_start, self.ae_rows, self.start_day, end, plan.cycle_days, drug,
                toxicity.rdi_doses,
            )  # fmt: skip
        elif isinstance(course, Course):
            course = course_summary(course, drug, toxicity.policy.model.drugs[drug])
        return course.highest_grades, course.held, course.reduced, course.off_treatment, course.rdi


# A patient record's last fields, and their values without an AE model or before any dose.
_AE_FIELDS = ("ae_highest_grades", "dose_held", "dose_reduced", "off_for_toxicity", "rdi")
_NO_AE = tuple(records.PatientRecord._field_defaults[name] for name in _AE_FIELDS)

# Trial stages.
PHASE1, CLOSING_PHASE1, PHASE2, CLOSED = "phase1", "closing_phase1", "phase2", "closed"


class _TrialRun:
    def __init__(self, plan: TrialPlan, streams: ReplicateStreams, trace: bool):
        self.plan = plan
        self.streams = streams
        self.trace = trace
        self.env = simpy.Environment()
        self.patients: list[_Patient] = []
        self.events: list[records.TraceEvent] = []
        self.stage = PHASE1 if plan.phase1 else PHASE2
        self.phase2_level = 0 if plan.phase1 is None else None
        self.phase2_count = 0  # patients in the phase II analysis population
        self.phase1_patients: list[_Patient] = []
        # What the design sees, in treatment order: final once a window is complete; the open
        # windows' entries are refreshed when the design is asked.
        self.phase1_views: list[TreatedPatient] = []
        self.open_windows: list[_Patient] = []
        self.phase1_views_day = math.nan  # the day the open windows' views were refreshed
        self.waiting: list[_Patient] = []
        self.toxicity_draws: list[list[float]] = []
        # Adverse-event uniforms (ae_rows): the stream, read when a patient first needs it.
        self.ae_stream: tuple[int, int, int, int] | None = None
        self.ae_columns = plan.toxicity.policy.uniforms_per_cycle if plan.toxicity else 0
        # Courses whole (periods, decisions) for the trace or DLTs from the AE model; else their
        # summaries, made without them (the AE model then costs about 40% less).
        self.whole_courses = trace or (
            plan.phase1 is not None and plan.phase1.dlt_definition is not None
        )
        self.phase1_stop_reason = ""
        self.phase1_end_day = math.nan
        self.last_start_day = 0.0
        self.last_end_day = 0.0  # the last day of anyone's follow-up so far
        self.accrual_closed = self.env.event()
        self.accrual_closed_day = 0.0
        self.closure_reason = ""
        self.analysis_day = 0.0

    def log(self, day: float, patient_id: int, event: str, detail: str = "") -> None:
        self.events.append(records.TraceEvent(day, patient_id, event, detail))

    # ------------------------------------------------------------------ accrual

    def decision_due(self) -> None:
        # A zero-delay event: registrations due on a decision day were scheduled before it, so
        # they count (sim.closure's rule).
        self.at(self.env.now, lambda _: self.decide_closure())

    def decide_closure(self) -> None:
        """A decision day of the closure rules: the deadline, or an accrual checkpoint."""
        if self.stage != CLOSED:
            reason = self.plan.closure.decision_at(self.env.now, len(self.patients))
            if reason is not None:
                self.close_accrual(str(reason))

    def accrual(self):
        plan, env = self.plan, self.env
        for day in plan.closure.decision_days():
            self.at(day, lambda _: self.decision_due())
        deadline = plan.closure.deadline_day or math.inf
        draws = None
        for day in plan.accrual.arrival_days(self.streams.accrual):
            if self.stage == CLOSED or day > deadline:
                return  # closed, or closing at the deadline (a decision day)
            # Registrations on one day are made in one step: all of them come before that day's
            # closure decision (sim.closure: a registration on a decision day counts).
            if day > env.now:
                yield env.timeout(day - env.now)
                if self.stage == CLOSED:
                    return
            index = len(self.patients) % _CHUNK
            if index == 0:
                draws = _draw_patients(plan, self.streams.patients)
            self.register(day, draws, index)
        # The accrual model registers no one any more: accrual closes on the day it says so (the
        # last registration is not known to be the last when it happens), unless a rule closes
        # it before.
        end_day = plan.accrual.end_day
        if self.stage != CLOSED and env.now < end_day < math.inf:
            yield env.timeout(end_day - env.now)
        if self.stage != CLOSED:
            self.close_accrual(records.CLOSED_ACCRUAL_ENDED)

    def close_accrual(self, reason: str) -> None:
        self.stage = CLOSED
        self.closure_reason = reason
        self.accrual_closed_day = self.env.now
        for patient in self.waiting:
            self.lose(patient)
        self.waiting.clear()
        self.accrual_closed.succeed()

    def register(self, day: float, draws: _PatientDraws, index: int) -> None:
        patient_id = len(self.patients) + 1
        if self.trace:
            self.log(day, patient_id, "registration")
        if draws.screen_failed[index]:
            self.patients.append(_Patient(patient_id, day, records.SCREEN_FAILURE))
            if self.trace:
                self.log(day, patient_id, "screen_failure")
            return
        if draws.withdrew[index]:
            self.patients.append(_Patient(patient_id, day, records.WITHDRAWN))
            if self.trace:
                self.log(day, patient_id, "withdrawal")
            return
        patient = _Patient(patient_id, day, records.TREATED)
        patient.draws, patient.draw_index = draws, index
        self.patients.append(patient)
        if self.stage == PHASE2:
            self.start(patient, self.phase2_level, phase=2)
            self.check_phase2_target()
        else:
            patient.status = records.WAITING
            self.waiting.append(patient)
            self.phase1_step()
            if patient.status == records.WAITING:  # no slot today: lost if none opens in time
                self.at(day + self.plan.phase1.max_wait_days, lambda _: self.wait_over(patient))

    def check_phase2_target(self) -> None:
        if self.plan.phase2_n and self.phase2_count >= self.plan.phase2_n:
            self.close_accrual(records.CLOSED_TARGET)

    def wait_over(self, patient: _Patient) -> None:
        if patient.status == records.WAITING:
            self.waiting.remove(patient)
            self.lose(patient)

    def lose(self, patient: _Patient) -> None:
        patient.status = records.LOST_WAITING
        if self.trace:
            self.log(self.env.now, patient.patient_id, "lost_waiting")

    # ------------------------------------------------------------------ treatment

    def start(self, patient: _Patient, level: int, phase: int) -> None:
        plan, day = self.plan, self.env.now
        draws, index = patient.draws, patient.draw_index
        patient.status = records.TREATED
        patient.phase, patient.level, patient.start_day = phase, level, day
        patient.in_phase2 = phase == 2
        self.phase2_count += phase == 2
        toxicity = plan.toxicity
        if toxicity is not None:
            patient.dose_start = (
                toxicity.start_state if plan.phase1 is None else toxicity.states_by_dose[level]
            )
        latent_days = draws.progression_days[level][index]
        if toxicity is not None and toxicity.exposure_response_hazard_ratio is not None:
            latent_days = self.progression_under_exposure(patient, latent_days)
        latent = day + latent_days
        if plan.continuous_assessment or draws.clinical[index]:
            observed = latent
        else:
            scans_needed = math.ceil((latent - day) / plan.scan_interval_days)
            observed = day + scans_needed * plan.scan_interval_days
        patient.latent_progression_day = latent
        patient.observed_progression_day = observed
        patient.death_day = day + draws.death_days[index]
        patient.dropout_day = day + draws.dropout_days[index]
        patient.responder = (
            draws.response_uniforms[index] < plan.response_probs[level]
            and plan.scan_interval_days < math.inf
        )
        patient.end_day, patient.end_kind = min(
            (patient.death_day, "death"),
            (observed, "progression"),
            (patient.dropout_day, "dropout"),
        )
        if toxicity is not None:
            # (run_course's kernel without its checks: ae_rows gives enough rows, as it needs)
            patient.ae_rows = rows = self.ae_rows(patient.patient_id, patient.end_day - day)
            kernel, state, end = toxicity.policy.kernel, patient.dose_start, patient.end_day
            if self.whole_courses:
                patient.course = kernel.run(state, rows, rows, day, end, plan.cycle_days)
            else:
                patient.course = kernel.summary(
                    state, rows, day, end, plan.cycle_days, toxicity.rdi_drug, toxicity.rdi_doses
                )
        self.last_start_day = day
        self.follow(patient)

    def progression_under_exposure(self, patient: _Patient, baseline_days: float) -> float:
        """Days from the start of treatment to progression when its hazard depends on exposure.

        The hazard at t is the patient's baseline hazard (its progression model) times
        HR ^ (1 - r(t)), HR = `toxicity.exposure_response_hazard_ratio`, r(t) the RDI of the RDI
        drug over the doses given before the latest cycle start (r = 1 in cycle 1), or over the
        whole course once a rule has ended treatment (sim.dose_modification.rdi_so_far).
        Cumulative RDI rather than each cycle's own dose fraction, so that a cycle's hazard
        depends only on doses already given and the last r is the RDI the trial reports. The
        patient's unit-exponential draw is the baseline's, H0(baseline_days), so every other
        number stays as it was; sim.outcomes.time_with_hazard_multipliers solves H(T) = that.
        r(t) reads the course the patient would have without progression, death or dropout;
        the course the engine then runs to the end of follow-up is its beginning (same uniforms).
        Laid out one cycle past a horizon (so every cycle start before it is known), the horizon
        doubled until the answer falls inside it.
        """
        plan, toxicity = self.plan, self.plan.toxicity
        models = plan.progression_models[patient.level]
        model = models[patient.draws.subgroups[patient.draw_index]]
        drug = toxicity.rdi_drug
        hazard_ratio = toxicity.exposure_response_hazard_ratio
        start, cycle_days = patient.start_day, plan.cycle_days
        horizon = baseline_days + cycle_days
        while True:
            rows = self.ae_rows(patient.patient_id, horizon + cycle_days)
            course = toxicity.policy.kernel.run(
                patient.dose_start, rows, rows, start, start + horizon + cycle_days, cycle_days
            )
            off = course.end_day if course.state.off_treatment else None
            steps = rdi_so_far(
                toxicity.policy.model.drugs[drug],
                patient.dose_start.assigned[drug],
                course.periods[drug],
                course.cycle_start_days,
                off,
                cycle_days,
            )
            multipliers = [(day - start, hazard_ratio ** (1.0 - r)) for day, r in steps]
            known = math.inf if off is not None else horizon
            days = time_with_hazard_multipliers(model, baseline_days, multipliers, known)
            if days is not None:
                return days
            horizon *= 2

    def ae_rows(self, patient_id: int, days: float) -> np.ndarray:
        """This patient's adverse-event uniforms for `days` of treatment (see _AE_BLOCK_CYCLES):
        a new C-contiguous float64 array, which run_course's kernel reads in place.

        Patient i's block is the stream's numbers from (i - 1) blocks on, as if the blocks were
        drawn one after another, but only the rows the patient uses are computed (pcg64_fill
        jumps to them): most patients need a few of their block's rows, and drawing whole blocks
        cost more than half of the AE model's draws. Rows asked for again are computed again
        (the same numbers): cheaper than keeping them, as most patients ask once."""
        if self.ae_stream is None:
            self.ae_stream = self.streams.uniform_stream("adverse_events")
        columns = self.ae_columns
        needed = math.ceil(days / self.plan.cycle_days) + 1  # a spare row against rounding
        rows = np.empty((needed, columns))
        in_block = min(needed, _AE_BLOCK_CYCLES) * columns
        position = (patient_id - 1) * _AE_BLOCK_CYCLES * columns
        pcg64_fill(rows, 0, in_block, self.ae_stream, position)
        if needed > _AE_BLOCK_CYCLES:  # a long course: then a stream of its own (id at key 1000)
            key = (self.streams.replicate, 1000, patient_id)
            more = rows[_AE_BLOCK_CYCLES:]
            pcg64_fill(more, 0, more.size, spawned_uniform_stream(self.streams.seed, key), 0)
        return rows

    def follow(self, patient: _Patient) -> None:
        """From the start of treatment until progression, death or dropout.

        Nothing is decided at a visit or when follow-up ends, so no event is scheduled: the
        visits and the end are laid out when the patient's record is made, up to the data cut
        (`_Patient.visits`), which comes when the last follow-up ends at the latest.
        """
        if self.trace:
            cycles, scans = patient.visits(math.inf, self.plan)
            detail = f"phase {patient.phase}, level {patient.level + 1}"
            self.log(patient.start_day, patient.patient_id, "treatment_start", detail)
            for number, day in enumerate(cycles, start=1):
                self.log(day, patient.patient_id, "cycle_start", f"cycle {number}")
            if patient.course is not None:
                self.log_dose_changes(patient)
            for day in scans:
                self.log(day, patient.patient_id, "scan", patient.scan_result(day))
            self.log_end(patient)
        self.last_end_day = max(self.last_end_day, patient.end_day)

    def log_dose_changes(self, patient: _Patient) -> None:
        """Trace each dose modification on the day of the AE that caused it."""
        course, policy = patient.course, self.plan.toxicity.policy
        onsets = course.onset_days(policy.model)
        end = course.end_day
        for number, decision in course.decisions:
            changes = []
            for drug, action, days, level in zip(
                policy.model.drugs,
                decision.actions,
                decision.hold_days,
                decision.state.levels,
                strict=True,
            ):
                if days > 0 and onsets[number - 1] + days > end * (1 + 1e-12):
                    # Progression, death or the cut came during the hold: the resumption, the
                    # reduction or the stop after it never happened.
                    changes.append(f"{drug.name} held until treatment ended on day {end:.1f}")
                elif action.value == "hold":
                    changes.append(f"{drug.name} held {days:.0f} days, then level {level + 1}")
                elif action.value == "reduce":
                    changes.append(f"{drug.name} reduced to level {level + 1}")
                elif action.value == "discontinue":
                    held = f" after a {days:.0f}-day hold" if days > 0 else ""
                    changes.append(f"{drug.name} stopped{held}")
            if changes:
                detail = f"cycle {number}: " + "; ".join(changes)
                self.log(onsets[number - 1], patient.patient_id, "dose_change", detail)

    def at(self, day: float, callback) -> None:
        """Call `callback` on `day`: one simpy event, no process."""
        self.env.timeout(day - self.env.now).callbacks.append(callback)

    def log_end(self, patient: _Patient) -> None:
        detail = ""
        if patient.end_kind == "progression":
            on_scan = patient.end_day in patient.visits(math.inf, self.plan)[1]
            detail = "at scan" if on_scan else "clinical"
        self.log(patient.end_day, patient.patient_id, patient.end_kind, detail)

    # ------------------------------------------------------------------ phase I

    def phase1_view(self) -> list[TreatedPatient]:
        now, views = self.env.now, self.phase1_views
        if now != self.phase1_views_day:  # else up to date: changes since were made today
            for patient in self.open_windows:
                views[patient.phase1_index] = TreatedPatient(
                    patient.level, now - patient.start_day, False
                )
            self.phase1_views_day = now
        return views

    def phase1_step(self) -> None:
        """Start waiting patients as the design allows; close phase I when it says stop."""
        design = self.plan.phase1.design
        while self.stage == PHASE1:
            if self.waiting:
                decision = design.decide(self.phase1_view())
                reason = decision.stop_reason if decision.action is Action.STOP else None
            else:
                decision, reason = None, design.stop_reason(self.phase1_view())
            if reason is not None:
                self.stage = CLOSING_PHASE1
                self.phase1_stop_reason = reason.value
                self.try_close_phase1()
                return
            if decision is None or decision.action is Action.WAIT:
                return  # asked again at the next registration, DLT or completed window
            self.start_phase1(self.waiting.pop(0), decision.level)

    def start_phase1(self, patient: _Patient, level: int) -> None:
        phase1 = self.plan.phase1
        self.start(patient, level, phase=1)
        # Indexed by registration order: the same person has the same propensity under any design.
        row = patient.patient_id - 1
        while len(self.toxicity_draws) <= row:
            chunk = self.streams.toxicity.random((_CHUNK, len(TOXICITY_COLUMNS))).tolist()
            self.toxicity_draws.extend(chunk)
        propensity, onset = self.toxicity_draws[row]
        patient.phase1_index = len(self.phase1_patients)
        self.phase1_patients.append(patient)
        self.phase1_views.append(TreatedPatient(level, 0.0, False))
        self.open_windows.append(patient)
        if phase1.dlt_definition is not None:
            patient.dlt_day = self.ae_dlt_day(patient, phase1.dlt_definition)
        elif propensity < phase1.true_dlt_probs[level]:
            # "early": density 2(1 - x) on the window, by inversion x = 1 - sqrt(1 - u)
            fraction = 1 - math.sqrt(1 - onset) if phase1.early_onset else onset
            patient.dlt_day = patient.start_day + fraction * phase1.dlt_window_days
            if patient.dlt_day >= patient.end_day:  # off study by then (death, progression, ...)
                patient.dlt_day = math.inf
        window_end = patient.start_day + phase1.dlt_window_days
        self.at(min(patient.dlt_day, window_end), lambda _: self.window_complete(patient))

    def ae_dlt_day(self, patient: _Patient, definition: DLTDefinition) -> float:
        """The onset day of the first cycle whose AEs make a DLT (inf: none in the window). The
        window is the definition's cycles and no longer than phase1.dlt_window_days, the window
        the design follows: a cycle that a hold delayed past it is outside."""
        model = self.plan.toxicity.policy.model
        course = patient.course
        window_end = patient.start_day + self.plan.phase1.dlt_window_days
        cycles = zip(course.grades_by_cycle(model), course.onset_days(model), strict=True)
        for number, (grades, onset) in enumerate(cycles, start=1):
            if number > definition.window_cycles or onset > window_end:
                break
            if definition.is_dlt(model, grades, number):
                return onset
        return math.inf

    def window_complete(self, patient: _Patient) -> None:
        """This patient's DLT outcome is final: a DLT was seen, or the window ended without."""
        window = self.plan.phase1.dlt_window_days
        if patient.dlt_day <= patient.start_day + window:
            view = TreatedPatient(patient.level, patient.dlt_day - patient.start_day, True)
            if self.trace:
                self.log(self.env.now, patient.patient_id, "dlt")
        else:
            view = TreatedPatient(patient.level, window, False)
        self.phase1_views[patient.phase1_index] = view
        self.open_windows.remove(patient)
        if self.stage == PHASE1:
            self.phase1_step()
        elif self.phase1_answer_pending:  # closing phase I, or accrual closed meanwhile
            self.try_close_phase1()

    @property
    def phase1_answer_pending(self) -> bool:
        """The design has stopped and waits for open windows, though accrual may have closed."""
        return bool(self.phase1_stop_reason) and math.isnan(self.phase1_end_day)

    def try_close_phase1(self) -> None:
        """Once every phase I window is complete: recommend a dose and open phase II. A stop for
        toxicity is binding: no dose, even if windows open at the stop then end without a DLT."""
        if self.open_windows:
            return
        if self.phase1_stop_reason == StopReason.TOO_TOXIC.value:
            level = None
        else:
            level = self.plan.phase1.design.recommend(self.phase1_view())
        self.phase1_end_day = self.env.now
        self.phase2_level = level
        if self.trace:
            chosen = "no dose recommended" if level is None else f"level {level + 1}"
            detail = f"{chosen} ({self.phase1_stop_reason})"
            self.log(self.env.now, 0, "phase1_end", detail)
        if self.stage == CLOSED:  # accrual closed (a deadline) while the last windows were open:
            return  # the phase I answer stands, and no phase II opens
        if level is None:
            self.close_accrual(records.CLOSED_TOXICITY)
            return
        if self.plan.phase2_n == 0:
            self.close_accrual(records.CLOSED_TARGET)
            return
        self.stage = PHASE2
        if self.plan.phase1.count_toward_phase2:
            for patient in self.phase1_patients:
                if patient.level == level:
                    patient.in_phase2 = True
                    self.phase2_count += 1
        self.check_phase2_target()  # phase I patients at the dose may already be enough
        waiting, self.waiting = self.waiting, []
        for patient in waiting:
            if self.stage != PHASE2:
                self.lose(patient)
                continue
            self.start(patient, level, phase=2)
            self.check_phase2_target()

    # ------------------------------------------------------------------ the trial

    def controller(self):
        env = self.env
        env.process(self.accrual())
        yield self.accrual_closed
        # A stopped phase I still answers when its open windows end: not analysed before then.
        floor = env.now
        if self.phase1_answer_pending and self.open_windows:
            window = self.plan.phase1.dlt_window_days
            floor = max(patient.start_day + window for patient in self.open_windows)
        analysis_day = floor
        if self.last_end_day > env.now:
            # The cut: when the last follow-up ends, or follow_up_days after the last start if
            # that is sooner (a trial closed long after its last start is analysed on closing).
            last_followed = min(self.last_start_day + self.plan.follow_up_days, self.last_end_day)
            analysis_day = max(last_followed, floor)
        if analysis_day > env.now:
            yield env.timeout(analysis_day - env.now)
        self.analysis_day = analysis_day  # not env.now: now + (day - now) may round below day

    def run(self) -> records.TrialRecord:
        self.env.run(until=self.env.process(self.controller()))
        if self.trace:
            self.events = [e for e in self.events if e.day <= self.analysis_day]
            for patient in self.patients:
                if patient.status == records.TREATED and patient.end_day > self.analysis_day:
                    self.log(self.analysis_day, patient.patient_id, "censored", "data cut")
            order = {name: rank for rank, name in enumerate(records.EVENT_ORDER)}
            self.events.sort(key=lambda e: (e.day, e.patient_id, order[e.event]))
        return records.TrialRecord(
            patients=tuple(p.record(self.analysis_day, self.plan) for p in self.patients),
            target_n=self.plan.phase2_n,
            accrual_closed_day=self.accrual_closed_day,
            closure_reason=self.closure_reason,
            analysis_day=self.analysis_day,
            events=tuple(self.events),
            selected_level=self.phase2_level if self.plan.phase1 else None,
            phase1_stop_reason=self.phase1_stop_reason,
            phase1_end_day=self.phase1_end_day,
        )

    def release(self) -> None:
        """Free this replicate's objects now. The environment's pending events hold callbacks into
        this run: with its patients and their courses, a reference cycle that only the cyclic
        garbage collector would free, at a cost of 5-15% of a replicate's time (the most with an
        AE model). Emptied, the run leaves only a few events and itself to that collector."""
        self.__dict__.clear()


def visit_schedule(
    start_day: float,
    end_day: float,
    cycle_days: float,
    scan_interval_days: float,
    until_day: float = math.inf,
) -> tuple[list[float], list[float]]:
    """(cycle start days, scan days) from `start_day` until follow-up ends on `end_day`, those
    on or before `until_day` (a data cut).

    Scans count from the start of treatment. A scan on `end_day` is the one that sees the
    progression; a cycle due on `end_day` is not given (the scan is read first). Follow-up always
    ends (every latent progression time is finite).
    """
    cycles = []
    number = 0
    day = start_day
    while day < end_day and day <= until_day:
        cycles.append(day)
        number += 1
        day = start_day + number * cycle_days
    return cycles, scan_schedule(start_day, end_day, scan_interval_days, until_day)


def scan_schedule(
    start_day: float, end_day: float, scan_interval_days: float, until_day: float = math.inf
) -> list[float]:
    """The scan days of `visit_schedule`."""
    scans = []
    number = 1
    day = start_day + scan_interval_days
    end_day = min(end_day, until_day)
    while day <= end_day:
        scans.append(day)
        number += 1
        day = start_day + number * scan_interval_days
    return scans


def simulate_trial(plan: TrialPlan, streams: ReplicateStreams, trace: bool = False):
    """Run one replicate; `trace` also keeps every event for `trialsim trace`."""
    run = _TrialRun(plan, streams, trace)
    record = run.run()
    run.release()
    return record
