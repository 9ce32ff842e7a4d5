"""Patient outcome models: latent time to progression, competing death, dropout (pure, no simpy).

Each model maps uniforms to times by its inverse distribution function, so the same patient
(the same uniform) keeps its rank when a parameter changes: common random numbers across designs
and sweep points. Times are in days from the start of treatment.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import numpy as np

from sim.units import LN2


class TimeToEventModel(Protocol):
    def times_from_uniforms(self, uniforms: np.ndarray) -> np.ndarray: ...

    def survival(self, days: np.ndarray) -> np.ndarray: ...

    # Scalar cumulative hazard H(t) = -log S(t) and its inverse (the time at which H reaches a
    # value): what `time_with_hazard_multipliers` integrates.
    def cumulative_hazard(self, days: float) -> float: ...

    def time_at_cumulative_hazard(self, cumulative: float) -> float: ...


@dataclass(frozen=True)
class Exponential:
    median_days: float

    def times_from_uniforms(self, uniforms: np.ndarray) -> np.ndarray:
        return -(self.median_days / LN2) * np.log1p(-uniforms)

    def survival(self, days: np.ndarray) -> np.ndarray:
        return np.exp(-LN2 * np.asarray(days) / self.median_days)

    def cumulative_hazard(self, days: float) -> float:
        return LN2 * days / self.median_days

    def time_at_cumulative_hazard(self, cumulative: float) -> float:
        return cumulative * self.median_days / LN2


@dataclass(frozen=True)
class Weibull:
    """S(t) = exp(-(t / scale)^shape), scale set so that S(median) = 1/2."""

    median_days: float
    shape: float

    @property
    def scale_days(self) -> float:
        return self.median_days / LN2 ** (1.0 / self.shape)

    def times_from_uniforms(self, uniforms: np.ndarray) -> np.ndarray:
        return self.scale_days * (-np.log1p(-uniforms)) ** (1.0 / self.shape)

    def survival(self, days: np.ndarray) -> np.ndarray:
        return np.exp(-((np.asarray(days) / self.scale_days) ** self.shape))

    def cumulative_hazard(self, days: float) -> float:
        return (days / self.scale_days) ** self.shape

    def time_at_cumulative_hazard(self, cumulative: float) -> float:
        return self.scale_days * cumulative ** (1.0 / self.shape)


@dataclass(frozen=True)
class PiecewiseExponential:
    """Constant hazard within pieces: piece j covers [breaks[j-1], breaks[j]), the last is open.

    `median_days[j]` is the median an exponential with piece j's hazard would have.
    """

    breaks_days: tuple[float, ...]
    median_days: tuple[float, ...]

    @cached_property
    def _hazard(self) -> "PiecewiseHazard":
        """The hazard ln 2 / median of each piece: made once per model, as the exposure-response
        link asks for H0 several times a patient."""
        return PiecewiseHazard(self.breaks_days, tuple(LN2 / np.asarray(self.median_days)))

    def times_from_uniforms(self, uniforms: np.ndarray) -> np.ndarray:
        return self._hazard.inverse(-np.log1p(-uniforms))

    def survival(self, days: np.ndarray) -> np.ndarray:
        return np.exp(-self._hazard.cumulative(days))

    def cumulative_hazard(self, days: float) -> float:
        return float(self._hazard.cumulative(days))

    def time_at_cumulative_hazard(self, cumulative: float) -> float:
        return float(self._hazard.inverse(cumulative))


def time_with_hazard_multipliers(
    model: TimeToEventModel,
    baseline_days: float,
    steps: Sequence[tuple[float, float]],
    horizon_days: float = math.inf,
) -> float | None:
    """The event time when the hazard is `model`'s times a step function, for the patient whose
    time under `model` alone is `baseline_days`.

    `steps`: (day, multiplier) pairs, days increasing from 0, each multiplier > 0 holding until
    the next day, the last until `horizon_days` (the step function is known up to there). The
    patient's unit-exponential draw is E = H0(baseline_days), H0 the model's cumulative hazard, and
    the event time T solves H(T) = E with H(t) = sum over steps k of m_k (H0(min(t, b_k)) -
    H0(a_k)) over the steps [a_k, b_k) begun by t. While every multiplier so far is exactly 1 the
    hazard is the model's, and a baseline time there is returned as it is (bit for bit). None:
    the event is not reached by `horizon_days` (extend the steps and ask again).
    """
    target = None  # E, computed when a multiplier first differs from 1
    accumulated = 0.0  # H at the current step's start, once target is set
    for index, (start, multiplier) in enumerate(steps):
        end = steps[index + 1][0] if index + 1 < len(steps) else horizon_days
        if target is None:
            if multiplier == 1.0:
                if baseline_days < end:
                    return baseline_days
                continue
            target = model.cumulative_hazard(baseline_days)
            at_start = model.cumulative_hazard(start)
            accumulated = at_start
        at_end = model.cumulative_hazard(end) if end < math.inf else math.inf
        piece = multiplier * (at_end - at_start)
        if accumulated + piece >= target:
            return model.time_at_cumulative_hazard(at_start + (target - accumulated) / multiplier)
        accumulated += piece
        at_start = at_end  # H0 at the next step's start
    return None


@dataclass(frozen=True)
class PiecewiseHazard:
    """A piecewise-constant hazard (per day) as a cumulative hazard H(t) and its inverse.

    Piece j covers [breaks[j-1], breaks[j]) with hazard `hazards_per_day[j]` (>= 0; the last piece
    is open). `inverse(x)` is the time at which H reaches x: for x a unit exponential that is a
    draw of the time to event (0 hazard in the last piece: never, inf).
    """

    breaks_days: tuple[float, ...]
    hazards_per_day: tuple[float, ...]

    def __post_init__(self) -> None:
        starts = np.concatenate(([0.0], self.breaks_days))
        hazards = np.asarray(self.hazards_per_day, dtype=float)
        if hazards.size != starts.size or (hazards < 0).any():
            raise ValueError("one hazard >= 0 per piece, one more than the breaks")
        cumulative = np.concatenate(([0.0], np.cumsum(hazards[:-1] * np.diff(starts))))
        object.__setattr__(self, "_starts", starts)
        object.__setattr__(self, "_hazards", hazards)
        object.__setattr__(self, "_cumulative_at_start", cumulative)

    def cumulative(self, days: np.ndarray) -> np.ndarray:
        days = np.asarray(days, dtype=float)
        piece = np.searchsorted(self._starts, days, side="right") - 1
        elapsed = days - self._starts[piece]
        return self._cumulative_at_start[piece] + self._hazards[piece] * elapsed

    def inverse(self, cumulative: np.ndarray) -> np.ndarray:
        target = np.asarray(cumulative, dtype=float)
        # "right": a piece of zero hazard has the same start as the next, which is taken.
        piece = np.searchsorted(self._cumulative_at_start, target, side="right") - 1
        hazard = self._hazards[piece]
        with np.errstate(divide="ignore", invalid="ignore"):
            elapsed = (target - self._cumulative_at_start[piece]) / hazard
        return self._starts[piece] + np.where(hazard > 0, elapsed, np.inf)
