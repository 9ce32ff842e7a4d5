"""Bayesian CRM and TITE-CRM (O'Quigley, Pepe and Fisher 1990; Cheung and Chappell 2000).

Model: one of `skeleton.MODELS` with a normal prior b ~ N(0, prior_sd^2) (default sd sqrt(1.34),
as in dfcrm). Likelihood of patient i at level k_i with weight w_i:
p_k(b) if a DLT was seen, else 1 - w_i p_k(b). Weights:

- plain CRM: 1 for a complete window, 0 for an open one (it never doses while one is open);
- TITE-CRM, "linear" (default): followed_days / dlt_window_days while the window is open;
- TITE-CRM, "adaptive" (Cheung and Chappell 2000, as dfcrm::titecrm scheme="adaptive"): with the
  z observed DLT days t_1 <= ... <= t_z (all levels) and a patient followed u days, m of the t_j
  being <= u: w = (m + (u - t_m) / (t_{m+1} - t_m)) / (z + 1), taking t_0 = 0 and t_{z+1} = the
  window; linear when no DLT has been seen.

Dose choice (`estimate`): "plugin" (default; the original CRM and dfcrm) puts the posterior mean of
b into the model, p_k(E[b | data]); "posterior_mean" uses E[p_k(b) | data] instead. The next level
is the one whose estimate is closest to the target (the lower on a tie, like dfcrm).

Rules around that choice:

- the first patient (and cohort) gets `start_level`; cohorts of `cohort_size` share a level;
- plain CRM waits until every treated patient's window is complete before dosing a new cohort;
  TITE-CRM never waits;
- `no_skip_escalation` (default True): never more than one level above the most recent patient's
  level (dfcrm's `restrict`); de-escalation may skip;
- safety stop: STOP (TOO_TOXIC) when at least `safety_min_n` patients (default 3) have been
  treated at the lowest level and P(p_lowest > target | data) > `safety_threshold` (default 0.90,
  None switches the rule off), the rule of escalation's stop_when_too_toxic with the data-size
  guard of BOIN's elimination rule; the trial then recommends no dose (sim.dosefinding.base);
  `recommend` applies the same rule to the data it is given;
- STOP (MAX_N) once `max_n` patients have been treated;
- `recommend` picks, among levels that were tried, the one whose estimate is closest to the target
  (dfcrm may recommend an untried level; a phase II dose never tried is not offered here).

Posterior: the prior density on a fixed uniform grid over +/- 8 prior sd (step <= 0.1), built at
construction with every level's log p and log(1 - p); integrals are sums over the grid (the
trapezoid rule, spectrally accurate for these smooth integrands; the safety rule's mass on one
side of the lowest level's switch point integrates the sinc interpolant, `_below_weights`).
Complete patients enter as counts per level (one small matrix product); only open-window TITE
patients cost a row each.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import sici

from sim.dosefinding.base import (
    WAIT,
    Decision,
    DoseFindingDesign,
    StopReason,
    TreatedPatient,
)
from sim.dosefinding.skeleton import dlt_probability, log_dlt_probabilities, scaled_doses

DEFAULT_PRIOR_SD = math.sqrt(1.34)
WEIGHT_SCHEMES = ("linear", "adaptive")
ESTIMATES = ("plugin", "posterior_mean")
_GRID_HALF_WIDTH_SDS = 8.0
_MAX_GRID_STEP = 0.1
_MAX_REMEMBERED = 100_000  # complete-data posterior summaries kept (a few hundred bytes each)
_MAX_REMEMBERED_GRIDS = 10_000  # complete-data posteriors on the grid kept (1.5 kB each)


def _switch_point(dose: float, target: float, model: str, intercept: float) -> float | None:
    """The b below which the lowest level's DLT probability exceeds `target` (it falls as b
    rises); None if it never does (logistic model with target >= expit(intercept))."""
    if model == "empiric":
        ratio = math.log(target) / math.log(dose)
    else:
        ratio = (math.log(target / (1.0 - target)) - intercept) / dose
    return math.log(ratio) if ratio > 0.0 else None


def _below_weights(grid: np.ndarray, switch: float) -> np.ndarray:
    """Weights that turn sums over the uniform `grid` into integrals over b < `switch`: the
    integral of the density's sinc interpolant from the grid values, w_j = 1/2 + Si(pi (switch -
    b_j) / h) / pi (Stenger 1993, Numerical Methods Based on Sinc and Analytic Functions, sinc
    indefinite integration), as accurate as the grid sums themselves for smooth densities; an
    indicator summed over the nodes would be off by up to half a cell's mass (about 0.03 here)."""
    step = grid[1] - grid[0]
    return 0.5 + sici(np.pi * (switch - grid) / step)[0] / np.pi


def _remember(cache: dict, key, value, limit: int) -> None:
    """Keep `value` under `key`, starting the cache afresh once it holds `limit` entries (a
    bound on memory; what recurs is soon remembered again)."""
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value


def _expit(eta: float) -> float:
    if eta >= 0.0:
        return 1.0 / (1.0 + math.exp(-eta))
    odds = math.exp(eta)  # no overflow for very negative eta
    return odds / (1.0 + odds)


@dataclass(frozen=True, slots=True)
class CrmPosterior:
    """Posterior summaries for the patients given."""

    beta_mean: float
    beta_sd: float
    dlt_plugin: tuple[float, ...]  # p_k(E[b]) per level
    dlt_posterior_mean: tuple[float, ...]  # E[p_k(b)] per level
    prob_lowest_above_target: float  # P(p_0(b) > target)


class CRM(DoseFindingDesign):
    """CRM (`time_to_event=False`) or TITE-CRM (`time_to_event=True`); see the module docstring."""

    def __init__(
        self,
        skeleton: Sequence[float],
        target: float,
        *,
        max_n: int,
        start_level: int = 0,
        cohort_size: int = 1,
        dlt_window_days: float = 21.0,
        time_to_event: bool = False,
        weight_scheme: str = "linear",
        model: str = "empiric",
        intercept: float = 3.0,
        prior_sd: float = DEFAULT_PRIOR_SD,
        estimate: str = "plugin",
        no_skip_escalation: bool = True,
        safety_threshold: float | None = 0.90,
        safety_min_n: int = 3,
    ) -> None:
        doses = scaled_doses(skeleton, model, intercept)
        super().__init__(
            doses.size, start_level=start_level, max_n=max_n, dlt_window_days=dlt_window_days
        )
        if not 0 < target < 1:
            raise ValueError(f"target must be in (0, 1), got {target}")
        if cohort_size < 1:
            raise ValueError(f"cohort_size must be at least 1, got {cohort_size}")
        if weight_scheme not in WEIGHT_SCHEMES:
            raise ValueError(
                f"weight_scheme must be one of {WEIGHT_SCHEMES}, got {weight_scheme!r}"
            )
        if estimate not in ESTIMATES:
            raise ValueError(f"estimate must be one of {ESTIMATES}, got {estimate!r}")
        if not prior_sd > 0:
            raise ValueError(f"prior_sd must be positive, got {prior_sd}")
        if safety_threshold is not None and not 0 < safety_threshold < 1:
            raise ValueError(f"safety_threshold must be in (0, 1) or None, got {safety_threshold}")
        if safety_min_n < 1:
            raise ValueError(f"safety_min_n must be at least 1, got {safety_min_n}")
        self.skeleton = tuple(float(s) for s in skeleton)
        self.target = float(target)
        self.cohort_size = cohort_size
        self.time_to_event = time_to_event
        self.weight_scheme = weight_scheme
        self.model = model
        self.intercept = float(intercept)
        self.prior_sd = float(prior_sd)
        self.estimate = estimate
        self.no_skip_escalation = no_skip_escalation
        self.safety_threshold = safety_threshold
        self.safety_min_n = safety_min_n
        self._doses = doses

        # Everything that depends on parameters only, computed once per scenario.
        half_width = _GRID_HALF_WIDTH_SDS * self.prior_sd
        step = min(_MAX_GRID_STEP, self.prior_sd / 4.0)
        n_half = math.ceil(half_width / step)
        self._grid = np.linspace(-n_half * step, n_half * step, 2 * n_half + 1)
        self._log_prior = -0.5 * (self._grid / self.prior_sd) ** 2
        log_p, log_q = log_dlt_probabilities(doses, self._grid, model, self.intercept)
        # Rows: log p per level, log(1 - p) per level, log prior: (2 levels + 1, grid).
        self._log_tables = np.ascontiguousarray(np.vstack([log_p.T, log_q.T, self._log_prior]))
        self._p_table = np.ascontiguousarray(np.exp(log_p.T))  # (levels, grid)
        switch = _switch_point(float(doses[0]), self.target, model, self.intercept)
        self._lowest_above_target = (
            np.zeros_like(self._grid) if switch is None else _below_weights(self._grid, switch)
        )
        # One product gives the posterior mass, its first moment in b and the mass that the
        # safety rule needs.
        self._moment_rows = np.vstack(
            [np.ones_like(self._grid), self._grid, self._lowest_above_target]
        )
        self._complete_data_summaries: dict[tuple[float, ...], tuple[list, list]] = {}
        self._complete_data_posteriors: dict[tuple[float, ...], np.ndarray] = {}

    # -- posterior -------------------------------------------------------------------------------

    def _weight(self, followed: float, dlt_days: list[float]) -> float:
        window = self.dlt_window_days
        if self.weight_scheme == "linear" or not dlt_days:
            return followed / window
        z = len(dlt_days)
        m = 0
        while m < z and dlt_days[m] <= followed:
            m += 1
        before = dlt_days[m - 1] if m else 0.0
        after = dlt_days[m] if m < z else window
        if after <= before:  # a DLT on the last day of the window: the step is complete here
            return min(1.0, (m + 1.0) / (z + 1.0))
        return min(1.0, (m + (followed - before) / (after - before)) / (z + 1.0))

    def _tally(
        self, patients: Sequence[TreatedPatient]
    ) -> tuple[list[float], list[int], list[float], int]:
        """One pass: coefficients of the complete-data rows (a final 1 for the log-prior row),
        the open windows (levels, days followed) and the number treated at the lowest level."""
        n_levels = self.n_levels
        window = self.dlt_window_days
        coefficients = [0.0] * (2 * n_levels) + [1.0]  # DLTs per level, complete without, prior
        open_levels: list[int] = []
        open_followed: list[float] = []
        n_lowest = 0
        for patient in patients:
            level = patient.level
            if level == 0:
                n_lowest += 1
            if patient.dlt:
                coefficients[level] += 1.0
            elif patient.followed_days >= window:
                coefficients[n_levels + level] += 1.0
            else:
                open_levels.append(level)
                open_followed.append(patient.followed_days)
        return coefficients, open_levels, open_followed, n_lowest

    def _posterior(
        self,
        patients: Sequence[TreatedPatient],
        coefficients: list[float],
        open_levels: list[int],
        open_followed: list[float],
    ) -> tuple[np.ndarray, list[float]]:
        """Unnormalised posterior weights on the grid, and their sums: total mass, mass times b,
        mass where the lowest level's DLT probability exceeds the target."""
        # The complete data's part recurs across replicates: remembered (read-only).
        key = tuple(coefficients)
        complete = self._complete_data_posteriors.get(key)
        if complete is None:
            # Log-likelihood and log-prior are <= 0, so exp cannot overflow; only absurdly
            # conflicting data could underflow every point, handled below.
            complete = np.exp(np.dot(coefficients, self._log_tables))
            complete.flags.writeable = False
            _remember(self._complete_data_posteriors, key, complete, _MAX_REMEMBERED_GRIDS)
        post = complete
        if self.time_to_event and open_levels:
            window = self.dlt_window_days
            if self.weight_scheme == "adaptive":
                dlt_days = sorted(p.followed_days for p in patients if p.dlt)
                weights = [self._weight(f, dlt_days) for f in open_followed]
            else:
                weights = [f / window for f in open_followed]
            p_table = self._p_table
            for level, weight in zip(open_levels, weights, strict=True):
                if weight > 0.0:
                    factor = 1.0 - weight * p_table[level]  # an open window: 1 - w p
                    if post is complete:
                        post = post * factor
                    else:
                        post *= factor
        moments = np.dot(self._moment_rows, post).tolist()
        if not moments[0] > 1e-280:
            log_post = np.dot(coefficients, self._log_tables)
            log_post -= log_post.max()
            post = np.exp(log_post)
            if self.time_to_event and open_levels:
                for level, weight in zip(open_levels, weights, strict=True):
                    post *= 1.0 - weight * self._p_table[level]
            moments = np.dot(self._moment_rows, post).tolist()
        return post, moments

    def _summaries(
        self,
        patients: Sequence[TreatedPatient],
        coefficients: list[float],
        open_levels: list[int],
        open_followed: list[float],
    ) -> tuple[list[float], list[float]]:
        """(moments, estimates) of the posterior. With no open window weighing in, they depend
        on the counts alone, which recur across a run's replicates: remembered (a pure cache)."""
        key = None
        if not (self.time_to_event and open_levels):
            key = tuple(coefficients)
            known = self._complete_data_summaries.get(key)
            if known is not None:
                return known
        post, moments = self._posterior(patients, coefficients, open_levels, open_followed)
        summaries = moments, self._estimates(post, moments)
        if key is not None:
            _remember(self._complete_data_summaries, key, summaries, _MAX_REMEMBERED)
        return summaries

    def _estimates(self, post: np.ndarray, moments: list[float]) -> list[float]:
        if self.estimate == "posterior_mean":
            return (np.dot(self._p_table, post) / moments[0]).tolist()
        slope = math.exp(moments[1] / moments[0])
        if self.model == "empiric":
            return [s**slope for s in self.skeleton]
        return [_expit(self.intercept + slope * x) for x in self._doses]

    def _too_toxic(self, n_lowest: int, moments: list[float]) -> bool:
        if self.safety_threshold is None or n_lowest < self.safety_min_n:
            return False
        return moments[2] > self.safety_threshold * moments[0]

    def fit(self, patients: Sequence[TreatedPatient]) -> CrmPosterior:
        """Posterior summaries (the same likelihood as `decide` uses)."""
        coefficients, open_levels, open_followed, _ = self._tally(patients)
        post, moments = self._posterior(patients, coefficients, open_levels, open_followed)
        post = post / moments[0]
        mean = float(np.dot(post, self._grid))
        var = float(np.dot(post, (self._grid - mean) ** 2))
        plugin = dlt_probability(self._doses, mean, self.model, self.intercept)
        return CrmPosterior(
            beta_mean=mean,
            beta_sd=math.sqrt(var),
            dlt_plugin=tuple(float(v) for v in plugin),
            dlt_posterior_mean=tuple(np.dot(self._p_table, post).tolist()),
            prob_lowest_above_target=float(np.dot(post, self._lowest_above_target)),
        )

    def _closest(self, estimates: list[float], allowed: Sequence[int]) -> int:
        """The allowed level whose estimate is closest to the target; the lower one on a tie."""
        target = self.target
        best_level, best_distance = -1, math.inf
        for level in allowed:
            distance = abs(estimates[level] - target)
            if distance < best_distance:
                best_level, best_distance = level, distance
        return best_level

    # -- the design ------------------------------------------------------------------------------

    def decide(self, patients: Sequence[TreatedPatient]) -> Decision:
        n = len(patients)
        if n == 0:
            return Decision.treat(self.start_level)
        coefficients, open_levels, open_followed, n_lowest = self._tally(patients)
        summaries = None
        if self.safety_threshold is not None and n_lowest >= self.safety_min_n:
            summaries = self._summaries(patients, coefficients, open_levels, open_followed)
            if self._too_toxic(n_lowest, summaries[0]):
                return Decision.stop(StopReason.TOO_TOXIC)
        if n >= self.max_n:
            return Decision.stop(StopReason.MAX_N)
        last_level = patients[-1].level
        if n % self.cohort_size:
            return Decision.treat(last_level)
        if open_levels and not self.time_to_event:
            return WAIT
        if summaries is None:
            summaries = self._summaries(patients, coefficients, open_levels, open_followed)
        level = self._closest(summaries[1], range(self.n_levels))
        if self.no_skip_escalation and level > last_level + 1:
            level = last_level + 1
        return Decision.treat(level)

    def stop_reason(self, patients: Sequence[TreatedPatient]) -> StopReason | None:
        """As `decide` would stop, without fitting the model unless the safety rule could fire."""
        if not patients:
            return None
        if self.safety_threshold is not None:
            n_lowest = sum(1 for patient in patients if patient.level == 0)
            if n_lowest >= self.safety_min_n:
                coefficients, open_levels, open_followed, _ = self._tally(patients)
                moments, _ = self._summaries(patients, coefficients, open_levels, open_followed)
                if self._too_toxic(n_lowest, moments):
                    return StopReason.TOO_TOXIC
        return StopReason.MAX_N if len(patients) >= self.max_n else None

    def recommend(self, patients: Sequence[TreatedPatient]) -> int | None:
        if not patients:
            return None
        coefficients, open_levels, open_followed, n_lowest = self._tally(patients)
        moments, estimates = self._summaries(patients, coefficients, open_levels, open_followed)
        if self._too_toxic(n_lowest, moments):
            return None
        tried = sorted({p.level for p in patients})
        return self._closest(estimates, tried)
