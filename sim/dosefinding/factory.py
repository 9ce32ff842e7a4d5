"""Build a design from scenario-style parameters (0-based levels; the parser converts).

Raises ValueError with a message naming the parameter; the scenario layer turns that into a
ScenarioError with the file and key path.
"""

from __future__ import annotations

from collections.abc import Sequence

from sim.dosefinding.base import DoseFindingDesign
from sim.dosefinding.boin import BOIN
from sim.dosefinding.crm import CRM, DEFAULT_PRIOR_SD
from sim.dosefinding.skeleton import calibrate_skeleton
from sim.dosefinding.three_plus_three import COHORT_SIZE, ThreePlusThree

DESIGN_NAMES = ("3+3", "crm", "tite-crm", "boin")


def build_design(
    design: str,
    *,
    n_levels: int,
    start_level: int = 0,
    max_n: int | None = None,
    cohort_size: int | None = None,
    target_dlt: float | None = None,
    dlt_window_days: float = 21.0,
    skeleton: Sequence[float] | None = None,
    indifference_halfwidth: float | None = None,
    prior_mtd_level: int | None = None,
    model: str = "empiric",
    intercept: float = 3.0,
    prior_sd: float = DEFAULT_PRIOR_SD,
    estimate: str = "plugin",
    tite_weights: str = "linear",
    no_skip_escalation: bool = True,
    safety_threshold: float | None = 0.90,
    safety_min_n: int = 3,
    confirm_mtd_with_six: bool = True,
    n_earlystop: int | None = None,
) -> DoseFindingDesign:
    """The design named `design` (one of DESIGN_NAMES), built once per scenario.

    CRM skeleton: `skeleton` if given, else calibrated from `indifference_halfwidth` and
    `prior_mtd_level` (default: `start_level`) by Lee and Cheung's method. Parameters a design
    does not use are ignored, except a 3+3 cohort size other than 3, which is an error.
    """
    if design == "3+3":
        if cohort_size not in (None, COHORT_SIZE):
            raise ValueError(f"the 3+3 design treats cohorts of 3, got cohort_size={cohort_size}")
        return ThreePlusThree(
            n_levels,
            start_level=start_level,
            max_n=max_n,
            dlt_window_days=dlt_window_days,
            confirm_mtd_with_six=confirm_mtd_with_six,
        )
    if design not in DESIGN_NAMES:
        raise ValueError(f"design must be one of {DESIGN_NAMES}, got {design!r}")
    if target_dlt is None:
        raise ValueError(f"design {design!r} needs target_dlt")
    if max_n is None:
        raise ValueError(f"design {design!r} needs max_n, the number of phase I patients")
    if design == "boin":
        return BOIN(
            n_levels,
            target_dlt,
            max_n=max_n,
            start_level=start_level,
            cohort_size=3 if cohort_size is None else cohort_size,
            dlt_window_days=dlt_window_days,
            n_earlystop=n_earlystop,
        )
    if skeleton is None:
        if indifference_halfwidth is None:
            raise ValueError(f"design {design!r} needs a skeleton or an indifference_halfwidth")
        skeleton = calibrate_skeleton(
            target_dlt,
            indifference_halfwidth,
            start_level if prior_mtd_level is None else prior_mtd_level,
            n_levels,
            model=model,
            intercept=intercept,
        )
    elif len(skeleton) != n_levels:
        raise ValueError(f"the skeleton has {len(skeleton)} values for {n_levels} dose levels")
    return CRM(
        skeleton,
        target_dlt,
        max_n=max_n,
        start_level=start_level,
        cohort_size=1 if cohort_size is None else cohort_size,
        dlt_window_days=dlt_window_days,
        time_to_event=design == "tite-crm",
        weight_scheme=tite_weights,
        model=model,
        intercept=intercept,
        prior_sd=prior_sd,
        estimate=estimate,
        no_skip_escalation=no_skip_escalation,
        safety_threshold=safety_threshold,
        safety_min_n=safety_min_n,
    )
