"""Adverse events cycle by cycle: CTCAE grades per AE type, the DLT definition, closed forms.

The model (issue 4; parameters for the reference trial in docs/ae_calibration.md):

- A regimen is one or more `Drug`s, each with its own dose levels (0-based, lowest first).
- Each `AdverseEventType` is attributed to one drug. In every cycle in which that drug is given,
  the AE's highest CTCAE grade in the cycle is 0 (none) or 1-4 with probabilities
  `grade_probs_per_cycle` times a factor for the drug's level and a factor for the cycle number.
  Scaling every grade by the same factor keeps the grade mix of an AE the same at every level; it
  moves probability between "no AE" and "some AE" only. A cycle in which the drug is not given
  (it was discontinued) has no AE of that type. Grade 5 is not modelled: deaths are the engine's.
- Cycles are independent given the levels, and AE types are independent of each other: the
  closed forms below rest on both assumptions (real cytopenias cluster in the same patients; a
  26-patient table cannot tell how much).
- Grades come from uniforms by the inverse distribution function: grade >= g iff u < P(grade >= g).
  So a patient's uniform gives the same or a higher grade at a higher level (common random
  numbers, as in DESIGN.md: a DLT at dose d iff u < p_true[d]).

Pure and simpy-free. Each patient's uniforms are drawn up front (one per AE type and cycle);
`grades` turns a cycle's into grades, `sample_grades` many at once (numpy). Tables of
P(grade >= g) are built once per model and set of levels, so a cycle costs a dictionary lookup
and a few comparisons; sim.dose_modification.run_course grades only the cycles that need it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq

from sim.units import LN2

GRADES = 4  # CTCAE grades 1-4 (grade 5, death, is the engine's death model)
SCHEDULES = ("daily", "day1")  # taken every day / given on day 1 of each cycle


@dataclass(frozen=True)
class Drug:
    """One drug of the regimen and what may be done to its dose.

    `dose_levels` are the doses of one administration at each level, lowest first (ruxolitinib
    10, 15, 20, 25 mg bid; trastuzumab a single level, 6 mg/kg: DOMAIN.md section 1).
    `max_reductions`: reductions allowed before the next one discontinues the drug (None: as many
    as there are levels). `max_hold_days`: a hold longer than this discontinues the drug.
    `required`: stopping this drug ends all treatment (the study drug); stopping a drug that is
    not required leaves the others going (trastuzumab stopped for heart failure while ruxolitinib
    went on, DOMAIN.md section 1).
    """

    name: str
    schedule: str
    dose_levels: tuple[float, ...]
    dose_unit: str = ""
    max_reductions: int | None = None
    max_hold_days: float = math.inf
    required: bool = True

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"drug {self.name!r}: schedule must be one of {SCHEDULES}")
        levels = self.dose_levels
        if not levels or any(not dose > 0 for dose in levels) or list(levels) != sorted(levels):
            raise ValueError(
                f"drug {self.name!r}: dose_levels must be > 0 and increasing, got {levels}"
            )
        if self.max_reductions is not None and self.max_reductions < 0:
            raise ValueError(f"drug {self.name!r}: max_reductions must be >= 0")
        if not self.max_hold_days >= 0:
            raise ValueError(f"drug {self.name!r}: max_hold_days must be >= 0")

    @property
    def levels(self) -> int:
        return len(self.dose_levels)

    @property
    def reductions_allowed(self) -> int:
        full = self.levels - 1
        return full if self.max_reductions is None else min(self.max_reductions, full)


@dataclass(frozen=True)
class AdverseEventType:
    """An AE type and its per-cycle CTCAE grade probabilities.

    `grade_probs_per_cycle[g - 1]`: P(highest grade in a cycle = g), g = 1..4, at the drug's
    highest level in a cycle whose factor is 1. `level_multipliers[level]` scales them at each
    level of `drug` (empty: the same at every level). `cycle_factors[c - 1]` scales cycle c; the
    last factor holds for every later cycle (empty: 1 for all; [1.5, 1] is "cycle 1 1.5 times as
    likely"; increasing factors make a cumulative toxicity, decreasing ones an early one).
    """

    name: str
    haematologic: bool
    drug: str
    grade_probs_per_cycle: tuple[float, float, float, float]
    level_multipliers: tuple[float, ...] = ()
    cycle_factors: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        probs = self.grade_probs_per_cycle
        if len(probs) != GRADES or any(not 0 <= p <= 1 for p in probs):
            raise ValueError(f"AE {self.name!r}: grade_probs_per_cycle must be 4 values in [0, 1]")
        if any(not m >= 0 for m in (*self.level_multipliers, *self.cycle_factors)):
            raise ValueError(f"AE {self.name!r}: multipliers and cycle factors must be >= 0")
        worst = sum(probs) * max(self.level_multipliers, default=1.0)
        worst *= max(self.cycle_factors, default=1.0)
        if worst > 1 + 1e-12:
            raise ValueError(
                f"AE {self.name!r}: P(any grade) in a cycle reaches {worst:.4g} > 1 at the largest"
                " level multiplier and cycle factor"
            )

    def grade_probs(self, level: int | None, cycle: int) -> tuple[float, float, float, float]:
        """P(highest grade = g), g = 1..4, in cycle `cycle` (1-based) at `level` (None: the drug
        is not given)."""
        if level is None:
            return (0.0, 0.0, 0.0, 0.0)
        factor = self.level_multipliers[level] if self.level_multipliers else 1.0
        if self.cycle_factors:
            factor *= self.cycle_factors[min(cycle, len(self.cycle_factors)) - 1]
        return tuple(factor * p for p in self.grade_probs_per_cycle)

    def grade_tail(self, level: int | None, cycle: int) -> tuple[float, float, float, float]:
        """P(highest grade >= g), g = 1..4: the thresholds a uniform is compared with."""
        probs = self.grade_probs(level, cycle)
        return tuple(float(x) for x in np.cumsum(probs[::-1])[::-1])


def grades_from_thresholds(
    uniforms: Sequence[float], thresholds: Sequence[tuple[float, ...]]
) -> list[int]:
    """Per AE type, the grade a uniform reaches against its P(grade >= g), g = 1..4 (uniforms
    beyond the AE types, such as a cycle's onset and recovery columns, are ignored)."""
    return [
        (u < t1) + (u < t2) + (u < t3) + (u < t4)
        for u, (t1, t2, t3, t4) in zip(uniforms, thresholds, strict=False)
    ]


@dataclass(frozen=True)
class ToxicityModel:
    """The regimen's drugs and AE types; samples a cycle's grades from uniforms."""

    drugs: tuple[Drug, ...]
    ae_types: tuple[AdverseEventType, ...]
    # Derived at construction: index of each AE's drug; the cycle rows that differ (the longest
    # cycle_factors); thresholds per (levels, cycle row), filled on first use.
    _drug_of_ae: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _cycle_rows: int = field(init=False, repr=False, compare=False)
    _thresholds: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [d.name for d in self.drugs]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"drug names must be unique and at least one, got {names}")
        ae_names = [a.name for a in self.ae_types]
        if len(set(ae_names)) != len(ae_names):
            raise ValueError(f"AE type names must be unique, got {ae_names}")
        for ae in self.ae_types:
            if ae.drug not in names:
                raise ValueError(f"AE {ae.name!r} is attributed to {ae.drug!r}, not a drug {names}")
            levels = self.drugs[names.index(ae.drug)].levels
            if ae.level_multipliers and len(ae.level_multipliers) != levels:
                raise ValueError(
                    f"AE {ae.name!r}: {len(ae.level_multipliers)} level multipliers for the"
                    f" {levels} levels of {ae.drug!r}"
                )
        object.__setattr__(self, "_drug_of_ae", tuple(names.index(a.drug) for a in self.ae_types))
        rows = max((len(a.cycle_factors) for a in self.ae_types), default=1)
        object.__setattr__(self, "_cycle_rows", max(rows, 1))
        object.__setattr__(self, "_thresholds", {})

    @property
    def n_ae(self) -> int:
        return len(self.ae_types)

    @property
    def cycle_rows(self) -> int:
        """Cycles with their own thresholds: cycle c >= cycle_rows uses cycle_rows' (the longest
        `cycle_factors`; 1 when no AE has any)."""
        return self._cycle_rows

    def drug_index(self, name: str) -> int:
        for index, drug in enumerate(self.drugs):
            if drug.name == name:
                return index
        raise KeyError(name)

    def ae_index(self, name: str) -> int:
        for index, ae in enumerate(self.ae_types):
            if ae.name == name:
                return index
        raise KeyError(name)

    def drug_of(self, ae_index: int) -> int:
        return self._drug_of_ae[ae_index]

    def thresholds(self, levels: Sequence[int | None], cycle: int) -> tuple[tuple[float, ...], ...]:
        """Per AE type, P(grade >= g) for g = 1..4, with drug d at `levels[d]` (None: not given)."""
        key = (tuple(levels), min(cycle, self._cycle_rows))
        table = self._thresholds.get(key)
        if table is None:
            table = tuple(
                ae.grade_tail(key[0][self._drug_of_ae[i]], key[1])
                for i, ae in enumerate(self.ae_types)
            )
            self._thresholds[key] = table
        return table

    def grades(self, uniforms: Sequence[float], levels: Sequence[int | None], cycle: int) -> list:
        """One cycle's highest grade per AE type (0: none), from one uniform per AE type.

        `levels[d]` is drug d's level this cycle (None: not given); `cycle` is 1-based. Plain
        Python on purpose: for a handful of AE types it is several times faster than numpy.
        Uniforms must be Python floats: numpy booleans add up as a logical "or".
        """
        if isinstance(uniforms, np.ndarray):
            uniforms = uniforms.tolist()
        return grades_from_thresholds(uniforms, self.thresholds(levels, cycle))

    def sample_grades(
        self, uniforms: np.ndarray, levels: np.ndarray, cycles: np.ndarray
    ) -> np.ndarray:
        """Vectorised `grades`: uniforms (..., n_ae), levels (..., n_drugs) with -1 for "not
        given", cycles (...) 1-based. Returns int8 grades of shape (..., n_ae)."""
        uniforms = np.asarray(uniforms, dtype=float)
        levels = np.asarray(levels, dtype=np.int64)
        cycles = np.minimum(np.asarray(cycles, dtype=np.int64), self._cycle_rows)
        tail = self.tail_table()  # (n_ae, max_levels + 1, rows, 4); level index 0 = not given
        ae = np.arange(self.n_ae)
        level_of_ae = levels[..., list(self._drug_of_ae)] + 1  # (..., n_ae)
        thresholds = tail[ae, level_of_ae, (cycles - 1)[..., None]]  # (..., n_ae, 4)
        return (uniforms[..., None] < thresholds).sum(axis=-1).astype(np.int8)

    def tail_table(self) -> np.ndarray:
        """P(grade >= g) as an array [ae, level + 1, cycle row, g - 1]; level index 0: not given."""
        width = max(d.levels for d in self.drugs) + 1
        table = np.zeros((self.n_ae, width, self._cycle_rows, GRADES))
        for i, ae in enumerate(self.ae_types):
            for level in range(self.drugs[self._drug_of_ae[i]].levels):
                for row in range(self._cycle_rows):
                    table[i, level + 1, row] = ae.grade_tail(level, row + 1)
        return table


# ---------------------------------------------------------------------------------------------
# The DLT definition, in the same terms.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DLTDefinition:
    """A DLT: an AE at or above its class's grade in the first `window_cycles` cycles.

    Default: grade >= 3 non-haematologic or grade 4 haematologic in cycle 1 (the reference trial's
    21-day window, DOMAIN.md section 1). Every modelled AE type counts as treatment-related.
    """

    non_haematologic_min_grade: int = 3
    haematologic_min_grade: int = 4
    window_cycles: int = 1

    def __post_init__(self) -> None:
        grades = (self.non_haematologic_min_grade, self.haematologic_min_grade)
        if any(g not in (1, 2, 3, 4) for g in grades) or self.window_cycles < 1:
            raise ValueError("DLT grades must be 1-4 and window_cycles >= 1")

    def min_grade(self, ae: AdverseEventType) -> int:
        return self.haematologic_min_grade if ae.haematologic else self.non_haematologic_min_grade

    def is_dlt(self, model: ToxicityModel, grades: Sequence[int], cycle: int = 1) -> bool:
        """Whether one cycle's grades (per AE type of `model`) hold a DLT."""
        if cycle > self.window_cycles:
            return False
        return any(g >= self.min_grade(ae) for g, ae in zip(grades, model.ae_types, strict=True))


def model_from_sections(drugs, adverse_events) -> ToxicityModel:
    """The AE model of a scenario's [[toxicity.drug]] and [[toxicity.ae]] sections (any objects
    with their keys as attributes)."""
    return ToxicityModel(
        tuple(
            Drug(
                name=d.name,
                schedule=d.schedule,
                dose_levels=tuple(d.dose_levels),
                dose_unit=d.dose_unit,
                max_reductions=d.max_reductions,
                max_hold_days=math.inf if d.max_hold_days is None else d.max_hold_days,
                required=d.required,
            )
            for d in drugs
        ),
        tuple(
            AdverseEventType(
                name=a.name,
                haematologic=a.haematologic,
                drug=a.drug,
                grade_probs_per_cycle=tuple(a.grade_probs_per_cycle),
                level_multipliers=tuple(a.level_multipliers),
                cycle_factors=tuple(a.cycle_factors),
            )
            for a in adverse_events
        ),
    )


def implied_dlt_probabilities(
    model: ToxicityModel,
    definition: DLTDefinition,
    drug: str,
    other_levels: Sequence[int | None] | None = None,
) -> tuple[float, ...]:
    """P(DLT in the window) at each level of `drug`, the other drugs at `other_levels` (one entry
    per drug, the escalated drug's ignored; None: not given; default: each drug's highest level),
    every drug kept at its level through the window.

    1 - prod over AE types a and window cycles c of (1 - P(grade_a >= its DLT grade in cycle c)):
    exact under the model's independence across AE types and cycles. A hold or reduction inside
    a multi-cycle window is not followed (with the default one-cycle window there is none).
    """
    escalated = model.drug_index(drug)
    levels = [d.levels - 1 for d in model.drugs] if other_levels is None else list(other_levels)
    result = []
    for level in range(model.drugs[escalated].levels):
        levels[escalated] = level
        no_dlt = 1.0
        for cycle in range(1, definition.window_cycles + 1):
            tails = model.thresholds(levels, cycle)
            for ae, tail in zip(model.ae_types, tails, strict=True):
                no_dlt *= 1.0 - tail[definition.min_grade(ae) - 1]
        result.append(1.0 - no_dlt)
    return tuple(result)


# ---------------------------------------------------------------------------------------------
# Closed forms for "highest grade reached" and the calibration built on them.
# ---------------------------------------------------------------------------------------------


def highest_grade_tail(per_cycle_tails: np.ndarray) -> np.ndarray:
    """P(highest grade over the cycles >= g), g = 1..4, from per-cycle P(grade >= g).

    `per_cycle_tails` is (cycles, 4); independent cycles: 1 - prod_c (1 - S_c(g)). One row is the
    one-cycle case; k equal rows give 1 - (1 - S(g))^k.
    """
    tails = np.atleast_2d(np.asarray(per_cycle_tails, dtype=float))
    return 1.0 - np.prod(1.0 - tails, axis=0)


def expected_highest_grade_tail(per_cycle_tail: Sequence[float], cycle_pmf: Sequence[float]):
    """P(highest grade >= g) for a patient whose number of cycles N has pmf `cycle_pmf[k - 1]`
    = P(N = k), per-cycle P(grade >= g) constant: sum_k P(N = k) (1 - (1 - S(g))^k)."""
    tail = np.asarray(per_cycle_tail, dtype=float)
    pmf = np.asarray(cycle_pmf, dtype=float)
    k = np.arange(1, pmf.size + 1)
    return pmf @ (1.0 - (1.0 - tail[None, :]) ** k[:, None])


def per_cycle_tail_for(patient_tail: float, cycle_pmf: Sequence[float]) -> float:
    """The constant per-cycle P(grade >= g) that gives `patient_tail` = P(highest grade >= g)
    under `cycle_pmf` (the inverse of `expected_highest_grade_tail`, which increases in S)."""
    pmf = np.asarray(cycle_pmf, dtype=float)
    # S = 1 gives every patient grade >= g: pmf.sum(), which a truncated pmf keeps under 1.
    reachable = min(1.0, float(pmf.sum()))
    if not 0 <= patient_tail < reachable:
        raise ValueError(f"patient share {patient_tail} must be in [0, {reachable:.6g})")
    if patient_tail == 0:
        return 0.0

    def gap(s: float) -> float:
        return float(expected_highest_grade_tail([s], pmf)[0]) - patient_tail

    return brentq(gap, 0.0, 1.0, xtol=1e-14, rtol=1e-12)


def scan_progression_cycle_pmf(
    median_days: float, cycle_days: float, scan_interval_days: float, max_cycles: int
) -> np.ndarray:
    """P(N = k), k = 1..max_cycles: cycles given when exponential progression (median
    `median_days`) is seen at the first scan on or after it and nothing else stops treatment.

    Scans every `scan_interval_days` from the start; a cycle due on a scan day is not given (the
    engine reads the scan first), so K scans mean N = ceil(K * scan / cycle) cycles, and K is
    geometric with P(K > j) = 2^(-j * scan / median). Cycles beyond `max_cycles` are left out,
    so the pmf sums to just under 1.
    """
    survive_scan = math.exp(-LN2 * scan_interval_days / median_days)
    pmf = np.zeros(max_cycles)
    for scans in itertools.count(1):
        cycles = math.ceil(scans * scan_interval_days / cycle_days - 1e-9)
        if cycles > max_cycles:
            break
        pmf[cycles - 1] += (1.0 - survive_scan) * survive_scan ** (scans - 1)
    return pmf
