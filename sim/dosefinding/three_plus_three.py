"""The 3+3 design (Storer 1989; Le Tourneau, Lee and Siu 2009, JNCI 101:708).

Cohorts of 3 at the current level, starting at `start_level`:

- 0/3 with a DLT: escalate; 1/3: treat 3 more at the same level; then 1/6: escalate;
- >= 2 DLTs at a level (of 3 or of 6): that level is too toxic, and the MTD is sought one level
  below. With `confirm_mtd_with_six` (default) the level below is declared the MTD only once it has
  6 patients with <= 1 DLT: if it had only 3 (escalated from with 0/3), 3 more are treated there,
  and if it then shows >= 2/6 the search moves down again. Without it, the level below is declared
  at once if it was already cleared (0/3 or <= 1/6). A level below that was never tried (the trial
  started higher) is tried with the usual 3+3 cohorts. Too toxic at the lowest level: no MTD
  (STOP, TOO_TOXIC).
- Escalating past the top level: the top level is declared the MTD when its 6 patients show <= 1
  DLT; after 0/3 at the top, `confirm_mtd_with_six` treats 3 more there first (if they bring >= 2/6
  the search moves down), otherwise the top is declared at once.

Timing: a cohort's 3 patients are registered at its level as they come; then the rule waits
until their windows are complete, except that a second DLT at a level settles it at once (the
level is too toxic whatever the others show), so the trial moves down without waiting.

If `max_n` cuts the rule short, `recommend` returns the highest level cleared so far (0/3 or
<= 1/6, below any too-toxic level), or None. A cohort cut short settles nothing unless it makes its
level too toxic (>= 2 DLTs): a level cleared with 0/3 whose confirming cohort was cut after one
patient is still cleared.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from sim.dosefinding.base import (
    WAIT,
    Decision,
    DoseFindingDesign,
    StopReason,
    TreatedPatient,
)

COHORT_SIZE = 3


class _Status(enum.Enum):
    UNTRIED = 0
    FILLING = 1  # the open cohort still has places
    PENDING = 2  # the cohort is full, some windows are still open
    NEEDS_THREE_MORE = 3  # 1/3
    CLEARED_WITH_THREE = 4  # 0/3
    CLEARED_WITH_SIX = 5  # <= 1/6
    TOO_TOXIC = 6  # >= 2 DLTs


class _Step(enum.Enum):
    TREAT = 0
    WAIT = 1
    MTD = 2
    NO_MTD = 3


class ThreePlusThree(DoseFindingDesign):
    """The 3+3 rule as a pure decision object (see the module docstring for the exact rule)."""

    def __init__(
        self,
        n_levels: int,
        *,
        start_level: int = 0,
        max_n: int | None = None,
        dlt_window_days: float = 21.0,
        confirm_mtd_with_six: bool = True,
    ) -> None:
        super().__init__(
            n_levels, start_level=start_level, max_n=max_n, dlt_window_days=dlt_window_days
        )
        self.confirm_mtd_with_six = confirm_mtd_with_six

    def _statuses(self, patients: Sequence[TreatedPatient]) -> list[_Status]:
        treated = [0] * self.n_levels
        dlts = [0] * self.n_levels
        pending = [0] * self.n_levels
        window = self.dlt_window_days
        for patient in patients:
            treated[patient.level] += 1
            if patient.dlt:
                dlts[patient.level] += 1
            elif patient.followed_days < window:
                pending[patient.level] += 1
        statuses = []
        for n, d, open_windows in zip(treated, dlts, pending, strict=True):
            if d >= 2:
                statuses.append(_Status.TOO_TOXIC)  # settled whatever the open windows show
            elif n == 0:
                statuses.append(_Status.UNTRIED)
            elif n % COHORT_SIZE:
                statuses.append(_Status.FILLING)
            elif open_windows:
                statuses.append(_Status.PENDING)
            elif n == COHORT_SIZE:
                statuses.append(_Status.CLEARED_WITH_THREE if d == 0 else _Status.NEEDS_THREE_MORE)
            else:
                statuses.append(_Status.CLEARED_WITH_SIX)
        return statuses

    def _next_step(self, statuses: list[_Status]) -> tuple[_Step, int | None]:
        toxic = [k for k, s in enumerate(statuses) if s is _Status.TOO_TOXIC]
        if not toxic:
            tried = [k for k, s in enumerate(statuses) if s is not _Status.UNTRIED]
            current = max(tried) if tried else self.start_level
            status = statuses[current]
            if status in (_Status.CLEARED_WITH_THREE, _Status.CLEARED_WITH_SIX):
                if current < self.n_levels - 1:
                    return _Step.TREAT, current + 1
                if status is _Status.CLEARED_WITH_SIX or not self.confirm_mtd_with_six:
                    return _Step.MTD, current
                return _Step.TREAT, current  # 3 more at the top level before declaring it
            if status is _Status.PENDING:
                return _Step.WAIT, None
            return _Step.TREAT, current  # untried, filling, or 1/3
        below = min(toxic) - 1
        if below < 0:
            return _Step.NO_MTD, None
        status = statuses[below]
        if status is _Status.CLEARED_WITH_SIX:
            return _Step.MTD, below
        if status is _Status.CLEARED_WITH_THREE and not self.confirm_mtd_with_six:
            return _Step.MTD, below
        if status is _Status.PENDING:
            return _Step.WAIT, None
        return _Step.TREAT, below  # 3 (more) at the level below

    def decide(self, patients: Sequence[TreatedPatient]) -> Decision:
        step, level = self._next_step(self._statuses(patients))
        if step is _Step.MTD:
            return Decision.stop(StopReason.RULE_COMPLETE)
        if step is _Step.NO_MTD:
            return Decision.stop(StopReason.TOO_TOXIC)
        if self.max_n is not None and len(patients) >= self.max_n:
            return Decision.stop(StopReason.MAX_N)
        if step is _Step.WAIT:
            return WAIT
        return Decision.treat(level)

    def recommend(self, patients: Sequence[TreatedPatient]) -> int | None:
        statuses = self._statuses(patients)
        step, level = self._next_step(statuses)
        if step is _Step.MTD:
            return level
        if step is _Step.NO_MTD:
            return None
        # The rule was cut short (max_n) or asked early: the highest level cleared so far by its
        # complete cohorts (each level's first patients, three at a time).
        toxic = [k for k, s in enumerate(statuses) if s is _Status.TOO_TOXIC]
        ceiling = min(toxic) if toxic else self.n_levels
        treated = [0] * self.n_levels
        for patient in patients:
            treated[patient.level] += 1
        in_cohorts = [n - n % COHORT_SIZE for n in treated]
        complete = []
        for patient in patients:
            if in_cohorts[patient.level]:
                in_cohorts[patient.level] -= 1
                complete.append(patient)
        cleared = [
            k
            for k, status in enumerate(self._statuses(complete)[:ceiling])
            if status in (_Status.CLEARED_WITH_THREE, _Status.CLEARED_WITH_SIX)
        ]
        return max(cleared) if cleared else None
