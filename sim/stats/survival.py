"""Kaplan-Meier estimation that reproduces R's survival package (survfit, quantile.survfit).

Sources:
- Kaplan EL, Meier P. Nonparametric estimation from incomplete observations. JASA 1958;53:457-481.
- Greenwood M. The natural duration of cancer. Reports on Public Health and Medical
  Subjects 1926;33.
- Brookmeyer R, Crowley J. A confidence interval for the median survival time. Biometrics
  1982;38:29-41. The median CI is read off the pointwise confidence band, as R does.
- Therneau TM. survival: A Package for Survival Analysis in R, version 3.5-3: survfitKM (the
  product-limit recursion, Greenwood sums), survfit_confint (the bands) and quantile.survfit with
  its helper findq (the quantile rule). Every convention below follows that code, so results are
  identical to R's, not merely close.

Conventions (all as R):
- The estimate is reported at every distinct observed time, event or censoring; a censoring tied
  with an event counts as at risk at that event time.
- `se_log_survival` is R's `std.err`: sqrt(sum d / (n (n - d))), the Greenwood standard error of
  log S (infinite once S reaches 0).
- A quantile is the first time the curve reaches 1 - p; where the curve sits at exactly 1 - p
  (within sqrt(machine epsilon)) on a flat stretch, it is the midpoint of that stretch: the
  average of its start and the next event time, or of its start and the last follow-up time when
  no event follows.
- These are the rules of quantile.survfit (whose default call, quantile(fit), we match exactly).
  print(fit) computes its median table with a different helper (survmean) that, on a flat stretch
  at 0.5 reaching the last follow-up, reports the start of the stretch rather than its midpoint
  and reads CI limits at the first crossing of each band; the two can differ in such edge cases.
- "Not reached" is NaN, where R prints NA: a median (or a CI limit) is NaN when the curve (or the
  band) never gets down to 1 - p. NaN rather than inf because the value is unknown, not infinite;
  callers that aggregate medians over replicates must count these separately.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import special

ConfType = Literal["log-log", "log", "plain"]
CONF_TYPES: tuple[str, ...] = ("log-log", "log", "plain")

# quantile.survfit's default `tolerance = sqrt(.Machine$double.eps)`.
QUANTILE_TOLERANCE = math.sqrt(np.finfo(np.float64).eps)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SurvivalQuantile:
    """A Kaplan-Meier quantile with its Brookmeyer-Crowley confidence interval.

    `probability` is on the distribution-function scale, as in R's quantile.survfit: 0.5 is the
    median, 0.25 the time by which a quarter have had the event. NaN means "not reached".
    """

    probability: float
    estimate: float
    lower: float
    upper: float
    conf_level: float
    conf_type: str


@dataclass(frozen=True)
class KaplanMeier:
    """The Kaplan-Meier estimate at each distinct observed time (the rows of R's survfit)."""

    time: FloatArray
    n_risk: FloatArray
    n_event: FloatArray
    n_censor: FloatArray
    survival: FloatArray
    se_log_survival: FloatArray

    @property
    def greenwood_variance(self) -> FloatArray:
        """Greenwood's variance of S-hat: S^2 sum d / (n (n - d)); NaN once S reaches 0 (as R)."""
        with np.errstate(invalid="ignore"):
            return self.survival**2 * self.se_log_survival**2

    @property
    def last_time(self) -> float:
        return float(self.time[-1])

    def survival_at(self, at_time: float | npt.ArrayLike) -> float | FloatArray:
        """S(t), right-continuous: events at t are included.

        Beyond the last observed time the estimate is undefined unless the curve has reached 0:
        NaN there (R's summary.survfit drops such times unless extend = TRUE).
        """
        query = np.asarray(at_time, dtype=np.float64)
        index = np.searchsorted(self.time, query, side="right") - 1
        padded = np.concatenate(([1.0], self.survival))
        values = padded[index + 1]
        if self.survival[-1] > 0.0:
            values = np.where(query > self.time[-1], np.nan, values)
        if values.ndim == 0:
            return float(values)
        return values

    def confidence_band(
        self, conf_level: float = 0.95, conf_type: ConfType = "log-log"
    ) -> tuple[FloatArray, FloatArray]:
        """Pointwise (lower, upper) limits for S at each row of `time`, as R's survfit_confint.

        NaN where R gives NA/NaN: wherever S = 0, and for "log-log" also where S = 1.
        """
        _check_conf(conf_level, conf_type)
        z = float(special.ndtri(1.0 - (1.0 - conf_level) / 2.0))
        surv = self.survival
        se = self.se_log_survival
        with np.errstate(divide="ignore", invalid="ignore"):
            if conf_type == "plain":
                half_width = se * surv * z
                lower = np.maximum(surv - half_width, 0.0)
                upper = np.minimum(surv + half_width, 1.0)
            elif conf_type == "log":
                defined = np.where(surv == 0.0, np.nan, surv)
                lower = np.exp(np.log(defined) - z * se)
                upper = np.minimum(np.exp(np.log(defined) + z * se), 1.0)
            else:
                defined = np.where((surv == 0.0) | (surv == 1.0), np.nan, surv)
                shift = z * se / np.log(defined)
                log_minus_log = np.log(-np.log(defined))
                lower = np.exp(-np.exp(log_minus_log - shift))
                upper = np.exp(-np.exp(log_minus_log + shift))
        return lower, upper

    def quantile(
        self, probability: float, conf_level: float = 0.95, conf_type: ConfType = "log-log"
    ) -> SurvivalQuantile:
        """Time by which a fraction `probability` have had the event, with its CI.

        The CI is Brookmeyer and Crowley's, computed as R does: the same quantile rule applied to
        the lower and upper pointwise bands.
        """
        if not 0.0 < probability < 1.0:
            raise ValueError(f"probability must be in (0, 1), got {probability!r}")
        lower_band, upper_band = self.confidence_band(conf_level, conf_type)
        x = np.concatenate(([0.0], self.time))
        last = self.last_time

        def read_off(curve: FloatArray) -> float:
            return _r_findq(x, np.concatenate(([0.0], 1.0 - curve)), probability, last)

        return SurvivalQuantile(
            probability=float(probability),
            estimate=read_off(self.survival),
            lower=read_off(lower_band),
            upper=read_off(upper_band),
            conf_level=float(conf_level),
            conf_type=conf_type,
        )

    def median(self, conf_level: float = 0.95, conf_type: ConfType = "log-log") -> SurvivalQuantile:
        """Median survival time with its Brookmeyer-Crowley CI (NaN: not reached)."""
        return self.quantile(0.5, conf_level, conf_type)


def kaplan_meier(times: npt.ArrayLike, events: npt.ArrayLike) -> KaplanMeier:
    """Kaplan-Meier estimate from follow-up times (>= 0) and event indicators (1/True = event)."""
    t, e = _validated(times, events)
    order = np.argsort(t, kind="stable")
    t = t[order]
    e = e[order]
    n = t.size
    starts = _group_starts(t)
    n_event = np.add.reduceat(e, starts)
    n_risk = (n - starts).astype(np.float64)
    n_censor = np.diff(np.append(starts, n)).astype(np.float64) - n_event
    # R's loop: km *= (nrisk - d) / nrisk. A factor of exactly 1.0 at censoring-only times keeps
    # every product bit-identical to R's, which matters where S lands on 1 - p.
    survival = np.cumprod((n_risk - n_event) / n_risk)
    with np.errstate(divide="ignore"):
        greenwood_terms = np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0)
    se_log_survival = np.sqrt(np.cumsum(greenwood_terms))
    arrays = dict(
        time=t[starts],
        n_risk=n_risk,
        n_event=n_event,
        n_censor=n_censor,
        survival=survival,
        se_log_survival=se_log_survival,
    )
    for value in arrays.values():
        value.setflags(write=False)
    return KaplanMeier(**arrays)


def km_median_and_survival_at(
    times: npt.NDArray[np.floating], events: npt.NDArray[np.generic], at_time: float
) -> tuple[float, float]:
    """(median, S(at_time)) of the Kaplan-Meier curve, for the replicate loop.

    Same results, bit for bit, as `kaplan_meier(times, events).median().estimate` and
    `.survival_at(at_time)`, without the table, the CI or input checks: `times` must be a 1-D
    float array of finite values >= 0, `events` a 0/1 or bool array of the same length.
    """
    times = np.asarray(times, dtype=np.float64)
    if times.size == 0:
        raise ValueError("at least one patient is needed")
    order = np.argsort(times)
    t = times[order]
    n = t.size
    is_start = np.empty(n, dtype=bool)
    is_start[0] = True
    np.not_equal(t[1:], t[:-1], out=is_start[1:])
    starts = np.flatnonzero(is_start)
    n_event = np.add.reduceat(np.asarray(events)[order], starts, dtype=np.float64)
    n_risk = n - starts
    factors = n_risk - n_event
    factors /= n_risk
    survival = np.cumprod(factors, out=factors)
    distinct_times = t[starts].tolist()
    last_time = distinct_times[-1]
    last_survival = float(survival[-1])

    if at_time > last_time:
        survival_at = math.nan if last_survival > 0.0 else 0.0
    else:
        k = bisect_right(distinct_times, at_time)
        survival_at = float(survival[k - 1]) if k else 1.0
    return _median_of_curve(t[starts], 1.0 - survival, last_time), survival_at


def km_median_from_risk_sets(
    event_times: npt.NDArray[np.floating],
    at_risk: npt.NDArray[np.integer],
    events: npt.NDArray[np.integer],
    last_time: float,
) -> float:
    """The Kaplan-Meier median from the risk sets at the event times of one group, in time order
    (rows of a log-rank risk table, where `events` may be 0), and the group's last follow-up time.

    The same number, bit for bit, as `km_median_and_survival_at(times, events, t)[0]` on the
    group's data: the curve only steps at events, and the median reads only the times where it
    reaches and passes 0.5 and, when it ends exactly at 0.5, the last follow-up time.
    """
    at_risk = np.asarray(at_risk)
    stepped = np.asarray(events) > 0
    if not stepped.any():
        return math.nan
    n_risk = at_risk[stepped].astype(np.float64)
    factors = n_risk - np.asarray(events)[stepped]
    factors /= n_risk
    one_minus = 1.0 - np.cumprod(factors, out=factors)
    return _median_of_curve(np.asarray(event_times)[stepped], one_minus, last_time)


def _median_of_curve(times: FloatArray, one_minus: FloatArray, last_time: float) -> float:
    """The median of a Kaplan-Meier curve as R's survival reads it (findq on a monotone curve):
    `one_minus` is 1 - S (non-decreasing) at `times`, `last_time` the last follow-up time. The
    first time 1 - S reaches 0.5 (within the tolerance), averaged with the first it passes it,
    or with the last follow-up time when the curve ends at 0.5; nan if it never reaches it."""
    first_reach = int(np.searchsorted(one_minus + QUANTILE_TOLERANCE, 0.5))
    if first_reach == one_minus.size:
        return math.nan
    if abs(0.5 - float(one_minus[-1])) < QUANTILE_TOLERANCE:
        return (float(times[first_reach]) + last_time) / 2
    first_beyond = int(np.searchsorted(one_minus - QUANTILE_TOLERANCE, 0.5))
    if first_beyond == one_minus.size:
        return math.nan
    return (float(times[first_reach]) + float(times[first_beyond])) / 2


def _r_findq(x: FloatArray, y: FloatArray, p: float, last_x: float) -> float:
    """R survival's findq for one probability: x = c(0, time), y = c(0, 1 - curve).

    y may be non-monotone (a band) and contain NaN (R's NA); R finds the index with
    approx(y +/- tol, 1:n, p, method = "constant", f = 1), which, once NAs are dropped and the
    points sorted by value, is the point with the smallest y +/- tol that is >= p.

    R's findq first returns NA when max(y) < min(probs), without the tolerance. That shortcut makes
    quantile(fit, 0.5) alone NA where quantile(fit) (probs 0.25, 0.5, 0.75) gives the midpoint of
    a segment that is 0.5 up to round-off, contradicting its documentation. It is left out, so the
    median (and any quantile above 0.25) is exactly that of quantile(fit).
    """
    tol = QUANTILE_TOLERANCE
    if np.isnan(y).all():
        return math.nan
    # duplicated(y) drops repeats of a value (NA counted as a value), keeping the first.
    _, first_index = np.unique(y, return_index=True, equal_nan=True)
    keep = np.sort(first_index)
    x = x[keep]
    y = y[keep]
    index_low = _approx_constant_right(y + tol, p)
    index_high = _approx_constant_right(y - tol, p)
    quant = math.nan
    if index_low is not None and index_high is not None:
        quant = (x[index_low] + x[index_high]) / 2
    if not math.isnan(y[-1]) and abs(p - y[-1]) < tol:
        quant = (x[index_low] + last_x) / 2 if index_low is not None else math.nan
    return float(quant)


def _approx_constant_right(values: FloatArray, p: float) -> int | None:
    """Index returned by R's approx(values, seq_along(values), p, "constant", f = 1, rule = 1)."""
    finite = np.flatnonzero(~np.isnan(values))
    if finite.size == 0:
        return None
    candidates = values[finite]
    if p < candidates.min() or p > candidates.max():
        return None
    at_or_above = candidates >= p
    best = np.argmin(np.where(at_or_above, candidates, np.inf))
    return int(finite[best])


def _group_starts(sorted_times: FloatArray) -> npt.NDArray[np.intp]:
    is_start = np.empty(sorted_times.size, dtype=bool)
    is_start[0] = True
    np.not_equal(sorted_times[1:], sorted_times[:-1], out=is_start[1:])
    return np.flatnonzero(is_start)


def _validated(times: npt.ArrayLike, events: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    t = np.asarray(times, dtype=np.float64)
    e_raw = np.asarray(events)
    if t.ndim != 1 or e_raw.ndim != 1 or t.size != e_raw.size:
        raise ValueError("times and events must be 1-D arrays of the same length")
    if t.size == 0:
        raise ValueError("at least one observation is needed")
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError("times must be finite and >= 0")
    e = e_raw.astype(np.float64)
    if not np.all((e == 0.0) | (e == 1.0)):
        raise ValueError("events must be 0/1 or boolean")
    return t, e


def _check_conf(conf_level: float, conf_type: str) -> None:
    if not 0.0 < conf_level < 1.0:
        raise ValueError(f"conf_level must be in (0, 1), got {conf_level!r}")
    if conf_type not in CONF_TYPES:
        raise ValueError(f"conf_type must be one of {CONF_TYPES}, got {conf_type!r}")
