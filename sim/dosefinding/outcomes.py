"""Trial-table outcome strings ("1NNN 2NTN"), as in the R package escalation (Brock 2019).

Each space-separated group is one cohort: its 1-based dose level, then one letter per patient,
N (no DLT) or T (DLT). Every patient in the string has completed the DLT window.
"""

import re

from sim.dosefinding.base import TreatedPatient

_COHORT = re.compile(r"(\d+)([NT]+)")


def parse_outcomes(outcomes: str, dlt_window_days: float = 21.0) -> list[TreatedPatient]:
    """Patients, in treatment order, for an outcome string; each with a complete window.

    A DLT patient's `followed_days` is set to the whole window (its day of onset is unknown here).
    """
    patients: list[TreatedPatient] = []
    for group in outcomes.split():
        match = _COHORT.fullmatch(group)
        if match is None:
            raise ValueError(f"bad cohort {group!r} in {outcomes!r}: expected e.g. '2NTN'")
        level = int(match.group(1)) - 1
        if level < 0:
            raise ValueError(f"dose levels in outcome strings are 1-based, got {group!r}")
        for letter in match.group(2):
            patients.append(TreatedPatient(level, float(dlt_window_days), letter == "T"))
    return patients


def format_outcomes(patients: list[TreatedPatient]) -> str:
    """The outcome string of complete patients, one group per run of the same level."""
    groups: list[str] = []
    previous_level = None
    for patient in patients:
        letter = "T" if patient.dlt else "N"
        if patient.level == previous_level:
            groups[-1] += letter
        else:
            groups.append(f"{patient.level + 1}{letter}")
            previous_level = patient.level
    return " ".join(groups)
