"""Accrual processes as samplers of registration days (pure; the engine pulls from them).

Every model yields an increasing stream of registration days counted from the day the trial opens
(day 0). The stream may be infinite; the engine stops pulling when the target is reached or the
accrual deadline has passed. Draws are vectorised in chunks because this runs once per replicate.
"""

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from sim.units import DAYS_PER_MONTH

_CHUNK = 32
# One inversion costs about as much for 64 values as for 32, and most targets are under 64.
_INHOMOGENEOUS_CHUNK = 64


class AccrualModel(Protocol):
    # The day from which the model registers no one, whatever the draws (inf: never). When the
    # stream of arrival days ends, accrual closes then, not at the last registration: nobody
    # running the trial knows that the last patient was the last.
    end_day: float

    def arrival_days(self, rng: np.random.Generator) -> Iterator[float]:
        """Registration days, increasing; one replicate's worth, drawn from `rng` only."""
        ...


@dataclass(frozen=True)
class PoissonAccrual:
    """Homogeneous Poisson process: exponential gaps with mean 1 / rate."""

    rate_per_month: float
    end_day = math.inf

    def arrival_days(self, rng: np.random.Generator) -> Iterator[float]:
        mean_gap_days = DAYS_PER_MONTH / self.rate_per_month
        day = 0.0
        while True:
            for gap in rng.exponential(mean_gap_days, _CHUNK).tolist():
                day += gap
                yield day

    def first_arrival_days(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """The first `count` days of `arrival_days(rng)`, the same numbers, drawn in bulk."""
        chunks = -(-count // _CHUNK)
        gaps = rng.exponential(DAYS_PER_MONTH / self.rate_per_month, chunks * _CHUNK)
        return np.cumsum(gaps[:count])


@dataclass(frozen=True)
class FixedAccrual:
    """Evenly spaced registrations, the first one gap after opening (no randomness)."""

    rate_per_month: float
    end_day = math.inf

    def arrival_days(self, rng: np.random.Generator) -> Iterator[float]:
        gap_days = DAYS_PER_MONTH / self.rate_per_month
        index = 1
        while True:
            yield index * gap_days
            index += 1

    def first_arrival_days(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """The first `count` days of `arrival_days(rng)`, the same numbers, in bulk."""
        return np.arange(1, count + 1) * (DAYS_PER_MONTH / self.rate_per_month)


def first_arrival_days(model: AccrualModel, rng: np.random.Generator, count: int) -> np.ndarray:
    """The first `count` registration days of `model.arrival_days(rng)` as an array (fewer when
    the stream ends), in bulk where the model can."""
    bulk = getattr(model, "first_arrival_days", None)
    if bulk is not None:
        return bulk(rng, count)
    return np.fromiter(itertools.islice(model.arrival_days(rng), count), dtype=float)


# ---------------------------------------------------------------------------------------------
# Inhomogeneous Poisson processes with a piecewise-linear rate.
#
# Superposed independent Poisson processes are one Poisson process whose rate is the sum of the
# rates (Anisimov and Fedorov 2007, Stat Med 26:4958). Every model below has a total rate that is
# piecewise constant (periods, step activations) or piecewise linear (linear ramp-up), so one
# sampler serves them all: if E_1 < E_2 < ... are the arrival times of a unit-rate Poisson
# process, Lambda^-1(E_1) < Lambda^-1(E_2) < ... are arrivals of the process with cumulative
# intensity Lambda (Cinlar's inversion algorithm for a nonstationary Poisson process; Cinlar 1975,
# Introduction to Stochastic Processes; Law, Simulation Modeling and Analysis).
# ---------------------------------------------------------------------------------------------


class PiecewiseLinearIntensity:
    """A rate in patients per day that is linear between knots, and its cumulative intensity.

    Segment k is [knot_days[k], knot_days[k + 1]) (the last one is unbounded and has slope 0); on it
    the rate is rate_after_knot[k] + slope_after_knot[k] * (day - knot_days[k]). The rate may jump
    at a knot (a period boundary, a centre activated without ramp-up). Build it with `from_steps`
    or `from_sites`; the arrays are read-only.
    """

    __slots__ = ("knot_days", "rate_after_knot", "slope_after_knot", "cumulative_at_knot")

    def __init__(
        self,
        knot_days: np.ndarray,
        rate_after_knot: np.ndarray,
        slope_after_knot: np.ndarray,
    ) -> None:
        widths = np.diff(knot_days)
        increments = rate_after_knot[:-1] * widths + 0.5 * slope_after_knot[:-1] * widths**2
        cumulative = np.concatenate(([0.0], np.cumsum(increments)))
        for array in (knot_days, rate_after_knot, slope_after_knot, cumulative):
            array.flags.writeable = False
        self.knot_days = knot_days
        self.rate_after_knot = rate_after_knot
        self.slope_after_knot = slope_after_knot
        self.cumulative_at_knot = cumulative

    @classmethod
    def from_steps(
        cls, start_days: np.ndarray, rates_per_day: np.ndarray
    ) -> "PiecewiseLinearIntensity":
        """Piecewise-constant rate: rates_per_day[k] from start_days[k] (the first start is 0)."""
        knots = np.asarray(start_days, dtype=float).copy()
        rates = np.asarray(rates_per_day, dtype=float).copy()
        return cls(knots, rates, np.zeros_like(rates))

    @classmethod
    def from_sites(
        cls,
        activation_days: np.ndarray,
        rates_per_day: np.ndarray,
        ramp_up_days: float = 0.0,
    ) -> "PiecewiseLinearIntensity":
        """Sum of centres' rates: centre i contributes 0 before activation_days[i], then rises
        linearly to rates_per_day[i] over ramp_up_days (a step if 0), then stays there."""
        activation = np.asarray(activation_days, dtype=float)
        rates = np.asarray(rates_per_day, dtype=float)
        if ramp_up_days == 0.0:
            # Steps: the rate after the k-th activation is the sum of the first k centres' rates
            # in activation order.
            order = np.argsort(activation, kind="stable")
            knots = np.concatenate(([0.0], activation[order]))
            rate_after = np.concatenate(([0.0], np.cumsum(rates[order])))
            return cls(knots, rate_after, np.zeros_like(rate_after))
        # Ramps: the total slope gains r/d when a centre opens and loses it when its ramp ends;
        # the rate after a knot is the integral of the slope up to it (no jumps).
        ramp_slopes = rates / ramp_up_days
        event_days = np.concatenate(([0.0], activation, activation + ramp_up_days))
        slope_changes = np.concatenate(([0.0], ramp_slopes, -ramp_slopes))
        order = np.argsort(event_days, kind="stable")
        knots = event_days[order]
        slopes = np.cumsum(slope_changes[order])
        rate_after = np.empty_like(knots)
        rate_after[0] = 0.0
        np.cumsum(slopes[:-1] * np.diff(knots), out=rate_after[1:])
        # True slopes and rates are >= 0, but cancelling sums can leave -1e-17 and so a negative
        # radicand in the inversion. After the last knot every ramp is over.
        np.maximum(slopes, 0.0, out=slopes)
        np.maximum(rate_after, 0.0, out=rate_after)
        slopes[-1] = 0.0
        rate_after[-1] = rates.sum()
        return cls(knots, rate_after, slopes)

    @property
    def end_day(self) -> float:
        """The knot from which the rate stays 0 (inf if it never does)."""
        active = np.flatnonzero((self.rate_after_knot > 0.0) | (self.slope_after_knot != 0.0))
        if active.size and active[-1] == self.knot_days.size - 1:
            return math.inf
        return float(self.knot_days[active[-1] + 1]) if active.size else float(self.knot_days[0])

    def cumulative(self, days: np.ndarray | float) -> np.ndarray:
        """Expected number of arrivals in [0, day] (the integrated rate)."""
        days = np.asarray(days, dtype=float)
        segment = np.searchsorted(self.knot_days, days, side="right") - 1
        elapsed = days - self.knot_days[segment]
        return (
            self.cumulative_at_knot[segment]
            + self.rate_after_knot[segment] * elapsed
            + 0.5 * self.slope_after_knot[segment] * elapsed**2
        )

    def inverse(self, cumulative_values: np.ndarray) -> np.ndarray:
        """The day at which the cumulative intensity reaches each value; inf beyond the total of a
        rate that ends at 0. Values must be >= 0."""
        values = np.asarray(cumulative_values, dtype=float)
        # side="right": on a pause (zero-width step in the cumulative) this picks the segment after
        # it, so an arrival never falls inside a period with rate 0.
        segment = np.searchsorted(self.cumulative_at_knot, values, side="right") - 1
        excess = values - self.cumulative_at_knot[segment]
        rate = self.rate_after_knot[segment]
        slope = self.slope_after_knot[segment]
        # Root of rate*x + slope*x^2/2 = excess, in the form that is stable when slope -> 0
        # (Press et al., Numerical Recipes, 3rd ed., section 5.6).
        denominator = rate + np.sqrt(rate * rate + 2.0 * slope * excess)
        # A zero denominator means a segment with rate 0: either exactly at its start (excess 0,
        # elapsed 0) or beyond the total of a rate that ends at 0 (never reached: inf).
        stalled = denominator == 0.0
        elapsed = 2.0 * excess / np.where(stalled, 1.0, denominator)
        elapsed = np.where(stalled & (excess > 0.0), math.inf, elapsed)
        return self.knot_days[segment] + elapsed

    def arrival_days(self, rng: np.random.Generator) -> Iterator[float]:
        """Arrivals of the Poisson process with this rate; a finite stream if the rate ends at 0."""
        unit_time = 0.0
        while True:
            unit_arrivals = unit_time + np.cumsum(rng.standard_exponential(_INHOMOGENEOUS_CHUNK))
            unit_time = float(unit_arrivals[-1])
            days = self.inverse(unit_arrivals)
            for day in days.tolist():
                if day == math.inf:
                    return
                yield day


def _as_float_tuple(values: Sequence[float], name: str) -> tuple[float, ...]:
    result = tuple(float(v) for v in values)
    if not all(math.isfinite(v) for v in result):
        raise ValueError(f"{name} must be finite numbers, got {values!r}")
    return result


@dataclass(frozen=True)
class PiecewiseAccrual:
    """Poisson accrual whose rate changes by calendar period; a rate of 0 is a pause.

    Period k runs from period_starts_months[k] to the next start; the first start is 0 (the trial
    opens) and the last rate holds for ever after the last start. If the last rate is 0 the stream
    is finite: accrual stops for good.
    """

    period_starts_months: tuple[float, ...]
    rates_per_month: tuple[float, ...]
    _intensity: PiecewiseLinearIntensity = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        starts = _as_float_tuple(self.period_starts_months, "period_starts_months")
        rates = _as_float_tuple(self.rates_per_month, "rates_per_month")
        if len(starts) != len(rates) or not starts:
            raise ValueError(
                f"need one rate per period: {len(starts)} period starts, {len(rates)} rates"
            )
        if starts[0] != 0.0 or any(b <= a for a, b in itertools.pairwise(starts)):
            raise ValueError(f"period starts must be 0 then increasing months, got {starts}")
        if any(r < 0.0 for r in rates):
            raise ValueError(f"rates must be >= 0, got {rates}")
        object.__setattr__(self, "period_starts_months", starts)
        object.__setattr__(self, "rates_per_month", rates)
        intensity = PiecewiseLinearIntensity.from_steps(
            np.array(starts) * DAYS_PER_MONTH, np.array(rates) / DAYS_PER_MONTH
        )
        object.__setattr__(self, "_intensity", intensity)

    @property
    def end_day(self) -> float:
        return self._intensity.end_day

    def expected_count(self, month: float) -> float:
        """Expected registrations by `month` (the integrated rate)."""
        return float(self._intensity.cumulative(month * DAYS_PER_MONTH))

    def arrival_days(self, rng: np.random.Generator) -> Iterator[float]:
        return self._intensity.arrival_days(rng)


class ActivationSchedule(Protocol):
    def activation_months(self, sites: int, rng: np.random.Generator) -> np.ndarray:
        """Each centre's activation month (>= 0), one replicate's worth."""
        ...


@dataclass(frozen=True)
class FixedActivation:
    """Centres activated at given months (one per centre, in centre order)."""

    months: tuple[float, ...]

    def __post_init__(self) -> None:
        months = _as_float_tuple(self.months, "activation months")
        if any(m < 0.0 for m in months):
            raise ValueError(f"activation months must be >= 0, got {months}")
        object.__setattr__(self, "months", months)

    def activation_months(self, sites: int, rng: np.random.Generator) -> np.ndarray:
        if sites != len(self.months):
            raise ValueError(f"{sites} centres but {len(self.months)} activation months")
        return np.array(self.months)


@dataclass(frozen=True)
class UniformActivation:
    """Centres activated at months drawn uniformly over [first_month, last_month], independently
    per centre and per replicate (the activation model of Anisimov and Fedorov 2007)."""

    first_month: float
    last_month: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.first_month <= self.last_month < math.inf:
            raise ValueError(
                f"need 0 <= first_month <= last_month, got {self.first_month}, {self.last_month}"
            )

    def activation_months(self, sites: int, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(self.first_month, self.last_month, sites)


def _check_ramp(ramp_up_months: float) -> None:
    if not 0.0 <= ramp_up_months < math.inf:
        raise ValueError(f"ramp_up_months must be >= 0, got {ramp_up_months}")


def _activation_months(
    activation: ActivationSchedule | None, sites: int, rng: np.random.Generator
) -> np.ndarray:
    """None means every centre opens with the trial (month 0)."""
    if activation is None:
        return np.zeros(sites)
    return activation.activation_months(sites, rng)


def _is_fixed(activation: ActivationSchedule | None) -> bool:
    return activation is None or isinstance(activation, FixedActivation)


@dataclass(frozen=True)
class SitesAccrual:
    """Centres with their own Poisson rates, each open from its activation month.

    `activation` None opens every centre at month 0. With ramp_up_months > 0 a centre's rate rises
    linearly from 0 at activation to its full rate ramp_up_months later. Per replicate the
    activation months are drawn first (if random).
    """

    rates_per_site_month: tuple[float, ...]
    activation: ActivationSchedule | None = None
    ramp_up_months: float = 0.0
    _fixed_intensity: PiecewiseLinearIntensity | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rates = _as_float_tuple(self.rates_per_site_month, "rates_per_site_month")
        if not rates or any(r < 0.0 for r in rates):
            raise ValueError(f"need at least one centre and rates >= 0, got {rates}")
        _check_ramp(self.ramp_up_months)
        object.__setattr__(self, "rates_per_site_month", rates)
        # Fixed activation: the same rate in every replicate, so build it once (and check the
        # number of activation months now).
        fixed = None
        if _is_fixed(self.activation):
            # A fixed schedule draws nothing; the generator is a placeholder.
            fixed = self._build_intensity(np.random.default_rng(0))
        object.__setattr__(self, "_fixed_intensity", fixed)

    @property
    def end_day(self) -> float:
        return math.inf if any(self.rates_per_site_month) else 0.0

    def intensity(self, rng: np.random.Generator) -> PiecewiseLinearIntensity:
        """One replicate's total rate (draws the activation months from `rng` if random)."""
        if self._fixed_intensity is not None:
            return self._fixed_intensity
        return self._build_intensity(rng)

    def _build_intensity(self, rng: np.random.Generator) -> PiecewiseLinearIntensity:
        activation = _activation_months(self.activation, len(self.rates_per_site_month), rng)
        return PiecewiseLinearIntensity.from_sites(
            activation * DAYS_PER_MONTH,
            np.array(self.rates_per_site_month) / DAYS_PER_MONTH,
            self.ramp_up_months * DAYS_PER_MONTH,
        )

    def arrival_days(self, rng: np.random.Generator) -> Iterator[float]:
        return self.intensity(rng).arrival_days(rng)


@dataclass(frozen=True)
class PoissonGammaAccrual:
    """Poisson-gamma recruitment (Anisimov and Fedorov 2007, Stat Med 26:4958).

    Each of `sites` centres has a Poisson rate drawn once per replicate from a Gamma distribution
    with mean rate_per_site_month and shape rate_shape (rate parameter rate_shape /
    rate_per_site_month, in months); smaller shapes mean more uncertainty about the rates. Centres
    open at `activation` (default: all at month 0) with an optional linear ramp-up. Per replicate:
    activation months (if random), then the centres' rates, then the arrivals.
    """

    sites: int
    rate_per_site_month: float
    rate_shape: float
    activation: ActivationSchedule | None = None
    ramp_up_months: float = 0.0
    end_day = math.inf  # every centre's rate is > 0

    def __post_init__(self) -> None:
        if isinstance(self.sites, bool) or not isinstance(self.sites, int) or self.sites < 1:
            raise ValueError(f"sites must be an integer >= 1, got {self.sites!r}")
        if not (self.rate_per_site_month > 0.0 and self.rate_shape > 0.0):
            raise ValueError(
                "rate_per_site_month and rate_shape must be > 0, got "
                f"{self.rate_per_site_month}, {self.rate_shape}"
            )
        _check_ramp(self.ramp_up_months)
        if isinstance(self.activation, FixedActivation):
            # Check the number of activation months now (a fixed schedule draws nothing).
            self.activation.activation_months(self.sites, np.random.default_rng(0))

    def intensity(self, rng: np.random.Generator) -> PiecewiseLinearIntensity:
        """One replicate's total rate: draws activation months (if random), then centre rates."""
        activation = _activation_months(self.activation, self.sites, rng)
        scale = self.rate_per_site_month / self.rate_shape
        rates_per_month = rng.gamma(self.rate_shape, scale, self.sites)
        return PiecewiseLinearIntensity.from_sites(
            activation * DAYS_PER_MONTH,
            rates_per_month / DAYS_PER_MONTH,
            self.ramp_up_months * DAYS_PER_MONTH,
        )

    def arrival_days(self, rng: np.random.Generator) -> Iterator[float]:
        return self.intensity(rng).arrival_days(rng)


@dataclass(frozen=True)
class ObservedThenPredicted:
    """An open trial: its registrations so far, then arrivals after `as_of_day` at a rate drawn
    once per replicate from its posterior Gamma(shape, rate_months) (the Poisson-gamma posterior
    predictive: Anisimov and Fedorov 2007)."""

    observed_days: tuple[float, ...]
    as_of_day: float
    rate_shape: float
    rate_months: float
    end_day = math.inf

    def arrival_days(self, rng: np.random.Generator) -> Iterator[float]:
        yield from self.observed_days
        rate_per_month = rng.gamma(self.rate_shape, 1.0 / self.rate_months)
        mean_gap_days = DAYS_PER_MONTH / rate_per_month
        day = self.as_of_day
        while True:
            for gap in rng.exponential(mean_gap_days, _CHUNK).tolist():
                day += gap
                yield day
