"""The discrete-event engine: the only module that imports simpy.

One simpy Environment per replicate. Processes: accrual (registers patients, closes at the target
or the deadline), one process per treated patient (cycles, scans, progression, death, dropout) and
the controller (final-analysis date). The engine records what happens and decides nothing a
statistic would decide: analyses cut the records afterwards (sim.analysis).

Same-day order (pinned in tests): a scan is read before the cycle that would start that day, so a
progression seen at the day-63 scan means cycle 4 is not given.
"""

import math
from dataclasses import dataclass, field

import numpy as np
import simpy

from sim import records
from sim.accrual import AccrualModel, FixedAccrual, PoissonAccrual
from sim.outcomes import Exponential, PiecewiseExponential, TimeToEventModel, Weibull
from sim.rng import ReplicateStreams
from sim.scenario import Scenario
from sim.units import DAYS_PER_MONTH, DAYS_PER_WEEK

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
_COLUMN = {name: index for index, name in enumerate(PATIENT_COLUMNS)}
_PATIENT_CHUNK = 64


@dataclass(frozen=True)
class TrialPlan:
    """A scenario in engine terms (days, samplers): derived once, shared by every replicate."""

    target_n: int
    accrual: AccrualModel
    accrual_deadline_day: float
    screen_failure_prob: float
    withdrawal_prob: float
    cycle_days: float
    scan_interval_days: float  # inf when there are no scans
    continuous_assessment: bool
    subgroup_edges: tuple[float, ...]  # cumulative shares of the named subgroups
    progression_models: tuple[TimeToEventModel, ...]  # subgroups first, the base population last
    death: TimeToEventModel | None
    dropout: TimeToEventModel | None
    clinical_progression_prob: float
    response_prob: float
    follow_up_days: float

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> "TrialPlan":
        accrual, treatment, phase2 = scenario.accrual, scenario.treatment, scenario.phase2
        sampler = {"poisson": PoissonAccrual, "fixed": FixedAccrual}[accrual.model]
        base_days = phase2.true_median_weeks * DAYS_PER_WEEK
        if phase2.pfs_model == "weibull":
            base: TimeToEventModel = Weibull(base_days, phase2.weibull_shape)
        elif phase2.pfs_model == "piecewise-exponential":
            base = PiecewiseExponential(
                tuple(w * DAYS_PER_WEEK for w in phase2.piecewise_breaks_weeks),
                tuple(w * DAYS_PER_WEEK for w in phase2.piecewise_median_weeks),
            )
        else:
            base = Exponential(base_days)
        groups = phase2.subgroups
        scan_weeks = treatment.scan_interval_weeks
        return cls(
            target_n=phase2.n,
            accrual=sampler(accrual.rate_per_month),
            accrual_deadline_day=(
                accrual.max_months * DAYS_PER_MONTH if accrual.max_months else math.inf
            ),
            screen_failure_prob=accrual.screen_failure_prob,
            withdrawal_prob=accrual.pretreatment_withdrawal_prob,
            cycle_days=treatment.cycle_days,
            scan_interval_days=scan_weeks * DAYS_PER_WEEK if scan_weeks else math.inf,
            continuous_assessment=scenario.progression_assessment == "continuous",
            subgroup_edges=tuple(np.cumsum([g.share for g in groups]).tolist()),
            progression_models=(
                *(Exponential(g.median_weeks * DAYS_PER_WEEK) for g in groups),
                base,
            ),
            death=_optional_exponential(phase2.death_median_weeks),
            dropout=_optional_exponential(phase2.dropout_median_weeks),
            clinical_progression_prob=phase2.clinical_progression_prob,
            response_prob=phase2.response_prob,
            follow_up_days=phase2.follow_up_weeks * DAYS_PER_WEEK,
        )


def _optional_exponential(median_weeks: float | None) -> TimeToEventModel | None:
    return None if median_weeks is None else Exponential(median_weeks * DAYS_PER_WEEK)


@dataclass
class _PatientDraws:
    """A chunk of patients' uniforms turned into latent quantities, as Python lists."""

    screen_failed: list[bool]
    withdrew: list[bool]
    progression_days: list[float]  # from treatment start
    death_days: list[float]
    dropout_days: list[float]
    clinical: list[bool]
    responder: list[bool]


def _draw_patients(plan: TrialPlan, rng: np.random.Generator) -> _PatientDraws:
    u = rng.random((_PATIENT_CHUNK, len(PATIENT_COLUMNS)))
    if len(plan.progression_models) == 1:
        progression = plan.progression_models[0].times_from_uniforms(u[:, _COLUMN["progression"]])
    else:
        group = np.searchsorted(plan.subgroup_edges, u[:, _COLUMN["subgroup"]], side="right")
        progression = np.empty(_PATIENT_CHUNK)
        for index, model in enumerate(plan.progression_models):
            chosen = group == index
            progression[chosen] = model.times_from_uniforms(u[chosen, _COLUMN["progression"]])
    never = [math.inf] * _PATIENT_CHUNK

    def latent(model: TimeToEventModel | None, column: str) -> list[float]:
        return never if model is None else model.times_from_uniforms(u[:, _COLUMN[column]]).tolist()

    return _PatientDraws(
        screen_failed=(u[:, _COLUMN["screen_failure"]] < plan.screen_failure_prob).tolist(),
        withdrew=(u[:, _COLUMN["withdrawal"]] < plan.withdrawal_prob).tolist(),
        progression_days=progression.tolist(),
        death_days=latent(plan.death, "death"),
        dropout_days=latent(plan.dropout, "dropout"),
        clinical=(u[:, _COLUMN["clinical_progression"]] < plan.clinical_progression_prob).tolist(),
        responder=(u[:, _COLUMN["response"]] < plan.response_prob).tolist(),
    )


@dataclass
class _Patient:
    patient_id: int
    registration_day: float
    status: str
    start_day: float = math.inf
    latent_progression_day: float = math.inf
    observed_progression_day: float = math.inf  # when it will be seen, if followed that long
    death_day: float = math.inf
    dropout_day: float = math.inf
    responder: bool = False
    end_day: float = math.inf  # follow-up ends: progression seen, death or dropout
    end_kind: str = ""
    cycle_start_days: list[float] = field(default_factory=list)
    scan_days: list[float] = field(default_factory=list)
    ended: bool = False
    done: simpy.Event | None = None

    def scan_result(self, day: float) -> str:
        if day == self.observed_progression_day:
            return records.PROGRESSIVE
        return records.RESPONSE if self.responder else records.STABLE

    def record(self, cut_day: float) -> records.PatientRecord:
        """What happened to this patient by `cut_day` (the simulation's last day)."""

        def day_if(kind: str) -> float:
            return self.end_day if self.ended and self.end_kind == kind else math.inf

        cycles = tuple(day for day in self.cycle_start_days if day <= cut_day)
        scans = tuple(day for day in self.scan_days if day <= cut_day)
        return records.PatientRecord(
            patient_id=self.patient_id,
            registration_day=self.registration_day,
            status=self.status,
            treatment_start_day=self.start_day,
            latent_progression_day=self.latent_progression_day,
            progression_day=day_if("progression"),
            death_day=day_if("death"),
            dropout_day=day_if("dropout"),
            cycle_start_days=cycles,
            scan_days=scans,
            scan_results=tuple(self.scan_result(day) for day in scans),
            responder=self.responder,
        )


class _TrialRun:
    def __init__(self, plan: TrialPlan, streams: ReplicateStreams, trace: bool):
        self.plan = plan
        self.streams = streams
        self.trace = trace
        self.env = simpy.Environment()
        self.patients: list[_Patient] = []
        self.events: list[records.TraceEvent] = []
        self.treated = 0
        self.last_start_day = 0.0
        self.accrual_closed_day = 0.0
        self.closed_early = False
        self.analysis_day = 0.0

    def log(self, day: float, patient_id: int, event: str, detail: str = "") -> None:
        self.events.append(records.TraceEvent(day, patient_id, event, detail))

    def accrual(self):
        plan, env = self.plan, self.env
        draws = None
        for day in plan.accrual.arrival_days(self.streams.accrual):
            if day > plan.accrual_deadline_day:
                yield env.timeout(plan.accrual_deadline_day - env.now)
                self.closed_early = True
                break
            yield env.timeout(day - env.now)
            index = len(self.patients) % _PATIENT_CHUNK
            if index == 0:
                draws = _draw_patients(plan, self.streams.patients)
            self.register(day, draws, index)
            if self.treated == plan.target_n:
                break
        else:  # the accrual model stopped registering patients for good
            self.closed_early = True
        self.accrual_closed_day = env.now

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
        plan = self.plan
        latent = day + draws.progression_days[index]
        if plan.continuous_assessment or draws.clinical[index]:
            observed = latent
        else:
            scans_needed = math.ceil((latent - day) / plan.scan_interval_days)
            observed = day + scans_needed * plan.scan_interval_days
        patient = _Patient(
            patient_id,
            day,
            records.TREATED,
            start_day=day,
            latent_progression_day=latent,
            observed_progression_day=observed,
            death_day=day + draws.death_days[index],
            dropout_day=day + draws.dropout_days[index],
            responder=draws.responder[index] and plan.scan_interval_days < math.inf,
            done=self.env.event(),
        )
        patient.end_day, patient.end_kind = min(
            (patient.death_day, "death"),
            (observed, "progression"),
            (patient.dropout_day, "dropout"),
        )
        self.patients.append(patient)
        self.treated += 1
        self.last_start_day = day
        self.env.process(self.follow(patient))

    def follow(self, patient: _Patient):
        """From the start of treatment until progression, death or dropout.

        Nothing is decided at a visit yet, so the visits are laid out at once and the process
        waits for the end of follow-up; `record` keeps only what happened by the data cut.
        """
        cycles, scans = visit_schedule(
            patient.start_day, patient.end_day, self.plan.cycle_days, self.plan.scan_interval_days
        )
        patient.cycle_start_days = cycles
        patient.scan_days = scans
        if self.trace:
            self.log(patient.start_day, patient.patient_id, "treatment_start")
            for number, day in enumerate(cycles, start=1):
                self.log(day, patient.patient_id, "cycle_start", f"cycle {number}")
            for day in scans:
                self.log(day, patient.patient_id, "scan", patient.scan_result(day))
        if patient.end_day < math.inf:
            yield self.env.timeout(patient.end_day - self.env.now)
            self.finish(patient)

    def finish(self, patient: _Patient) -> None:
        patient.ended = True
        if self.trace:
            detail = ""
            if patient.end_kind == "progression":
                on_scan = patient.end_day in patient.scan_days
                detail = "at scan" if on_scan else "clinical"
            self.log(patient.end_day, patient.patient_id, patient.end_kind, detail)
        patient.done.succeed()

    def controller(self):
        yield self.env.process(self.accrual())
        treated = [p for p in self.patients if p.done is not None]
        if treated:
            # A trial closed at its deadline long after its last start is analysed on closing.
            analysis_day = max(self.last_start_day + self.plan.follow_up_days, self.env.now)
            still_followed = [p.done for p in treated if not p.ended]
            yield self.env.any_of(
                [self.env.timeout(analysis_day - self.env.now), self.env.all_of(still_followed)]
            )
        self.analysis_day = self.env.now

    def run(self) -> records.TrialRecord:
        self.env.run(until=self.env.process(self.controller()))
        if self.trace:
            self.events = [e for e in self.events if e.day <= self.analysis_day]
            for patient in self.patients:
                if patient.done is not None and not patient.ended:
                    self.log(self.analysis_day, patient.patient_id, "censored", "data cut")
            order = {name: rank for rank, name in enumerate(records.EVENT_ORDER)}
            self.events.sort(key=lambda e: (e.day, e.patient_id, order[e.event]))
        return records.TrialRecord(
            patients=tuple(p.record(self.analysis_day) for p in self.patients),
            target_n=self.plan.target_n,
            accrual_closed_day=self.accrual_closed_day,
            closed_early=self.closed_early,
            analysis_day=self.analysis_day,
            events=tuple(self.events),
        )


def visit_schedule(
    start_day: float, end_day: float, cycle_days: float, scan_interval_days: float
) -> tuple[list[float], list[float]]:
    """(cycle start days, scan days) from `start_day` until follow-up ends on `end_day`.

    Scans count from the start of treatment. A scan on `end_day` is the one that sees the
    progression; a cycle due on `end_day` is not given (the scan is read first).
    """
    cycles = []
    number = 0
    day = start_day
    while day < end_day:
        cycles.append(day)
        number += 1
        day = start_day + number * cycle_days
    scans = []
    number = 1
    day = start_day + scan_interval_days
    while day <= end_day:
        scans.append(day)
        number += 1
        day = start_day + number * scan_interval_days
    return cycles, scans


def simulate_trial(plan: TrialPlan, streams: ReplicateStreams, trace: bool = False):
    """Run one replicate; `trace` also keeps every event for `trialsim trace`."""
    return _TrialRun(plan, streams, trace).run()
