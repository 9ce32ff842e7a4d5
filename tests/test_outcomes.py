"""Outcome models: sampled times against each model's own survival function (closed forms)."""

import math

import numpy as np
import pytest
from scipy import stats

from sim.outcomes import Exponential, PiecewiseExponential, PiecewiseHazard, Weibull
from sim.units import LN2


def _uniforms(n=20_000, seed=8):
    return np.random.default_rng(seed).random(n)


@pytest.mark.parametrize(
    "model",
    [
        Exponential(56.0),
        Weibull(56.0, 0.7),
        Weibull(56.0, 2.5),
        PiecewiseExponential((28.0, 91.0), (30.0, 80.0, 200.0)),
    ],
)
def test_sampled_times_follow_the_model(model):
    times = model.times_from_uniforms(_uniforms())
    # Kolmogorov-Smirnov against the model's CDF; with a fixed seed this is deterministic, and a
    # wrong scale or piece boundary gives p-values far below 1e-3 at n = 20,000.
    result = stats.kstest(times, lambda t: 1 - model.survival(t))
    assert result.pvalue > 1e-3


@pytest.mark.parametrize("model", [Exponential(56.0), Weibull(56.0, 0.7), Weibull(56.0, 2.5)])
def test_the_median_is_the_median_asked_for(model):
    assert model.survival(np.array([56.0]))[0] == pytest.approx(0.5, abs=1e-12)
    assert model.times_from_uniforms(np.array([0.5]))[0] == pytest.approx(56.0)


def test_piecewise_survival_by_hand():
    # Hazards ln2/30 on [0, 28), ln2/80 on [28, 91), ln2/200 after: S(100) = exp(-ln2 (28/30 +
    # 63/80 + 9/200)).
    model = PiecewiseExponential((28.0, 91.0), (30.0, 80.0, 200.0))
    expected = math.exp(-math.log(2) * (28 / 30 + 63 / 80 + 9 / 200))
    assert model.survival(np.array([100.0]))[0] == pytest.approx(expected, rel=1e-12)
    assert model.times_from_uniforms(np.array([1 - expected]))[0] == pytest.approx(100.0)


def test_a_larger_uniform_is_a_later_time_in_every_model():
    # Common random numbers rest on this: a patient keeps its rank when a parameter changes.
    u = np.sort(_uniforms(500))
    for model in (Exponential(10.0), Weibull(80.0, 1.7),
                  PiecewiseExponential((5.0,), (3.0, 50.0))):
        assert np.all(np.diff(model.times_from_uniforms(u)) >= 0)


def test_piecewise_hazard_inverts_its_cumulative_hazard_like_the_piecewise_model():
    """PiecewiseHazard.inverse(-log(1 - u)) is PiecewiseExponential's inverse-CDF draw (a
    second implementation), cumulative and inverse are inverse functions, and a zero-hazard
    piece is skipped (no event there) while a zero last piece means never."""
    breaks, medians = (30.0, 90.0), (50.0, 20.0, 80.0)
    hazard = PiecewiseHazard(breaks, tuple(LN2 / m for m in medians))
    uniforms = np.random.default_rng(3).random(1000)
    expected = PiecewiseExponential(breaks, medians).times_from_uniforms(uniforms)
    got = hazard.inverse(-np.log1p(-uniforms))
    assert np.allclose(got, expected, rtol=1e-12, atol=1e-9)
    assert np.allclose(hazard.cumulative(got), -np.log1p(-uniforms), rtol=1e-12)

    gap = PiecewiseHazard((10.0, 20.0), (0.1, 0.0, 0.2))
    assert gap.inverse(np.array([0.5, 1.0, 1.2])).tolist() == pytest.approx([5.0, 20.0, 21.0])
    never = PiecewiseHazard((10.0,), (0.1, 0.0))
    assert never.inverse(np.array([0.5, 2.0])).tolist() == [5.0, math.inf]
