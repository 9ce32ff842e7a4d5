"""What a dose-finding design sees and what it answers (pure; no simpy).

The engine keeps, for each phase I patient in treatment order, a `TreatedPatient`: the level given
(0-based), the days of the DLT window observed so far and whether a DLT has been observed. Whenever
something changes (a patient registers, a DLT occurs, a window completes) it may ask the design

- `design.decide(patients) -> Decision`: what to do with a patient registering now: TREAT at a
  level, WAIT (a window that the rule needs is still open; ask again when something changes), or
  STOP (phase I is over: maximum n reached, too toxic at the lowest level, or the rule has ended);
- `design.recommend(patients) -> int | None`: the level recommended for phase II (None: none is).

Both are pure functions of the patient list: the design keeps no state between calls (at most a
cache of its own answers), so a design object is built once per scenario and shared by every
replicate (and every worker).

A patient's window is complete when a DLT was observed or `followed_days` reached the design's
`dlt_window_days`. For a patient with a DLT, `followed_days` is the day of the window on which the
DLT occurred (follow-up for DLT ends there); TITE-CRM's adaptive weights use those days. Set
`followed_days` to exactly `dlt_window_days` once the window is over, deciding that by comparing
times (now >= start + window): the difference now - start can round just below the window.

Stop reasons say why no more patients are taken. After a TOO_TOXIC stop no dose is recommended
(the engine does not ask: the stop is binding, even if windows open at the stop then end without
a DLT); otherwise the dose is `recommend`'s answer once the windows of the patients treated are
complete (None: no dose).
"""

from __future__ import annotations

import enum
import functools
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple


class TreatedPatient(NamedTuple):
    """One treated phase I patient as a design sees it. (A named tuple: the engine makes one for
    each open window every day a design is asked, and a tuple is built in half the time.)"""

    level: int  # 0-based dose level given
    followed_days: float  # days of the DLT window observed so far, capped at the window
    dlt: bool  # a DLT has been observed


class Action(enum.Enum):
    TREAT = "treat"
    WAIT = "wait"
    STOP = "stop"


class StopReason(enum.Enum):
    MAX_N = "max_n"  # the maximum number of phase I patients has been treated
    TOO_TOXIC = "too_toxic"  # the lowest level is too toxic: no dose is recommended
    RULE_COMPLETE = "rule_complete"  # a rule-based design (3+3) has declared its MTD
    CONVERGED = "converged"  # BOIN: enough patients at the level it would stay at


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to "what about a patient registering now?"."""

    action: Action
    level: int | None = None  # the level to treat at, for TREAT only
    stop_reason: StopReason | None = None  # for STOP only

    # Decisions are immutable, so one object per answer serves every call (designs are asked
    # tens of times a replicate).
    @staticmethod
    @functools.cache
    def treat(level: int) -> Decision:
        return Decision(Action.TREAT, level=level)

    @staticmethod
    @functools.cache
    def stop(reason: StopReason) -> Decision:
        return Decision(Action.STOP, stop_reason=reason)


WAIT = Decision(Action.WAIT)


class DoseFindingDesign(ABC):
    """Common parameters and checks; subclasses implement `decide` and `recommend`."""

    def __init__(
        self,
        n_levels: int,
        *,
        start_level: int = 0,
        max_n: int | None = None,
        dlt_window_days: float = 21.0,
    ) -> None:
        if n_levels < 1:
            raise ValueError(f"n_levels must be at least 1, got {n_levels}")
        if not 0 <= start_level < n_levels:
            raise ValueError(
                f"start_level must be in 0..{n_levels - 1} (0-based), got {start_level}"
            )
        if max_n is not None and max_n < 1:
            raise ValueError(f"max_n must be at least 1, got {max_n}")
        if not dlt_window_days > 0:
            raise ValueError(f"dlt_window_days must be positive, got {dlt_window_days}")
        self.n_levels = n_levels
        self.start_level = start_level
        self.max_n = max_n
        self.dlt_window_days = float(dlt_window_days)

    def is_complete(self, patient: TreatedPatient) -> bool:
        """Whether this patient's DLT outcome is final."""
        return patient.dlt or patient.followed_days >= self.dlt_window_days

    @abstractmethod
    def decide(self, patients: Sequence[TreatedPatient]) -> Decision:
        """TREAT, WAIT or STOP for a patient registering now, given everyone treated so far."""

    def stop_reason(self, patients: Sequence[TreatedPatient]) -> StopReason | None:
        """Why phase I takes no more patients now, or None: `decide`'s STOP, asked when nobody is
        registering (a window completed, a DLT occurred). Designs may answer it more cheaply."""
        decision = self.decide(patients)
        return decision.stop_reason if decision.action is Action.STOP else None

    @abstractmethod
    def recommend(self, patients: Sequence[TreatedPatient]) -> int | None:
        """The recommended level (0-based; always one that was tried), or None."""
