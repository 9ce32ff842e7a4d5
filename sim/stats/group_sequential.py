"""Group-sequential boundaries for a one-sided test of H0: theta <= 0 with K looks.

The canonical joint distribution (Jennison and Turnbull 2000, chapter 3): at information
fractions t_1 < ... < t_K the statistics Z_k are jointly normal with E[Z_k] = drift * sqrt(t_k)
and Cov(Z_j, Z_k) = sqrt(t_j / t_k) for j <= k; the score S_k = Z_k sqrt(t_k) has independent
increments. "drift" is theta * sqrt(I_max), the mean of the z-statistic at full information; for a
log-rank test with 1:1 allocation and D events, drift = -log(HR) * sqrt(D) / 2.

Boundary-crossing probabilities are computed by the recursive numerical integration of Armitage,
McPherson and Rowe (1969, JRSS A 132:235) in the form of Jennison and Turnbull (2000, chapter 19):
the sub-density of Z_k on the continuation region is carried from look to look on a grid of
6r - 1 points per look (Simpson's rule on the grid and its midpoints).

Conventions, as in rpact's getDesignGroupSequential (sided = 1):

- Efficacy: reject H0 at look k when Z_k >= efficacy_z[k].
- Futility: stop at an interim k when Z_k <= futility_z[k]. At the final look the futility entry
  repeats the efficacy bound: not crossing it there is the trial's failure.
- Non-binding futility: efficacy bounds are computed as if there were no futility bounds, so the
  type I error is at most alpha whether or not the futility bounds are obeyed. Binding futility:
  efficacy bounds assume the trial always stops at a futility bound (they are slightly lower).
- Beta spending (Pampallona, Tsiatis and Kim 2001): futility bound k is set so that the
  probability of stopping for futility by look k under the drift is beta(t_k). With no drift
  given, the drift is solved so that the two bounds meet at the last look, i.e. the power is
  exactly 1 - beta (rpact's and gsDesign's convention). When a futility bound would lie above
  the efficacy bound at an interim it is set equal to it (no continuation region there).
- Observed information: pass the observed fractions I_k / I_max (planned I_max); they may exceed
  1. Look k spends alpha(min(t_k, 1)); with last_is_final the last look given spends whatever
  alpha remains (Lan and DeMets 1983, Biometrika 70:659). Classical and Haybittle-Peto constants
  are re-solved over the fractions given, as if they were every look of the trial.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.optimize import brentq
from scipy.special import ndtr, ndtri

# r of Jennison and Turnbull (2000, chapter 19): 6r - 1 grid points per look before trimming.
# With r = 16 the bounds agree with r = 64 and with rpact to about 1e-6 (tests), far inside the
# 1e-3 tolerance, at a quarter of the cost of r = 32.
DEFAULT_GRID_R = 16
# Between two looks the integrand is a normal kernel whose width shrinks with the square root of
# the information added; r = 16 resolves increments down to about 0.002 (final bound within
# 1e-5 of r = 128), so r grows as 1 / sqrt(increment) below that, up to a limit.
_RESOLVED_INCREMENT = 0.002
_MAX_GRID_R = 256
# Looks at most, rpact's limit too: at 20 equally spaced looks the bounds agree with a grid 4
# times as fine to 2e-5; at 100 only to 6e-3, and from about 400 the recursion overflows.
MAX_LOOKS = 20

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_ROOT_XTOL = 1e-10
# z-values beyond which nothing can be spent in double precision (ndtr(-37) ~ 6e-300).
_Z_FAR = 37.0

SpendingFamily = Literal["obrien-fleming", "pocock", "hwang-shih-decani", "kim-demets"]


# ---------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------


class RuleParameterError(ValueError):
    """A rule given without the parameter it needs, or with one it does not take.

    `needed` names the missing parameter ("gamma", "rho", "delta"); None when the rule takes no
    parameter. It lets a caller name its own option or key for the parameter (the command line's
    --parameter or --futility-parameter, a scenario's efficacy_parameter or futility_parameter).
    """

    def __init__(self, message: str, needed: str | None) -> None:
        super().__init__(message)
        self.needed = needed


# The parameter each spending family needs.
_SPENDING_PARAMETERS = {"hwang-shih-decani": "gamma", "kim-demets": "rho"}


@dataclass(frozen=True)
class SpendingFunction:
    """A Lan-DeMets error-spending function: the share of the total error spent by fraction t.

    Families (t clipped to [0, 1]; E the total error, alpha or beta):
    - "obrien-fleming": 2 - 2 Phi(z_{1-E/2} / sqrt(t))   (Lan and DeMets 1983; rpact asOF)
    - "pocock":         E log(1 + (e - 1) t)             (Lan and DeMets 1983; rpact asP)
    - "hwang-shih-decani": E (1 - exp(-gamma t)) / (1 - exp(-gamma)), E t when gamma = 0
                                                          (Hwang, Shih, DeCani 1990; rpact asHSD)
    - "kim-demets":     E t^rho, rho > 0                 (Kim and DeMets 1987; rpact asKD)
    `parameter` is gamma or rho; it is required by those two families and refused by the others.
    """

    family: SpendingFamily
    parameter: float | None = None

    def __post_init__(self) -> None:
        if self.family not in ("obrien-fleming", "pocock", "hwang-shih-decani", "kim-demets"):
            raise ValueError(f"unknown spending family {self.family!r}")
        needed = _SPENDING_PARAMETERS.get(self.family)
        if needed is not None and self.parameter is None:
            raise RuleParameterError(
                f"spending family {self.family!r} needs a parameter ({needed})", needed
            )
        if needed is None and self.parameter is not None:
            raise RuleParameterError(f"spending family {self.family!r} takes no parameter", None)
        if self.family == "kim-demets" and not 0 < self.parameter <= 50:
            raise ValueError(f"kim-demets rho must be in (0, 50], got {self.parameter:g}")
        # Beyond |gamma| = 40 the curve is a step at t = 0 or 1; far beyond, exp overflows.
        if self.family == "hwang-shih-decani" and not -40 <= self.parameter <= 40:
            raise ValueError(
                f"hwang-shih-decani gamma must be in [-40, 40], got {self.parameter:g}"
            )

    def cumulative(self, fractions: Sequence[float] | np.ndarray, total: float) -> np.ndarray:
        """Cumulative error spent at each information fraction (exactly `total` for t >= 1)."""
        t = np.clip(np.asarray(fractions, dtype=float), 0.0, 1.0)
        if self.family == "obrien-fleming":
            with np.errstate(divide="ignore"):
                spent = 2.0 * ndtr(-ndtri(1.0 - total / 2.0) / np.sqrt(t))
        elif self.family == "pocock":
            spent = total * np.log1p((math.e - 1.0) * t)
        elif self.family == "hwang-shih-decani":
            gamma = float(self.parameter)
            if gamma == 0.0:
                spent = total * t
            else:
                spent = total * np.expm1(-gamma * t) / math.expm1(-gamma)
        else:
            spent = total * t ** float(self.parameter)
        return np.where(t >= 1.0, total, spent)

    def describe(self) -> str:
        if self.parameter is None:
            return f"{self.family} spending"
        return f"{self.family} spending ({self.parameter:g})"


@dataclass(frozen=True)
class WangTsiatis:
    """Classical boundaries of constant shape: b_k = c (t_k / t_K)^(delta - 1/2).

    delta = 0 is O'Brien and Fleming (1979), b_k = c sqrt(t_K / t_k); delta = 1/2 is Pocock (1977),
    b_k = c. c is solved so that the overall one-sided type I error is alpha (Wang and Tsiatis
    1987; Jennison and Turnbull 2000, chapters 2 and 4).
    """

    delta: float

    def __post_init__(self) -> None:
        if not -0.5 <= self.delta <= 1.0:  # beyond, t^(delta - 1/2) leaves the solver nothing
            raise ValueError(f"wang-tsiatis delta must be in [-0.5, 1], got {self.delta:g}")

    def describe(self) -> str:
        if self.delta == 0.0:
            return "O'Brien-Fleming (classical)"
        if self.delta == 0.5:
            return "Pocock (classical)"
        return f"Wang-Tsiatis (delta {self.delta:g})"


@dataclass(frozen=True)
class HaybittlePeto:
    """z = interim_z at every interim (Haybittle 1971; Peto et al. 1976).

    adjust_final=True (default, rpact's "HP"): the final bound is solved so the overall type I
    error is exactly alpha (it is a little above z_{1-alpha}). adjust_final=False: the final bound
    is z_{1-alpha}, Peto's original rule; the size then exceeds alpha slightly, and alpha_spent in
    the result shows by how much.
    """

    interim_z: float = 3.0
    adjust_final: bool = True

    def describe(self) -> str:
        final = "final adjusted" if self.adjust_final else "final unadjusted"
        return f"Haybittle-Peto (interim z {self.interim_z:g}, {final})"


EfficacyRule = SpendingFunction | WangTsiatis | HaybittlePeto


@dataclass(frozen=True)
class BetaSpendingFutility:
    """Futility bounds from a beta-spending function (rpact typeBetaSpending "bsOF", ...)."""

    function: SpendingFunction
    beta: float = 0.2

    def describe(self) -> str:
        return f"beta {self.function.describe()} (beta {self.beta:g})"


@dataclass(frozen=True)
class FixedFutility:
    """Fixed futility z-bounds, one per interim look (a single value is used at every interim).

    For an interim recomputation (last_is_final=False) every look given is an interim; bounds
    for later interims may be present and are ignored.
    """

    z: float | tuple[float, ...]

    def describe(self) -> str:
        return f"fixed futility z {self.z}"


FutilityRule = BetaSpendingFutility | FixedFutility

# Names a scenario file or the command line may use, with rpact's typeOfDesign codes as aliases.
_EFFICACY_NAMES = {
    "ld-obrien-fleming": "asOF",
    "ld-pocock": "asP",
    "hwang-shih-decani": "asHSD",
    "kim-demets": "asKD",
    "obrien-fleming": "OF",
    "pocock": "P",
    "wang-tsiatis": "WT",
    "haybittle-peto": "HP",
}
EFFICACY_NAMES = tuple(_EFFICACY_NAMES)


def efficacy_rule(name: str, parameter: float | None = None) -> EfficacyRule:
    """The efficacy rule called `name` (or its rpact code, e.g. "asOF", "HP").

    `parameter`: gamma for "hwang-shih-decani", rho for "kim-demets", delta for "wang-tsiatis",
    the interim z for "haybittle-peto" (default 3); refused elsewhere.
    """
    aliases = {code.lower(): full for full, code in _EFFICACY_NAMES.items()}
    canonical = aliases.get(name.lower(), name.lower())
    if canonical not in _EFFICACY_NAMES:
        raise ValueError(f"unknown efficacy boundary {name!r}; expected one of {EFFICACY_NAMES}")
    takes = {"hwang-shih-decani", "kim-demets", "wang-tsiatis", "haybittle-peto"}
    if parameter is not None and canonical not in takes:
        raise RuleParameterError(f"efficacy boundary {name!r} takes no parameter", None)
    if canonical == "ld-obrien-fleming":
        return SpendingFunction("obrien-fleming")
    if canonical == "ld-pocock":
        return SpendingFunction("pocock")
    if canonical in ("hwang-shih-decani", "kim-demets"):
        return SpendingFunction(canonical, parameter)
    if canonical == "obrien-fleming":
        return WangTsiatis(0.0)
    if canonical == "pocock":
        return WangTsiatis(0.5)
    if canonical == "wang-tsiatis":
        if parameter is None:
            raise RuleParameterError("wang-tsiatis needs a parameter (delta)", "delta")
        return WangTsiatis(float(parameter))
    return HaybittlePeto(3.0 if parameter is None else float(parameter))


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupSequentialBoundaries:
    """Boundaries as a planner copies them into a protocol, one entry per look.

    efficacy_p / futility_p are nominal one-sided p-values 1 - Phi(z). alpha_spent is the
    cumulative probability under H0 of rejecting by look k (with the futility bounds obeyed only
    when binding). beta_spent is the cumulative probability under `drift` of stopping for
    futility by look k, the last entry including failure at the final look (so it is 1 - power
    when last_is_final); None without futility bounds or without a drift. An efficacy bound of
    +inf means no alpha is spent at that look.
    """

    information_fractions: tuple[float, ...]
    alpha: float
    efficacy_z: tuple[float, ...]
    efficacy_p: tuple[float, ...]
    alpha_spent: tuple[float, ...]
    futility_z: tuple[float, ...] | None
    futility_p: tuple[float, ...] | None
    beta_spent: tuple[float, ...] | None
    drift: float | None
    binding: bool
    efficacy_rule: str
    futility_rule: str | None


@dataclass(frozen=True)
class CrossingProbabilities:
    """Boundary-crossing probabilities at each look under a drift.

    efficacy[k] = P(continue to look k, Z_k >= efficacy_z[k]); futility[k] likewise below the
    futility bound (the last entry is failure at the final look when the bounds meet there).
    """

    drift: float
    efficacy: tuple[float, ...]
    futility: tuple[float, ...]
    cumulative_efficacy: tuple[float, ...]
    rejection: float
    expected_information_fraction: float


# ---------------------------------------------------------------------------------------------
# Numerical integration (Jennison and Turnbull 2000, chapter 19)
# ---------------------------------------------------------------------------------------------


def _grid_offsets(r: int) -> np.ndarray:
    """The 6r - 1 grid points about the mean of Z_k (J&T 2000, chapter 19).

    Evenly spaced within 3 SD of the mean, then spreading logarithmically to about
    3 + 4 log(r) SD, where the normal tail is negligible.
    """
    i = np.arange(1, 6 * r, dtype=float)
    inner = -3.0 + 3.0 * (i - r) / (2.0 * r)
    lower_tail = -3.0 - 4.0 * np.log(r / i)
    upper_tail = 3.0 + 4.0 * np.log(r / (6 * r - i))
    return np.where(i < r, lower_tail, np.where(i > 5 * r, upper_tail, inner))


class _NothingLeftToSpend(ValueError):
    """Binding futility bounds left less probability under H0 than the alpha to be spent."""


@dataclass(frozen=True)
class _Density:
    """Sub-density of Z_k on the continuation region of look k, multiplied by Simpson weights."""

    fraction: float
    z: np.ndarray
    weighted: np.ndarray


def _simpson_nodes(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grid points with their midpoints interleaved, and Simpson's weights for them."""
    widths = np.diff(points)
    nodes = np.empty(2 * points.size - 1)
    nodes[0::2] = points
    nodes[1::2] = points[:-1] + widths / 2.0
    weights = np.zeros_like(nodes)
    weights[1::2] = 4.0 * widths / 6.0
    weights[0:-1:2] += widths / 6.0
    weights[2::2] += widths / 6.0
    return nodes, weights


class _Integrator:
    def __init__(self, grid_r: int) -> None:
        if grid_r < 2:
            raise ValueError(f"grid_r must be >= 2, got {grid_r}")
        self.offsets = _grid_offsets(grid_r)

    @staticmethod
    def upper_exit(prev: _Density | None, fraction: float, drift: float, bound: float) -> float:
        """P(continue to this look, Z >= bound)."""
        if bound == math.inf:
            return 0.0
        if prev is None:
            return float(ndtr(drift * math.sqrt(fraction) - bound))
        step = fraction - prev.fraction
        x = (prev.z * math.sqrt(prev.fraction) + drift * step - bound * math.sqrt(fraction))
        return float(prev.weighted @ ndtr(x / math.sqrt(step)))

    @staticmethod
    def lower_exit(prev: _Density | None, fraction: float, drift: float, bound: float) -> float:
        """P(continue to this look, Z <= bound)."""
        if bound == -math.inf:
            return 0.0
        if prev is None:
            return float(ndtr(bound - drift * math.sqrt(fraction)))
        step = fraction - prev.fraction
        x = (bound * math.sqrt(fraction) - prev.z * math.sqrt(prev.fraction) - drift * step)
        return float(prev.weighted @ ndtr(x / math.sqrt(step)))

    def advance(
        self, prev: _Density | None, fraction: float, drift: float, lower: float, upper: float
    ) -> _Density:
        """The sub-density at this look restricted to the continuation region (lower, upper)."""
        mean = drift * math.sqrt(fraction)
        grid = mean + self.offsets
        inside = grid[(grid > lower) & (grid < upper)]
        points = np.concatenate(
            ([lower] if lower > grid[0] else [], inside, [upper] if upper < grid[-1] else [])
        )
        if points.size < 2 or lower >= upper:
            return _Density(fraction, np.empty(0), np.empty(0))
        nodes, weights = _simpson_nodes(points)
        if prev is None:
            density = _INV_SQRT_2PI * np.exp(-0.5 * (nodes - mean) ** 2)
        else:
            step = fraction - prev.fraction
            scale = math.sqrt(fraction / step)
            u = (
                nodes[:, None] * math.sqrt(fraction)
                - prev.z[None, :] * math.sqrt(prev.fraction)
                - drift * step
            ) / math.sqrt(step)
            density = (np.exp(-0.5 * u * u) @ prev.weighted) * (scale * _INV_SQRT_2PI)
        return _Density(fraction, nodes, weights * density)


def _solve_upper(integrator, prev, fraction, drift, target: float) -> float:
    """The bound b with P(continue, Z >= b) = target (+inf when nothing is to be spent)."""
    if target <= 0.0:
        return math.inf
    mean = drift * math.sqrt(fraction)

    def excess(bound: float) -> float:
        return math.log(max(integrator.upper_exit(prev, fraction, drift, bound), 1e-320)) - (
            math.log(target)
        )

    low, high = mean - _Z_FAR, mean + _Z_FAR
    if excess(low) < 0.0:
        raise _NothingLeftToSpend(
            f"cannot spend {target:.3g} at fraction {fraction:g}: too little probability left "
            "in the continuation region (futility bounds too high?)"
        )
    if excess(high) > 0.0:
        return math.inf
    return brentq(excess, low, high, xtol=_ROOT_XTOL)


def _solve_lower(integrator, prev, fraction, drift, target: float, ceiling: float) -> float:
    """The bound a <= ceiling with P(continue, Z <= a) = target (ceiling if unreachable)."""
    if target <= 0.0:
        return -math.inf
    mean = drift * math.sqrt(fraction)

    def excess(bound: float) -> float:
        return math.log(max(integrator.lower_exit(prev, fraction, drift, bound), 1e-320)) - (
            math.log(target)
        )

    low = mean - _Z_FAR
    high = min(ceiling, mean + _Z_FAR)
    if excess(high) <= 0.0:
        return ceiling
    if excess(low) > 0.0:
        return -math.inf
    return brentq(excess, low, high, xtol=_ROOT_XTOL)


def _exits(integrator, fractions, drift, efficacy, futility) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower exit probabilities at every look for fully specified bounds."""
    upper = np.zeros(len(fractions))
    lower = np.zeros(len(fractions))
    prev = None
    for k, fraction in enumerate(fractions):
        upper[k] = integrator.upper_exit(prev, fraction, drift, efficacy[k])
        lower[k] = integrator.lower_exit(prev, fraction, drift, min(futility[k], efficacy[k]))
        if k + 1 < len(fractions):
            prev = integrator.advance(prev, fraction, drift, futility[k], efficacy[k])
    return upper, lower


# ---------------------------------------------------------------------------------------------
# Boundaries
# ---------------------------------------------------------------------------------------------


def _check_fractions(information_fractions) -> np.ndarray:
    fractions = np.asarray(information_fractions, dtype=float)
    if fractions.ndim != 1 or fractions.size == 0:
        raise ValueError("information_fractions must be a non-empty sequence")
    if not np.all(np.isfinite(fractions)) or fractions[0] <= 0.0:
        raise ValueError(f"information fractions must be positive, got {fractions.tolist()}")
    if np.any(np.diff(fractions) <= 0.0):
        raise ValueError(f"information fractions must increase, got {fractions.tolist()}")
    return fractions


def _alpha_targets(rule: SpendingFunction, fractions, alpha, last_is_final) -> np.ndarray:
    cumulative = rule.cumulative(fractions, alpha)
    if last_is_final:
        cumulative[-1] = alpha
    return np.diff(np.concatenate(([0.0], cumulative)))


def _beta_targets(rule: BetaSpendingFutility, fractions) -> np.ndarray:
    cumulative = rule.function.cumulative(fractions, rule.beta)
    return np.diff(np.concatenate(([0.0], cumulative)))


def _shape_bounds(rule, fractions, constant: float) -> np.ndarray:
    """Efficacy bounds of a classical rule for a given constant c."""
    if isinstance(rule, WangTsiatis):
        return constant * (fractions / fractions[-1]) ** (rule.delta - 0.5)
    bounds = np.full(fractions.size, rule.interim_z)
    bounds[-1] = constant
    return bounds


def _solve_constant(integrator, rule, fractions, alpha, futility_of) -> np.ndarray:
    """Classical efficacy bounds: the constant c giving overall size alpha.

    futility_of(efficacy) returns the futility bounds that bind under H0 (all -inf when
    non-binding); they may depend on the efficacy bounds (binding beta spending).
    """

    def size_excess(constant: float) -> float:
        efficacy = _shape_bounds(rule, fractions, constant)
        upper, _ = _exits(integrator, fractions, 0.0, efficacy, futility_of(efficacy))
        return math.log(upper.sum()) - math.log(alpha)

    # The size lies between that of the last look alone and the Bonferroni sum, so c lies between
    # the constants making each of them alpha.
    shape = _shape_bounds(rule, fractions, 1.0)
    if isinstance(rule, HaybittlePeto):
        # What the interims spend, with the looks' correlation (not the Bonferroni sum) and
        # without futility stopping, which could only lower it.
        interims_only = _shape_bounds(rule, fractions, math.inf)
        no_futility = np.full(fractions.size, -math.inf)
        upper, _ = _exits(integrator, fractions, 0.0, interims_only, no_futility)
        spent_at_interims = float(upper.sum())
        if spent_at_interims >= alpha:
            raise ValueError(
                f"interim z {rule.interim_z:g} spends {spent_at_interims:.3g} >= alpha "
                f"{alpha:g} at the interims alone"
            )
        low, high = float(ndtri(1 - alpha)), float(ndtri(1 - (alpha - spent_at_interims)))
        low -= 1e-6
        high += 1e-6
    else:
        low = float(ndtri(1.0 - alpha) / shape[-1]) - 1e-6
        high = float(np.max(ndtri(1.0 - alpha / fractions.size) / shape)) + 1e-6
    # Binding futility bounds lower the size, so c may lie below that bracket.
    while size_excess(low) < 0.0:
        low -= 0.5
    while size_excess(high) > 0.0:
        high += 0.5
    constant = brentq(size_excess, low, high, xtol=_ROOT_XTOL)
    return _shape_bounds(rule, fractions, constant)


def _sequential_spending(integrator, fractions, alpha_targets, drift, futility_step):
    """Spending-function efficacy bounds, interleaved look by look with the futility bounds.

    futility_step(k, prev_drift_density, efficacy_k) -> futility bound at look k, which both the
    H0 and the drift densities obey (callers pass -inf for bounds that do not bind under H0).
    """
    count = fractions.size
    efficacy = np.empty(count)
    futility = np.full(count, -math.inf)
    null_density = None
    drift_density = None
    for k in range(count):
        fraction = fractions[k]
        efficacy[k] = _solve_upper(integrator, null_density, fraction, 0.0, alpha_targets[k])
        futility[k] = futility_step(k, drift_density, efficacy[k])
        if k + 1 < count:
            null_density = integrator.advance(
                null_density, fraction, 0.0, futility[k], efficacy[k]
            )
            if drift is not None:
                drift_density = integrator.advance(
                    drift_density, fraction, drift, futility[k], efficacy[k]
                )
    return efficacy, futility


def _beta_spending_bounds(integrator, fractions, efficacy, drift, beta_targets) -> np.ndarray:
    """Futility bounds for given efficacy bounds by beta spending under `drift`."""
    futility = np.empty(fractions.size)
    density = None
    for k, fraction in enumerate(fractions):
        futility[k] = _solve_lower(
            integrator, density, fraction, drift, beta_targets[k], efficacy[k]
        )
        if k + 1 < fractions.size:
            density = integrator.advance(density, fraction, drift, futility[k], efficacy[k])
    return futility


def group_sequential_boundaries(
    information_fractions: Sequence[float],
    alpha: float = 0.025,
    efficacy: EfficacyRule | None = None,
    futility: FutilityRule | None = None,
    *,
    binding: bool = False,
    drift: float | None = None,
    last_is_final: bool = True,
    grid_r: int = DEFAULT_GRID_R,
) -> GroupSequentialBoundaries:
    """One-sided group-sequential boundaries at the given information fractions.

    efficacy: a SpendingFunction (Lan-DeMets alpha spending), WangTsiatis (classical O'Brien-
    Fleming delta = 0, Pocock delta = 0.5) or HaybittlePeto; default Lan-DeMets O'Brien-Fleming.
    futility: None, BetaSpendingFutility or FixedFutility. binding: whether the efficacy bounds
    assume the futility bounds are obeyed. drift: the standardized effect (E[Z] at full
    information) under which beta is spent and reported; with beta spending and no drift it is
    solved so the bounds meet at the last look (needs last_is_final). last_is_final: the last
    fraction given is the final analysis (it spends all remaining alpha); False for an interim
    recomputation with more looks to come.
    """
    fractions = _check_fractions(information_fractions)
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"one-sided alpha must be in (0, 0.5), got {alpha}")
    rule = SpendingFunction("obrien-fleming") if efficacy is None else efficacy
    if not isinstance(rule, SpendingFunction | WangTsiatis | HaybittlePeto):
        raise TypeError(f"unknown efficacy rule {rule!r}")
    if not isinstance(rule, SpendingFunction) and not last_is_final:
        raise ValueError("classical and Haybittle-Peto bounds need every look: last_is_final")
    integrator = _integrator_for(fractions, grid_r)
    count = fractions.size
    no_floor = np.full(count, -math.inf)

    if isinstance(futility, BetaSpendingFutility):
        if not 0.0 < futility.beta < 1.0 - alpha:
            raise ValueError(f"beta must be in (0, 1 - alpha), got {futility.beta}")
        if drift is None and not last_is_final:
            raise ValueError("beta spending at an interim needs the design's drift")
    if isinstance(futility, FixedFutility):
        interims = count - 1 if last_is_final else count
        given = np.atleast_1d(np.asarray(futility.z, dtype=float))
        if given.size == 1:
            given = np.repeat(given, interims)
        elif given.size < interims:
            raise ValueError(f"{interims} interim futility bounds needed, got {given.size}")
        # Bounds for interims not reached yet (interim recomputation) are not needed.
        fixed_floor = np.concatenate((given[:interims], [-math.inf] * (count - interims)))
    elif futility is not None and not isinstance(futility, BetaSpendingFutility):
        raise TypeError(f"unknown futility rule {futility!r}")

    def efficacy_for(floor_of) -> np.ndarray:
        """Efficacy bounds when H0 paths also stop at floor_of(efficacy) (binding)."""
        if isinstance(rule, SpendingFunction):
            targets = _alpha_targets(rule, fractions, alpha, last_is_final)
            known = floor_of(None)
            bounds, _ = _sequential_spending(
                integrator, fractions, targets, None, lambda k, _d, _b: known[k]
            )
            return bounds
        if isinstance(rule, HaybittlePeto) and not rule.adjust_final:
            bounds = np.full(count, rule.interim_z)
            bounds[-1] = float(ndtri(1.0 - alpha))
            return bounds
        return _solve_constant(integrator, rule, fractions, alpha, floor_of)

    nonbinding_efficacy: list[np.ndarray] = []  # computed once: it does not depend on drift

    def design_for(theta: float | None) -> tuple[np.ndarray, np.ndarray]:
        """(efficacy, futility) bounds for a drift (beta spending) or without one."""
        if futility is None:
            return efficacy_for(lambda _e: no_floor), no_floor
        if isinstance(futility, FixedFutility):
            bounds = efficacy_for(lambda _e: fixed_floor if binding else no_floor)
            floor = fixed_floor.copy()
            if last_is_final:
                floor[-1] = bounds[-1]
            return bounds, np.minimum(floor, bounds)
        targets = _beta_targets(futility, fractions)
        if not binding:
            if not nonbinding_efficacy:
                nonbinding_efficacy.append(efficacy_for(lambda _e: no_floor))
            bounds = nonbinding_efficacy[0]
            return bounds, _beta_spending_bounds(integrator, fractions, bounds, theta, targets)
        if isinstance(rule, SpendingFunction):
            alpha_targets = _alpha_targets(rule, fractions, alpha, last_is_final)

            def step(k, density, efficacy_k):
                return _solve_lower(
                    integrator, density, fractions[k], theta, targets[k], efficacy_k
                )

            return _sequential_spending(integrator, fractions, alpha_targets, theta, step)
        bounds = efficacy_for(
            lambda e: _beta_spending_bounds(integrator, fractions, e, theta, targets)
        )
        return bounds, _beta_spending_bounds(integrator, fractions, bounds, theta, targets)

    if isinstance(futility, BetaSpendingFutility) and drift is None:
        target_power = 1.0 - futility.beta

        def power_excess(theta: float) -> float:
            try:
                bounds, floor = design_for(theta)
            except _NothingLeftToSpend:
                # Binding futility bounds this high leave H0 too little mass to spend alpha:
                # the drift is past the one sought, where the bounds meet at the last look.
                return 1.0
            floor = floor.copy()
            floor[-1] = bounds[-1]
            upper, _ = _exits(integrator, fractions, theta, bounds, floor)
            return upper.sum() - target_power

        # A group-sequential test has at most the power of the fixed-sample test at its maximum
        # information (Neyman-Pearson on S_K), so the drift sought is at least the fixed-sample one.
        fixed_sample_drift = float(ndtri(1.0 - alpha) + ndtri(target_power))
        low = 0.95 * fixed_sample_drift  # strictly below, so rounding cannot put it past
        high = 1.1 * fixed_sample_drift
        while power_excess(high) < 0.0:
            low, high = high, 1.1 * high
        drift = brentq(power_excess, low, high, xtol=_ROOT_XTOL)

    efficacy_z, futility_z = design_for(drift)
    if futility is not None:
        futility_z = np.minimum(futility_z, efficacy_z)
        if last_is_final:
            futility_z[-1] = efficacy_z[-1]

    null_floor = futility_z if (futility is not None and binding) else no_floor
    null_upper, _ = _exits(integrator, fractions, 0.0, efficacy_z, null_floor)
    beta_spent = None
    if futility is not None and drift is not None:
        _, drift_lower = _exits(integrator, fractions, drift, efficacy_z, futility_z)
        beta_spent = tuple(np.cumsum(drift_lower).tolist())

    return GroupSequentialBoundaries(
        information_fractions=tuple(fractions.tolist()),
        alpha=alpha,
        efficacy_z=tuple(efficacy_z.tolist()),
        efficacy_p=tuple(ndtr(-efficacy_z).tolist()),
        alpha_spent=tuple(np.cumsum(null_upper).tolist()),
        futility_z=None if futility is None else tuple(futility_z.tolist()),
        futility_p=None if futility is None else tuple(ndtr(-futility_z).tolist()),
        beta_spent=beta_spent,
        drift=None if drift is None else float(drift),
        binding=bool(binding and futility is not None),
        efficacy_rule=rule.describe(),
        futility_rule=None if futility is None else futility.describe(),
    )


def _bound_arrays(information_fractions, efficacy_z, futility_z):
    """Checked fractions and bounds as arrays; no futility bound is -inf."""
    fractions = _check_fractions(information_fractions)
    upper_bounds = np.asarray(efficacy_z, dtype=float)
    lower_bounds = (
        np.full(fractions.size, -math.inf)
        if futility_z is None
        else np.asarray(futility_z, dtype=float)
    )
    if upper_bounds.shape != fractions.shape or lower_bounds.shape != fractions.shape:
        raise ValueError("one efficacy (and futility) bound per information fraction")
    return fractions, upper_bounds, lower_bounds


def _integrator_for(fractions: np.ndarray, grid_r: int) -> _Integrator:
    """An integrator whose grid resolves the smallest step in information between looks."""
    if fractions.size < 2:
        return _Integrator(grid_r)
    smallest = float(np.diff(fractions).min())
    needed = math.ceil(DEFAULT_GRID_R * math.sqrt(_RESOLVED_INCREMENT / smallest))
    if needed > _MAX_GRID_R:
        raise ValueError(
            f"looks {smallest:.3g} apart in information fraction are too close to integrate "
            "accurately: merge them"
        )
    return _Integrator(max(grid_r, needed))


def crossing_probabilities(
    information_fractions: Sequence[float],
    efficacy_z: Sequence[float],
    futility_z: Sequence[float] | None = None,
    drift: float = 0.0,
    *,
    grid_r: int = DEFAULT_GRID_R,
) -> CrossingProbabilities:
    """Probabilities of crossing each bound at each look when E[Z_k] = drift sqrt(t_k).

    With drift 0 and no futility bounds, cumulative_efficacy is the alpha spent; at the design
    drift, `rejection` is the power. Futility bounds given here are obeyed (stopping).
    """
    fractions, upper_bounds, lower_bounds = _bound_arrays(
        information_fractions, efficacy_z, futility_z
    )
    upper, lower = _exits(
        _integrator_for(fractions, grid_r), fractions, drift, upper_bounds, lower_bounds
    )
    stopped = upper + lower
    stopped_by = np.cumsum(stopped)
    # The trial reaches look k+1 with probability 1 - stopped_by[k]; it always ends at the last.
    continue_to = np.concatenate(([1.0], 1.0 - stopped_by[:-1]))
    increments = np.diff(np.concatenate(([0.0], fractions)))
    return CrossingProbabilities(
        drift=float(drift),
        efficacy=tuple(upper.tolist()),
        futility=tuple(lower.tolist()),
        cumulative_efficacy=tuple(np.cumsum(upper).tolist()),
        rejection=float(upper.sum()),
        expected_information_fraction=float(increments @ continue_to),
    )


def drift_for_power(
    information_fractions: Sequence[float],
    efficacy_z: Sequence[float],
    power: float,
    futility_z: Sequence[float] | None = None,
    *,
    grid_r: int = DEFAULT_GRID_R,
) -> float:
    """The drift at which the bounds reject with probability `power`.

    (drift / (z_{1-alpha} + z_{power}))^2 is the inflation factor of the maximum information
    (events) over a fixed-sample design (rpact getDesignCharacteristics' inflationFactor).
    """
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be in (0, 1), got {power}")
    fractions, upper_bounds, lower_bounds = _bound_arrays(
        information_fractions, efficacy_z, futility_z
    )
    integrator = _integrator_for(fractions, grid_r)

    def excess(theta: float) -> float:
        upper, _ = _exits(integrator, fractions, theta, upper_bounds, lower_bounds)
        return upper.sum() - power

    low, high = -10.0, 10.0
    while excess(high) < 0.0:
        high *= 2.0
    return brentq(excess, low, high, xtol=_ROOT_XTOL)
