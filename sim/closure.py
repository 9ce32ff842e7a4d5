"""Early-closure rules for accrual (pure): deadline, monitoring checkpoints, minimum for analysis.

Conventions, pinned by tests/test_closure.py:
- Days count from the trial's opening (day 0); a month is sim.units.DAYS_PER_MONTH days.
- "By month m" includes a registration on the checkpoint day itself: registrations are counted
  before the decision taken that day.
- Reaching the target closes accrual as complete; no rule is consulted after that, even on the
  same day.
- A failed checkpoint on the deadline's day is reported as slow accrual (the monitoring rule is the
  more specific reason).
"""

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from sim.units import DAYS_PER_MONTH


class ClosureReason(StrEnum):
    """Why accrual ended (or "open": it has not, as far as the data go)."""

    TARGET_REACHED = "target_reached"
    SLOW_ACCRUAL = "slow_accrual"
    DEADLINE = "deadline"
    OPEN = "open"


# Decision days are computed as month * DAYS_PER_MONTH; an engine's clock reaching them by adding
# delays may be off by a few ulps, so days this close (relative) are the same decision day.
_SAME_DAY_RELATIVE = 1e-9


def _same_day(a: float, b: float) -> bool:
    if not (math.isfinite(a) and math.isfinite(b)):
        return a == b
    return abs(a - b) <= _SAME_DAY_RELATIVE * max(1.0, abs(a), abs(b))


@dataclass(frozen=True)
class Checkpoint:
    """Accrual monitoring: close if fewer than min_registered are registered by `month`."""

    month: float
    min_registered: int

    def __post_init__(self) -> None:
        if not (0.0 < self.month < math.inf) or self.min_registered < 1:
            raise ValueError(
                f"a checkpoint needs month > 0 and min_registered >= 1, got {self.month}, "
                f"{self.min_registered}"
            )

    @property
    def day(self) -> float:
        return self.month * DAYS_PER_MONTH


@dataclass(frozen=True)
class AccrualClosure:
    """How accrual ended. day: the target-th registration, or the failed checkpoint or deadline;
    None while open. registration_days: the registrations counted (those up to `day`)."""

    reason: ClosureReason
    day: float | None
    registered: int
    registration_days: tuple[float, ...]
    analysable: bool

    @property
    def closed_early(self) -> bool:
        """Accrual stopped by a rule before the target was reached."""
        return self.reason in (ClosureReason.SLOW_ACCRUAL, ClosureReason.DEADLINE)


@dataclass(frozen=True)
class ClosureRules:
    """Any combination of: an accrual deadline (max_months, None for none), monitoring
    checkpoints, and a minimum number of patients for the efficacy analysis (0: no minimum)."""

    max_months: float | None = None
    checkpoints: tuple[Checkpoint, ...] = ()
    min_patients_for_analysis: int = 0

    def __post_init__(self) -> None:
        if self.max_months is not None and not (0.0 < self.max_months < math.inf):
            raise ValueError(f"max_months must be > 0, got {self.max_months}")
        if self.min_patients_for_analysis < 0:
            raise ValueError(
                f"min_patients_for_analysis must be >= 0, got {self.min_patients_for_analysis}"
            )
        checkpoints = tuple(sorted(self.checkpoints, key=lambda c: c.month))
        object.__setattr__(self, "checkpoints", checkpoints)

    @property
    def deadline_day(self) -> float | None:
        return None if self.max_months is None else self.max_months * DAYS_PER_MONTH

    def decision_days(self) -> tuple[float, ...]:
        """Every day a rule is consulted, increasing, up to and including the deadline."""
        deadline = self.deadline_day
        days: list[float] = []
        for checkpoint in self.checkpoints:
            if (
                deadline is not None
                and checkpoint.day > deadline
                and not _same_day(checkpoint.day, deadline)
            ):
                break  # accrual is closed by then whatever happens
            if not days or not _same_day(days[-1], checkpoint.day):
                days.append(checkpoint.day)
        if deadline is not None and (not days or not _same_day(days[-1], deadline)):
            days.append(deadline)
        return tuple(days)

    def after(self, day: float) -> "ClosureRules":
        """The rules still to be applied to a trial known to be open on `day`: its checkpoints up
        to that day are past (an open trial's registrations so far, `trialsim run --observed`)."""
        upcoming = tuple(
            c for c in self.checkpoints if c.day > day and not _same_day(c.day, day)
        )
        return dataclasses.replace(self, checkpoints=upcoming)

    def next_decision_day(self, after_day: float) -> float | None:
        """The first decision day strictly after `after_day` (not the same day), or None."""
        for day in self.decision_days():
            if day > after_day and not _same_day(day, after_day):
                return day
        return None

    def decision_at(self, day: float, registered: int) -> ClosureReason | None:
        """Whether accrual closes on decision day `day`, with `registered` counted so far
        (including registrations that day), while the target is not reached; None: continue.

        `day` must be one of decision_days() (to a relative 1e-9)."""
        checkpoints_today = [c for c in self.checkpoints if _same_day(c.day, day)]
        deadline = self.deadline_day
        is_deadline = deadline is not None and _same_day(deadline, day)
        if not checkpoints_today and not is_deadline:
            raise ValueError(f"day {day} is not a decision day of {self}")
        if any(registered < c.min_registered for c in checkpoints_today):
            return ClosureReason.SLOW_ACCRUAL
        if is_deadline:
            return ClosureReason.DEADLINE
        return None

    def efficacy_analysis_allowed(self, patients: int) -> bool:
        """Whether an efficacy analysis is done with this many patients."""
        return patients >= self.min_patients_for_analysis

    def evaluate(
        self,
        registration_days: Iterable[float],
        target: int,
        as_of_day: float = math.inf,
    ) -> AccrualClosure:
        """Apply the rules to increasing registration days (read lazily, so an infinite sampler
        stream is fine) with a target of `target`.

        The days are all registrations up to as_of_day (default: all there will ever be); rules
        after as_of_day are not consulted, and if none closed accrual the result is "open".
        """
        if target < 1:
            raise ValueError(f"target must be >= 1, got {target}")
        pending = [d for d in self.decision_days() if d <= as_of_day]
        counted: list[float] = []

        def result(reason: ClosureReason, day: float | None) -> AccrualClosure:
            return AccrualClosure(
                reason,
                day,
                len(counted),
                tuple(counted),
                self.efficacy_analysis_allowed(len(counted)),
            )

        previous = -math.inf
        for registration_day in registration_days:
            if registration_day < previous:
                raise ValueError(
                    f"registration days must increase: {registration_day} after {previous}"
                )
            previous = registration_day
            if registration_day > as_of_day:
                break
            # Decisions strictly before this registration (a registration on a decision day is
            # counted first).
            while (
                pending
                and pending[0] < registration_day
                and not _same_day(pending[0], registration_day)
            ):
                day = pending.pop(0)
                reason = self.decision_at(day, len(counted))
                if reason is not None:
                    return result(reason, day)
            counted.append(registration_day)
            if len(counted) == target:
                return result(ClosureReason.TARGET_REACHED, registration_day)
        while pending:
            day = pending.pop(0)
            reason = self.decision_at(day, len(counted))
            if reason is not None:
                return result(reason, day)
        return result(ClosureReason.OPEN, None)
