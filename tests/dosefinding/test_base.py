"""The shared interface: decisions, patients, parameter checks."""

import pytest

from sim.dosefinding import (
    WAIT,
    Action,
    Decision,
    StopReason,
    ThreePlusThree,
    TreatedPatient,
)


def test_decision_constructors():
    assert Decision.treat(2) == Decision(Action.TREAT, level=2)
    assert Decision.stop(StopReason.MAX_N) == Decision(Action.STOP, stop_reason=StopReason.MAX_N)
    assert WAIT.action is Action.WAIT and WAIT.level is None


def test_patient_and_decision_are_frozen():
    patient = TreatedPatient(0, 3.0, False)
    with pytest.raises(AttributeError):
        patient.dlt = True  # type: ignore[misc]
    with pytest.raises(AttributeError):
        WAIT.level = 1  # type: ignore[misc]


def test_window_complete_when_followed_through_or_dlt_seen():
    design = ThreePlusThree(3, dlt_window_days=21.0)
    assert design.is_complete(TreatedPatient(0, 21.0, False))
    assert design.is_complete(TreatedPatient(0, 4.0, True))
    assert not design.is_complete(TreatedPatient(0, 20.9, False))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_levels": 0},
        {"n_levels": 3, "start_level": 3},
        {"n_levels": 3, "start_level": -1},
        {"n_levels": 3, "max_n": 0},
        {"n_levels": 3, "dlt_window_days": 0.0},
    ],
)
def test_bad_common_parameters_are_rejected(kwargs):
    with pytest.raises(ValueError):
        ThreePlusThree(**kwargs)
