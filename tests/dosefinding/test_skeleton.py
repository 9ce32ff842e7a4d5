"""Skeleton calibration by indifference intervals (Lee and Cheung 2009) and model sensitivity."""

import math

import pytest
from scipy.optimize import brentq
from scipy.special import expit

from sim.dosefinding import calibrate_skeleton, indifference_intervals


def model_probability(skeleton, level, b, model, intercept=3.0):
    s = skeleton[level]
    if model == "empiric":
        return s ** math.exp(b)
    x = math.log(s / (1 - s)) - intercept
    return float(expit(intercept + math.exp(b) * x))


@pytest.mark.parametrize("model", ["empiric", "logistic"])
@pytest.mark.parametrize(
    ("target", "halfwidth", "prior_mtd", "n_levels"),
    [(0.25, 0.09, 2, 4), (0.25, 0.10, 2, 6), (0.20, 0.05, 0, 5), (0.30, 0.06, 4, 5)],
)
def test_calibrated_skeleton_has_the_requested_indifference_intervals(
    target, halfwidth, prior_mtd, n_levels, model
):
    """Source: the definition in Lee and Cheung (2009, Clinical Trials 6:227): the prior MTD
    level has prior probability `target`, and wherever the model's choice switches between
    adjacent levels (where |p_{k-1}(b) - target| = |p_k(b) - target|, found here by root
    finding) the two levels' probabilities are target - halfwidth and target + halfwidth."""
    skeleton = calibrate_skeleton(target, halfwidth, prior_mtd, n_levels, model=model)
    assert skeleton[prior_mtd] == pytest.approx(target, abs=1e-12)
    assert all(a < b for a, b in zip(skeleton, skeleton[1:], strict=False))
    for k in range(1, n_levels):

        def gap(b, k=k):
            return (
                model_probability(skeleton, k - 1, b, model)
                + model_probability(skeleton, k, b, model)
                - 2 * target
            )

        switch = brentq(gap, -10, 10, xtol=1e-14)
        assert model_probability(skeleton, k - 1, switch, model) == pytest.approx(
            target - halfwidth, abs=1e-9
        )
        assert model_probability(skeleton, k, switch, model) == pytest.approx(
            target + halfwidth, abs=1e-9
        )


def test_indifference_intervals_of_a_calibrated_skeleton():
    """Source: Cheung and Chappell (2002, Biometrics 58:671) as dfcrm::crmsens reports them: for a
    skeleton calibrated with half-width delta, interior levels' intervals are target +/- delta.
    The reference trial's design (DOMAIN.md section 1): target 0.25, half-width 0.09, so
    16%-34%."""
    skeleton = calibrate_skeleton(0.25, 0.09, 2, 4)
    intervals = indifference_intervals(skeleton, 0.25)
    assert math.isnan(intervals[0][0]) and math.isnan(intervals[-1][1])
    assert [lower for lower, _ in intervals[1:]] == pytest.approx([0.16] * 3, abs=1e-9)
    assert [upper for _, upper in intervals[:-1]] == pytest.approx([0.34] * 3, abs=1e-9)


@pytest.mark.parametrize("model", ["empiric", "logistic"])
def test_indifference_intervals_of_any_skeleton(model):
    """Source: the definition (Cheung and Chappell 2002; dfcrm::crmsens): b_k solves
    p_{k-1}(b) + p_k(b) = 2 target; level k's limits are p_{k-1}(b_k) and p_{k+1}(b_{k+1}).
    Skeleton of the escalation package's CRM vignette (0.05, 0.12, 0.25, 0.40, 0.55)."""
    skeleton = (0.05, 0.12, 0.25, 0.40, 0.55)
    switches = [None] + [
        brentq(
            lambda b, k=k: (
                model_probability(skeleton, k - 1, b, model)
                + model_probability(skeleton, k, b, model)
                - 0.5
            ),
            -10,
            10,
            xtol=1e-14,
        )
        for k in range(1, 5)
    ]
    intervals = indifference_intervals(skeleton, 0.25, model=model)
    for k in range(5):
        if k > 0:
            expected = model_probability(skeleton, k - 1, switches[k], model)
            assert intervals[k][0] == pytest.approx(expected, abs=1e-9)
        if k < 4:
            expected = model_probability(skeleton, k + 1, switches[k + 1], model)
            assert intervals[k][1] == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"target": 0.25, "halfwidth": 0.3, "prior_mtd_level": 1, "n_levels": 4},
        {"target": 0.25, "halfwidth": 0.05, "prior_mtd_level": 4, "n_levels": 4},
        {"target": 1.2, "halfwidth": 0.05, "prior_mtd_level": 0, "n_levels": 4},
        {"target": 0.25, "halfwidth": 0.05, "prior_mtd_level": 0, "n_levels": 4, "model": "probit"},
        {
            "target": 0.5,
            "halfwidth": 0.45,
            "prior_mtd_level": 0,
            "n_levels": 3,
            "model": "logistic",
            "intercept": 1.0,
        },
    ],
)
def test_bad_calibration_requests_are_rejected(kwargs):
    with pytest.raises(ValueError):
        calibrate_skeleton(**kwargs)
