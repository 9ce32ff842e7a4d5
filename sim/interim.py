"""Interim and final analyses of a randomized trial: cut the cohort at a date, test, decide (pure).

Each endpoint (PFS, OS) has its own group-sequential design: looks when its observed events reach
the planned counts, or at calendar dates; a one-sided log-rank test (stratified when the design
says so, sim.stats.logrank) against efficacy and futility z-bounds (sim.stats.group_sequential).
Bounds are recomputed for the information actually observed, I_k / I_max = d_k / d_max (Lan and
DeMets 1983): with looks by event count they are the planned ones unless the planned count is
never reached, in which case the analysis is done when the last event that will ever be seen has
happened and it spends all the remaining alpha.

Censoring at a cut on day C (FDA 2018, Clinical Trial Endpoints for the Approval of Cancer Drugs
and Biologics, table on PFS censoring): a patient without an event is censored at the last scan on
or before the earlier of C and dropout (at randomization with no scan yet), or at that day itself
with continuous assessment; OS is censored at the earlier of C and dropout.

The trial stops early when an endpoint crosses a bound at an interim: accrual closes that day and
the patients already randomized are followed to the other endpoint's analyses (EGF100151: an
interim TTP analysis stopped the trial, OS was followed on). An endpoint ends when it crosses a
bound or reaches its final look. The hazard ratio (Cox, Efron ties) and each arm's Kaplan-Meier
median are estimated at the endpoint's last analysis: what would be reported when it stopped.
"""

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq
from scipy.special import ndtri

from sim.estimates import MEAN, PROPORTION
from sim.records import RandomizedCohort
from sim.stats import cox, group_sequential, logrank, survival
from sim.units import DAYS_PER_MONTH

EFFICACY = "efficacy"
FUTILITY = "futility"
CONTINUE = "continue"
NOT_REJECTED = "not_rejected"  # the final look, bound not crossed


@dataclass(frozen=True)
class EndpointDesign:
    """One endpoint's analysis plan, in days and events."""

    name: str  # "pfs" or "os"
    alpha: float
    planned_events: tuple[int, ...] | None  # looks by event count
    look_days: tuple[float, ...] | None  # looks by date
    max_events: int  # events at full information
    efficacy: group_sequential.EfficacyRule
    futility: group_sequential.FutilityRule | None
    binding: bool
    drift: float | None  # beta spending's planned drift
    comparison: int = 1  # the experimental arm tested against control (arm 0)
    label: str = ""  # metric-name suffix
    planned: group_sequential.GroupSequentialBoundaries = field(init=False)
    _bounds: dict = field(init=False, default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        planned = group_sequential.group_sequential_boundaries(
            self.planned_fractions(), self.alpha, self.efficacy, self.futility,
            binding=self.binding, drift=self.drift,
        )
        object.__setattr__(self, "planned", planned)
        if self.drift is None and planned.drift is not None:
            object.__setattr__(self, "drift", planned.drift)

    @property
    def looks(self) -> int:
        return len(self.planned_events if self.planned_events is not None else self.look_days)

    def planned_fractions(self) -> tuple[float, ...]:
        if self.planned_events is not None:
            return tuple(d / self.max_events for d in self.planned_events)
        # Looks by date: planned as equally spaced information (only the observed one is used).
        return tuple((k + 1) / self.looks for k in range(self.looks))

    def bounds(
        self, fractions: tuple[float, ...], final: bool, numbers: tuple[int, ...] | None = None
    ) -> tuple[float, float]:
        """(efficacy z, futility z) at the last of `fractions`, the observed information so far
        (every look analysed, in order); futility is -inf without a futility rule and at the
        final look. `numbers`: the planned (1-based) number of each look analysed, which picks
        fixed futility bounds when a look was skipped (default 1, 2, ...).

        Spending functions: the Lan-DeMets bounds at these fractions, the last spending what is
        left when `final`. Classical rules (Wang-Tsiatis, Haybittle-Peto) keep the planned
        constant at interims (c t^(delta - 1/2) with t the fraction of the planned maximum; the
        interim z), and a final look at other than the planned information is solved so that
        the bounds actually applied have size alpha.
        """
        numbers = tuple(range(1, len(fractions) + 1)) if numbers is None else numbers
        key = (fractions, final, numbers)
        if key not in self._bounds:
            k = len(fractions) - 1
            if self.planned_events is not None and fractions == self.planned_fractions()[
                : len(fractions)
            ] and final == (len(fractions) == self.looks) and numbers[-1] == len(fractions):
                bounds = self.planned.efficacy_z[k], self._planned_futility(k, final)
            elif isinstance(self.efficacy, group_sequential.SpendingFunction):
                futility = self.futility
                if isinstance(futility, group_sequential.FixedFutility):  # the looks analysed
                    futility = group_sequential.FixedFutility(
                        tuple(self._fixed_futility(number) for number in numbers)
                    )
                result = group_sequential.group_sequential_boundaries(
                    fractions, self.alpha, self.efficacy, futility,
                    binding=self.binding, drift=self.drift, last_is_final=final,
                )
                futility = -math.inf
                if result.futility_z is not None and not final:
                    futility = result.futility_z[k]
                bounds = result.efficacy_z[k], futility
            elif not final:
                bounds = self._classical_interim(fractions[-1]), self._fixed_futility(numbers[-1])
            else:
                bounds = self._classical_final(fractions, numbers), -math.inf
            self._bounds[key] = bounds
        return self._bounds[key]

    def _planned_futility(self, k: int, final: bool) -> float:
        if final or self.planned.futility_z is None:
            return -math.inf
        return self.planned.futility_z[k]

    def _fixed_futility(self, number: int) -> float:
        """The fixed futility bound of planned look `number` (1-based)."""
        if not isinstance(self.futility, group_sequential.FixedFutility):
            return -math.inf
        z = self.futility.z
        return z if isinstance(z, float | int) else z[min(number - 1, len(z) - 1)]

    def _classical_interim(self, fraction: float) -> float:
        if isinstance(self.efficacy, group_sequential.HaybittlePeto):
            return self.efficacy.interim_z
        constant = self.planned.efficacy_z[-1]  # c of b_k = c t_k^(delta - 1/2), t_K = 1
        return constant * fraction ** (self.efficacy.delta - 0.5)

    def _classical_final(self, fractions: tuple[float, ...], numbers: tuple[int, ...]) -> float:
        """The final bound giving size alpha with the interim bounds applied before it."""
        rule = self.efficacy
        if isinstance(rule, group_sequential.HaybittlePeto) and not rule.adjust_final:
            return float(ndtri(1.0 - self.alpha))
        interims = [
            self.bounds(fractions[: j + 1], False, numbers[: j + 1])
            for j in range(len(fractions) - 1)
        ]
        futility = None
        if self.binding and self.futility is not None:
            futility = [f for _, f in interims] + [-math.inf]
        efficacy = [e for e, _ in interims]

        def excess(bound: float) -> float:
            return group_sequential.crossing_probabilities(
                fractions, [*efficacy, bound], futility, 0.0
            ).rejection - self.alpha

        return float(brentq(excess, -10.0, 40.0, xtol=1e-10))


@dataclass(frozen=True)
class Look:
    """One analysis of one endpoint."""

    endpoint: str
    look: int  # 1-based
    day: float
    events: int
    information_fraction: float
    z: float  # log-rank, > 0 favours the experimental arm
    efficacy_z: float
    futility_z: float
    decision: str  # EFFICACY, FUTILITY, CONTINUE or NOT_REJECTED


@dataclass(frozen=True)
class EndpointResult:
    name: str
    looks: tuple[Look, ...]
    hazard_ratio: float  # Cox, experimental / control, at the last analysis (nan if none)
    median_months: tuple[float, float]  # Kaplan-Meier, control and experimental (nan: not reached)
    last_day: float  # the day of its last look (analysed or not); nan if it had none

    @property
    def rejected(self) -> bool:
        return bool(self.looks) and self.looks[-1].decision == EFFICACY

    @property
    def events(self) -> int:
        return self.looks[-1].events if self.looks else 0


@dataclass(frozen=True)
class TrialResult:
    endpoints: tuple[EndpointResult, ...]
    n_enrolled: int
    accrual_closed_day: float
    stopped_early: bool  # an endpoint crossed a bound at an interim: accrual closed then

    @property
    def duration_days(self) -> float:
        """Days to the last look of any endpoint (to the close of accrual if none had a look)."""
        days = [e.last_day for e in self.endpoints if not math.isnan(e.last_day)]
        return max(days) if days else self.accrual_closed_day


def cut(
    cohort: RandomizedCohort,
    endpoint: str,
    cut_day: float,
    enrolled: int,
    scan_interval_days: float | None,
    arms: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(time, event, arm, stratum) of the first `enrolled` patients randomized by `cut_day`, of
    the two `arms` only when given (a comparison in a trial of more arms)."""
    count = min(enrolled, int(np.searchsorted(cohort.registration_day, cut_day, side="right")))
    registered = cohort.registration_day[:count]
    arm = cohort.arm[:count]
    stratum = cohort.stratum[:count]
    event_time = (cohort.pfs_event_time if endpoint == "pfs" else cohort.os_event_time)[:count]
    dropout = cohort.dropout_time[:count]
    if arms is not None:
        keep = (arm == arms[0]) | (arm == arms[1])
        registered, arm, stratum = registered[keep], arm[keep], stratum[keep]
        event_time, dropout = event_time[keep], dropout[keep]
    followed = cut_day - registered
    # Compared as calendar days, as the look dates are computed: cut - registration can round
    # below the event time on the very day of the event.
    event = registered + event_time <= cut_day
    last_known = np.minimum(followed, dropout)
    if endpoint == "pfs" and scan_interval_days is not None:
        last_known = np.floor(last_known / scan_interval_days) * scan_interval_days
    time = np.where(event, event_time, last_known)
    return time, event, arm, stratum


def _compared_arms(cohort: RandomizedCohort, design: EndpointDesign) -> tuple[int, int] | None:
    return (0, design.comparison) if cohort.arms > 2 else None


def _event_days(cohort: RandomizedCohort, design: EndpointDesign, enrolled: int) -> np.ndarray:
    """Calendar days of the events that will be seen, sorted, among the first `enrolled` (of the
    two arms compared)."""
    name = design.name
    times = (cohort.pfs_event_time if name == "pfs" else cohort.os_event_time)[:enrolled]
    days = cohort.registration_day[:enrolled] + times
    seen = np.isfinite(days)
    arms = _compared_arms(cohort, design)
    if arms is not None:
        arm = cohort.arm[:enrolled]
        seen &= (arm == arms[0]) | (arm == arms[1])
    return np.sort(days[seen])


def analyse(
    cohort: RandomizedCohort,
    designs: tuple[EndpointDesign, ...],
    scan_interval_days: float | None,
    stratified: bool,
    accrual_closed_day: float,
) -> TrialResult:
    """Every look of every endpoint in calendar order, stopping as the module docstring says."""
    enrolled = cohort.registration_day.size
    closed_day = accrual_closed_day
    stopped_early = False
    looks: list[list[Look]] = [[] for _ in designs]
    done = [0] * len(designs)  # looks reached (analysed or skipped for want of information)
    last_day = [math.nan] * len(designs)
    last_cuts: list = [None] * len(designs)  # each endpoint's last analysis data
    active = [True] * len(designs)
    event_days = [_event_days(cohort, d, enrolled) for d in designs]
    while any(active):
        upcoming = []
        for index, design in enumerate(designs):
            if active[index]:
                day, final = _next_look_day(design, done[index], event_days[index])
                if math.isnan(day):  # no further event will be seen: nothing to analyse
                    active[index] = False
                else:
                    upcoming.append((day, index, final))
        if not upcoming:
            break
        day, index, final = min(upcoming)
        design = designs[index]
        done[index] += 1
        last_day[index] = day
        analysed = _look(cohort, design, looks[index], done[index], day, final, enrolled,
                         scan_interval_days, stratified)
        if analysed is not None:
            look, cut_data = analysed
            looks[index].append(look)
            if cut_data is not None:
                last_cuts[index] = cut_data
        if final or (analysed is not None and look.decision != CONTINUE):
            active[index] = False
            if not final and not stopped_early:  # an interim stop: accrual closes today
                stopped_early = True
                if day < closed_day:
                    closed_day = day
                    enrolled = int(np.searchsorted(cohort.registration_day, day, side="right"))
                    event_days = [_event_days(cohort, d, enrolled) for d in designs]
    analysed_days = [day for day in last_day if not math.isnan(day)]
    if analysed_days and max(analysed_days) < closed_day:
        # Every analysis is done before accrual would have closed: it closes then.
        closed_day = max(analysed_days)
        enrolled = int(np.searchsorted(cohort.registration_day, closed_day, side="right"))
    results = tuple(
        _estimates(design.name, tuple(endpoint_looks), last_cut, stratified, day)
        for design, endpoint_looks, last_cut, day in zip(
            designs, looks, last_cuts, last_day, strict=True
        )
    )
    return TrialResult(results, enrolled, closed_day, stopped_early)


def _next_look_day(design: EndpointDesign, done: int, event_days: np.ndarray) -> tuple[float, bool]:
    """(day, is_final) of the endpoint's next look; nan when no further event will be seen."""
    final = done == design.looks - 1
    if design.look_days is not None:
        return design.look_days[done], final
    needed = design.planned_events[done]
    if event_days.size >= needed:
        return float(event_days[needed - 1]), final
    if event_days.size == 0:
        return math.nan, True
    # The planned count is never reached: the last event that will be seen, as the final look.
    return float(event_days[-1]), True


def _look(cohort, design, previous, number, day, final, enrolled, scan_interval_days, stratified):
    """Look `number` (1-based, as planned) at `day`: (the look, its data and risk table), or
    None when there is nothing to analyse. An interim without new information since the
    previous analysis is skipped (it spends nothing); a final without new information tests the
    previous analysis's z against the final bound at that information (spending what is left)."""
    time, event, arm, stratum = cut(cohort, design.name, day, enrolled, scan_interval_days,
                                    _compared_arms(cohort, design))
    events = int(event.sum())
    if previous and events <= previous[-1].events:
        if not final:
            return None
        last = previous[-1]
        fractions = tuple(look.information_fraction for look in previous)
        efficacy_z, _ = design.bounds(
            fractions, final=True, numbers=tuple(look.look for look in previous)
        )
        decision = EFFICACY if last.z >= efficacy_z else NOT_REJECTED
        return Look(design.name, number, day, last.events, last.information_fraction, last.z,
                    efficacy_z, -math.inf, decision), None
    if events == 0:
        return None
    group = arm == design.comparison
    table = logrank.risk_table_unchecked(time, event, group, stratum if stratified else None)
    test = logrank.logrank_from_table(table)
    z = test.z
    # Peto's log hazard ratio, the Cox fit's starting point (0 when it is undefined).
    peto_log_hr = (
        (test.observed_experimental - test.expected_experimental) / test.variance
        if test.variance > 0 else 0.0
    )
    fractions = (*(look.information_fraction for look in previous), events / design.max_events)
    numbers = (*(look.look for look in previous), number)
    efficacy_z, futility_z = design.bounds(fractions, final, numbers)
    if z >= efficacy_z:
        decision = EFFICACY
    elif final:
        decision = NOT_REJECTED
    elif z <= futility_z:
        decision = FUTILITY
    else:
        decision = CONTINUE
    look = Look(design.name, number, day, events, fractions[-1], z, efficacy_z, futility_z,
                decision)
    return look, (time, event, group, table, peto_log_hr)


def _estimates(
    name: str, looks: tuple[Look, ...], last_cut, stratified: bool, last_day: float
) -> EndpointResult:
    if not looks:
        return EndpointResult(name, looks, math.nan, (math.nan, math.nan), last_day)
    time, event, group, table, peto_log_hr = last_cut
    fit = cox.cox_from_table(table, initial_log_hr=peto_log_hr, with_loglik=False)
    experimental_risk = table.at_risk_experimental
    experimental_events = table.events_experimental
    medians = []
    for member, at_risk, events in (
        (False, table.at_risk - experimental_risk, table.events - experimental_events),
        (True, experimental_risk, experimental_events),
    ):
        mine = time[group == member]
        if stratified or not mine.size:  # the rows are per stratum: not one curve
            median = (
                survival.km_median_and_survival_at(mine, event[group == member], 0.0)[0]
                if mine.size else math.nan
            )
        else:
            median = survival.km_median_from_risk_sets(table.time, at_risk, events, mine.max())
        medians.append(median / DAYS_PER_MONTH)
    hazard_ratio = fit.hazard_ratio if fit.converged else math.nan
    return EndpointResult(name, looks, hazard_ratio, (medians[0], medians[1]), last_day)


def metric_spec(designs: tuple[EndpointDesign, ...]) -> tuple[tuple[str, str], ...]:
    """(name, kind) of a randomized trial's metrics; a comparison's metrics carry its label
    (_pfs / _os with two endpoints, then the experimental arm's name with several arms)."""
    spec: list[tuple[str, str]] = []
    for design in designs:
        suffix = design.label
        spec.append((f"reject_h0{suffix}", PROPORTION))
        spec += [(f"reject_at_look_{k}{suffix}", PROPORTION) for k in range(1, design.looks + 1)]
        spec += [
            (f"futility_at_look_{k}{suffix}", PROPORTION) for k in range(1, design.looks + 1)
        ]
        spec += [
            (f"events_mean{suffix}", MEAN),
            (f"analysis_months_mean{suffix}", MEAN),
            (f"hr_estimate_mean{suffix}", MEAN),
            (f"median_months_control_mean{suffix}", MEAN),
            (f"median_months_experimental_mean{suffix}", MEAN),
        ]
    if len(designs) > 1:
        spec.append(("reject_any", PROPORTION))
    spec += [
        ("stopped_early", PROPORTION),
        ("n_enrolled_mean", MEAN),
        ("accrual_months_mean", MEAN),
        ("duration_months_mean", MEAN),
    ]
    return tuple(spec)


def replicate_metrics(result: TrialResult, designs: tuple[EndpointDesign, ...]) -> list[float]:
    """One replicate's values, in the order of `metric_spec(designs)`; nan where undefined."""
    values: list[float] = []
    for design, endpoint in zip(designs, result.endpoints, strict=True):
        last = endpoint.looks[-1] if endpoint.looks else None
        values.append(float(endpoint.rejected))
        values += [
            float(last is not None and last.look == k and last.decision == EFFICACY)
            for k in range(1, design.looks + 1)
        ]
        # Ended at look k without rejecting: a futility stop, or a final look not crossed.
        values += [
            float(last is not None and last.look == k and last.decision in (FUTILITY, NOT_REJECTED))
            for k in range(1, design.looks + 1)
        ]
        values += [
            float(endpoint.events),
            endpoint.last_day / DAYS_PER_MONTH,
            endpoint.hazard_ratio,
            *endpoint.median_months,
        ]
    if len(designs) > 1:
        values.append(float(any(endpoint.rejected for endpoint in result.endpoints)))
    values += [
        float(result.stopped_early),
        float(result.n_enrolled),
        result.accrual_closed_day / DAYS_PER_MONTH,
        result.duration_days / DAYS_PER_MONTH,
    ]
    return values
