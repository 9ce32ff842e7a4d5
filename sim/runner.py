"""Replicates, seeding, parallel workers and streaming aggregation into Monte Carlo estimates.

Replicate i always draws from child i of the root SeedSequence (sim.rng). Replicates are run in
blocks of BLOCK_SIZE with fixed boundaries, each summarised where it ran; the parent merges the
summaries in block order. Memory does not grow with the number of replicates, and the numbers do
not depend on how many workers ran the blocks.
"""

import concurrent.futures
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim import analysis
from sim.engine import TrialPlan, simulate_trial
from sim.estimates import BlockSummary, Estimate, estimates
from sim.rng import replicate_streams
from sim.scenario import Scenario
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
    trial_plan: TrialPlan
    analysis_plan: analysis.AnalysisPlan
    seed: int
    reps: int


def replicate_values(context: _Context, replicate: int) -> np.ndarray:
    """The metrics of one replicate, in analysis.METRIC_NAMES order."""
    trial = simulate_trial(context.trial_plan, replicate_streams(context.seed, replicate))
    return analysis.replicate_metrics(trial, context.analysis_plan)


def _run_block(context: _Context, block: int) -> BlockSummary:
    first = block * BLOCK_SIZE
    last = min(first + BLOCK_SIZE, context.reps)
    values = np.array([replicate_values(context, i) for i in range(first, last)])
    return BlockSummary.of(values)


def run(
    scenario: Scenario,
    reps: int,
    seed: int,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> RunResult:
    """Simulate `reps` replicates of `scenario`; `progress(k)` is told of every k finished."""
    context = _Context(TrialPlan.from_scenario(scenario), analysis_plan(scenario), seed, reps)
    blocks = range(math.ceil(reps / BLOCK_SIZE))
    work = functools.partial(_run_block, context)
    total = None
    with _executor(workers) as executor:
        for block, summary in zip(blocks, executor.map(work, blocks), strict=True):
            total = summary if total is None else total.merge(summary)
            if progress is not None:
                progress(min(BLOCK_SIZE, reps - block * BLOCK_SIZE))
    return RunResult(
        scenario=scenario.name,
        scenario_sha256=scenario.sha256(),
        seed=seed,
        reps=reps,
        metrics=estimates(total, analysis.METRIC_NAMES, analysis.METRIC_KINDS),
        reference=reference_figures(scenario),
    )


def reference_figures(scenario: Scenario) -> dict[str, float]:
    """Closed-form rejection rates of the textbook model: n patients, each followed to an event.

    `textbook_reject_h0` at the simulated truth (exponential PFS only), `design_power` at the
    design's alternative: the simulated `reject_h0` is read against them.
    """
    phase2 = scenario.phase2
    plan = analysis_plan(scenario)

    def rejection_rate(true_median_weeks: float) -> float:
        hazard_ratio = phase2.null_median_weeks / true_median_weeks
        if phase2.test == "exponential":
            return onesample.exponential_test_power(phase2.n, phase2.alpha, hazard_ratio)
        return onesample.logrank_power_complete_followup(
            phase2.n, phase2.alpha, hazard_ratio, method=plan.logrank_method
        )

    figures = {}
    if phase2.pfs_model == "exponential" and not phase2.subgroups:
        figures["textbook_reject_h0"] = rejection_rate(phase2.true_median_weeks)
    if phase2.alt_median_weeks is not None:
        figures["design_power"] = rejection_rate(phase2.alt_median_weeks)
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
    )


class _InProcess:
    """The executor interface, run here: no pool to start for one worker."""

    def map(self, function, iterable):
        return map(function, iterable)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False


def _executor(workers: int):
    if workers == 1:
        return _InProcess()
    return concurrent.futures.ProcessPoolExecutor(max_workers=workers)
