"""Outcome strings ("1NNN 2NTN", Brock's escalation package notation) <-> treated patients."""

import pytest

from sim.dosefinding import TreatedPatient, format_outcomes, parse_outcomes


def test_parse_gives_complete_patients_in_order_with_zero_based_levels():
    """Source: the notation (escalation, Brock 2019): level 1-based, then N/T per patient."""
    assert parse_outcomes("1NNN 2NTN", dlt_window_days=28.0) == [
        TreatedPatient(0, 28.0, False),
        TreatedPatient(0, 28.0, False),
        TreatedPatient(0, 28.0, False),
        TreatedPatient(1, 28.0, False),
        TreatedPatient(1, 28.0, True),
        TreatedPatient(1, 28.0, False),
    ]


def test_empty_string_is_no_patient():
    assert parse_outcomes("") == []


@pytest.mark.parametrize("bad", ["0NN", "1NX", "N1", "12"])
def test_malformed_cohorts_are_rejected(bad):
    with pytest.raises(ValueError):
        parse_outcomes(bad)


def test_format_groups_runs_of_a_level():
    outcomes = "1NNN 2NTN 1TN 3T"
    assert format_outcomes(parse_outcomes(outcomes)) == outcomes
    assert format_outcomes(parse_outcomes("2NN 2T")) == "2NNT"
