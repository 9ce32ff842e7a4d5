"""Two-sample log-rank test, unstratified or stratified.

Mantel (1966), Cancer Chemother Rep 50:163; Peto and Peto (1972), JRSS A 135:185.

At each distinct event time j (within a stratum) with n_j at risk, n1_j of them experimental, and
d_j events, d1_j experimental, the experimental arm's expected events and hypergeometric variance
are E_j = d_j n1_j / n_j and V_j = d_j (n1_j / n_j)(1 - n1_j / n_j)(n_j - d_j) / (n_j - 1).
O - E and V are summed over times and, for the stratified test, over strata: each stratum has
its own risk sets (as R's survival::survdiff with strata()).

Sign convention: Z = (E - O) / sqrt(V) for the experimental arm, so Z > 0 when the experimental
arm has fewer events than expected, i.e. when its hazard is lower; the one-sided p-value is
P(N(0,1) >= Z), for H1: experimental better. Z^2 is survdiff's chi-square.

Ties: a subject censored at an event time is still at risk at that time (R's convention).
The Peto estimate of the hazard ratio (experimental / control) is exp((O - E) / V) (Yusuf et al.
1985, Prog Cardiovasc Dis 27:335); it is close to the Cox estimate when the HR is near 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr


@dataclass(frozen=True)
class RiskTable:
    """Counts at each distinct event time (within stratum): the sufficient statistics of both the
    log-rank test and the Cox model with a single binary covariate.

    Arrays are aligned, one entry per (stratum, event time) with at least one event, ordered by
    stratum then time.
    """

    at_risk: np.ndarray
    at_risk_experimental: np.ndarray
    events: np.ndarray
    events_experimental: np.ndarray
    stratum: np.ndarray
    time: np.ndarray | None = None  # the event time of each row


@dataclass(frozen=True)
class LogRankResult:
    """z > 0 favours the experimental arm; p_one_sided = P(N(0,1) >= z); chi_square = z^2.

    hazard_ratio is Peto's exp((O - E) / V), experimental over control. With no events (V = 0)
    z, chi_square, p_one_sided and hazard_ratio are nan.
    """

    z: float
    chi_square: float
    p_one_sided: float
    hazard_ratio: float
    observed_experimental: float
    expected_experimental: float
    variance: float
    events: int


def _as_arrays(time, event, group, strata):
    time = np.asarray(time, dtype=float)
    event = np.asarray(event)
    group = np.asarray(group)
    if time.ndim != 1 or event.shape != time.shape or group.shape != time.shape:
        raise ValueError("time, event and group must be 1-d arrays of one length")
    if not np.all(np.isfinite(time)):
        raise ValueError("times must be finite")
    if event.dtype != bool:
        if not np.all((event == 0) | (event == 1)):
            raise ValueError("event must be boolean or 0/1")
        event = event.astype(bool)
    if group.dtype != bool:
        if not np.all((group == 0) | (group == 1)):
            raise ValueError("group must be boolean or 0/1 (1 = experimental)")
        group = group.astype(bool)
    if strata is not None:
        strata = np.asarray(strata)
        if strata.shape != time.shape:
            raise ValueError("strata must have the length of time")
        if strata.dtype.kind == "f" and np.isnan(strata).any():
            raise ValueError("strata must not be nan")
    return time, event, group, strata


def risk_table(time, event, group, strata=None) -> RiskTable:
    """Numbers at risk and events per arm at each distinct event time (per stratum).

    time: follow-up times; event: True for an event, False for censoring; group: True (1) for the
    experimental arm; strata: optional labels, any sortable values.
    """
    return risk_table_unchecked(*_as_arrays(time, event, group, strata))


def risk_table_unchecked(time, event, group, strata=None) -> RiskTable:
    """`risk_table` without its input checks, for the replicate loop: `time` a 1-D float array
    of finite values, `event` and `group` bool arrays of its length, `strata` None or labels."""
    count = time.size
    if count == 0:
        empty = np.zeros(0, dtype=np.int64)
        return RiskTable(empty, empty, empty, empty, empty, np.zeros(0))
    # Order within a run of equal times does not matter (only counts are taken), so the faster
    # unstable sort is fine for time; the stratum sort must then be stable to keep time order.
    order = np.argsort(time)
    if strata is None:
        time_sorted = time[order]
        if (time_sorted[1:] != time_sorted[:-1]).all():
            return _untied_risk_table(time_sorted, event[order], group[order])
    else:
        order = order[np.argsort(strata[order], kind="stable")]
        time_sorted = time[order]
    event_sorted = event[order]
    group_sorted = group[order]

    # Each run of equal (stratum, time) is one risk set; it starts at `starts`.
    new_run = np.empty(count, dtype=bool)
    new_run[0] = True
    np.not_equal(time_sorted[1:], time_sorted[:-1], out=new_run[1:])
    if strata is not None:
        stratum_sorted = strata[order]
        new_run[1:] |= stratum_sorted[1:] != stratum_sorted[:-1]
    starts = np.flatnonzero(new_run)
    # Events, and experimental events, per run: one reduceat over both columns.
    counts = np.empty((count, 2), dtype=np.int64)
    counts[:, 0] = event_sorted
    np.logical_and(event_sorted, group_sorted, out=counts[:, 1], casting="unsafe")
    counts = np.add.reduceat(counts, starts, axis=0)
    has_event = counts[:, 0] > 0
    counts = counts[has_event]
    starts = starts[has_event]

    # At risk at a time: subjects of its stratum from the run's start to the stratum's end.
    if strata is None:
        stratum = np.zeros(starts.size, dtype=np.int64)
        stratum_end = count
    else:
        stratum = stratum_sorted[starts]
        stratum_end = np.searchsorted(stratum_sorted, stratum, side="right")
    experimental_before = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(group_sorted, out=experimental_before[1:])
    return RiskTable(
        at_risk=stratum_end - starts,
        at_risk_experimental=experimental_before[stratum_end] - experimental_before[starts],
        events=counts[:, 0],
        events_experimental=counts[:, 1],
        stratum=stratum,
        time=time_sorted[starts],
    )


def _untied_risk_table(time_sorted, event_sorted, group_sorted) -> RiskTable:
    """The unstratified risk table of distinct times, in time order: every event time is its own
    row with one event, and the subjects at risk at the k-th time are those from it on (the
    common case of continuous times, without the run bookkeeping of ties)."""
    rows = np.flatnonzero(event_sorted)
    experimental_before = np.zeros(time_sorted.size + 1, dtype=np.int64)
    np.cumsum(group_sorted, out=experimental_before[1:])
    return RiskTable(
        at_risk=time_sorted.size - rows,
        at_risk_experimental=experimental_before[-1] - experimental_before[rows],
        events=np.ones(rows.size, dtype=np.int64),
        events_experimental=group_sorted[rows].astype(np.int64),
        stratum=np.zeros(rows.size, dtype=np.int64),
        time=time_sorted[rows],
    )


def logrank_from_table(table: RiskTable) -> LogRankResult:
    """The log-rank test from a risk table (see the module docstring for the formulas)."""
    share = table.at_risk_experimental / table.at_risk
    observed = float(table.events_experimental.sum())
    events = int(table.events.sum())
    if events == share.size:  # one event at each time: d = 1, (n - d) / (n - 1) = 1
        expected = float(share.sum())
        variance = float(share @ (1.0 - share))
    else:
        n = table.at_risk.astype(float)
        d = table.events.astype(float)
        expected = float(d @ share)
        # (n - d) / (n - 1) is 0 when n = 1 (then d = 1); max() only avoids the 0/0.
        variance = float((d * share * (1.0 - share)) @ ((n - d) / np.maximum(n - 1.0, 1.0)))
    if variance > 0.0:
        z = (expected - observed) / math.sqrt(variance)
        hazard_ratio = math.exp((observed - expected) / variance)
        p_one_sided = float(ndtr(-z))
    else:
        z = hazard_ratio = p_one_sided = math.nan
    return LogRankResult(
        z=z,
        chi_square=z * z,
        p_one_sided=p_one_sided,
        hazard_ratio=hazard_ratio,
        observed_experimental=observed,
        expected_experimental=expected,
        variance=variance,
        events=events,
    )


def logrank_test(time, event, group, strata=None) -> LogRankResult:
    """Two-sample log-rank test, stratified when `strata` is given (experimental: group 1)."""
    return logrank_from_table(risk_table(time, event, group, strata))
