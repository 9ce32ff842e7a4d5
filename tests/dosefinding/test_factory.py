"""build_design: scenario-style parameters to design objects."""

import pytest

from sim.dosefinding import (
    BOIN,
    CRM,
    DESIGN_NAMES,
    ThreePlusThree,
    build_design,
    calibrate_skeleton,
)


def test_every_design_name_builds():
    common = {"n_levels": 4, "max_n": 12, "target_dlt": 0.25, "indifference_halfwidth": 0.08}
    built = {name: build_design(name, **common) for name in DESIGN_NAMES}
    assert isinstance(built["3+3"], ThreePlusThree)
    assert isinstance(built["boin"], BOIN) and built["boin"].cohort_size == 3
    assert isinstance(built["crm"], CRM) and not built["crm"].time_to_event
    assert isinstance(built["tite-crm"], CRM) and built["tite-crm"].time_to_event


def test_reference_trial_design():
    """DOMAIN.md section 1 and issue 3: TITE-CRM, empiric, target 0.25, half-width 0.09, start at
    level 3 of 4 (0-based 2), 10 patients, 21-day window; the skeleton calibrated around the
    start level unless another prior MTD level is given."""
    design = build_design(
        "tite-crm",
        n_levels=4,
        start_level=2,
        max_n=10,
        target_dlt=0.25,
        indifference_halfwidth=0.09,
        dlt_window_days=21.0,
    )
    assert design.skeleton == pytest.approx(calibrate_skeleton(0.25, 0.09, 2, 4))
    assert design.model == "empiric" and design.prior_sd == pytest.approx(1.34**0.5)
    assert design.no_skip_escalation and design.weight_scheme == "linear"
    other = build_design(
        "crm", n_levels=4, max_n=10, target_dlt=0.25, indifference_halfwidth=0.09, prior_mtd_level=1
    )
    assert other.skeleton == pytest.approx(calibrate_skeleton(0.25, 0.09, 1, 4))


def test_given_skeleton_and_options_pass_through():
    design = build_design(
        "tite-crm",
        n_levels=3,
        max_n=9,
        target_dlt=0.3,
        skeleton=(0.1, 0.2, 0.3),
        model="logistic",
        tite_weights="adaptive",
        cohort_size=3,
        no_skip_escalation=False,
        safety_threshold=None,
    )
    assert design.skeleton == (0.1, 0.2, 0.3) and design.model == "logistic"
    assert design.weight_scheme == "adaptive" and design.cohort_size == 3
    assert not design.no_skip_escalation and design.safety_threshold is None
    assert not build_design("3+3", n_levels=3, confirm_mtd_with_six=False).confirm_mtd_with_six


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("3+3", {"n_levels": 3, "cohort_size": 2}),
        ("up-and-down", {"n_levels": 3}),
        ("boin", {"n_levels": 3, "max_n": 9}),
        ("crm", {"n_levels": 3, "target_dlt": 0.25}),
        ("crm", {"n_levels": 3, "max_n": 9, "target_dlt": 0.25}),
        ("crm", {"n_levels": 3, "max_n": 9, "target_dlt": 0.25, "skeleton": (0.1, 0.2)}),
    ],
)
def test_incomplete_or_wrong_parameters_are_rejected(name, kwargs):
    with pytest.raises(ValueError):
        build_design(name, **kwargs)
