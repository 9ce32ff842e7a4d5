"""Accrual processes as samplers of registration days (pure; the engine pulls from them).

Every model yields an increasing stream of registration days counted from the day the trial opens
(day 0). The stream may be infinite; the engine stops pulling when the target is reached or the
accrual deadline has passed. Draws are vectorised in chunks because this runs once per replicate.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sim.units import DAYS_PER_MONTH

_CHUNK = 32


class AccrualModel(Protocol):
    def arrival_days(self, rng: np.random.Generator) -> Iterator[float]:
        """Registration days, increasing; one replicate's worth, drawn from `rng` only."""
        ...


@dataclass(frozen=True)
class PoissonAccrual:
    """Homogeneous Poisson process: exponential gaps with mean 1 / rate."""

    rate_per_month: float

    def arrival_days(self, rng: np.random.Generator) -> Iterator[float]:
        mean_gap_days = DAYS_PER_MONTH / self.rate_per_month
        day = 0.0
        while True:
            for gap in rng.exponential(mean_gap_days, _CHUNK).tolist():
                day += gap
                yield day


@dataclass(frozen=True)
class FixedAccrual:
    """Evenly spaced registrations, the first one gap after opening (no randomness)."""

    rate_per_month: float

    def arrival_days(self, rng: np.random.Generator) -> Iterator[float]:
        gap_days = DAYS_PER_MONTH / self.rate_per_month
        index = 1
        while True:
            yield index * gap_days
            index += 1
