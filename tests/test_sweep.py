"""What-if sweeps: grid expansion, fail-fast validation, the SQLite store, resume and outputs.

Resume is checked the way it fails in practice: a sweep stopped by KeyboardInterrupt after some
points, in the middle of a point, and by SIGKILL (in a subprocess) both mid-point and inside the
transaction that writes a point. Each resumed sweep must compute only the unfinished points and end
with exactly (bit for bit) what an uninterrupted sweep on a fresh store gives.
"""

import csv
import hashlib
import json
import math
import sqlite3
import subprocess
import sys

import pytest

from sim import runner, sweep
from sim.errors import ScenarioError
from sim.estimates import Estimate
from sim.scenario import load_scenario

# A phase II-only scenario that runs fast and closes early often at slow accrual (48-month
# deadline for 30 patients), so sweeps over the rate have something to show.
SCENARIO = """\
[trial]
name = "sweep test"

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
REPS = 200
SEED = 11
RATES = "accrual.rate_per_month=0.6,1.0"
MEDIANS = "phase2.true_median_weeks=8,13"
REAL_PACKAGE_SHA256 = sweep.package_sha256  # before the autouse fixture pins it
# The first block of the third point: a stop there interrupts a point half done.
FIRST_BLOCK_OF_POINT_3 = 2 * math.ceil(REPS / runner.BLOCK_SIZE) + 1


@pytest.fixture
def scenario_file(tmp_path):
    path = tmp_path / "scenario.toml"
    path.write_text(SCENARIO)
    return str(path)


@pytest.fixture(autouse=True)
def pinned_build(monkeypatch):
    """Other work may edit sim/ while these tests run; pinning the code hash keeps a resume from
    seeing two builds. package_sha256 itself is checked on a package of its own below."""
    monkeypatch.setattr(sweep, "package_sha256", lambda package: "pinned build")


@pytest.fixture
def count_runs(monkeypatch):
    """The scenarios runner.run is called with, in order, during the test."""
    calls = []
    real_run = runner.run

    def counting_run(scenario, *args, **kwargs):
        calls.append(scenario)
        return real_run(scenario, *args, **kwargs)

    monkeypatch.setattr(sweep.runner, "run", counting_run)
    return calls


def _sweep(plan, store_path, **options):
    with sweep.SweepStore.open(store_path) as store:
        return sweep.run_sweep(plan, store, REPS, SEED, **options)


def _same(first: dict[str, Estimate], second: dict[str, Estimate]) -> bool:
    """Equal to the last bit, NaN (undefined) equal to NaN."""

    def bits(estimate: Estimate) -> tuple:
        return (repr(estimate.estimate), repr(estimate.mc_se), estimate.replicates)

    return list(first) == list(second) and all(
        bits(first[name]) == bits(second[name]) for name in first
    )


def _outputs(result) -> tuple[str, str]:
    return sweep.render_csv(result), sweep.render_json(result)


# ----------------------------------------------------------------------------- the grid


@pytest.mark.parametrize(
    ("raw", "pieces"),
    [
        ("0.4,0.6, 1", ["0.4", "0.6", " 1"]),
        ("[0.1,0.2],[0.2,0.3]", ["[0.1,0.2]", "[0.2,0.3]"]),
        ('"a,b",c', ['"a,b"', "c"]),
        ('"say \\"x,y\\"",z', ['"say \\"x,y\\""', "z"]),
        ("'lit,eral',{a = 1, b = [2, 3]}", ["'lit,eral'", "{a = 1, b = [2, 3]}"]),
    ],
)
def test_values_split_at_commas_outside_brackets_and_quotes(raw, pieces):
    assert sweep.split_values(raw) == pieces


def test_vary_values_are_read_as_toml_like_set():
    rates = sweep.parse_vary("accrual.rate_per_month=0.4, 0.6,1")
    assert rates.key == "accrual.rate_per_month" and rates.values == (0.4, 0.6, 1)
    tests = sweep.parse_vary("phase2.test=exponential,one-sample-logrank")
    assert tests.values == ("exponential", "one-sample-logrank")
    curves = sweep.parse_vary("phase1.true_dlt_probs=[0.05,0.1],[0.1, 0.2]")
    assert curves.values == ([0.05, 0.1], [0.1, 0.2])
    assert curves.texts == ("[0.05,0.1]", "[0.1, 0.2]")


def test_grid_is_every_combination_first_vary_slowest(scenario_file):
    plan = sweep.plan_sweep(
        scenario_file, ["accrual.rate_per_month=0.6,1.0,1.4", MEDIANS], ["phase2.n=20"]
    )
    assert plan.keys == ("accrual.rate_per_month", "phase2.true_median_weeks")
    assert [p.values for p in plan.points] == [
        (0.6, 8), (0.6, 13), (1.0, 8), (1.0, 13), (1.4, 8), (1.4, 13)
    ]
    assert [p.index for p in plan.points] == list(range(6))
    for point in plan.points:
        rate, median = point.values
        assert point.scenario.accrual.rate_per_month == rate
        assert point.scenario.phase2.true_median_weeks == median
        assert point.scenario.phase2.n == 20  # the --set base override applies at every point
    assert plan.name == "sweep test" and plan.overrides == ("phase2.n=20",)


def test_a_set_that_needs_the_varied_key_is_validated_with_it_at_every_point():
    # Validated alone, --set phase2.pfs_model=weibull lacks its shape, and the sweep was refused.
    plan = sweep.plan_sweep(
        "ruxolitinib_trastuzumab", ["phase2.weibull_shape=1,2"], ["phase2.pfs_model=weibull"]
    )
    assert [(p.scenario.phase2.pfs_model, p.scenario.phase2.weibull_shape)
            for p in plan.points] == [("weibull", 1), ("weibull", 2)]


@pytest.mark.parametrize(
    ("varies", "overrides", "expected"),
    [
        # The point's own --vary is named where the problem shows at another key.
        (["phase2.pfs_model=exponential,weibull"], [],
         "ruxolitinib_trastuzumab (bundled) with --vary phase2.pfs_model=weibull: "
         'phase2.weibull_shape: missing: pfs_model = "weibull" needs a shape > 0'),
        (["phase2.pfs_model=weibull", "phase2.weibull_shape=1,2"], ["phase2.weibull_shape=1"],
         "--set phase2.weibull_shape=1: phase2.weibull_shape is also varied by --vary"),
        # A problem of the --set alone is named once, before any point.
        (["phase2.weibull_shape=1,2"], ["phase2.pfs_model=[weibull"],
         "--set phase2.pfs_model=[weibull: the value '[weibull' is not a TOML value"),
        # A point bad through the --set: named by all its values.
        (["accrual.rate_per_month=0.6,1", "phase2.weibull_shape=1,2"], ["phase2.alpha=2"],
         "at the sweep point accrual.rate_per_month=0.6, phase2.weibull_shape=1: "
         "--set phase2.alpha=2: phase2.alpha = 2 is not allowed"),
    ],
)
def test_an_invalid_point_is_named(varies, overrides, expected):
    with pytest.raises(ScenarioError) as error:
        sweep.plan_sweep("ruxolitinib_trastuzumab", varies, overrides)
    assert str(error.value).startswith(expected)


def test_list_values_vary_a_list_key_of_the_bundled_scenario():
    plan = sweep.plan_sweep(
        "ruxolitinib_trastuzumab",
        ["phase1.true_dlt_probs=[0.05,0.10,0.20,0.25],[0.10,0.20,0.30,0.40]"],
    )
    assert [p.scenario.phase1.true_dlt_probs for p in plan.points] == [
        [0.05, 0.10, 0.20, 0.25], [0.10, 0.20, 0.30, 0.40]
    ]


@pytest.mark.parametrize(
    ("vary", "expected"),
    [
        ("accrual.rate_per_month", "--vary accrual.rate_per_month: expected KEY=V1,V2,..."),
        ("=0.4,0.6", "expected KEY=V1,V2,..."),
        ("accrual.rate_per_month=", "no values given for accrual.rate_per_month"),
        ("accrual.rate_per_month=0.4,,0.6", "an empty value for accrual.rate_per_month"),
        ("accrual.rate_per_month=0.4,", "an empty value"),
        ("accrual.rate_per_month=[0.4", "the value '[0.4' for accrual.rate_per_month is not a"),
        ("accrual.rate_per_month=0.4,0.4", "accrual.rate_per_month is given the value 0.4 twice"),
        (
            "accrual.rate_per_mnth=0.4,0.6",
            "--vary accrual.rate_per_mnth=0.4: unknown key accrual.rate_per_mnth "
            "(did you mean accrual.rate_per_month?)",
        ),
        (
            "accrual.rate_per_month=0.6,-1",
            "--vary accrual.rate_per_month=-1: accrual.rate_per_month = -1 is not allowed: "
            "expected a number >= 1e-06 and <= 1000",
        ),
        ("accrual.rate_per_month=1,1.0", "give the same scenario"),
    ],
)
def test_bad_vary_fails_before_anything_runs_or_is_written(
    vary, expected, scenario_file, tmp_path, monkeypatch, count_runs
):
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.iterdir())
    with pytest.raises(ScenarioError) as error:
        sweep.plan_sweep(scenario_file, [MEDIANS, vary])
    assert expected in str(error.value)
    assert count_runs == [] and sorted(tmp_path.iterdir()) == before


def test_a_bad_point_of_several_keys_is_named_by_all_its_values(scenario_file):
    with pytest.raises(ScenarioError) as error:
        sweep.plan_sweep(scenario_file, [RATES, "phase2.alpha=0.05,1.5"])
    assert str(error.value).startswith(
        "at the sweep point accrual.rate_per_month=0.6, phase2.alpha=1.5: --vary phase2.alpha=1.5:"
    )


@pytest.mark.parametrize(
    ("varies", "overrides", "expected"),
    [
        ([], [], "give at least one --vary"),
        ([RATES, "accrual.rate_per_month=2"], [], "the key is varied twice"),
        ([RATES], ["accrual.rate_per_month=2"], "also varied by --vary"),
    ],
)
def test_inconsistent_options_are_refused(varies, overrides, expected, scenario_file):
    with pytest.raises(ScenarioError, match=expected):
        sweep.plan_sweep(scenario_file, varies, overrides)


# ----------------------------------------------------------------------------- running


def test_each_point_equals_a_plain_run_of_its_scenario(scenario_file, tmp_path):
    plan = sweep.plan_sweep(scenario_file, [RATES])
    result = _sweep(plan, tmp_path / "store.sqlite")
    for point in result.points:
        direct = runner.run(point.point.scenario, REPS, SEED)
        assert point.computed and _same(point.metrics, direct.metrics)


def test_common_random_numbers_make_differences_between_points_not_noise(
    scenario_file, tmp_path
):
    # alt_median_weeks only moves the closed-form design power, never a simulated number: with
    # the same seed streams both points simulate the same trials and agree to the last bit.
    plan = sweep.plan_sweep(scenario_file, ["phase2.alt_median_weeks=13,20"])
    same, also_same = _sweep(plan, tmp_path / "a.sqlite").points
    assert same.point.scenario.sha256() != also_same.point.scenario.sha256()
    assert _same(same.metrics, also_same.metrics)
    # Accrual draws from its own stream, so a different truth on efficacy leaves accrual and
    # closing early exactly as they were, and moves only what depends on efficacy.
    plan = sweep.plan_sweep(scenario_file, [MEDIANS])
    null, alternative = _sweep(plan, tmp_path / "b.sqlite").points
    for name in ("early_termination", "n_registered_mean", "accrual_months_mean"):
        assert null.metrics[name] == alternative.metrics[name]
    assert null.metrics["reject_h0"].estimate < alternative.metrics["reject_h0"].estimate


def test_callbacks_report_every_point_and_every_replicate_computed(scenario_file, tmp_path):
    plan = sweep.plan_sweep(scenario_file, [RATES, MEDIANS])
    store_path = tmp_path / "store.sqlite"
    _sweep(sweep.plan_sweep(scenario_file, ["accrual.rate_per_month=1.0"]), store_path)
    seen_points, replicates = [], []
    _sweep(plan, store_path, on_point=seen_points.append, on_replicates=replicates.append)
    assert [(p.point.index, p.computed) for p in seen_points] == [
        (0, True), (1, True), (2, True), (3, False)  # rate 1.0, median 13: the stored point
    ]
    blocks = [min(runner.BLOCK_SIZE, REPS - first) for first in range(0, REPS, runner.BLOCK_SIZE)]
    assert replicates == blocks * 3


# ----------------------------------------------------------------------------- resume


def test_resume_after_interrupt_between_points(scenario_file, tmp_path, count_runs):
    plan = sweep.plan_sweep(scenario_file, [RATES, MEDIANS])
    uninterrupted = _sweep(plan, tmp_path / "fresh.sqlite")
    store_path = tmp_path / "store.sqlite"

    def stop_after_two(point_result):
        if point_result.point.index == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _sweep(plan, store_path, on_point=stop_after_two)
    count_runs.clear()
    resumed = _sweep(plan, store_path)
    assert [s.sha256() for s in count_runs] == [p.scenario.sha256() for p in plan.points[2:]]
    assert [p.computed for p in resumed.points] == [False, False, True, True]
    assert _outputs(resumed) == _outputs(uninterrupted)


def test_resume_after_interrupt_inside_a_point(scenario_file, tmp_path, count_runs):
    plan = sweep.plan_sweep(scenario_file, [RATES, MEDIANS])
    uninterrupted = _sweep(plan, tmp_path / "fresh.sqlite")
    store_path = tmp_path / "store.sqlite"
    blocks = []

    def stop_in_third_point(replicates):
        blocks.append(replicates)
        if len(blocks) == FIRST_BLOCK_OF_POINT_3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _sweep(plan, store_path, on_replicates=stop_in_third_point)
    count_runs.clear()
    resumed = _sweep(plan, store_path)
    assert len(count_runs) == 2
    assert _outputs(resumed) == _outputs(uninterrupted)
    # A third start finds everything and computes nothing.
    count_runs.clear()
    assert _outputs(_sweep(plan, store_path)) == _outputs(uninterrupted) and count_runs == []


KILLED_SWEEP = """
import os, signal, sys
from sim import sweep

plan = sweep.plan_sweep(sys.argv[1], sys.argv[3:])
where = sys.argv[2]
blocks = []

def kill_mid_point(replicates):
    blocks.append(replicates)
    if where == "mid-point" and len(blocks) == {first_block_of_point_3}:
        os.kill(os.getpid(), signal.SIGKILL)

real_rows = sweep._metric_rows
saves = []

def kill_mid_transaction(point_id, metrics):
    # Point 2's transaction is killed after its point row and three metric rows are written.
    saves.append(point_id)
    for number, row in enumerate(real_rows(point_id, metrics)):
        if where == "mid-transaction" and len(saves) == 2 and number == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        yield row

sweep._metric_rows = kill_mid_transaction
sweep.package_sha256 = lambda package: "pinned build"  # as the test's own sweeps
with sweep.SweepStore.open("store.sqlite") as store:
    sweep.run_sweep(plan, store, {reps}, {seed}, on_replicates=kill_mid_point)
"""


@pytest.mark.parametrize(("where", "finished"), [("mid-point", 2), ("mid-transaction", 1)])
def test_resume_after_kill_9(where, finished, scenario_file, tmp_path, count_runs):
    plan_options = [RATES, MEDIANS]
    plan = sweep.plan_sweep(scenario_file, plan_options)
    uninterrupted = _sweep(plan, tmp_path / "fresh.sqlite")
    script = tmp_path / "killed_sweep.py"
    script.write_text(
        KILLED_SWEEP.replace("{reps}", str(REPS))
        .replace("{seed}", str(SEED))
        .replace("{first_block_of_point_3}", str(FIRST_BLOCK_OF_POINT_3))
    )
    work = tmp_path / "killed"
    work.mkdir()
    killed = subprocess.run(
        [sys.executable, str(script), scenario_file, where, *plan_options],
        cwd=work, capture_output=True, text=True,
    )
    assert killed.returncode == -9, killed.stderr
    store_path = work / "store.sqlite"
    with sqlite3.connect(store_path) as connection:  # SQLite rolls the hot journal back here
        points = connection.execute("SELECT count(*) FROM points").fetchone()[0]
        metric_rows = connection.execute("SELECT count(*) FROM metrics").fetchone()[0]
    connection.close()
    assert points == finished
    assert metric_rows == finished * len(uninterrupted.points[0].metrics)
    count_runs.clear()
    resumed = _sweep(plan, store_path)
    assert len(count_runs) == len(plan.points) - finished
    assert _outputs(resumed) == _outputs(uninterrupted)


# ----------------------------------------------------------------------------- the store


def test_stores_of_other_sweeps_never_mix(scenario_file, tmp_path, count_runs, monkeypatch):
    shared = tmp_path / "shared.sqlite"
    _sweep(sweep.plan_sweep(scenario_file, ["accrual.rate_per_month=0.6,1.0"]), shared)
    other_plan = sweep.plan_sweep(scenario_file, ["accrual.rate_per_month=1.0,1.4"])
    count_runs.clear()
    other = _sweep(other_plan, shared)
    # Only its own grid comes out; the point both sweeps share is the same computation, reused.
    assert [p.point.values for p in other.points] == [(1.0,), (1.4,)]
    assert [p.computed for p in other.points] == [False, True] and len(count_runs) == 1
    assert _outputs(other) == _outputs(_sweep(other_plan, tmp_path / "fresh.sqlite"))
    # Another seed, another number of replicates or another base scenario is another point.
    count_runs.clear()
    with sweep.SweepStore.open(shared) as store:
        sweep.run_sweep(other_plan, store, REPS, SEED + 1)
        sweep.run_sweep(other_plan, store, REPS + 100, SEED)
    _sweep(sweep.plan_sweep(scenario_file, ["accrual.rate_per_month=1.0,1.4"],
                            ["phase2.n=20"]), shared)
    assert len(count_runs) == 6
    # So is the same point computed by other code (an upgrade, a fix under the same version).
    monkeypatch.setattr(sweep, "package_sha256", lambda package: "another build")
    _sweep(other_plan, shared)
    assert len(count_runs) == 8


def test_the_store_keeps_numbers_exactly(tmp_path):
    scenario = load_scenario("ruxolitinib_trastuzumab")
    key = sweep.PointKey(scenario.sha256(), 2**80, 7, sweep.CodeIdentity("1", "abc", {}))
    metrics = {
        "third": Estimate(1 / 3, 2.0**-60, 7),
        "tiny": Estimate(5e-324, 1e308, 7),
        "whole": Estimate(30.0, 0.0, 7),
        "undefined": Estimate(math.nan, math.nan, 0),
    }
    with sweep.SweepStore.open(tmp_path / "store.sqlite") as store:
        assert store.find(key) is None
        store.save(key, scenario, metrics, elapsed_seconds=1.5)
    with sweep.SweepStore.open(tmp_path / "store.sqlite") as store:
        assert _same(store.find(key), metrics)
        assert store.find(sweep.PointKey(scenario.sha256(), 2**80, 8, key.code)) is None


def test_files_that_are_not_stores_are_refused_untouched(tmp_path):
    text = tmp_path / "notes.sqlite"
    text.write_text("not a database")
    with pytest.raises(ScenarioError, match="not an SQLite file"):
        sweep.SweepStore.open(text)
    assert text.read_text() == "not a database"
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE patients (id INTEGER)")
    connection.close()
    with pytest.raises(ScenarioError, match="not a trialsim sweep store"):
        sweep.SweepStore.open(foreign)
    with pytest.raises(ScenarioError, match="does not exist"):
        sweep.SweepStore.open(tmp_path / "missing" / "store.sqlite")
    with pytest.raises(ScenarioError, match="is a folder"):
        sweep.SweepStore.open(tmp_path)


def test_the_code_hash_follows_every_module_but_the_output_ones(tmp_path):
    package = tmp_path / "sim"
    (package / "stats").mkdir(parents=True)
    for module in ("runner.py", "stats/logrank.py", "sweep.py", "plotting.py"):
        (package / module).write_text("# version 1\n")
    (package / "notes.txt").write_text("not code")
    original = REAL_PACKAGE_SHA256(package)
    assert original == REAL_PACKAGE_SHA256(package) and len(original) == 64
    for output_module in ("sweep.py", "plotting.py"):
        (package / output_module).write_text("# edited\n")
    (package / "notes.txt").write_text("edited")
    assert REAL_PACKAGE_SHA256(package) == original
    (package / "stats" / "logrank.py").write_text("# version 2\n")
    assert REAL_PACKAGE_SHA256(package) != original


def test_default_store_is_named_after_the_base_scenario(scenario_file):
    plan = sweep.plan_sweep(scenario_file, [RATES])
    assert str(sweep.default_store_path(plan)) == "sweep_test-sweep.sqlite"


# ----------------------------------------------------------------------------- outputs


def test_csv_has_one_row_per_point_with_values_estimates_and_ses(scenario_file, tmp_path):
    result = _sweep(sweep.plan_sweep(scenario_file, [RATES, MEDIANS]), tmp_path / "s.sqlite")
    rows = list(csv.DictReader(sweep.render_csv(result).splitlines()))
    assert len(rows) == 4
    assert list(rows[0])[:5] == [
        "point", "accrual.rate_per_month", "phase2.true_median_weeks", "reject_h0",
        "reject_h0_mc_se",
    ]
    for row, point in zip(rows, result.points, strict=True):
        assert (row["accrual.rate_per_month"], row["phase2.true_median_weeks"]) == tuple(
            sweep.value_text(v) for v in point.point.values
        )
        for name, estimate in point.metrics.items():
            assert row[name] == ("" if math.isnan(estimate.estimate) else repr(estimate.estimate))
            assert row[f"{name}_mc_se"] == (
                "" if math.isnan(estimate.mc_se) else repr(estimate.mc_se)
            )


def test_json_carries_the_provenance_of_run_and_the_grid(scenario_file, tmp_path):
    plan = sweep.plan_sweep(scenario_file, [RATES], ["phase2.n=20"])
    result = _sweep(plan, tmp_path / "s.sqlite")
    document = json.loads(sweep.render_json(result))
    assert document["scenario"] == "sweep test"
    assert document["scenario_sha256"] == plan.sha256()
    assert (document["seed"], document["reps"]) == (SEED, REPS)
    assert set(document["environment"]) == {"python", "numpy", "scipy", "simpy"}
    assert document["version"] == sweep.sim.__version__
    assert document["overrides"] == ["phase2.n=20"]
    assert document["grid"] == [{"key": "accrual.rate_per_month", "values": [0.6, 1.0]}]
    for entry, point in zip(document["points"], result.points, strict=True):
        assert entry["values"] == {"accrual.rate_per_month": point.point.values[0]}
        assert entry["scenario_sha256"] == point.point.scenario.sha256()
        assert entry["metrics"] == {n: e.as_dict() for n, e in point.metrics.items()}


def test_the_sweep_hash_is_that_of_its_point_scenarios_in_grid_order(scenario_file):
    plan = sweep.plan_sweep(scenario_file, [RATES], ["phase2.n=20"])
    points = "\n".join(point.scenario.sha256() for point in plan.points)
    assert plan.sha256() == hashlib.sha256(points.encode()).hexdigest()
    # The same scenarios in the same order, however written, share it; another order does not.
    assert sweep.plan_sweep(scenario_file, ["phase2.n=20", RATES]).sha256() == plan.sha256()
    other_order = sweep.plan_sweep(scenario_file, ["accrual.rate_per_month=1.0,0.6"],
                                   ["phase2.n=20"])
    assert other_order.sha256() != plan.sha256()


def test_table_shows_each_point_and_the_headline_metrics(scenario_file, tmp_path):
    result = _sweep(sweep.plan_sweep(scenario_file, [RATES]), tmp_path / "s.sqlite")
    lines = sweep.render_table(result).splitlines()
    assert lines[0].startswith("sweep test: 2 points x 200 replicates, seed 11")
    assert lines[2].split() == ["accrual.rate_per_month", *sweep.TABLE_METRICS]
    slow = result.points[0].metrics["reject_h0"]
    assert lines[3].split()[:3] == ["0.6", f"{slow.estimate:.4f}", f"({slow.mc_se:.4f})"]


@pytest.mark.parametrize(
    ("out", "expected"), [("a.csv", "csv"), ("b.JSON", "json"), ("dir/c.json", "json")]
)
def test_output_format_follows_the_suffix(out, expected):
    assert sweep.output_format(out) == expected


def test_other_output_suffixes_are_refused():
    with pytest.raises(ScenarioError, match="--out result.txt: expected a file ending in"):
        sweep.output_format("result.txt")


def test_value_text_reads_like_toml():
    assert [sweep.value_text(v) for v in (0.6, 30, True, "boin", [0.1, 2], {"a": "x"})] == [
        "0.6", "30", "true", "boin", "[0.1, 2]", '{a = "x"}'
    ]
