"""BOIN: Bayesian optimal interval design (Liu and Yuan 2015, JRSS C 64:507).

With target phi and the default phi1 = 0.6 phi, phi2 = 1.4 phi, the escalation and de-escalation
boundaries are (Liu and Yuan 2015, section 2)

    lambda_e = log((1 - phi1) / (1 - phi)) / log(phi (1 - phi1) / (phi1 (1 - phi)))
    lambda_d = log((1 - phi) / (1 - phi2)) / log(phi2 (1 - phi) / (phi (1 - phi2))).

After each cohort (all its windows complete), with y DLTs in n patients at the current level:
y / n <= lambda_e escalates, y / n >= lambda_d de-escalates, anything between stays; escalation
is blocked at the top level and into eliminated levels, de-escalation at the lowest level.

Elimination (safety): a level with n >= 3 and P(p > phi | y, n) > 0.95 under a Beta(1, 1) prior is
eliminated with every level above it; if the lowest level is eliminated the trial stops
(TOO_TOXIC) and no dose is recommended. Optional `n_earlystop` (BOIN's n.earlystop, off by
default): stop (CONVERGED) when the rule would stay at a level that already has that many patients.

Selection (Liu and Yuan 2015, section 2.3, computed as the authors' BOIN R package's select.mtd
does; Yan et al. 2020, J Stat Softw 94(13)): isotonic estimates, by pool-adjacent-violators, of
the smoothed rates (y_j + 0.05) / (n_j + 0.1) of the tried, non-eliminated levels, weighted by
the inverse of their Beta(y_j + 0.05, n_j - y_j + 0.05) variance; the MTD is the level whose
estimate is closest to phi; on a tie, the highest level when the tied estimates are below phi,
the lowest when they are above (and, on an exact tie across phi, the one below phi). The
smoothing and weights move selection percentages by up to about a point against raw rates
weighted by n_j (tests/dosefinding/test_boin.py compares with the package).

Cohorts: patients of a cohort are treated at its level as they register; then the design waits for
the whole cohort's windows before deciding, as BOIN specifies (decisions at cohort boundaries).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy.special import betainc

from sim.dosefinding.base import (
    WAIT,
    Decision,
    DoseFindingDesign,
    StopReason,
    TreatedPatient,
)

_TIE = 1e-12


def boin_boundaries(
    target: float, phi1: float | None = None, phi2: float | None = None
) -> tuple[float, float]:
    """(lambda_e, lambda_d) of Liu and Yuan (2015); phi1, phi2 default to 0.6 and 1.4 target."""
    phi1 = 0.6 * target if phi1 is None else phi1
    phi2 = 1.4 * target if phi2 is None else phi2
    if not 0 < phi1 < target < phi2 < 1:
        raise ValueError(f"need 0 < phi1 < target < phi2 < 1, got {phi1}, {target}, {phi2}")
    lambda_e = math.log((1 - phi1) / (1 - target)) / math.log(
        target * (1 - phi1) / (phi1 * (1 - target))
    )
    lambda_d = math.log((1 - target) / (1 - phi2)) / math.log(
        phi2 * (1 - target) / (target * (1 - phi2))
    )
    return lambda_e, lambda_d


def prob_above(target: float, dlts: int, treated: int) -> float:
    """P(p > target | dlts of treated) under a Beta(1, 1) prior."""
    return float(1.0 - betainc(dlts + 1, treated - dlts + 1, target))


def isotonic_regression(values: Sequence[float], weights: Sequence[float]) -> list[float]:
    """Weighted least-squares non-decreasing fit (pool-adjacent-violators; Barlow et al. 1972)."""
    blocks: list[list[float]] = []  # [weighted mean, total weight, number of points]
    for value, weight in zip(values, weights, strict=True):
        blocks.append([float(value), float(weight), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean2, weight2, count2 = blocks.pop()
            mean1, weight1, count1 = blocks[-1]
            total = weight1 + weight2
            blocks[-1] = [(mean1 * weight1 + mean2 * weight2) / total, total, count1 + count2]
    fitted: list[float] = []
    for mean, _, count in blocks:
        fitted.extend([mean] * count)
    return fitted


def select_mtd(target: float, estimates: Sequence[float], levels: Sequence[int]) -> int:
    """The level whose estimate is closest to target, with Liu and Yuan's tie rule."""
    distances = [abs(e - target) for e in estimates]
    best = min(distances)
    tied = [i for i, d in enumerate(distances) if d <= best + _TIE]
    below = [i for i in tied if estimates[i] < target]
    if below:
        return levels[max(below)]
    return levels[min(tied)]


class BOIN(DoseFindingDesign):
    """BOIN as a pure decision object (see the module docstring)."""

    def __init__(
        self,
        n_levels: int,
        target: float,
        *,
        max_n: int,
        start_level: int = 0,
        cohort_size: int = 3,
        dlt_window_days: float = 21.0,
        phi1: float | None = None,
        phi2: float | None = None,
        elimination_cutoff: float = 0.95,
        elimination_min_n: int = 3,
        n_earlystop: int | None = None,
    ) -> None:
        super().__init__(
            n_levels, start_level=start_level, max_n=max_n, dlt_window_days=dlt_window_days
        )
        if cohort_size < 1:
            raise ValueError(f"cohort_size must be at least 1, got {cohort_size}")
        if not 0 < elimination_cutoff < 1:
            raise ValueError(f"elimination_cutoff must be in (0, 1), got {elimination_cutoff}")
        if n_earlystop is not None and n_earlystop < 1:
            raise ValueError(f"n_earlystop must be at least 1 or None, got {n_earlystop}")
        self.target = float(target)
        self.cohort_size = cohort_size
        self.lambda_e, self.lambda_d = boin_boundaries(target, phi1, phi2)
        self.elimination_cutoff = elimination_cutoff
        self.elimination_min_n = elimination_min_n
        self.n_earlystop = n_earlystop
        # Decision tables by number treated at a level (index 0 unused): the most DLTs that still
        # escalate, the fewest that de-escalate, the fewest that eliminate.
        self.escalate_max = [-1] * (max_n + 1)
        self.deescalate_min = [0] * (max_n + 1)
        self.eliminate_min = [max_n + 1] * (max_n + 1)
        for n in range(1, max_n + 1):
            # phi1 < lambda_e < phi (Liu and Yuan 2015), so 0 DLTs always escalate.
            self.escalate_max[n] = max(y for y in range(n + 1) if y / n <= self.lambda_e)
            self.deescalate_min[n] = min(
                (y for y in range(n + 1) if y / n >= self.lambda_d), default=n + 1
            )
            if n >= elimination_min_n:
                self.eliminate_min[n] = min(
                    (y for y in range(n + 1) if prob_above(target, y, n) > elimination_cutoff),
                    default=n + 1,
                )

    def _counts(self, patients: Sequence[TreatedPatient]) -> tuple[list[int], list[int]]:
        treated = [0] * self.n_levels
        dlts = [0] * self.n_levels
        for patient in patients:
            treated[patient.level] += 1
            if patient.dlt:
                dlts[patient.level] += 1
        return treated, dlts

    def _lowest_eliminated(self, treated: list[int], dlts: list[int]) -> int:
        """The lowest eliminated level (n_levels when none is): it and all above are out."""
        for level in range(self.n_levels):
            n = treated[level]
            if n >= self.elimination_min_n and dlts[level] >= self.eliminate_min[n]:
                return level
        return self.n_levels

    def decide(self, patients: Sequence[TreatedPatient]) -> Decision:
        n = len(patients)
        if n == 0:
            return Decision.treat(self.start_level)
        if n % self.cohort_size:
            if n >= self.max_n:
                return Decision.stop(StopReason.MAX_N)
            return Decision.treat(patients[-1].level)  # fill the open cohort
        window = self.dlt_window_days
        if any(not p.dlt and p.followed_days < window for p in patients):
            if n >= self.max_n:
                return Decision.stop(StopReason.MAX_N)
            return WAIT
        treated, dlts = self._counts(patients)
        eliminated = self._lowest_eliminated(treated, dlts)
        if eliminated == 0:
            return Decision.stop(StopReason.TOO_TOXIC)
        if n >= self.max_n:
            return Decision.stop(StopReason.MAX_N)
        current = patients[-1].level
        m, y = treated[current], dlts[current]
        if y <= self.escalate_max[m] and current + 1 < min(self.n_levels, eliminated):
            level = current + 1
        elif y >= self.deescalate_min[m] and current > 0:
            level = current - 1
        else:
            level = current
        level = min(level, eliminated - 1)
        if self.n_earlystop is not None and level == current and m >= self.n_earlystop:
            return Decision.stop(StopReason.CONVERGED)
        return Decision.treat(level)

    def recommend(self, patients: Sequence[TreatedPatient]) -> int | None:
        window = self.dlt_window_days
        complete = [p for p in patients if p.dlt or p.followed_days >= window]
        treated, dlts = self._counts(complete)
        eliminated = self._lowest_eliminated(treated, dlts)
        levels = [k for k in range(eliminated) if treated[k]]
        if not levels:
            return None
        rates, weights = [], []
        for k in levels:
            n, y = treated[k], dlts[k]
            rates.append((y + 0.05) / (n + 0.1))
            weights.append((n + 0.1) ** 2 * (n + 1.1) / ((y + 0.05) * (n - y + 0.05)))
        estimates = isotonic_regression(rates, weights)
        return select_mtd(self.target, estimates, levels)
