"""One-sample tests of a time-to-event endpoint against a historical exponential control.

Every test is one-sided with H1: the hazard is lower than the null hazard (longer PFS). A test
rejects H0 at level alpha when its p-value is <= alpha.

Sources:
- Epstein B, Sobel M. Life testing. JASA 1953;48:486-502: with exponential lifetimes and the test
  stopped at the d-th event, 2 * hazard * (total time on test) ~ chi-square on 2d degrees of
  freedom. Under random right censoring this is the usual large-sample approximation (Lawless,
  Statistical Models and Methods for Lifetime Data, 2nd ed. 2003, on the exponential model).
- Breslow NE. Analysis of survival data under the proportional hazards model. Int Stat Rev
  1975;43:45-58; Finkelstein DM, Muzikansky A, Schoenfeld DA. Comparing survival of a sample to
  that of a standard population. JNCI 2003;95:1434-1439: the one-sample log-rank test, O events
  against E = sum of the null cumulative hazard at each follow-up time.
- The identity P(Poisson(mu) <= k) = P(chi2(2k + 2) > 2 mu) = Q(k + 1, mu) (regularised upper
  incomplete gamma), used for the exact Poisson version and the closed forms below.

The p-value functions call scipy.special directly, not scipy.stats distribution objects: they run
once per simulated trial.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import special

LogrankMethod = Literal["normal", "exact"]


@dataclass(frozen=True)
class ExponentialTestResult:
    """Exact exponential test (Epstein and Sobel 1953).

    `statistic` = 2 * null_hazard * total_time, referred to chi-square on `df` degrees of freedom;
    `df` = 2 * events, or 2 when there are no events (see `exponential_test`).
    """

    statistic: float
    df: int
    p_value: float
    events: int
    total_time: float


@dataclass(frozen=True)
class OneSampleLogrankResult:
    """One-sample log-rank test: O observed against E expected events under the null.

    `statistic` is Z = (E - O) / sqrt(E) for both methods; `p_value` is P(N(0,1) >= Z) for
    "normal" and P(Poisson(E) <= O) for "exact".
    """

    observed: int
    expected: float
    statistic: float
    p_value: float
    method: str


def exponential_test(events: int, total_time: float, null_hazard: float) -> ExponentialTestResult:
    """Exact exponential test from the number of events d and the total time at risk T.

    `null_hazard` is per unit of `total_time` (ln 2 / null median for an exponential control).
    p = P(chi2(2d) >= 2 * null_hazard * T). With no event at all chi2(0) is a point mass at 0
    and that formula would give p = 0, rejecting H0 on no information; d = 0 uses 2 degrees of
    freedom instead: p = exp(-E), E = null_hazard * T. That is the exact Poisson p-value
    P(Poisson(E) <= 0) (R: poisson.test(0, T, r, alternative = "less")), a valid level-alpha
    test: short follow-up gives p near 1, long event-free follow-up a small p. T = 0 gives p = 1.
    """
    _check_totals(events, total_time, null_hazard)
    statistic = 2.0 * null_hazard * total_time
    df = 2 * events if events > 0 else 2
    return ExponentialTestResult(
        statistic=statistic,
        df=df,
        p_value=float(special.chdtrc(df, statistic)),
        events=int(events),
        total_time=float(total_time),
    )


def exponential_test_from_data(
    times: npt.ArrayLike, events: npt.ArrayLike, null_hazard: float
) -> ExponentialTestResult:
    """`exponential_test` from follow-up times and event indicators (1/True = event)."""
    total_time, n_events = _totals(times, events)
    return exponential_test(n_events, total_time, null_hazard)


def one_sample_logrank(
    observed: int, expected: float, method: LogrankMethod = "normal"
) -> OneSampleLogrankResult:
    """One-sample log-rank test from O and E (E may come from any null cumulative hazard).

    Z = (E - O) / sqrt(E); "normal": p = P(N(0,1) >= Z); "exact": p = P(Poisson(E) <= O).
    E = 0 (no time at risk) gives p = 1 with Z = -inf (O > 0) or NaN (O = 0).
    """
    if observed < 0 or int(observed) != observed:
        raise ValueError(f"observed events must be a non-negative integer, got {observed!r}")
    if not expected >= 0.0 or not math.isfinite(expected):
        raise ValueError(f"expected events must be finite and >= 0, got {expected!r}")
    if method not in ("normal", "exact"):
        raise ValueError(f"method must be 'normal' or 'exact', got {method!r}")
    if expected == 0.0:
        # No time at risk, no information: H0 stands (the exact p-value is 1 as well).
        z = -math.inf if observed > 0 else math.nan
        return OneSampleLogrankResult(
            observed=int(observed), expected=0.0, statistic=z, p_value=1.0, method=method
        )
    z = (expected - observed) / math.sqrt(expected)
    if method == "normal":
        p_value = float(special.ndtr(-z))
    else:
        p_value = float(special.pdtr(observed, expected))
    return OneSampleLogrankResult(
        observed=int(observed),
        expected=float(expected),
        statistic=z,
        p_value=p_value,
        method=method,
    )


def one_sample_logrank_from_data(
    times: npt.ArrayLike,
    events: npt.ArrayLike,
    null_hazard: float,
    method: LogrankMethod = "normal",
) -> OneSampleLogrankResult:
    """One-sample log-rank test against an exponential null: E = null_hazard * total time."""
    total_time, n_events = _totals(times, events)
    _check_totals(n_events, total_time, null_hazard)
    return one_sample_logrank(n_events, null_hazard * total_time, method)


def exponential_test_power(n: int, alpha: float, hazard_ratio: float) -> float:
    """Rejection probability of the exponential test when all n patients are followed to an event.

    `hazard_ratio` = true hazard / null hazard (= null median / true median for exponentials);
    1 gives the size, which is alpha exactly. Closed form: with 2 * true_hazard * sum(T) ~
    chi2(2n), reject when 2 * null_hazard * sum(T) > c = chi2 upper-alpha quantile on 2n df, so
    power = P(chi2(2n) > c * hazard_ratio).
    """
    _check_design(n, alpha, hazard_ratio)
    critical = special.chdtri(2 * n, alpha)
    return float(special.chdtrc(2 * n, critical * hazard_ratio))


def exponential_test_sample_size(
    alpha: float, power: float, hazard_ratio: float, max_n: int = 100_000
) -> int:
    """Smallest n whose `exponential_test_power` reaches `power` (complete follow-up)."""
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be in (0, 1), got {power!r}")
    _check_design(1, alpha, hazard_ratio)
    if hazard_ratio >= 1.0:
        raise ValueError("hazard_ratio must be < 1: H1 is a lower hazard than the null")
    for n in range(1, max_n + 1):
        if exponential_test_power(n, alpha, hazard_ratio) >= power:
            return n
    raise ValueError(f"power {power} is not reached with n <= {max_n}")


def logrank_power_complete_followup(
    n: int, alpha: float, hazard_ratio: float, method: LogrankMethod = "normal"
) -> float:
    """Rejection probability of the one-sample log-rank test when all n patients have an event.

    Then O = n and E = null_hazard * sum(T) ~ Gamma(n, scale = 1 / hazard_ratio), hazard_ratio =
    true hazard / null hazard (1 gives the size). Both tests reject when E exceeds a threshold:
    "normal": (E - n) / sqrt(E) > z, i.e. sqrt(E) > (z + sqrt(z^2 + 4n)) / 2;
    "exact": P(Poisson(E) <= n) = Q(n + 1, E) <= alpha, i.e. E >= Q^-1(n + 1, alpha).
    Power = P(Gamma(n, 1) > threshold * hazard_ratio) = Q(n, threshold * hazard_ratio).
    """
    _check_design(n, alpha, hazard_ratio)
    if method == "normal":
        z = special.ndtri(1.0 - alpha)
        threshold = ((z + math.sqrt(z * z + 4.0 * n)) / 2.0) ** 2
    elif method == "exact":
        threshold = special.gammainccinv(n + 1, alpha)
    else:
        raise ValueError(f"method must be 'normal' or 'exact', got {method!r}")
    return float(special.gammaincc(n, threshold * hazard_ratio))


def _totals(times: npt.ArrayLike, events: npt.ArrayLike) -> tuple[float, int]:
    t = np.asarray(times, dtype=np.float64)
    e = np.asarray(events)
    if t.shape != e.shape or t.ndim != 1:
        raise ValueError("times and events must be 1-D arrays of the same length")
    if t.size and (t.min() < 0.0 or not math.isfinite(t.sum())):
        raise ValueError("times must be finite and >= 0")
    return float(t.sum()), int(np.count_nonzero(e))


def _check_totals(events: int, total_time: float, null_hazard: float) -> None:
    if events < 0 or int(events) != events:
        raise ValueError(f"events must be a non-negative integer, got {events!r}")
    if not total_time >= 0.0 or not math.isfinite(total_time):
        raise ValueError(f"total time at risk must be finite and >= 0, got {total_time!r}")
    if not null_hazard > 0.0 or not math.isfinite(null_hazard):
        raise ValueError(f"null_hazard must be finite and > 0, got {null_hazard!r}")


def _check_design(n: int, alpha: float, hazard_ratio: float) -> None:
    if n < 1 or int(n) != n:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if not hazard_ratio > 0.0 or not math.isfinite(hazard_ratio):
        raise ValueError(f"hazard_ratio must be finite and > 0, got {hazard_ratio!r}")
