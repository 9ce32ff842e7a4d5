"""Cox proportional-hazards model with one binary covariate (treatment), optionally stratified.

Partial likelihood (Cox 1972, JRSS B 34:187) maximised by Newton-Raphson from beta = 0, as R's
survival::coxph does (safeguarded by bisection where coxph halves steps). With x in {0, 1}, each
risk set enters only through its counts: n0, n1 at risk and d0, d1 events in control and
experimental (the RiskTable of sim.stats.logrank).
With r = exp(beta):

- Breslow (1974) ties: log L = sum_j [d1_j beta - d_j log(n0_j + n1_j r)].
- Efron (1977) ties: the d_j tied events are removed from the risk set a fraction l/d_j at a time,
  l = 0 .. d_j - 1: log L = sum_j [d1_j beta - sum_l log(a_jl + b_jl r)] with
  a_jl = n0_j - (l/d_j) d0_j and b_jl = n1_j - (l/d_j) d1_j. This is R's default
  (coxph(ties = "efron")); without tied event times the two coincide.

Both are sum_rows w [p terms] with p = b r / (a + b r): score = D1 - sum w p, information =
sum w p (1 - p). SE = information^(-1/2) at the estimate (R's se(coef)); Wald z = beta / SE.
The estimate is infinite (monotone likelihood) when the score keeps its sign for every beta,
e.g. no events in one arm; the result then says converged = False.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.special import ndtr, ndtri

from sim.stats.logrank import RiskTable, risk_table

Ties = Literal["efron", "breslow"]

_MAX_ITERATIONS = 50
_STEP_TOLERANCE = 1e-10


@dataclass(frozen=True)
class CoxResult:
    """Cox fit of the hazard ratio, experimental over control (as R prints it).

    wald_z = log_hr / se is R's "z" (negative when the experimental arm does better);
    p_two_sided is R's Pr(>|z|); p_one_sided = Phi(wald_z), for H1: HR < 1. loglik_null and
    loglik are R's fit$loglik (at beta = 0 and at the estimate). ci_* is the Wald interval for
    `confidence`.
    """

    log_hr: float
    se: float
    hazard_ratio: float
    ci_lower: float
    ci_upper: float
    confidence: float
    wald_z: float
    p_two_sided: float
    p_one_sided: float
    loglik_null: float
    loglik: float
    iterations: int
    converged: bool
    ties: str
    events: int


def _rows(table: RiskTable, ties: Ties):
    """(a, b, weight) per term of the partial likelihood; weight None when every weight is 1."""
    n1 = table.at_risk_experimental.astype(float)
    n0 = table.at_risk - n1
    d = table.events
    if d.sum() == d.size:  # one event at each time: Efron is Breslow, and every d_j is 1
        return n0, n1, None
    if ties == "breslow":
        return n0, n1, d.astype(float)
    # Efron: expand each event time into its d_j terms l = 0 .. d_j - 1.
    d1 = table.events_experimental.astype(float)
    per_row = np.repeat(np.arange(d.size), d)
    first = np.concatenate(([0], np.cumsum(d)[:-1]))
    fraction = (np.arange(per_row.size) - first[per_row]) / d[per_row]
    d0 = d - d1
    a = n0[per_row] - fraction * d0[per_row]
    b = n1[per_row] - fraction * d1[per_row]
    return a, b, None


def _weighted_sum(weight: np.ndarray | None, values: np.ndarray) -> float:
    return float(values.sum() if weight is None else weight @ values)


def _share(a: np.ndarray, b: np.ndarray, ratio: float) -> np.ndarray:
    """p = b r / (a + b r): the experimental share of the risk at each term."""
    experimental = b * ratio
    return np.divide(experimental, np.add(a, experimental), out=experimental)


def _information(weight: np.ndarray | None, p: np.ndarray) -> float:
    """sum w p (1 - p)."""
    complement = 1.0 - p
    return float(p @ complement if weight is None else (weight * p) @ complement)


def _midpoint(low: float, high: float, beta: float) -> float:
    """Bisection step; an unbounded side is approached by doubling the distance (at least 1)."""
    if math.isinf(low):
        return beta - max(1.0, 2.0 * abs(beta))
    if math.isinf(high):
        return beta + max(1.0, 2.0 * abs(beta))
    return 0.5 * (low + high)


def cox_from_table(
    table: RiskTable,
    ties: Ties = "efron",
    confidence: float = 0.95,
    initial_log_hr: float = 0.0,
    with_loglik: bool = True,
) -> CoxResult:
    """Fit the one-covariate Cox model from a risk table (see the module docstring).

    `initial_log_hr`: where Newton-Raphson starts (coxph: 0); a start near the answer, such as
    the log-rank (O - E) / V, saves iterations and reaches the same maximum. `with_loglik=False`
    leaves the two log-likelihoods nan (the replicate loop does not read them).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if ties not in ("efron", "breslow"):
        raise ValueError(f"ties must be 'efron' or 'breslow', got {ties!r}")
    a, b, weight = _rows(table, ties)
    events_experimental = float(table.events_experimental.sum())
    events = int(table.events.sum())

    def loglik(beta: float) -> float:
        return events_experimental * beta - _weighted_sum(weight, np.log(a + b * math.exp(beta)))

    loglik_null = (loglik(0.0) if events else 0.0) if with_loglik else math.nan
    # The score D1 - sum w p(beta) decreases from D1 - sum w [a = 0] (beta -> -inf) to
    # D1 - sum w [b > 0] (beta -> +inf); a finite maximum needs it to change sign.
    score_at_minus_inf = events_experimental - _weighted_sum(weight, a == 0.0)
    score_at_plus_inf = events_experimental - _weighted_sum(weight, b > 0.0)
    if events == 0 or score_at_minus_inf <= 0.0 or score_at_plus_inf >= 0.0:
        if events == 0:
            beta = math.nan
        else:
            beta = -math.inf if score_at_minus_inf <= 0.0 else math.inf
        return CoxResult(
            log_hr=beta,
            se=math.inf if events else math.nan,
            hazard_ratio=math.exp(beta) if events else math.nan,
            ci_lower=math.nan,
            ci_upper=math.nan,
            confidence=confidence,
            wald_z=math.nan,
            p_two_sided=math.nan,
            p_one_sided=math.nan,
            loglik_null=loglik_null,
            loglik=math.nan,
            iterations=0,
            converged=False,
            ties=ties,
            events=events,
        )

    # Newton-Raphson on the score, which decreases in beta (the log-likelihood is concave), kept
    # inside a bracket [low, high] with score(low) > 0 > score(high): a step leaving it is
    # replaced by bisection. This plays the part of coxph's step halving without evaluating the
    # log-likelihood at every step. It starts from beta = 0, as coxph does, unless told otherwise.
    beta = float(initial_log_hr) if math.isfinite(initial_log_hr) else 0.0
    low, high = -math.inf, math.inf
    converged = False
    iterations = 0
    while iterations < _MAX_ITERATIONS:
        iterations += 1
        ratio = math.exp(beta)
        p = _share(a, b, ratio)
        score = events_experimental - _weighted_sum(weight, p)
        information = _information(weight, p)
        if score == 0.0:
            converged = True
            break
        if score > 0.0:
            low = beta
        else:
            high = beta
        candidate = beta + score / information
        if not low < candidate < high:
            candidate = _midpoint(low, high, beta)
        step = candidate - beta
        beta = candidate
        if abs(step) < _STEP_TOLERANCE:
            converged = True
            break
    ratio = math.exp(beta)
    information = _information(weight, _share(a, b, ratio))
    se = 1.0 / math.sqrt(information)
    wald_z = beta / se
    half_width = float(ndtri(0.5 + confidence / 2.0)) * se
    return CoxResult(
        log_hr=beta,
        se=se,
        hazard_ratio=ratio,
        ci_lower=math.exp(beta - half_width),
        ci_upper=math.exp(beta + half_width),
        confidence=confidence,
        wald_z=wald_z,
        p_two_sided=float(2.0 * ndtr(-abs(wald_z))),
        p_one_sided=float(ndtr(wald_z)),
        loglik_null=loglik_null,
        loglik=loglik(beta) if with_loglik else math.nan,
        iterations=iterations,
        converged=converged,
        ties=ties,
        events=events,
    )


def cox_binary(
    time, event, group, strata=None, ties: Ties = "efron", confidence: float = 0.95
) -> CoxResult:
    """Cox hazard ratio of group 1 (experimental) vs group 0, stratified when `strata` given.

    Equivalent to R's coxph(Surv(time, event) ~ group + strata(strata), ties = ties).
    """
    return cox_from_table(risk_table(time, event, group, strata), ties, confidence)
