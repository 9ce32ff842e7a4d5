"""Patient outcome models: latent time to progression, competing death, dropout (pure, no simpy).

Each model maps uniforms to times by its inverse distribution function, so the same patient
(the same uniform) keeps its rank when a parameter changes: common random numbers across designs
and sweep points. Times are in days from the start of treatment.
"""

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sim.units import LN2


class TimeToEventModel(Protocol):
    def times_from_uniforms(self, uniforms: np.ndarray) -> np.ndarray: ...

    def survival(self, days: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Exponential:
    median_days: float

    def times_from_uniforms(self, uniforms: np.ndarray) -> np.ndarray:
        return -(self.median_days / LN2) * np.log1p(-uniforms)

    def survival(self, days: np.ndarray) -> np.ndarray:
        return np.exp(-LN2 * np.asarray(days) / self.median_days)


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


@dataclass(frozen=True)
class PiecewiseExponential:
    """Constant hazard within pieces: piece j covers [breaks[j-1], breaks[j]), the last is open.

    `median_days[j]` is the median an exponential with piece j's hazard would have.
    """

    breaks_days: tuple[float, ...]
    median_days: tuple[float, ...]

    def _pieces(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        starts = np.concatenate(([0.0], self.breaks_days))
        hazards = LN2 / np.asarray(self.median_days)
        cumulative_at_start = np.concatenate(([0.0], np.cumsum(hazards[:-1] * np.diff(starts))))
        return starts, hazards, cumulative_at_start

    def times_from_uniforms(self, uniforms: np.ndarray) -> np.ndarray:
        starts, hazards, cumulative_at_start = self._pieces()
        target = -np.log1p(-uniforms)
        piece = np.searchsorted(cumulative_at_start, target, side="right") - 1
        return starts[piece] + (target - cumulative_at_start[piece]) / hazards[piece]

    def survival(self, days: np.ndarray) -> np.ndarray:
        starts, hazards, cumulative_at_start = self._pieces()
        days = np.asarray(days, dtype=float)
        piece = np.searchsorted(starts, days, side="right") - 1
        return np.exp(-(cumulative_at_start[piece] + hazards[piece] * (days - starts[piece])))


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
