"""Randomized trials: one replicate's patients drawn as arrays, then analysed look by look.

No simpy here, by design: in these trials nothing in a patient's course depends on another
patient or on the trial's state except through accrual closing, and accrual closes only at an
analysis date. So every patient's timeline is a closed-form function of their draws, computed
for the whole cohort at once (10,000 replicates of a 990-patient trial in seconds), and closing
accrual early is a truncation of the registrations at that date (sim.interim). The records and
the cut are those of the single-arm engine: scans every `scan_interval_weeks` from randomization,
progression seen at the first scan after it, death and dropout as they happen.

Outcome model, per arm (hazards in days; H(t) = c t^k, Weibull shape k, k = 1 exponential; or
piecewise-constant hazards with the same breaks for both endpoints, each piece as below):
- Death (OS) from the OS endpoint's model: control median m gives c = ln 2 / m^k; the
  experimental arm's c is multiplied by the OS hazard ratio; a stratum level's hazard multiplier
  multiplies both arms'.
- Progression (latent) from the hazard difference c_PFS - c_OS, independent of death, so that
  PFS = min(progression, death) has exactly the PFS endpoint's model and hazard ratio (the
  illness-death model with equal death hazards before and after progression; Fleischer et al.
  2009, Stat Med 28:3906). The death share of PFS events is then c_OS / c_PFS. With only one
  endpoint the other is not drawn.
- Crossover: a control patient seen to progress (at the scan) switches with the scenario's
  probability; from that day w the death hazard is multiplied by the crossover hazard ratio hr,
  so the cumulative hazard continues as H(w) + hr (H(t) - H(w)) and the death time solves it.
- Dropout (loss to follow-up) is exponential, independent of everything else.

With more than two arms, arm 0 is the control and each endpoint has one hazard ratio per
experimental arm.
"""

import math
from dataclasses import dataclass

import numpy as np

from sim.accrual import AccrualModel, first_arrival_days
from sim.analysis import metric_slug
from sim.engine import accrual_model
from sim.interim import EndpointDesign, TrialResult, analyse
from sim.outcomes import PiecewiseHazard
from sim.randomization import PermutedBlockDesign, StratificationFactor
from sim.records import RandomizedCohort
from sim.rng import ReplicateStreams
from sim.scenario import EndpointSection, Scenario
from sim.stats import group_sequential
from sim.units import DAYS_PER_MONTH, LN2


@dataclass(frozen=True)
class Arrivals:
    accrual: AccrualModel
    n: int
    max_day: float
    screen_failure_prob: float


@dataclass(frozen=True)
class RandomizedPlan:
    """Everything one replicate needs, in days, built once from a validated Scenario."""

    arrivals: Arrivals
    allocation: PermutedBlockDesign
    stratum_cdf: np.ndarray  # cumulative stratum prevalences
    stratum_multipliers: np.ndarray  # hazard multiplier of each stratum
    prognostic_strata: bool  # some multiplier is not 1
    stratified_test: bool
    scan_interval_days: float | None  # None: progression seen the day it happens
    dropout_rate_per_day: float
    shape: float  # Weibull shape shared by both endpoints
    pfs_rates: np.ndarray | None  # c of PFS in H(t) = c t^k, per arm (control first)
    os_rates: np.ndarray | None
    # Piecewise-exponential endpoints instead: per arm, the hazards of death and of progression.
    os_hazards: tuple[PiecewiseHazard, ...] | None
    progression_hazards: tuple[PiecewiseHazard, ...] | None
    crossover_probability: float
    crossover_hazard_ratio: float
    designs: tuple[EndpointDesign, ...]

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> "RandomizedPlan":
        design = scenario.randomized
        accrual = scenario.accrual
        endpoints = dict(design.endpoints)
        shape = design.endpoints[0][1].weibull_shape or 1.0
        factors = tuple(
            StratificationFactor(f.name, tuple(f.levels), tuple(f.prevalences))
            for f in design.factors
        )
        allocation = PermutedBlockDesign(
            arms=tuple(design.arms),
            ratio=design.allocation_ratio,
            block_sizes=tuple(design.block_sizes),
            factors=factors,
            stratify=design.stratify,
        )
        multipliers = np.ones(allocation.n_strata)
        if design.factors:
            per_level = [f.hazard_multipliers or [1.0] * len(f.levels) for f in design.factors]
            grids = np.meshgrid(*per_level, indexing="ij")
            multipliers = np.prod([grid.ravel() for grid in grids], axis=0)
        crossover = design.crossover
        os_hr = endpoints["os"].hazard_ratios[0] if "os" in endpoints else math.nan
        scan_weeks = scenario.treatment.scan_interval_weeks
        return cls(
            arrivals=Arrivals(
                accrual=accrual_model(accrual),
                n=design.n,
                max_day=math.inf if accrual.max_months is None
                else accrual.max_months * DAYS_PER_MONTH,
                screen_failure_prob=accrual.screen_failure_prob,
            ),
            allocation=allocation,
            stratum_cdf=np.cumsum(allocation.stratum_prevalences),
            stratum_multipliers=multipliers,
            prognostic_strata=bool(np.any(multipliers != 1.0)),
            stratified_test=(
                bool(design.factors) if design.stratified_test is None else design.stratified_test
            ),
            scan_interval_days=(
                scan_weeks * 7.0 if scenario.progression_assessment == "scans" else None
            ),
            dropout_rate_per_day=(
                0.0 if design.dropout_median_months is None
                else LN2 / (design.dropout_median_months * DAYS_PER_MONTH)
            ),
            shape=shape,
            pfs_rates=_rates(endpoints.get("pfs"), shape),
            os_rates=_rates(endpoints.get("os"), shape),
            os_hazards=_piecewise(endpoints.get("os")),
            progression_hazards=_piecewise(endpoints.get("pfs"), endpoints.get("os")),
            crossover_probability=0.0 if crossover is None else crossover.probability,
            crossover_hazard_ratio=(
                os_hr if crossover is None or crossover.hazard_ratio is None
                else crossover.hazard_ratio
            ),
            designs=tuple(
                endpoint_design(name, endpoint, design.allocation_ratio, comparison,
                                _label(name, design, comparison))
                for name, endpoint in design.endpoints
                for comparison in range(1, len(design.arms))
            ),
        )


def _piecewise(
    endpoint: EndpointSection | None, less: EndpointSection | None = None
) -> tuple[PiecewiseHazard, ...] | None:
    """Per arm, the piecewise hazard of `endpoint` less that of `less` (progression: PFS - OS)."""
    if endpoint is None or endpoint.model != "piecewise-exponential":
        return None
    breaks = tuple(m * DAYS_PER_MONTH for m in endpoint.piecewise_breaks_months)

    def hazards(section: EndpointSection) -> np.ndarray:
        medians = np.asarray(section.piecewise_control_medians_months) * DAYS_PER_MONTH
        return np.outer((1.0, *section.hazard_ratios), LN2 / medians)

    per_arm = hazards(endpoint) - (hazards(less) if less is not None else 0.0)
    return tuple(PiecewiseHazard(breaks, tuple(np.maximum(row, 0.0))) for row in per_arm)


def _rates(endpoint: EndpointSection | None, shape: float) -> np.ndarray | None:
    if endpoint is None or endpoint.model == "piecewise-exponential":
        return None
    control = LN2 / (endpoint.control_median_months * DAYS_PER_MONTH) ** shape
    return np.array([control, *(control * ratio for ratio in endpoint.hazard_ratios)])


def _label(name: str, design, comparison: int) -> str:
    """Metric-name suffix: the endpoint when there are two, the arm when there are several."""
    label = f"_{name}" if len(design.endpoints) > 1 else ""
    if len(design.arms) > 2:
        label += "_" + metric_slug(design.arms[comparison])
    return label


def endpoint_design(
    name: str,
    endpoint: EndpointSection,
    ratio: tuple[int, ...],
    comparison: int = 1,
    label: str = "",
) -> EndpointDesign:
    """The group-sequential plan of one endpoint section, for experimental arm `comparison`
    against control (with several experimental arms each comparison gets alpha / (arms - 1),
    Bonferroni, and its events count the patients of the two arms compared).

    Beta-spending futility is spent under the drift of `design_hazard_ratio` at the planned
    events, -log(HR) sqrt(d w (1 - w)) with w the experimental share of the two arms (Schoenfeld
    1981); without it, under the drift at which the bounds meet at the final look (rpact's
    convention).
    """
    experimental_share = ratio[comparison] / (ratio[0] + ratio[comparison])
    futility = None
    if endpoint.futility == "beta-spending":
        futility = group_sequential.BetaSpendingFutility(
            group_sequential.SpendingFunction(
                endpoint.futility_spending, endpoint.futility_parameter
            ),
            endpoint.beta,
        )
    elif endpoint.futility == "fixed":
        z = endpoint.futility_z
        futility = group_sequential.FixedFutility(z[0] if len(z) == 1 else tuple(z))
    max_events = endpoint.planned_events[-1] if endpoint.planned_events else endpoint.max_events
    drift = None
    if endpoint.design_hazard_ratio is not None and futility is not None:
        information = max_events * experimental_share * (1 - experimental_share)
        drift = -math.log(endpoint.design_hazard_ratio) * math.sqrt(information)
    return EndpointDesign(
        name=name,
        alpha=endpoint.alpha / (len(ratio) - 1),
        planned_events=tuple(endpoint.planned_events) if endpoint.planned_events else None,
        look_days=(
            tuple(m * DAYS_PER_MONTH for m in endpoint.look_months)
            if endpoint.look_months else None
        ),
        max_events=max_events,
        efficacy=group_sequential.efficacy_rule(endpoint.efficacy, endpoint.efficacy_parameter),
        futility=futility,
        binding=endpoint.binding_futility,
        drift=drift,
        comparison=comparison,
        label=label,
    )


def _registrations(arrivals: Arrivals, streams: ReplicateStreams) -> tuple[np.ndarray, float]:
    """Randomization days of the patients randomized by the target or the deadline, and the day
    accrual closed. Screen failures are not randomized: the number of them before each randomized
    patient is geometric (drawn from the "patients" stream before anything else)."""
    n = arrivals.n
    if arrivals.screen_failure_prob:
        failures = streams.patients.geometric(1.0 - arrivals.screen_failure_prob, n) - 1
        randomized = np.cumsum(failures + 1) - 1  # index of each randomized arrival
        days = first_arrival_days(arrivals.accrual, streams.accrual, int(randomized[-1]) + 1)
        days = days[randomized[randomized < days.size]]
    else:
        days = first_arrival_days(arrivals.accrual, streams.accrual, n)
    if days.size and days[-1] > arrivals.max_day:
        return days[: np.searchsorted(days, arrivals.max_day, side="right")], arrivals.max_day
    if days.size == n:
        return days, float(days[-1])
    # The accrual model registers no one any more: it closes on the day the model says so (as
    # in sim.engine), or at the deadline.
    closed = min(arrivals.accrual.end_day, arrivals.max_day)
    if math.isinf(closed):  # a stream that ended without saying when: at its last registration
        closed = float(days[-1]) if days.size else 0.0
    return days, closed


def simulate_cohort(
    plan: RandomizedPlan, streams: ReplicateStreams
) -> tuple[RandomizedCohort, float]:
    """One replicate's patients (as if followed for ever) and the day accrual closed."""
    registration, closed = _registrations(plan.arrivals, streams)
    count = registration.size
    # Per patient, in registration order: unit exponentials (cumulative hazards to reach) for
    # death, progression and dropout, then uniforms for the stratum and the crossover choice.
    hazard = streams.patients.standard_exponential((3, count))
    uniform = streams.patients.random((2, count))
    if plan.allocation.n_strata > 1:
        stratum = np.minimum(
            np.searchsorted(plan.stratum_cdf, uniform[0], side="right"), plan.stratum_cdf.size - 1
        )
    else:
        stratum = np.zeros(count, dtype=np.int64)
    arm = plan.allocation.assign_all(stratum, streams.allocation)

    if plan.prognostic_strata:
        hazard[:2] /= plan.stratum_multipliers[stratum]

    def event_times(rates: np.ndarray, cumulative_hazard: np.ndarray) -> np.ndarray:
        times = cumulative_hazard / rates[arm]
        return times if plan.shape == 1.0 else times ** (1.0 / plan.shape)

    def piecewise_times(hazards, cumulative_hazard: np.ndarray) -> np.ndarray:
        times = np.empty(count)
        for index, arm_hazard in enumerate(hazards):
            mine = arm == index
            times[mine] = arm_hazard.inverse(cumulative_hazard[mine])
        return times

    death = np.full(count, math.inf)
    progression = np.full(count, math.inf)
    if plan.os_rates is not None:
        death = event_times(plan.os_rates, hazard[0])
    elif plan.os_hazards is not None:
        death = piecewise_times(plan.os_hazards, hazard[0])
    if plan.pfs_rates is not None:
        # The hazard of progression is the PFS hazard less the hazard of death.
        rates = plan.pfs_rates if plan.os_rates is None else plan.pfs_rates - plan.os_rates
        progression = event_times(rates, hazard[1])
    elif plan.progression_hazards is not None:
        progression = piecewise_times(plan.progression_hazards, hazard[1])
    dropout = np.full(count, math.inf)
    if plan.dropout_rate_per_day:
        dropout = hazard[2] / plan.dropout_rate_per_day
    seen = progression
    if plan.scan_interval_days is not None:
        seen = np.ceil(progression / plan.scan_interval_days) * plan.scan_interval_days
    switched = np.zeros(count, dtype=bool)
    if plan.crossover_probability:
        switched = (
            (arm == 0) & (seen < death) & (seen <= dropout)
            & (uniform[1] < plan.crossover_probability)
        )
        # The control cumulative hazard H goes on from the switch day w at hr times its rate:
        # death when H(w) + (H(t) - H(w)) hr reaches H(death without switching).
        if plan.os_hazards is not None:
            control = plan.os_hazards[0]
            at_switch = control.cumulative(seen[switched])
            without = control.cumulative(death[switched])
            death[switched] = control.inverse(
                at_switch + (without - at_switch) / plan.crossover_hazard_ratio
            )
        else:
            k = plan.shape
            switch_k = seen[switched] ** k
            death[switched] = (
                switch_k + (death[switched] ** k - switch_k) / plan.crossover_hazard_ratio
            ) ** (1.0 / k)
    pfs_event = np.minimum(seen, death)
    pfs_event[pfs_event > dropout] = math.inf
    os_event = np.where(death <= dropout, death, math.inf)
    cohort = RandomizedCohort(registration, arm, stratum, pfs_event, os_event, dropout, switched,
                              len(plan.allocation.arms))
    return cohort, closed


def simulate_randomized(plan: RandomizedPlan, streams: ReplicateStreams) -> TrialResult:
    """One replicate: draw the cohort, then run the looks."""
    cohort, closed = simulate_cohort(plan, streams)
    return analyse(cohort, plan.designs, plan.scan_interval_days, plan.stratified_test, closed)
