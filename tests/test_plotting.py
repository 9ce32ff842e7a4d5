"""The sweep figure: what it draws (from made-up estimates, so the expected numbers are known),
that it is a real PNG, and the message when the optional matplotlib is missing.

matplotlib is the `plot` extra; the test environment installs it (`pip install ".[test,plot]"`).
"""

import struct
import sys

import pytest

from sim import plotting, sweep
from sim.errors import ScenarioError
from sim.estimates import Estimate

SCENARIO = """\
[trial]
name = "plot test"

[accrual]
rate_per_month = 1.0
max_months = 48

[phase2]
n = 30
alpha = 0.05
null_median_weeks = 8
true_median_weeks = 13
follow_up_weeks = 26
"""
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def scenario_file(tmp_path):
    path = tmp_path / "scenario.toml"
    path.write_text(SCENARIO)
    return str(path)


def _result(plan, estimate_of) -> sweep.SweepResult:
    """A SweepResult whose metrics are `estimate_of(point)`: (reject_h0, early_termination)."""
    points = []
    for point in plan.points:
        power, early = estimate_of(point)
        metrics = {
            "reject_h0": Estimate(power, 0.01, 500),
            "early_termination": Estimate(early, 0.02, 500),
        }
        points.append(sweep.PointResult(point, metrics, computed=True))
    code = sweep.CodeIdentity("0", "made up", {})
    return sweep.SweepResult(plan, seed=1, reps=500, code=code, points=tuple(points))


def _two_key_result(scenario_file):
    plan = sweep.plan_sweep(
        scenario_file, ["accrual.rate_per_month=0.4,0.8,1.2", "phase2.true_median_weeks=8,13"]
    )
    return _result(plan, lambda p: (p.values[1] / 20 + p.values[0] / 10, 1 - p.values[0] / 2))


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("accrual.rate_per_month", "accrual: rate per month"),
        ("phase2.true_median_weeks", "phase2: true median (weeks)"),
        ("accrual.max_months", "accrual: max (months)"),
        ("phase2.n", "phase2: n"),
    ],
)
def test_axis_labels_come_from_the_key_with_its_unit_in_brackets(key, label):
    assert plotting.axis_label(key) == label


def test_panels_lines_and_error_bars(scenario_file):
    result = _two_key_result(scenario_file)
    figure = plotting.draw_sweep(result)
    power, early = figure.axes
    assert power.get_xlabel() == early.get_xlabel() == "accrual: rate per month"
    assert power.get_ylim() == early.get_ylim() == (-0.03, 1.03)
    # One line per value of the second key, each across the three rates.
    for axis, metric in ((power, "reject_h0"), (early, "early_termination")):
        assert len(axis.containers) == 2
        for container, median in zip(axis.containers, (8, 13), strict=True):
            line, _, (bars,) = container
            expected = [p for p in result.points if p.point.values[1] == median]
            assert list(line.get_ydata()) == [p.metrics[metric].estimate for p in expected]
            # Nudged sideways by a fixed step of 1.2% of the x range, apart by one step.
            nudge = (-0.5 if median == 8 else 0.5) * 0.012 * (1.2 - 0.4)
            assert list(line.get_xdata()) == pytest.approx([x + nudge for x in (0.4, 0.8, 1.2)])
            se = expected[0].metrics[metric].mc_se
            (_, low), (_, high) = bars.get_segments()[0]
            assert high - low == pytest.approx(2 * 1.96 * se)
    labels = [text.get_text() for text in figure.legends[0].get_texts()]
    assert labels == ["phase2: true median (weeks) = 8", "phase2: true median (weeks) = 13"]


def test_a_list_valued_first_key_is_drawn_at_labelled_positions(scenario_file):
    plan = sweep.plan_sweep(
        scenario_file, ["phase2.subgroups=[],[{share = 0.2, median_weeks = 30}]"]
    )
    figure = plotting.draw_sweep(_result(plan, lambda p: (0.8, 0.1)))
    axis = figure.axes[0]
    assert [t.get_text() for t in axis.get_xticklabels()] == [
        "[]", "[{share = 0.2, median_weeks = 30}]"
    ]
    assert list(axis.containers[0][0].get_xdata()) == [0, 1]
    assert figure.legends == []  # one varied key: one line, nothing to tell apart


def test_a_valid_png_is_written_atomically(scenario_file, tmp_path):
    out = tmp_path / "sweep.png"
    plotting.plot_sweep(_two_key_result(scenario_file), out)
    data = out.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1560, 690)  # 10.4 x 4.6 inches at 150 dpi
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scenario.toml", "sweep.png"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("sweep.gif", "expected a file ending in .png, .pdf, .svg"),
        ("no/sweep.png", "does not exist"),
    ],
)
def test_bad_plot_targets_are_refused_before_a_sweep(name, expected, tmp_path):
    with pytest.raises(ScenarioError, match=expected):
        plotting.check_plot_target(tmp_path / name)


def test_missing_matplotlib_says_how_to_install_it(scenario_file, tmp_path, monkeypatch):
    # A None entry in sys.modules makes `import matplotlib.figure` raise ImportError.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    message = '--plot needs matplotlib, an optional extra: pip install "trialsim[plot]"'
    with pytest.raises(ScenarioError) as error:
        plotting.check_plot_target(tmp_path / "sweep.png")
    assert str(error.value) == message
    with pytest.raises(ScenarioError, match="trialsim\\[plot\\]"):
        plotting.plot_sweep(_two_key_result(scenario_file), tmp_path / "sweep.png")
    assert not (tmp_path / "sweep.png").exists()


def test_a_sweep_without_the_drawn_metrics_is_refused(scenario_file):
    with pytest.raises(ScenarioError, match="reports none of orr_mean"):
        plotting.draw_sweep(_two_key_result(scenario_file), metrics=("orr_mean",))
