"""CRM working models, skeleton calibration and indifference intervals.

One-parameter models (O'Quigley, Pepe and Fisher 1990; as in dfcrm, Cheung 2011):

- "empiric":  p_k(b) = s_k ** exp(b), with the skeleton s as the doses themselves;
- "logistic": p_k(b) = 1 / (1 + exp(-(a + exp(b) x_k))), intercept a fixed (default 3), the scaled
  doses x_k = logit(s_k) - a back-solved from the skeleton so that p_k(0) = s_k.

Both make every p_k decrease in b. Calibration by indifference intervals (Lee and Cheung 2009,
Clinical Trials 6:227; dfcrm::getprior): the skeleton whose level `prior_mtd_level` has prior
probability `target`, spaced so that wherever the model switches its choice from one level to the
next, the two levels' DLT probabilities are target - halfwidth and target + halfwidth.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.optimize import brentq

MODELS = ("empiric", "logistic")


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _check_model(model: str) -> None:
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")


def scaled_doses(
    skeleton: Sequence[float], model: str = "empiric", intercept: float = 3.0
) -> np.ndarray:
    """The model's dose labels: the skeleton (empiric) or logit(skeleton) - intercept (logistic)."""
    _check_model(model)
    s = np.asarray(skeleton, dtype=float)
    if s.ndim != 1 or s.size == 0:
        raise ValueError("the skeleton must be a non-empty sequence of probabilities")
    if not np.all((s > 0) & (s < 1)):
        raise ValueError(f"skeleton probabilities must be in (0, 1), got {list(s)}")
    if np.any(np.diff(s) <= 0):
        raise ValueError(f"the skeleton must be strictly increasing, got {list(s)}")
    if model == "empiric":
        return s
    x = np.log(s / (1.0 - s)) - intercept
    if np.any(x >= 0):
        # exp(b) x must decrease p for every level, as in dfcrm, which refuses such intercepts too.
        raise ValueError(
            f"intercept {intercept} is too small for the skeleton: "
            "logit(skeleton) must stay below it"
        )
    return x


def dlt_probability(
    doses: np.ndarray, b: np.ndarray | float, model: str = "empiric", intercept: float = 3.0
) -> np.ndarray:
    """p_k(b) for scaled doses `doses` (as from `scaled_doses`), broadcasting b over a new axis."""
    return np.exp(log_dlt_probabilities(doses, b, model, intercept)[0])


def log_dlt_probabilities(
    doses: np.ndarray, b: np.ndarray | float, model: str = "empiric", intercept: float = 3.0
) -> tuple[np.ndarray, np.ndarray]:
    """(log p_k(b), log(1 - p_k(b))), computed without forming p where it under- or overflows."""
    slope = np.exp(np.asarray(b, dtype=float))[..., None]
    if model == "empiric":
        log_p = slope * np.log(doses)
        return log_p, np.log(-np.expm1(log_p))
    eta = intercept + slope * doses
    return -np.logaddexp(0.0, -eta), -np.logaddexp(0.0, eta)


def calibrate_skeleton(
    target: float,
    halfwidth: float,
    prior_mtd_level: int,
    n_levels: int,
    model: str = "empiric",
    intercept: float = 3.0,
) -> tuple[float, ...]:
    """Skeleton with indifference intervals target +/- halfwidth (Lee and Cheung 2009).

    `prior_mtd_level` is 0-based. Same values as dfcrm::getprior(halfwidth, target, nu =
    prior_mtd_level + 1, nlevel = n_levels, model, intcpt).
    """
    _check_model(model)
    if not 0 < target < 1:
        raise ValueError(f"target must be in (0, 1), got {target}")
    if not 0 < halfwidth < min(target, 1 - target):
        raise ValueError(f"halfwidth must be in (0, {min(target, 1 - target)}), got {halfwidth}")
    if not 0 <= prior_mtd_level < n_levels:
        raise ValueError(f"prior_mtd_level must be in 0..{n_levels - 1}, got {prior_mtd_level}")
    low, high = target - halfwidth, target + halfwidth
    if model == "empiric":
        # Where level k switches to k+1: s_k^e = low and s_{k+1}^e = high, so
        # log s_{k+1} = log s_k * log(high) / log(low): a constant ratio of log-doses.
        ratio = math.log(high) / math.log(low)
        return tuple(target ** (ratio ** (k - prior_mtd_level)) for k in range(n_levels))
    # Logistic: at the switch a + e x_k = logit(low) and a + e x_{k+1} = logit(high), so the scaled
    # doses have the constant ratio (logit(high) - a) / (logit(low) - a).
    if _logit(high) >= intercept:
        raise ValueError(f"intercept {intercept} is too small for target + halfwidth = {high}")
    ratio = (_logit(high) - intercept) / (_logit(low) - intercept)
    centre = _logit(target) - intercept
    return tuple(
        1.0 / (1.0 + math.exp(-(intercept + centre * ratio ** (k - prior_mtd_level))))
        for k in range(n_levels)
    )


def indifference_intervals(
    skeleton: Sequence[float], target: float, model: str = "empiric", intercept: float = 3.0
) -> list[tuple[float, float]]:
    """Per level: (lower, upper) indifference limits, NaN where a level has no neighbour.

    b_k is where the model's choice switches between levels k-1 and k (their probabilities
    straddle the target equally). Level k's limits are p_{k-1}(b_k) and p_{k+1}(b_{k+1}), the
    convention of Cheung and Chappell (2002, Biometrics 58:671) and dfcrm::crmsens.
    """
    doses = scaled_doses(skeleton, model, intercept)
    n_levels = doses.size

    def p(level: int, b: float) -> float:
        return float(dlt_probability(doses[level : level + 1], b, model, intercept)[0])

    switches = [math.nan] * (n_levels + 1)
    for k in range(1, n_levels):
        gap = lambda b, k=k: p(k - 1, b) + p(k, b) - 2.0 * target  # noqa: E731 - decreasing in b
        lo, hi = -1.0, 1.0
        for _ in range(6):  # |b| up to 64 covers every skeleton in (0, 1) short of underflow
            if gap(lo) >= 0 and gap(hi) <= 0:
                break
            lo, hi = 2.0 * lo, 2.0 * hi
        else:
            raise ValueError(f"no switch between levels {k - 1} and {k} for target {target}")
        switches[k] = brentq(gap, lo, hi, xtol=1e-13)
    intervals = []
    for k in range(n_levels):
        lower = p(k - 1, switches[k]) if k > 0 else math.nan
        upper = p(k + 1, switches[k + 1]) if k < n_levels - 1 else math.nan
        intervals.append((lower, upper))
    return intervals
