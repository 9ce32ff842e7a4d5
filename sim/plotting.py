"""The sweep figure for a steering committee: power and the risk of closing early against the first
varied key, one line per value of the others, with ±1.96 Monte Carlo SE error bars.

matplotlib is an optional extra (`pip install "trialsim[plot]"`), imported only when a figure is
asked for. The figure is drawn on a `matplotlib.figure.Figure` of its own (no pyplot, no global
figure state, no display needed) and written atomically: a temporary file in the same folder, then
a rename.
"""

import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from sim.errors import ScenarioError
from sim.sweep import SweepResult, value_text

PLOT_FORMATS = (".png", ".pdf", ".svg")
DEFAULT_METRICS = ("reject_h0", "early_termination")
Z_95 = 1.96
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
# Panel title, y label and whether the metric is a probability (drawn on a 0-1 axis), for the
# metrics a planner reads most; others are titled by their names and scaled to their values.
METRIC_LABELS = {
    "reject_h0": ("Power: P(reject H0)", "probability of rejecting H0", True),
    "early_termination": ("Risk of closing early", "probability the trial closes early", True),
    "reject_h0_if_completed": (
        "Power if accrual completes",
        "P(reject H0 | accrual completed)",
        True,
    ),
    "terminated_slow_accrual": ("Closed for slow accrual", "probability", True),
    "n_treated_mean": ("Patients treated", "mean number treated", False),
    "duration_months_mean": ("Trial duration", "mean months from opening to analysis", False),
    "accrual_months_mean": (
        "Accrual duration",
        "mean months from opening to last registration",
        False,
    ),
}
_UNITS = ("days", "weeks", "months", "years")


def check_plot_target(path: str | Path) -> None:
    """Fail before a sweep runs if its figure could not be written: suffix, folder, matplotlib."""
    path = Path(path)
    if path.suffix.lower() not in PLOT_FORMATS:
        raise ScenarioError(
            f"--plot {path}: expected a file ending in {', '.join(PLOT_FORMATS)} "
            f"(the format follows the suffix)"
        )
    folder = path.resolve().parent
    if not folder.is_dir():
        raise ScenarioError(f"--plot {path}: the folder {folder} does not exist")
    _figure_class()


def _figure_class():
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ScenarioError(
            '--plot needs matplotlib, an optional extra: pip install "trialsim[plot]"'
        ) from None
    return Figure


def axis_label(key: str) -> str:
    """`accrual.rate_per_month` -> "accrual: rate per month"; a trailing unit goes in brackets."""
    *sections, name = key.split(".")
    words = name.split("_")
    unit = ""
    if len(words) > 1 and words[-1] in _UNITS:
        unit = f" ({words.pop()})"
    text = " ".join(words) + unit
    return f"{'.'.join(sections)}: {text}" if sections else text


def plot_sweep(
    result: SweepResult, path: str | Path, metrics: Sequence[str] = DEFAULT_METRICS
) -> None:
    """Write the figure of `result` to `path` (.png, .pdf or .svg), one panel per metric."""
    check_plot_target(path)
    figure = draw_sweep(result, metrics)
    _save_atomically(figure, Path(path))


def draw_sweep(result: SweepResult, metrics: Sequence[str] = DEFAULT_METRICS):
    """The matplotlib Figure: x is the first varied key, a line per combination of the others.

    A panel per metric of `metrics` that the sweep reports (a phase I-only scenario has no
    reject_h0); a point whose scenario does not report a metric is left out of that panel.
    """
    figure_class = _figure_class()
    plan = result.plan
    reported = [name for name in metrics if any(name in p.metrics for p in result.points)]
    if not reported:
        raise ScenarioError(f"--plot: the sweep reports none of {', '.join(metrics)}")
    metrics = reported
    x_key, line_keys = plan.keys[0], plan.keys[1:]
    x_values = list(plan.grid[0].values)
    numeric_x = all(_is_number(value) for value in x_values)
    # A non-numeric first key (a list, a word) is drawn at evenly spaced positions, labelled.
    position = {value_text(v): (v if numeric_x else i) for i, v in enumerate(x_values)}

    lines: dict[tuple, list] = {}
    for point in result.points:
        lines.setdefault(point.point.values[1:], []).append(point)

    # Lines that coincide (common random numbers make that common: accrual does not depend on
    # efficacy) are nudged apart sideways by a small fixed step so none hides another.
    span = (max(position.values()) - min(position.values())) or 1.0
    step = 0.012 * span if numeric_x else 0.06
    nudges = [(j - (len(lines) - 1) / 2) * step for j in range(len(lines))]

    figure = figure_class(figsize=(5.2 * len(metrics), 4.6), layout="constrained")
    axes = figure.subplots(1, len(metrics), squeeze=False)[0]
    for axis, metric in zip(axes, metrics, strict=True):
        title, y_label, probability = METRIC_LABELS.get(
            metric, (metric.replace("_", " "), metric, metric.startswith("p_"))
        )
        for line_number, (line_values, points) in enumerate(lines.items()):
            points = sorted(
                (p for p in points if metric in p.metrics),
                key=lambda p: position[value_text(p.point.values[0])],
            )
            label = ", ".join(
                f"{axis_label(key)} = {value_text(value)}"
                for key, value in zip(line_keys, line_values, strict=True)
            )
            axis.errorbar(
                [position[value_text(p.point.values[0])] + nudges[line_number] for p in points],
                [p.metrics[metric].estimate for p in points],
                yerr=[Z_95 * _zero_if_nan(p.metrics[metric].mc_se) for p in points],
                marker=MARKERS[line_number % len(MARKERS)],
                capsize=3,
                label=label or None,
            )
        axis.set_title(title)
        axis.set_xlabel(axis_label(x_key))
        axis.set_ylabel(y_label)
        if probability:
            axis.set_ylim(-0.03, 1.03)
        if numeric_x:
            axis.set_xticks(sorted(set(x_values)))
        else:
            axis.set_xticks(range(len(x_values)), [value_text(v) for v in x_values])
            axis.set_xlim(-0.5, len(x_values) - 0.5)  # room for long labels at both ends
        axis.grid(alpha=0.3)
    if line_keys:
        handles, labels = axes[0].get_legend_handles_labels()
        figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 3))
    figure.suptitle(
        f"{plan.name}\n{result.reps:,} simulated trials per point, the same seed "
        f"({result.seed}) at every point; bars ±{Z_95} MC SE",
        fontsize=11,
    )
    return figure


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _zero_if_nan(value: float) -> float:
    # An SE is undefined (NaN) with fewer than 2 replicates; draw no bar rather than fail.
    return 0.0 if math.isnan(value) else value


def _save_atomically(figure, path: Path) -> None:
    handle, temporary = tempfile.mkstemp(
        dir=path.resolve().parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "wb") as stream:
            figure.savefig(stream, format=path.suffix.lower().lstrip("."), dpi=150)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
