"""Dose holds, reductions and discontinuation as a pure state machine; dose intensity.

How a cycle goes (issue 4):

- The cycle's AEs (one highest grade per AE type, sim.toxicity) show on one day of the cycle, its
  onset day, drawn uniformly over the cycle from the patient's onset uniform. The decision is
  taken that day (the reference trial examined patients weekly in cycle 1, then at each cycle
  start; patients report symptoms in between: DOMAIN.md section 1). The same onset day can serve
  as a DLT's day in a TITE-CRM window.
- `ModificationPolicy.decide(state, grades, recovery_uniforms) -> Decision`. For each drug, each
  AE graded > 0 is handled by the first rule in the policy's order that names the drug and
  matches the AE (by name, or by class among the AEs attributed to that drug) at that grade, as in
  a protocol's table, specific rows first. A rule fires at most once a cycle, however many AEs it
  handles; its occurrences are counted over the patient's course.
- "hold": the drug is held from the onset day until the AE has recovered to `recover_to_grade`,
  a recovery time drawn from the rule's distribution with the drug's recovery uniform for that
  cycle (so two policies see the same patients). If several rules hold a drug, the longest wins.
  From the rule's `reduce_from_occurrence`-th firing on, the drug resumes one level lower.
  A daily drug resumes inside the cycle if it has recovered before the cycle ends; the next cycle
  starts when every held drug has recovered, and never before it is due, so a hold that outlasts
  the cycle delays the next cycle for every drug (a daily drug that is not held is taken through
  the delay; a day-1 drug waits for the cycle). Scans keep their calendar: that is the engine's.
- "reduce": one level lower from the onset day, no hold. "discontinue": the drug stops that day.
- A drug is discontinued when a reduction would take it below its lowest level or beyond its
  `max_reductions`, or when a hold would last longer than its `max_hold_days` (it is then held for
  `max_hold_days` and stopped). Stopping a `required` drug, or the last drug, ends treatment.
- Levels never rise: a patient's dose stays within [lowest level, assigned level] or is stopped.

`run_course` applies this to one patient from the first cycle to the end of treatment, without
simpy: the engine (which knows when progression is seen) may call it, and the tests use it as
their trial driver. It runs in a small C extension, sim._course (sim/_course.c), built with the
package: the Python state machine cost most of the AE model's time (issue 4's budget).
`run_course_python` is the same computation in Python, kept as the reference the tests compare
the kernel with, field by field. `relative_dose_intensity` reads the `DosePeriod` history it
returns, and `rdi_so_far` the same RDI as it grows cycle by cycle (the engine's exposure-response
link). `course_summary` is what a patient's record reads of a course; the kernel computes it
without making the Course (`Kernel.summary`), as the engine does unless it traces.
"""

from __future__ import annotations

import enum
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from sim import _course
from sim.toxicity import GRADES, ToxicityModel, grades_from_thresholds

AE_CLASSES = ("any", "haematologic", "non-haematologic")
RULE_ACTIONS = ("hold", "reduce", "discontinue")


@dataclass(frozen=True)
class RecoveryTime:
    """Days from the AE's onset until it has recovered: Weibull with median `median_days` and
    shape `shape` (1: exponential), drawn by its inverse distribution function."""

    median_days: float
    shape: float = 1.0
    # Weibull scale and 1 / shape, computed once: `days` runs at every hold.
    _scale: float = field(init=False, repr=False, compare=False)
    _inverse_shape: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (self.median_days > 0 and self.shape > 0):
            raise ValueError(f"recovery median_days and shape must be > 0, got {self}")
        object.__setattr__(self, "_inverse_shape", 1.0 / self.shape)
        object.__setattr__(self, "_scale", self.median_days / math.log(2.0) ** (1.0 / self.shape))

    def days(self, uniform: float) -> float:
        return self._scale * (-math.log1p(-uniform)) ** self._inverse_shape

    def survival(self, days: float) -> float:
        """P(recovery takes longer than `days`)."""
        return math.exp(-((days / self._scale) ** self.shape))


@dataclass(frozen=True)
class ModificationRule:
    """One row of a protocol's dose-modification table.

    When `ae` (an AE type's name, or a class: "any", "haematologic", "non-haematologic" among the
    AEs attributed to `drug`) reaches grade >= `min_grade` in a cycle, `action` `drug`: "hold" until
    grade <= `recover_to_grade` (taking `recovery` days; the grade is the rule's label, grades are
    not followed during a hold), then resume at the same level, or one level lower from the
    `reduce_from_occurrence`-th time this rule fires (1: every time; None: never); "reduce" one
    level from the AE's onset, no hold; "discontinue" the drug on that day.
    """

    drug: str
    ae: str
    min_grade: int
    action: str = "hold"
    recovery: RecoveryTime | None = None
    recover_to_grade: int = 1
    reduce_from_occurrence: int | None = None

    def __post_init__(self) -> None:
        if self.action not in RULE_ACTIONS:
            raise ValueError(f"rule action must be one of {RULE_ACTIONS}, got {self.action!r}")
        if self.min_grade not in range(1, GRADES + 1):
            raise ValueError(f"rule min_grade must be 1-4, got {self.min_grade}")
        if self.action == "hold":
            if self.recovery is None:
                raise ValueError(f"a hold rule needs a recovery time: {self}")
            if not 0 <= self.recover_to_grade < self.min_grade:
                raise ValueError(f"recover_to_grade must be in [0, min_grade): {self}")
        if self.reduce_from_occurrence is not None and self.reduce_from_occurrence < 1:
            raise ValueError(f"reduce_from_occurrence must be >= 1 or None: {self}")


class DrugAction(enum.Enum):
    CONTINUE = "continue"  # nothing changes
    REDUCE = "reduce"  # one level lower from the onset day, no hold
    HOLD = "hold"  # held from the onset day; resumes (maybe one level lower) on recovery
    DISCONTINUE = "discontinue"  # stopped on the onset day (or at the end of a hold too long)
    OFF = "off"  # stopped in an earlier cycle


class DoseState(NamedTuple):
    """A patient's doses. `levels[d]`: drug d's level from now on (None: discontinued; once
    `off_treatment`, the level a drug still going had when treatment ended); `assigned`: the
    levels treatment started at; `occurrences`: times each rule has fired.
    (Named tuples here and in `Decision`: one is built at every event of every patient.)"""

    levels: tuple[int | None, ...]
    assigned: tuple[int, ...]
    reductions: tuple[int, ...]
    occurrences: tuple[int, ...]
    holds: int = 0  # cycles in which some drug was held
    off_treatment: bool = False  # a rule ended treatment (progression etc. are the engine's)

    @property
    def reduced(self) -> bool:
        return any(self.reductions)

    @property
    def discontinued(self) -> tuple[bool, ...]:
        return tuple(level is None for level in self.levels)


class Decision(NamedTuple):
    """What a cycle's AEs lead to, from their onset day.

    `actions[d]`, `hold_days[d]`: drug d is held that many days from the onset (for a discontinued
    drug: held that long before it stopped, the hold limit; 0: stopped at once) and then goes on
    at `state.levels[d]`. If `state.off_treatment`, treatment ends `off_after_days` after the
    onset. `fired`: indices of the rules that fired.
    """

    actions: tuple[DrugAction, ...]
    hold_days: tuple[float, ...]
    fired: tuple[int, ...]
    state: DoseState
    off_after_days: float = 0.0

    @property
    def held(self) -> bool:
        return any(days > 0 for days in self.hold_days)

    @property
    def longest_hold_days(self) -> float:
        return max(self.hold_days)


@dataclass(frozen=True)
class ModificationPolicy:
    """The rules of a regimen, compiled against its toxicity model."""

    model: ToxicityModel
    rules: tuple[ModificationRule, ...]
    # _rule_for[d][a][g]: the index of the first rule for drug d handling AE a at grade g, or -1.
    _rule_for: tuple = field(init=False, repr=False, compare=False)
    # first_trigger[a]: the lowest grade of AE a that any rule handles (5: none). Most cycles
    # have no AE that high, and `run_course` settles them without asking `decide`.
    first_trigger: tuple = field(init=False, repr=False, compare=False)
    _quiet: dict = field(init=False, repr=False, compare=False)  # actions when nothing happens
    _starts: dict = field(init=False, repr=False, compare=False)
    daily: tuple = field(init=False, repr=False, compare=False)  # per drug: schedule "daily"
    _quiet_thresholds: dict = field(init=False, repr=False, compare=False)
    _no_holds: tuple = field(init=False, repr=False, compare=False)
    _fired: dict = field(init=False, repr=False, compare=False)  # grades -> rules per drug
    # The tables above for the compiled run_course (sim/_course.c), built once. kernel.run(state,
    # rows, rows, start_day, end_day, cycle_days) is run_course without its checks, for a caller
    # (the engine) that gives `start`'s state and a C-contiguous float64 array of enough rows.
    kernel: _course.Kernel = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        model = self.model
        names = {ae.name for ae in model.ae_types}
        for rule in self.rules:
            if rule.drug not in {d.name for d in model.drugs}:
                raise ValueError(f"rule for unknown drug {rule.drug!r}")
            if rule.ae not in names and rule.ae not in AE_CLASSES:
                raise ValueError(
                    f"rule AE {rule.ae!r} is neither an AE type {sorted(names)} nor a class"
                    f" {AE_CLASSES}"
                )
        table = []
        for d, drug in enumerate(model.drugs):
            per_ae = []
            for a, ae in enumerate(model.ae_types):
                per_grade = [-1]  # grade 0: nothing to handle
                for grade in range(1, GRADES + 1):
                    chosen = -1
                    for r, rule in enumerate(self.rules):
                        if (
                            rule.drug == drug.name
                            and grade >= rule.min_grade
                            and _matches(rule.ae, ae.name, ae.haematologic, model.drug_of(a) == d)
                        ):
                            chosen = r
                            break
                    per_grade.append(chosen)
                per_ae.append(tuple(per_grade))
            table.append(tuple(per_ae))
        object.__setattr__(self, "_rule_for", tuple(table))
        first = []
        for a in range(model.n_ae):
            handled = [g for g in range(1, GRADES + 1) if any(t[a][g] >= 0 for t in table)]
            first.append(min(handled, default=GRADES + 1))
        object.__setattr__(self, "first_trigger", tuple(first))
        object.__setattr__(self, "_quiet", {})
        object.__setattr__(self, "_starts", {})
        object.__setattr__(self, "daily", tuple(d.schedule == "daily" for d in model.drugs))
        object.__setattr__(self, "_quiet_thresholds", {})
        object.__setattr__(self, "_no_holds", (0.0,) * len(model.drugs))
        object.__setattr__(self, "_fired", {})
        object.__setattr__(self, "kernel", _kernel_for(self))

    @property
    def n_drugs(self) -> int:
        return len(self.model.drugs)

    def _quiet_actions(self, levels: tuple[int | None, ...]) -> tuple[DrugAction, ...]:
        actions = self._quiet.get(levels)
        if actions is None:
            actions = tuple(DrugAction.OFF if lv is None else DrugAction.CONTINUE for lv in levels)
            self._quiet[levels] = actions
        return actions

    @property
    def uniforms_per_cycle(self) -> int:
        """Columns of a patient's uniforms per cycle: one per AE type (its grade), one for the
        onset day, then one per drug (its recovery time)."""
        return self.model.n_ae + 1 + self.n_drugs

    def start(self, assigned_levels: Sequence[int]) -> DoseState:
        """The state before cycle 1, each drug at its assigned (0-based) level."""
        state = self._starts.get(assigned_levels)  # a tuple of ints seen before: at once
        if state is not None:
            return state
        assigned = tuple(int(level) for level in assigned_levels)
        state = self._starts.get(assigned)
        if state is None:
            for level, drug in zip(assigned, self.model.drugs, strict=True):
                if not 0 <= level < drug.levels:
                    raise ValueError(
                        f"{drug.name}: assigned level {level} not in 0..{drug.levels - 1}"
                    )
            zeros = (0,) * self.n_drugs
            state = DoseState(assigned, assigned, zeros, (0,) * len(self.rules))
            self._starts[assigned] = state
        return state

    def quiet_thresholds(self, levels: tuple[int | None, ...], cycle: int) -> tuple[float, ...]:
        """Per AE type, P(grade >= the lowest grade some rule handles) in this cycle at `levels`:
        a cycle whose every AE uniform is at or above these has nothing for `decide` to act on."""
        key = (levels, cycle)
        found = self._quiet_thresholds.get(key)
        if found is None:
            tails = self.model.thresholds(levels, cycle)
            found = tuple(
                tail[first - 1] if first <= GRADES else 0.0
                for tail, first in zip(tails, self.first_trigger, strict=True)
            )
            self._quiet_thresholds[key] = found
        return found

    def _fired_by_drug(self, grades: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
        """Per drug, the rules that these grades fire, in the order first met (AE order); the
        same whatever the state, so computed once per combination of grades."""
        fired = self._fired.get(grades)
        if fired is None:
            per_drug = []
            for handlers in self._rule_for:
                rules: list[int] = []
                for a, grade in enumerate(grades):
                    r = handlers[a][grade]
                    if r >= 0 and r not in rules:
                        rules.append(r)
                per_drug.append(tuple(rules))
            fired = self._fired[grades] = tuple(per_drug)
        return fired

    def decide(
        self, state: DoseState, grades: Sequence[int], recovery_uniforms: Sequence[float]
    ) -> Decision:
        """The decision on a cycle's onset day, the cycle given at `state.levels` with these grades
        (one per AE type), from one recovery uniform per drug."""
        if state.off_treatment:
            raise ValueError("treatment has ended; there is no next cycle to decide")
        fired_by_drug = self._fired_by_drug(tuple(grades))
        state_levels = state.levels
        acting = zip(fired_by_drug, state_levels, strict=True)
        if not any(rules and level is not None for rules, level in acting):
            # no rule fires, or only rules for drugs already stopped: nothing changes
            return Decision(self._quiet_actions(state_levels), self._no_holds, (), state)
        drugs = self.model.drugs
        n_drugs = len(drugs)
        levels = list(state_levels)
        reductions = list(state.reductions)
        occurrences = list(state.occurrences)
        actions = list(self._quiet_actions(state_levels))
        hold_days = [0.0] * n_drugs
        fired_all: list[int] = []
        stopped: list[int] = []
        for d, fired in enumerate(fired_by_drug):
            if not fired or levels[d] is None:
                continue
            drug = drugs[d]
            fired_all.extend(fired)
            days = 0.0
            discontinue = reduce = False
            for r in fired:
                occurrences[r] += 1
                rule = self.rules[r]
                if rule.action == "discontinue":
                    discontinue = True
                elif rule.action == "reduce":
                    reduce = True
                else:
                    days = max(days, rule.recovery.days(recovery_uniforms[d]))
                    if rule.reduce_from_occurrence is not None:
                        reduce = reduce or occurrences[r] >= rule.reduce_from_occurrence
            if discontinue:
                actions[d], levels[d] = DrugAction.DISCONTINUE, None
                stopped.append(d)
                continue
            if days > drug.max_hold_days:  # held up to the limit, then stopped
                actions[d], levels[d] = DrugAction.DISCONTINUE, None
                hold_days[d] = drug.max_hold_days
                stopped.append(d)
                continue
            if reduce and (levels[d] == 0 or reductions[d] >= drug.reductions_allowed):
                actions[d], levels[d] = DrugAction.DISCONTINUE, None  # below lowest / too many
                stopped.append(d)
                continue
            if reduce:
                levels[d] -= 1
                reductions[d] += 1
            hold_days[d] = days
            if days > 0:
                actions[d] = DrugAction.HOLD
            else:
                actions[d] = DrugAction.REDUCE if reduce else DrugAction.CONTINUE
        off_after = 0.0
        off = False
        if stopped:
            ended_by = [d for d in stopped if drugs[d].required]
            off = bool(ended_by) or all(level is None for level in levels)
        if off:
            # Treatment ends with the first reason to end it; the drugs still going are taken
            # (or held, or resumed) as decided until then, and stop with it.
            off_after = (
                min(hold_days[d] for d in ended_by)
                if ended_by
                else max(hold_days[d] for d in stopped)
            )
            for d in range(n_drugs):
                hold_days[d] = min(hold_days[d], off_after)
        new_state = DoseState(
            tuple(levels),
            state.assigned,
            tuple(reductions),
            tuple(occurrences),
            state.holds + (max(hold_days) > 0),
            off,
        )
        if len(fired_all) > 1:
            fired_all.sort()  # a rule belongs to one drug: no duplicates across drugs
        return Decision(tuple(actions), tuple(hold_days), tuple(fired_all), new_state, off_after)


_RULE_ACTION_CODES = {"hold": 0, "reduce": 1, "discontinue": 2}  # as sim/_course.c numbers them


def _kernel_for(policy: ModificationPolicy) -> _course.Kernel:
    """The policy's tables as the C kernel reads them: per drug its schedule, `required`,
    reductions allowed and `max_hold_days`; per rule its action, its recovery time's Weibull scale
    and 1 / shape, and `reduce_from_occurrence` (-1: None); `_rule_for` flattened; the model's
    P(grade >= g) (`ToxicityModel.tail_table`, the numbers `thresholds` gives); the named tuples it
    builds and the DrugAction members it uses."""
    rules = []
    for rule in policy.rules:
        if rule.action == "hold":
            if not isinstance(rule.recovery, RecoveryTime):
                raise TypeError(f"a hold rule's recovery must be a RecoveryTime: {rule}")
            recovery = (rule.recovery._scale, rule.recovery._inverse_shape)
        else:
            recovery = (0.0, 0.0)  # not used: only holds take a recovery time
        occurrence = -1 if rule.reduce_from_occurrence is None else rule.reduce_from_occurrence
        rules.append((_RULE_ACTION_CODES[rule.action], *recovery, occurrence))
    model = policy.model
    return _course.Kernel(
        model.n_ae,
        tuple(model.drug_of(a) for a in range(model.n_ae)),
        tuple(
            (d.schedule == "daily", d.required, d.reductions_allowed, d.max_hold_days)
            for d in model.drugs
        ),
        tuple(rules),
        tuple(r for per_ae in policy._rule_for for per_grade in per_ae for r in per_grade),
        policy.first_trigger,
        np.ascontiguousarray(model.tail_table(), dtype=np.float64),
        (DoseState, Decision, DosePeriod, Course, CourseSummary),
        (
            DrugAction.CONTINUE,
            DrugAction.REDUCE,
            DrugAction.HOLD,
            DrugAction.DISCONTINUE,
            DrugAction.OFF,
        ),
    )


def _matches(selector: str, name: str, haematologic: bool, attributed_to_drug: bool) -> bool:
    if selector == name:
        return True
    if not attributed_to_drug:
        return False
    return (
        selector == "any"
        or (selector == "haematologic" and haematologic)
        or (selector == "non-haematologic" and not haematologic)
    )


# ---------------------------------------------------------------------------------------------
# Dose history and relative dose intensity.
# ---------------------------------------------------------------------------------------------


class DosePeriod(NamedTuple):
    """Days [start_day, end_day) of one drug at `level` (None: not given, a hold).

    A given period of a day-1 drug is one or more back-to-back cycles: one administration at the
    start of each, `administrations(cycle_days)` in all. (A named tuple: a patient makes a few of
    these at every event, and a tuple is several times cheaper to build than a dataclass.)
    """

    start_day: float
    end_day: float
    level: int | None

    def administrations(self, cycle_days: float) -> int:
        """Cycle starts in the period; the tolerance absorbs rounding in day + n * cycle_days."""
        return math.ceil((self.end_day - self.start_day) / cycle_days - 1e-9)


def relative_dose_intensity(
    drug, assigned_level: int, periods: Sequence[DosePeriod], cycle_days: float
) -> float:
    """Doses taken over doses planned at `assigned_level` over the drug's time on treatment.

    The time on treatment runs from the first dose to the end of the last period (holds inside or
    at the end included: days the protocol meant the drug to be taken). A day-1 drug's planned
    doses are that time over `cycle_days`, the time running at least one cycle past the last dose
    (Lyman's convention), so a course without delays or reductions has RDI 1. NaN if never given.
    """
    given = [p for p in periods if p.level is not None]
    if not given:
        return math.nan
    first = given[0].start_day
    end = periods[-1].end_day
    planned_dose = drug.dose_levels[assigned_level]
    if drug.schedule == "daily":
        taken = sum(drug.dose_levels[p.level] * (p.end_day - p.start_day) for p in given)
        planned = planned_dose * (end - first)
    else:
        counts = [p.administrations(cycle_days) for p in given]
        taken = sum(drug.dose_levels[p.level] * n for p, n in zip(given, counts, strict=True))
        last_dose = given[-1].start_day + (counts[-1] - 1) * cycle_days
        planned = planned_dose * (max(end, last_dose + cycle_days) - first) / cycle_days
    return taken / planned if planned > 0 else math.nan


def rdi_so_far(
    drug,
    assigned_level: int,
    periods: Sequence[DosePeriod],
    cycle_start_days: Sequence[float],
    off_day: float | None,
    cycle_days: float,
) -> list[tuple[float, float]]:
    """The RDI of the treatment given so far, as (day, r) steps for a time-varying exposure.

    r = 1 from the first cycle's start (no dose missed yet); from each later cycle's start, the
    RDI (`relative_dose_intensity`) of the doses given before that day; from `off_day`, the day a
    rule ended treatment (None: it did not), the whole history's RDI, which then holds: the RDI the
    trial reports. A drug stopped while the others go on keeps the r it had (its time on
    treatment ended with it: stopping is not counted as doses missed), and a cut before any dose
    (NaN) keeps the previous r. `periods` and `cycle_start_days` come from a `Course` run at least
    as far as the steps are needed.
    """
    steps = [(cycle_start_days[0], 1.0)]
    cuts = list(cycle_start_days[1:])
    if off_day is not None:
        cuts.append(off_day)
    if all(period.level == assigned_level for period in periods):  # most patients: nothing missed
        return steps + [(cut, 1.0) for cut in cuts]
    for cut in cuts:
        before = []
        for period in periods:
            if period.start_day >= cut:
                break
            before.append(
                period if period.end_day <= cut else period._replace(end_day=cut)
            )
        if before and all(period.level == assigned_level for period in before):
            r = 1.0  # every dose as planned: exactly 1, not a ratio of sums off by a rounding
        elif before:
            r = relative_dose_intensity(drug, assigned_level, before, cycle_days)
        else:
            r = math.nan
        steps.append((cut, steps[-1][1] if math.isnan(r) else r))
    return steps


# ---------------------------------------------------------------------------------------------
# One patient's course.
# ---------------------------------------------------------------------------------------------


class Course(NamedTuple):
    """One patient's treatment.

    Per cycle given: its start day and the levels given. `highest_grades`: per AE type, the
    highest grade over the course (the trial's AE table). `decisions`: (cycle number, decision)
    for the cycles in which a rule fired. `periods`: per drug, the dose history
    `relative_dose_intensity` reads. `uniform_rows`: the rows given, one per cycle and any more
    (the array when `run_course` was given one: kept, not cut, for one object less to make), from
    which `onset_days` and `grades_by_cycle` give each cycle's details. `cycle_days`: the cycle
    length the course was run with.
    """

    cycle_start_days: tuple[float, ...]
    levels: tuple[tuple[int | None, ...], ...]
    highest_grades: tuple[int, ...]
    decisions: tuple[tuple[int, Decision], ...]
    periods: tuple[tuple[DosePeriod, ...], ...]
    end_day: float  # treatment ended: the engine's end day, or earlier if a rule ended it
    state: DoseState
    uniform_rows: tuple[Sequence[float], ...] | np.ndarray
    cycle_days: float

    def _rows(self) -> list:
        """The rows of the cycles given."""
        rows = self.uniform_rows[: len(self.cycle_start_days)]
        return rows.tolist() if isinstance(rows, np.ndarray) else list(rows)

    def onset_days(self, model: ToxicityModel) -> list[float]:
        """The day each cycle's AEs showed; on or after `end_day` they did not happen (except on
        it when a rule ended treatment then: `grades_by_cycle`)."""
        column = model.n_ae
        return [
            start + row[column] * self.cycle_days
            for start, row in zip(self.cycle_start_days, self._rows(), strict=True)
        ]

    def grades_by_cycle(self, model: ToxicityModel) -> list[list[int]]:
        """Each cycle's grades per AE type (zeros for AEs that did not happen); cycle 1's decide
        a DLT. A rule that ended treatment at its AE's onset ends it on that day: those AEs
        happened."""
        n_ae = model.n_ae
        end, stopped = self.end_day, self.state.off_treatment
        return [
            model.grades(row[:n_ae], levels, number)
            if onset < end or (stopped and onset <= end) else [0] * n_ae
            for number, (row, levels, onset) in enumerate(
                zip(self._rows(), self.levels, self.onset_days(model), strict=True), start=1
            )
        ]

    @property
    def held(self) -> bool:
        """Some dose was held (a hold that began before treatment ended; a day-1 drug's hold
        that is over before its next dose is due holds no dose and does not count)."""
        if not self.decisions:  # most courses: every dose as assigned
            return False
        return any(p.level is None for drug in self.periods for p in drug)

    @property
    def reduced(self) -> bool:
        """Some drug was given below its assigned level (a reduction decided but never given,
        because treatment ended during the hold, does not count)."""
        if not self.decisions:
            return False
        assigned = self.state.assigned
        return any(
            p.level is not None and p.level < assigned[d]
            for d, drug in enumerate(self.periods)
            for p in drug
        )

    @property
    def off_for_toxicity(self) -> bool:
        return self.state.off_treatment


class CourseSummary(NamedTuple):
    """What a patient's record reads of a course (`course_summary`): its cycle starts, highest
    grades, whether a rule ended treatment, dose held, reduced, and one drug's RDI."""

    cycle_start_days: tuple[float, ...]
    highest_grades: tuple[int, ...]
    off_treatment: bool
    held: bool
    reduced: bool
    rdi: float


def course_summary(course: Course, drug_index: int, drug) -> CourseSummary:
    """The summary of `course`, with the RDI of drug `drug_index`, `drug`. The kernel's
    `summary(state, uniforms, start_day, end_day, cycle_days, drug_index, doses)` gives it for
    `run`'s arguments without making the Course (its periods and decisions): the same values,
    tested; the engine's way when it needs no more of a course than its record."""
    held, reduced, rdi = course_exposure(course, drug_index, drug)
    off = course.state.off_treatment
    return CourseSummary(course.cycle_start_days, course.highest_grades, off, held, reduced, rdi)


def course_exposure(course: Course, drug_index: int, drug) -> tuple[bool, bool, float]:
    """(`course.held`, `course.reduced`, `relative_dose_intensity` of drug `drug_index`, `drug`,
    at its assigned level): what a patient's record reports of the course, at once.

    Computed by sim._course (sim/_course.c), which reads the course as those two properties and
    that function do (the doses taken summed by Python's own sum()): the same values, tested. A
    course whose numbers are not floats and ints is read by them instead.
    """
    found = _course.exposure(course, drug_index, drug.dose_levels, drug.schedule == "daily")
    if found is NotImplemented:
        assigned = course.state.assigned[drug_index]
        rdi = relative_dose_intensity(drug, assigned, course.periods[drug_index], course.cycle_days)
        found = (course.held, course.reduced, rdi)
    return found


_DAY_TOLERANCE = 1e-9  # in cycles


def run_course(
    policy: ModificationPolicy,
    assigned_levels: Sequence[int],
    uniforms: Sequence[Sequence[float]] | np.ndarray,
    start_day: float,
    end_day: float,
    cycle_days: float,
) -> Course:
    """Treat one patient from `start_day` until `end_day` (the day progression is seen, death, ...)
    or until a rule ends treatment: `run_course_python`, computed by the C kernel sim._course.

    The same Course, field for field (==): the kernel follows the reference's loop and its
    floating-point operations in order (tests/test_course_kernel.py). Days are read as floats
    (the engine's are), so integer days give float days of equal value. `uniforms` is best a 2-D
    C-contiguous float64 array (the engine's, read in place); rows of numbers are read as the
    reference reads them, and other arrays are converted.
    """
    if not end_day > start_day:
        raise ValueError(f"end_day {end_day} must be after start_day {start_day}")
    if isinstance(uniforms, np.ndarray):
        table = kept = uniforms
    else:  # rows of numbers (the tests): Python floats, as the reference reads them
        kept = [[float(u) for u in row] for row in uniforms]
        table = np.array(kept, dtype=np.float64)
    if len(table) < math.ceil((end_day - start_day) / cycle_days):
        raise ValueError(f"{len(table)} rows of uniforms: too few for the days to {end_day}")
    state = policy.start(assigned_levels)
    kernel = policy.kernel
    course = kernel.run(state, table, kept, start_day, end_day, cycle_days)
    if course is NotImplemented:  # an array of another type or layout
        table = np.ascontiguousarray(table, dtype=np.float64)
        course = kernel.run(state, table, kept, start_day, end_day, cycle_days)
    return course


def run_course_python(
    policy: ModificationPolicy,
    assigned_levels: Sequence[int],
    uniforms: Sequence[Sequence[float]] | np.ndarray,
    start_day: float,
    end_day: float,
    cycle_days: float,
) -> Course:
    """Treat one patient from `start_day` until `end_day` (the day progression is seen, death, ...)
    or until a rule ends treatment. The reference implementation of `run_course`, which computes
    the same in C (sim/_course.c mirrors this function and `ModificationPolicy.decide`).

    A cycle is given if it starts before `end_day` (a scan on a cycle's due day is read first);
    its AEs happen if their onset day falls before `end_day`. `uniforms` (rows x
    `policy.uniforms_per_cycle`): row k - 1 is cycle k's, one per AE type, the onset, then one
    recovery uniform per drug; at least ceil((end_day - start_day) / cycle_days) rows (holds only
    make fewer cycles).

    Speed: most cycles have no AE that a rule handles. Those are found by comparing each AE's
    uniform with P(grade >= the lowest handled grade), and a run of them is settled at once: no
    decision, the next cycle on time, and for each AE the highest grade over the run is the grade
    of its smallest uniform (the grade falls as the uniform rises; thresholds are constant over
    the cycles after the model's cycle factors). Only cycles with a handled AE go to `decide`.
    The result is the same as deciding every cycle in turn (tested against that).
    """
    if not end_day > start_day:
        raise ValueError(f"end_day {end_day} must be after start_day {start_day}")
    model = policy.model
    n_ae, n_drugs = model.n_ae, policy.n_drugs
    cycle_rows = model.cycle_rows
    if isinstance(uniforms, np.ndarray):
        rows = uniforms.tolist()
    else:  # Python floats: numpy booleans from numpy scalars would add up as "or"
        rows = [[float(u) for u in row] for row in uniforms]
    if len(rows) < math.ceil((end_day - start_day) / cycle_days):
        raise ValueError(f"{len(rows)} rows of uniforms: too few for the days to {end_day}")
    state = policy.start(assigned_levels)
    daily = policy.daily
    thresholds = model.thresholds
    highest = [0] * n_ae  # from cycles graded one by one
    minima: dict = {}  # levels -> each AE's smallest uniform in uneventful cycles at them
    periods: list[list[DosePeriod]] = [[] for _ in range(n_drugs)]
    starts: list[float] = []
    levels_given: list[tuple[int | None, ...]] = []
    decisions: list[tuple[int, Decision]] = []
    lt = operator.lt
    ended = end_day
    day = start_day
    row = 0  # the next cycle's row; its cycle number is row + 1
    # Cycle days are sums of cycle lengths and holds; a cycle due within a rounding error of the
    # end day is due on it, and not given (the scan that day is read first).
    closing = end_day - _DAY_TOLERANCE * cycle_days
    while day < closing:
        levels = state.levels
        # cycles given if nothing happens
        left = math.ceil((end_day - day) / cycle_days - _DAY_TOLERANCE)
        given = row + left
        last_start = day + (left - 1) * cycle_days
        # The rows whose AEs happen: the last cycle's only if they show before the end.
        happen = given if last_start + rows[given - 1][n_ae] * cycle_days < end_day else given - 1
        event = row
        while event < happen and event + 1 < cycle_rows:  # cycles with their own factors
            if any(map(lt, rows[event], policy.quiet_thresholds(levels, event + 1))):
                break
            event += 1
        else:
            quiet = policy.quiet_thresholds(levels, cycle_rows)
            while event < happen and not any(map(lt, rows[event], quiet)):
                event += 1
        if event > row:  # uneventful cycles, back to back at the same levels
            _add_minima(minima, highest, model, rows, row, event, levels)
            n = event - row
            starts.extend([day + i * cycle_days for i in range(n)])
            levels_given.extend([levels] * n)
            _record_quiet(periods, levels, day, day + n * cycle_days, end_day)
            day += n * cycle_days
            row = event
        if event == happen:
            if happen < given:  # the last cycle, whose AEs would show after the end
                starts.append(day)
                levels_given.append(levels)
                _record_quiet(periods, levels, day, day + cycle_days, end_day)
                row += 1
            break
        values = rows[row]
        grades = grades_from_thresholds(values, thresholds(levels, row + 1))
        _raise_to(highest, grades)
        onset = day + values[n_ae] * cycle_days
        due = day + cycle_days
        starts.append(day)
        levels_given.append(levels)
        decision = policy.decide(state, grades, values[n_ae + 1 :])
        row += 1
        if not decision.fired:  # a handled grade, but for a drug already stopped
            _record_quiet(periods, levels, day, due, end_day)
            day = due
            continue
        decisions.append((row, decision))
        new = decision.state
        if new.off_treatment and onset + decision.off_after_days >= end_day:
            # The end (progression, death, dropout, the data cut) comes first, in the hold
            # before the rule would end treatment: it has not ended it.
            new = new._replace(off_treatment=False)
            next_day = end_day
        elif new.off_treatment:
            ended = next_day = onset + decision.off_after_days
        else:
            next_day = min(max(due, onset + decision.longest_hold_days), end_day)
        for d in range(n_drugs):
            if levels[d] is not None:
                _record_drug(
                    periods[d], daily[d], levels[d], new.levels[d], decision.actions[d],
                    day, onset, onset + decision.hold_days[d], due, next_day,
                )  # fmt: skip
        state = new
        if new.off_treatment:
            break
        day = next_day
    for levels, smallest in minima.items():
        _raise_to(highest, grades_from_thresholds(smallest, thresholds(levels, cycle_rows)))
    return Course(
        tuple(starts),
        tuple(levels_given),
        tuple(highest),
        tuple(decisions),
        tuple(map(tuple, periods)),
        ended,
        state,
        uniforms if isinstance(uniforms, np.ndarray) else tuple(rows),
        cycle_days,
    )


def _raise_to(highest: list[int], grades: list[int]) -> None:
    for a, grade in enumerate(grades):
        if grade > highest[a]:
            highest[a] = grade


def _add_minima(
    minima: dict,
    highest: list[int],
    model: ToxicityModel,
    rows: list,
    first: int,
    stop: int,
    levels: tuple[int | None, ...],
) -> None:
    """Account for the AEs of uneventful rows [first, stop) at `levels`: rows of cycles with their
    own factors are graded one by one; for the others keep each AE's smallest uniform at these
    levels, graded once at the end (the grade falls as the uniform rises)."""
    row = first
    n_ae = model.n_ae
    while row < stop and row + 1 < model.cycle_rows:
        _raise_to(highest, model.grades(rows[row][:n_ae], levels, row + 1))
        row += 1
    if row < stop:  # (map stops at the shortest argument: the AE columns)
        smallest = minima.get(levels, rows[row][:n_ae])
        minima[levels] = list(map(min, smallest, *rows[row:stop]))


def _record_quiet(
    periods: list[list[DosePeriod]],
    levels: tuple[int | None, ...],
    day: float,
    until: float,
    end_day: float,
) -> None:
    """Back-to-back uneventful cycles from `day` to `until`, cut at `end_day`: one period per
    drug given (a day-1 drug's holds one administration per cycle)."""
    stop = until if until < end_day else end_day
    for d, level in enumerate(levels):
        if level is not None:
            periods[d].append(DosePeriod(day, stop, level))


def _record_drug(
    periods: list[DosePeriod],
    daily: bool,
    level: int,
    new_level: int | None,
    action: DrugAction,
    start: float,
    onset: float,
    recovered: float,
    due: float,
    next_day: float,
) -> None:
    """One drug's periods from an eventful cycle's start to the next cycle's start (or the end):
    given until the onset, then held until `recovered`, then given at `new_level`; a day-1 drug
    is given once, on the first day, and waits for the next cycle. Cut at `next_day`."""
    if not daily:
        _add_period(periods, start, due, level, next_day)
        if action is DrugAction.DISCONTINUE:
            _add_period(periods, due, recovered, None, next_day)  # held past the due day
        else:
            _add_period(periods, due, next_day, None, next_day)
    elif action is DrugAction.CONTINUE:
        _add_period(periods, start, next_day, level, next_day)
    else:
        _add_period(periods, start, onset, level, next_day)
        _add_period(periods, onset, recovered, None, next_day)
        if action is not DrugAction.DISCONTINUE:
            _add_period(periods, recovered, next_day, new_level, next_day)


def _add_period(
    periods: list[DosePeriod], begin: float, finish: float, level: int | None, cut: float
) -> None:
    if finish > cut:
        finish = cut
    if finish > begin:
        periods.append(DosePeriod(begin, finish, level))
