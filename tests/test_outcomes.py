"""Outcome models: sampled times against each model's own survival function (closed forms)."""

import math

import numpy as np
import pytest
from scipy import stats

from sim.outcomes import (
    Exponential,
    PiecewiseExponential,
    PiecewiseHazard,
    Weibull,
    time_with_hazard_multipliers,
)
from sim.units import LN2


def _uniforms(n=20_000, seed=8):
    return np.random.default_rng(seed).random(n)


# Every model shape, with a decreasing, an increasing and a piecewise hazard.
MODELS = [
    Exponential(56.0),
    Weibull(56.0, 0.7),
    Weibull(56.0, 2.5),
    PiecewiseExponential((28.0, 91.0), (30.0, 80.0, 200.0)),
]


@pytest.mark.parametrize("model", MODELS)
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


@pytest.mark.parametrize("model", MODELS)
def test_cumulative_hazard_is_minus_log_survival_and_inverts(model):
    """H(t) = -log S(t) (the definition), and the time at which H reaches H(t) is t."""
    for t in (0.5, 13.0, 28.0, 56.0, 100.0, 400.0):
        h = model.cumulative_hazard(t)
        assert h == pytest.approx(-math.log(model.survival(np.array([t]))[0]), rel=1e-12)
        assert model.time_at_cumulative_hazard(h) == pytest.approx(t, rel=1e-12)


def test_time_with_hazard_multipliers_by_hand():
    """Exponential, hazard ln 2 / 10 a day. Baseline time 8 days: E = 0.8 ln 2. Hazard x1 on
    [0, 5), x2 after: H(t) = ln 2 (5 + 2 (t - 5)) / 10 = 0.8 ln 2 at t = 6.5. Weibull(scale 10,
    shape 2), H0 = (t / 10)^2, baseline 10 days (E = 1), x1 on [0, 5), x0.5 on [5, 8), x3 after:
    H(8) = 0.25 + 0.5 (0.64 - 0.25) = 0.445, then 0.445 + 3 ((t / 10)^2 - 0.64) = 1 at
    (t / 10)^2 = 0.825, t = 10 sqrt(0.825)."""
    exponential = Exponential(10.0)
    assert time_with_hazard_multipliers(exponential, 8.0, [(0.0, 1.0), (5.0, 2.0)]) == \
        pytest.approx(6.5, rel=1e-12)
    weibull = Weibull(10.0 * LN2 ** 0.5, 2.0)  # median 10 sqrt(ln 2): scale 10
    steps = [(0.0, 1.0), (5.0, 0.5), (8.0, 3.0)]
    assert time_with_hazard_multipliers(weibull, 10.0, steps) == \
        pytest.approx(10 * math.sqrt(0.825), rel=1e-12)


def test_time_with_hazard_multipliers_keeps_the_baseline_time_while_multipliers_are_1():
    """Before any multiplier differs from 1 the hazard is the model's: the baseline time comes
    back bit for bit (no round trip through H and its inverse); past the known horizon the
    answer is None (the caller extends the steps)."""
    model = Weibull(91.0, 1.5)
    baseline = 37.123456789
    assert time_with_hazard_multipliers(model, baseline, [(0.0, 1.0), (21.0, 1.0)]) == baseline
    assert time_with_hazard_multipliers(model, baseline, [(0.0, 1.0), (42.0, 2.0)]) == baseline
    assert time_with_hazard_multipliers(model, baseline, [(0.0, 1.0)], horizon_days=30.0) is None
    assert time_with_hazard_multipliers(model, baseline, [(0.0, 0.5)], horizon_days=40.0) is None
