"""Dose-finding designs as pure decision objects: 3+3, CRM, TITE-CRM and BOIN.

See `base` for the interface the engine uses (`decide`, `recommend`) and `build_design` for making
a design from scenario-style parameters.
"""

from sim.dosefinding.base import (
    WAIT,
    Action,
    Decision,
    DoseFindingDesign,
    StopReason,
    TreatedPatient,
)
from sim.dosefinding.boin import BOIN, boin_boundaries
from sim.dosefinding.crm import CRM, CrmPosterior
from sim.dosefinding.factory import DESIGN_NAMES, build_design
from sim.dosefinding.outcomes import format_outcomes, parse_outcomes
from sim.dosefinding.skeleton import calibrate_skeleton, indifference_intervals
from sim.dosefinding.three_plus_three import ThreePlusThree

__all__ = [
    "BOIN",
    "CRM",
    "DESIGN_NAMES",
    "WAIT",
    "Action",
    "CrmPosterior",
    "Decision",
    "DoseFindingDesign",
    "StopReason",
    "ThreePlusThree",
    "TreatedPatient",
    "boin_boundaries",
    "build_design",
    "calibrate_skeleton",
    "format_outcomes",
    "indifference_intervals",
    "parse_outcomes",
]
