"""What happened to each patient: append-only facts written by the engine, read by analyses.

Days are engine days (day 0 = the trial opens). `math.inf` means "did not happen before the
simulation stopped"; an analysis cut at day C ignores anything after C anyway.
"""

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

# Patient status after registration.
SCREEN_FAILURE = "screen_failure"
WITHDRAWN = "withdrawn"  # eligible, withdrew before the first dose
TREATED = "treated"
WAITING = "waiting"  # eligible, waiting for a phase I slot
LOST_WAITING = "lost_waiting"  # waited longer than the scenario allows, or the trial closed

# Why accrual closed.
CLOSED_TARGET = "target"  # the planned number was treated (or phase I-only: a dose recommended)
CLOSED_DEADLINE = "deadline"  # accrual.max_months passed
CLOSED_SLOW_ACCRUAL = "slow_accrual"  # fewer registered than an accrual checkpoint asks
CLOSED_TOXICITY = "toxicity"  # phase I recommended no dose
CLOSED_ACCRUAL_ENDED = "accrual_ended"  # the accrual model registers no one any more

# Scan results (RECIST 1.1 categories; CR and PR are not told apart: both count as response).
PROGRESSIVE = "PD"
STABLE = "SD"
RESPONSE = "PR"

# Trace event kinds, in the order they are applied when they fall on the same day: a scan is read
# before the cycle that would start that day, so a progression seen on day 63 gives no cycle 4.
EVENT_ORDER = (
    "registration",
    "screen_failure",
    "withdrawal",
    "lost_waiting",
    "treatment_start",
    "dlt",
    "phase1_end",
    "death",
    "scan",
    "progression",
    "cycle_start",
    "dose_change",
    "dropout",
    "censored",
)


class PatientRecord(NamedTuple):
    """What happened to one registered patient. (A named tuple, immutable like the frozen
    dataclasses here but built in a fifth of the time: one is made for every patient of every
    replicate, 6% of a phase I replicate's time as a frozen dataclass.)"""

    patient_id: int  # 1-based, in registration order
    registration_day: float
    status: str
    treatment_start_day: float = math.inf
    latent_progression_day: float = math.inf  # the truth; analyses must not read it
    progression_day: float = math.inf  # progression as observed (scan or clinical)
    death_day: float = math.inf  # death without observed progression, while followed
    dropout_day: float = math.inf  # lost to follow-up
    cycle_start_days: tuple[float, ...] = ()
    scan_days: tuple[float, ...] = ()
    scan_results: tuple[str, ...] = ()
    responder: bool = False  # latent: would respond if scanned; analyses read scan_results
    phase: int = 2  # the phase the patient was treated in
    level: int = 0  # 0-based dose level (0 when there is no phase I)
    in_phase2: bool = True  # in the phase II analysis population
    dlt_day: float = math.inf  # phase I: the day a DLT was seen
    # With an AE model, the treatment given by the cut (empty/NaN without one):
    ae_highest_grades: tuple[int, ...] = ()  # per AE type, in the scenario's order
    dose_held: bool = False
    dose_reduced: bool = False
    off_for_toxicity: bool = False  # a rule ended all treatment
    rdi: float = math.nan  # relative dose intensity of toxicity.rdi_drug


@dataclass(frozen=True, slots=True)
class TraceEvent:
    day: float
    patient_id: int
    event: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class TrialRecord:
    """One simulated trial: every registered patient, and the controller's dates."""

    patients: tuple[PatientRecord, ...]
    target_n: int
    accrual_closed_day: float
    closure_reason: str  # one of the CLOSED_* reasons
    analysis_day: float
    events: tuple[TraceEvent, ...] = ()
    selected_level: int | None = None  # phase I's recommended level (0-based); None: none
    phase1_stop_reason: str = ""
    phase1_end_day: float = math.nan

    @property
    def closed_early(self) -> bool:
        """Accrual closed before the trial reached what it planned."""
        return self.closure_reason != CLOSED_TARGET


@dataclass(frozen=True)
class RandomizedCohort:
    """A randomized trial's patients as aligned arrays, in registration order (numpy arrays).

    Times are days from randomization (= registration), as observed had the trial gone on for
    ever; `math.inf` where something never happens. An event-time is already `inf` when the
    patient is lost to follow-up (dropout) before it is seen. A cut at day C reads only what is
    known by C (sim.interim).
    """

    registration_day: np.ndarray
    arm: np.ndarray  # 0 control, 1.. experimental
    stratum: np.ndarray  # index into the randomization design's strata
    pfs_event_time: np.ndarray  # progression seen (at a scan, or continuous) or death
    os_event_time: np.ndarray
    dropout_time: np.ndarray
    switched: np.ndarray  # bool: a control patient crossed over at progression
    arms: int = 2  # number of arms (arm 0 is control)
