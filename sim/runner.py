"""Replicates, seeding, parallel workers and streaming aggregation into Monte Carlo estimates.

Replicate i always draws from child i of the root SeedSequence (sim.rng). Replicates are run in
blocks of BLOCK_SIZE with fixed boundaries, each summarised where it ran; the parent merges the
summaries in block order. Memory does not grow with the number of replicates, and the numbers do
not depend on how many workers ran the blocks.
"""

import concurrent.futures
import contextlib
import dataclasses
import functools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim import analysis, interim
from sim.accrual import AccrualModel, ObservedThenPredicted
from sim.engine import TrialPlan, simulate_trial
from sim.estimates import MEAN, QUANTILES, BlockSummary, Estimate, estimates
from sim.randomized import RandomizedPlan, simulate_randomized
from sim.rng import StreamBlock, replicate_streams
from sim.scenario import Scenario
from sim.stats import group_sequential as gs
from sim.stats import onesample
from sim.units import DAYS_PER_MONTH, DAYS_PER_WEEK, LN2

BLOCK_SIZE = 100  # part of the reproducibility contract: changing it moves the last bits


@dataclass(frozen=True)
class RunResult:
    scenario: str
    scenario_sha256: str
    seed: int
    reps: int
    metrics: dict[str, Estimate]
    reference: dict[str, float]  # closed-form figures to read the estimates against


@dataclass(frozen=True)
class _Context:
    trial_plan: TrialPlan | None  # None for a randomized trial
    analysis_plan: analysis.AnalysisPlan | None
    phase1_levels: int
    has_phase2: bool
    seed: int
    reps: int
    ae_names: tuple[str, ...] = ()
    randomized_plan: RandomizedPlan | None = None

    @classmethod
    def of(
        cls, scenario: Scenario, seed: int, reps: int, accrual: AccrualModel | None = None
    ) -> "_Context":
        if scenario.randomized is not None:
            randomized_plan = RandomizedPlan.from_scenario(scenario)
            if accrual is not None:
                arrivals = dataclasses.replace(randomized_plan.arrivals, accrual=accrual)
                randomized_plan = dataclasses.replace(randomized_plan, arrivals=arrivals)
            return cls(None, None, 0, False, seed, reps, randomized_plan=randomized_plan)
        plan = TrialPlan.from_scenario(scenario)
        if accrual is not None:
            plan = dataclasses.replace(plan, accrual=accrual)
        if isinstance(accrual, ObservedThenPredicted):
            # The trial is open on the day its registrations are known to: earlier checkpoints
            # did not close it.
            plan = dataclasses.replace(plan, closure=plan.closure.after(accrual.as_of_day))
        return cls(
            plan,
            analysis_plan(scenario) if scenario.has_phase2 else None,
            scenario.phase1.levels if scenario.has_phase1 else 0,
            scenario.has_phase2,
            seed,
            reps,
            tuple(ae.name for ae in scenario.toxicity.ae) if scenario.toxicity else (),
        )

    def metric_spec(self) -> tuple[tuple[str, str], ...]:
        if self.randomized_plan is not None:
            return interim.metric_spec(self.randomized_plan.designs)
        return analysis.metric_spec(self.phase1_levels, self.has_phase2, self.ae_names)


def replicate_values(
    context: _Context, replicate: int, block: StreamBlock | None = None
) -> list[float]:
    """The metrics of one replicate, in the order of `context.metric_spec()`; `block`: the seed
    streams of the block of replicates it belongs to (the same numbers, made faster)."""
    replicate_rng = (
        replicate_streams(context.seed, replicate) if block is None else block.streams(replicate)
    )
    if context.randomized_plan is not None:
        plan = context.randomized_plan
        trial = simulate_randomized(plan, replicate_rng)
        return interim.replicate_metrics(trial, plan.designs)
    trial = simulate_trial(context.trial_plan, replicate_rng)
    return analysis.replicate_metrics(
        trial, context.analysis_plan, context.phase1_levels, context.has_phase2,
        len(context.ae_names),
    )


def _run_block(context: _Context, block: int) -> BlockSummary:
    first = block * BLOCK_SIZE
    last = min(first + BLOCK_SIZE, context.reps)
    block_streams = StreamBlock(context.seed, first, last)
    values = np.array([replicate_values(context, i, block_streams) for i in range(first, last)])
    return BlockSummary.of(values, tuple(kind for _, kind in context.metric_spec()))


def run(
    scenario: Scenario,
    reps: int,
    seed: int,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    executor=None,
    accrual: AccrualModel | None = None,
) -> RunResult:
    """Simulate `reps` replicates of `scenario`; `progress(k)` is told of every k finished.

    `executor`: a pool from `pool(workers)` the caller keeps open across runs (a sweep's points),
    instead of a pool started and stopped for this run. `accrual`: a sampler that replaces the
    scenario's (an open trial's registrations so far, then its predictive).
    """
    context = _Context.of(scenario, seed, reps, accrual)
    blocks = range(math.ceil(reps / BLOCK_SIZE))
    work = functools.partial(_run_block, context)
    total = None
    if executor is None:
        running_pool = pool(workers, len(blocks))
    else:
        running_pool = contextlib.nullcontext(executor)
    with running_pool as running:
        for block, summary in zip(blocks, running.map(work, blocks), strict=True):
            total = summary if total is None else total.merge(summary)
            if progress is not None:
                progress(min(BLOCK_SIZE, reps - block * BLOCK_SIZE))
    return RunResult(
        scenario=scenario.name,
        scenario_sha256=scenario.sha256(),
        seed=seed,
        reps=reps,
        metrics=estimates(total, *zip(*context.metric_spec(), strict=True)),
        reference=reference_figures(scenario),
    )


def reference_figures(scenario: Scenario) -> dict[str, float]:
    """Closed-form rejection rates of the textbook model: n patients, each followed to an event.

    `textbook_reject_h0` at the simulated truth (exponential PFS only), `design_power` at the
    design's alternative: the simulated `reject_h0` is read against them.
    """
    if scenario.randomized is not None:
        return _randomized_reference(scenario)
    phase2 = scenario.phase2
    if phase2 is None:
        return {}
    plan = analysis_plan(scenario)

    def rejection_rate(true_median_weeks: float) -> float:
        hazard_ratio = phase2.null_median_weeks / true_median_weeks
        if phase2.test == "exponential":
            return onesample.exponential_test_power(phase2.n, phase2.alpha, hazard_ratio)
        return onesample.logrank_power_complete_followup(
            phase2.n, phase2.alpha, hazard_ratio, method=plan.logrank_method
        )

    figures = {}
    by_level = scenario.has_phase1 and scenario.phase1.true_median_weeks_by_level is not None
    if phase2.pfs_model == "exponential" and not phase2.subgroups and not by_level:
        # PFS ends at progression or death: exponential with the two hazards added.
        pfs_median = phase2.true_median_weeks
        if phase2.death_median_weeks is not None:
            pfs_median = 1.0 / (1.0 / pfs_median + 1.0 / phase2.death_median_weeks)
        figures["textbook_reject_h0"] = rejection_rate(pfs_median)
    if phase2.alt_median_weeks is not None:
        figures["design_power"] = rejection_rate(phase2.alt_median_weeks)
    return figures


def _randomized_reference(scenario: Scenario) -> dict[str, float]:
    """Each endpoint's rejection probability by Schoenfeld's approximation (Schoenfeld 1981,
    Biometrika 68:316): the log-rank z at d events is normal with mean -log(HR) sqrt(d w (1 - w)),
    w the experimental share, with the planned looks and bounds (futility obeyed)."""
    design = scenario.randomized
    ratio = design.allocation_ratio
    endpoints = dict(design.endpoints)
    figures = {}
    for plan in RandomizedPlan.from_scenario(scenario).designs:
        share = ratio[plan.comparison] / (ratio[0] + ratio[plan.comparison])
        hazard_ratio = endpoints[plan.name].hazard_ratios[plan.comparison - 1]
        drift = -math.log(hazard_ratio) * math.sqrt(plan.max_events * share * (1 - share))
        planned = plan.planned
        crossing = gs.crossing_probabilities(
            planned.information_fractions, planned.efficacy_z, planned.futility_z, drift
        )
        figures[f"schoenfeld_reject_h0{plan.label}"] = crossing.rejection
    return figures


def analysis_plan(scenario: Scenario) -> analysis.AnalysisPlan:
    phase2 = scenario.phase2
    return analysis.AnalysisPlan(
        null_hazard_per_day=LN2 / (phase2.null_median_weeks * DAYS_PER_WEEK),
        alpha=phase2.alpha,
        test=phase2.test,
        logrank_method={"normal": "normal", "exact-poisson": "exact"}[phase2.logrank_method],
        continuous_assessment=scenario.progression_assessment == "continuous",
        pfs_rate_day=phase2.pfs_rate_months * DAYS_PER_MONTH,
        cbr_min_days=phase2.cbr_min_weeks * DAYS_PER_WEEK,
        min_patients_for_analysis=phase2.min_patients_for_analysis,
    )


@dataclass(frozen=True)
class ComparisonResult:
    """Designs run on the same simulated patients; differences are paired, against the first."""

    scenario: str
    designs: tuple[str, ...]
    seed: int
    reps: int
    metrics: dict[str, dict[str, Estimate]]  # design -> metric -> estimate
    differences: dict[str, dict[str, Estimate]]  # design (not the first) -> metric -> paired
    scenario_sha256: dict[str, str]  # design -> the hash of the scenario run with it


def _paired_columns(context: _Context) -> np.ndarray:
    """Columns with a paired difference: a difference of quantiles is not the quantile of the
    differences, so quantile metrics are compared by their estimates only."""
    return np.array([kind != QUANTILES for _, kind in context.metric_spec()])


def _compare_kinds(contexts: tuple[_Context, ...]) -> tuple[str, ...]:
    kinds = tuple(kind for _, kind in contexts[0].metric_spec())
    paired = tuple(MEAN for kind in kinds if kind != QUANTILES)
    return kinds * len(contexts) + paired * (len(contexts) - 1)


def _run_compare_block(contexts: tuple[_Context, ...], block: int) -> BlockSummary:
    first = block * BLOCK_SIZE
    last = min(first + BLOCK_SIZE, contexts[0].reps)
    paired = _paired_columns(contexts[0])
    rows = []
    block_streams = StreamBlock(contexts[0].seed, first, last)
    for replicate in range(first, last):
        # every design sees the same streams: the same arrivals, patients and propensities
        values = [
            np.array(replicate_values(context, replicate, block_streams)) for context in contexts
        ]
        differences = [(v - values[0])[paired] for v in values[1:]]
        rows.append(np.concatenate([*values, *differences]))
    return BlockSummary.of(np.array(rows), _compare_kinds(contexts))


def compare(
    scenarios: dict[str, Scenario],
    reps: int,
    seed: int,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> ComparisonResult:
    """Run each named scenario (one per design) on the same replicates, paired."""
    contexts = tuple(_Context.of(scenario, seed, reps) for scenario in scenarios.values())
    spec = contexts[0].metric_spec()
    if any(context.metric_spec() != spec for context in contexts):
        raise ValueError("designs to compare must report the same metrics")
    designs = tuple(scenarios)
    blocks = range(math.ceil(reps / BLOCK_SIZE))
    work = functools.partial(_run_compare_block, contexts)
    total = None
    with pool(workers, len(blocks)) as executor:
        for block, summary in zip(blocks, executor.map(work, blocks), strict=True):
            total = summary if total is None else total.merge(summary)
            if progress is not None:
                progress(min(BLOCK_SIZE, reps - block * BLOCK_SIZE))
    names = [name for name, _ in spec]
    paired_names = [name for name, kind in spec if kind != QUANTILES]
    labels = [f"{design}\t{name}" for design in designs for name in names]
    labels += [f"difference\t{design}\t{name}" for design in designs[1:] for name in paired_names]
    flat = list(estimates(total, tuple(labels), _compare_kinds(contexts)).items())
    per_design = len(flat) - len(paired_names) * (len(designs) - 1)
    metrics: dict[str, dict[str, Estimate]] = {design: {} for design in designs}
    for label, estimate in flat[:per_design]:
        design, name = label.split("\t")
        metrics[design][name] = estimate
    differences: dict[str, dict[str, Estimate]] = {design: {} for design in designs[1:]}
    for label, estimate in flat[per_design:]:
        _, design, name = label.split("\t")
        differences[design][name] = estimate
    return ComparisonResult(
        scenario=next(iter(scenarios.values())).name,
        designs=designs,
        seed=seed,
        reps=reps,
        metrics=metrics,
        differences=differences,
        scenario_sha256={design: scenario.sha256() for design, scenario in scenarios.items()},
    )


class _InProcess:
    """The executor interface, run here: no pool to start for one worker."""

    def map(self, function, iterable):
        return map(function, iterable)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False


def pool(workers: int, blocks: int | None = None):
    """An executor for `workers` processes (in this process for one), to use as a context.

    No more processes than CPUs or blocks of work: more would only wait (the numbers do not
    depend on it).
    """
    workers = min(workers, os.cpu_count() or 1, blocks or workers)
    if workers <= 1:
        return _InProcess()
    return concurrent.futures.ProcessPoolExecutor(max_workers=workers)
