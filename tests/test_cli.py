"""The command line as a user drives it: the installed `trialsim` script in a subprocess."""

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REFERENCE = "ruxolitinib_trastuzumab"


def trialsim(*args: str, cwd=None) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("trialsim")
    return subprocess.run([str(script), *args], capture_output=True, text=True, cwd=cwd)


def test_scenarios_lists_the_bundled_ones():
    result = trialsim("scenarios")
    assert result.returncode == 0
    names = {line.split()[0] for line in result.stdout.splitlines()}
    assert {REFERENCE, "tdm1_neratinib", "emilia", "th3resa", "egf100151", "egf104900"} <= names


def test_run_json_has_the_documented_shape():
    result = trialsim("run", REFERENCE, "--reps", "200", "--seed", "7", "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["scenario"] == REFERENCE and document["seed"] == 7 and document["reps"] == 200
    assert len(document["scenario_sha256"]) == 64
    assert set(document["environment"]) == {"python", "numpy", "scipy", "simpy"}
    for name in ("reject_h0", "early_termination", "n_treated_mean", "duration_months_mean",
                 "events_mean", "median_pfs_weeks_mean"):
        metric = document["metrics"][name]
        assert metric["estimate"] is not None and metric["mc_se"] >= 0
    assert result.stderr == ""  # no progress bar off a terminal


def test_same_seed_same_bytes_whatever_the_workers(tmp_path):
    outputs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}.json"
        result = trialsim("run", REFERENCE, "--reps", "450", "--seed", "3", "--workers", workers,
                          "--format", "json", "--out", str(out))
        assert result.returncode == 0, result.stderr
        outputs.append(json.loads(out.read_text())["metrics"])
    assert json.dumps(outputs[0]) == json.dumps(outputs[1])


def test_table_and_csv_carry_the_same_estimates(tmp_path):
    args = ("run", REFERENCE, "--reps", "100", "--seed", "2")
    as_json = json.loads(trialsim(*args, "--format", "json").stdout)["metrics"]
    rows = list(csv.DictReader(trialsim(*args, "--format", "csv").stdout.splitlines()))
    assert [row["metric"] for row in rows] == list(as_json)
    for row in rows:
        assert float(row["estimate"]) == as_json[row["metric"]]["estimate"]
    table = trialsim(*args).stdout
    assert "reject_h0" in table and "MC SE" in table


def test_set_overrides_change_the_result():
    base = json.loads(trialsim("run", REFERENCE, "--reps", "200", "--format", "json").stdout)
    slow = json.loads(trialsim("run", REFERENCE, "--reps", "200", "--format", "json",
                               "--set", "accrual.rate_per_month=0.6",
                               "--set", "phase2.true_median_weeks=8").stdout)
    assert slow["scenario_sha256"] != base["scenario_sha256"]
    assert slow["metrics"]["early_termination"]["estimate"] > \
        base["metrics"]["early_termination"]["estimate"]


def test_trace_writes_one_row_per_event(tmp_path):
    out = tmp_path / "trial.csv"
    result = trialsim("trace", REFERENCE, "--seed", "3", "--out", str(out))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(out.read_text().splitlines()))
    kinds = {row["event"] for row in rows}
    assert {"registration", "treatment_start", "cycle_start", "scan", "final_analysis"} <= kinds
    days = [float(row["day"]) for row in rows]
    assert days == sorted(days)
    # The trial's own analysis, as its report would state it (sim.analysis.final_analysis).
    final = rows[-1]["detail"]
    assert final.startswith("accrual closed: target; 30 treated, 26 events; exponential test p")
    assert "KM median PFS 27.0 weeks (95% CI 18.0 to 36.0)" in final
    assert "ORR 0/30 = 0.0% (95% CI 0.0% to 11.6%)" in final  # binom.test(0, 30): 0 to 0.1157


def test_validate_prints_the_resolved_scenario():
    result = trialsim("validate", REFERENCE)
    assert result.returncode == 0
    assert "phase2.n = 30" in result.stdout and "progression assessed by scans" in result.stdout


def test_validate_accepts_disabling_a_phase1_the_scenario_does_not_have():
    result = trialsim("validate", "emilia", "--set", "phase1.enabled=false")
    assert result.returncode == 0, result.stderr
    assert result.stdout == trialsim("validate", "emilia").stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("run", "no_such_trial"), "no bundled scenario of that name"),
        (("run", REFERENCE, "--set", "phase2.alpha=2"), "phase2.alpha = 2 is not allowed"),
        (("run", REFERENCE, "--set", "phase2.alpah=0.1"), "did you mean phase2.alpha?"),
        (("validate", REFERENCE, "--set", "accrual.rate_per_month=-1"),
         "a number >= 1e-06 and <= 1000"),
        (("run", REFERENCE, "--reps", "0"), "--reps"),
        (("run", REFERENCE, "--format", "xml"), "--format"),
        (("run", REFERENCE, "--out", "/no/such/folder/x.json"), "does not exist"),
        (("trace", REFERENCE, "--set", "phase2.n=0"), "phase2.n = 0 is not allowed"),
        (("run", REFERENCE, "--set", "accrual.rate_per_month=inf"),
         "accrual.rate_per_month = inf is not allowed"),
        (("run", REFERENCE, "--set", "treatment.cycle_days=0.001"), "expected a number >= 1"),
        (("run", "ruxolitinib_trastuzumab", "--set",
          "toxicity.exposure_response_hazard_ratio=0"),
         "toxicity.exposure_response_hazard_ratio = 0 is not allowed: expected a number >= 0.01"),
        (("sweep", "tdm1_neratinib", "--vary", "accrual.rate_per_month=0.5,1", "--plot", "p.png"),
         "a phase I-only scenario does not report"),
        # Each of these ran the simulation and then ended in a traceback (or replaced a device).
        (("run", REFERENCE, "--reps", "2", "--out", "folder/"), "expected a file name"),
        (("run", REFERENCE, "--reps", "2", "--out", ""), "expected a file name"),
        (("run", REFERENCE, "--reps", "2", "--out", "/dev/null"),
         "exists and is not a regular file"),
        (("run", REFERENCE, "--reps", "2", "--out", "x" * 300 + ".csv"),
         "the file name is longer than"),
        (("run", REFERENCE, "--reps", "10" * 20), "is not in the range 1<=x<=100000000"),
        (("run", REFERENCE, "--set", "phase1.enabled=false", "--set", "phase2.pfs_model=weibull",
          "--set", "phase2.weibull_shape=0.001"), "expected a number >= 0.1 and <= 20"),
        (("validate", "emilia", "--set", "randomized.pfs.hazard_ratio=0"),
         "randomized.pfs.hazard_ratio = 0 is not allowed: expected a number >= 1e-06"),
        (("validate", "emilia", "--set", 'randomized.arms=["a"]'),
         "expected a list of at least 2, each a string"),
        (("validate", "ruxolitinib_trastuzumab", "--set",
          "toxicity.ae[0].haematologic=3"),
         "--set toxicity.ae[0].haematologic=3: toxicity.ae[0].haematologic = 3 is not allowed"),
        (("validate", "emilia", "--set", "randomized.pfs.efficacy=hwang-shih-decani"),
         "emilia (bundled) with --set randomized.pfs.efficacy=hwang-shih-decani: "
         "randomized.pfs.efficacy_parameter: missing"),
        (("validate", REFERENCE, "--set", "trial.name=2020-01-01"),
         'trial.name = 2020-01-01 is not allowed: expected a string (for text, quote it: '
         '"2020-01-01")'),
    ],
)
def test_bad_input_exits_2_with_one_message_and_no_traceback(tmp_path, args, expected):
    result = trialsim(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_bad_file_writes_no_output(tmp_path):
    scenario = tmp_path / "bad.toml"
    scenario.write_text('[trial]\nname = "x"\n[accrual]\nrate_per_month = -1\n')
    out = tmp_path / "result.json"
    result = trialsim("run", str(scenario), "--out", str(out))
    assert result.returncode == 2
    assert str(scenario) in result.stderr and "accrual.rate_per_month = -1" in result.stderr
    assert list(tmp_path.iterdir()) == [scenario]


def test_out_gets_the_permissions_of_a_new_file(tmp_path):
    out = tmp_path / "result.csv"
    out.write_text("old")
    out.chmod(0o644)
    result = trialsim("run", REFERENCE, "--reps", "2", "--format", "csv", "--out", str(out))
    assert result.returncode == 0, result.stderr
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["result.csv"]


def test_boundaries_print_what_rpact_prints():
    """rpact 3.3.4 (R call and output pasted in tests/stats/test_group_sequential.py,
    test_futility_bounds_match_rpact):
    getDesignGroupSequential(kMax = 3, alpha = 0.025, beta = 0.2, typeOfDesign = "asOF",
    typeBetaSpending = "bsOF", bindingFutility = FALSE)
    criticalValues 3.710302873 2.511427484 1.993047483; futilityBounds -0.2361446099 1.1703720312
    """
    result = trialsim("boundaries", "--looks", "3", "--alpha", "0.025", "--spending", "asOF",
                      "--futility", "obrien-fleming", "--beta", "0.2", "--format", "json")
    assert result.returncode == 0, result.stderr
    looks = json.loads(result.stdout)["looks"]
    assert [look["efficacy_z"] for look in looks] == pytest.approx(
        [3.710302873, 2.511427484, 1.993047483], abs=1e-3)
    assert [look["futility_z"] for look in looks[:2]] == pytest.approx(
        [-0.2361446099, 1.1703720312], abs=1e-3)
    assert looks[-1]["alpha_spent"] == pytest.approx(0.025, abs=1e-9)
    table = trialsim("boundaries", "--looks", "3", "--spending", "asOF").stdout
    assert "3.7103" in table and "alpha_spent" in table


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--looks", "3", "--spending", "bogus"), "unknown efficacy boundary 'bogus'"),
        (("--looks", "3", "--info-fractions", "0.5,1"), "expected 3 fractions"),
        (("--looks", "2", "--info-fractions", "0.5,x"), "expected numbers separated by commas"),
        (("--looks", "2", "--alpha", "0.7"),
         "--alpha 0.7: expected a one-sided alpha above 0 and below 0.5"),
        (("--looks", "3", "--futility-z", "0,1,2,3"), "one per interim look (2 with --looks 3)"),
        (("--looks", "3", "--futility-z", "nan"), "expected one finite z"),
        (("--looks", "3", "--binding"), "--binding: goes with --futility"),
        (("--looks", "3", "--info-fractions", "1.5,2,3"), "increasing fractions"),
        (("--looks", "3", "--info-fractions", "0.3,0.2,1"), "increasing fractions"),
        # A rule's parameter is named by its own option (the library's message named neither).
        (("--looks", "3", "--futility", "hwang-shih-decani"),
         "--futility hwang-shih-decani needs --futility-parameter (its gamma)"),
        (("--looks", "3", "--futility", "kim-demets"),
         "--futility kim-demets needs --futility-parameter (its rho)"),
        (("--looks", "3", "--spending", "asHSD"), "--spending asHSD needs --parameter (its gamma)"),
        (("--looks", "3", "--spending", "wang-tsiatis"),
         "--spending wang-tsiatis needs --parameter (its delta)"),
        (("--looks", "3", "--spending", "ld-pocock", "--parameter", "2"),
         "--parameter 2: --spending ld-pocock takes no parameter"),
        (("--looks", "3", "--futility", "pocock", "--futility-parameter", "2"),
         "--futility-parameter 2: --futility pocock takes no parameter"),
        (("--looks", "3", "--alpha", "-1"),
         "--alpha -1: expected a one-sided alpha above 0 and below 0.5"),
        (("--looks", "3", "--futility", "pocock", "--beta", "2"), "--beta 2: expected a type II"),
        # A traceback (exp overflow) and scipy's "x=inf is NaN" before the ranges.
        (("--looks", "3", "--spending", "hwang-shih-decani", "--parameter", "-1e308"),
         "--spending hwang-shih-decani --parameter -1e+308: hwang-shih-decani gamma must be in "
         "[-40, 40]"),
        (("--looks", "3", "--spending", "wang-tsiatis", "--parameter", "1e308"),
         "--spending wang-tsiatis --parameter 1e+308: wang-tsiatis delta must be in [-0.5, 1]"),
    ],
)
def test_bad_boundaries_input_exits_2(args, expected):
    result = trialsim("boundaries", *args)
    assert result.returncode == 2 and expected in result.stderr
    assert "Traceback" not in result.stderr


def test_looks_are_bounded_where_the_integration_is_accurate():
    # 100,000 looks used to print numpy's overflow RuntimeWarnings, then a root finder's message.
    result = trialsim("boundaries", "--looks", "100000")
    assert result.returncode == 2
    assert "Invalid value for '--looks': 100000 is not in the range 1<=x<=20." in result.stderr
    assert "Warning" not in result.stderr and "Traceback" not in result.stderr
    result = trialsim("boundaries", "--looks", "20", "--format", "json")
    assert result.returncode == 0 and result.stderr == ""
    looks = json.loads(result.stdout)["looks"]
    assert len(looks) == 20 and looks[-1]["alpha_spent"] == pytest.approx(0.025, abs=1e-9)
    import cli
    from sim.stats import group_sequential

    assert cli.MAX_LOOKS == group_sequential.MAX_LOOKS
    # A scenario's looks have the same limit.
    events = "[" + ", ".join(str(10 * k) for k in range(1, 22)) + "]"
    result = trialsim("validate", "emilia", "--set", f"randomized.pfs.planned_events={events}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "planned_events = 21 looks is not allowed: expected at most 20" in result.stderr


def test_compare_reports_each_design_and_paired_differences():
    result = trialsim("compare", REFERENCE, "--design", "tite-crm", "--design", "boin",
                      "--reps", "200", "--workers", "2", "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["designs"] == ["tite-crm", "boin"]
    assert set(document["metrics"]) == {"tite-crm", "boin"}
    assert list(document["differences_vs_first"]) == ["boin"]
    boin, tite = document["metrics"]["boin"], document["metrics"]["tite-crm"]
    difference = document["differences_vs_first"]["boin"]["p_select_level_4"]["estimate"]
    assert difference == pytest.approx(
        boin["p_select_level_4"]["estimate"] - tite["p_select_level_4"]["estimate"])
    assert "n_treated_median" in boin and "n_treated_median" not in \
        document["differences_vs_first"]["boin"]
    # Each design's own scenario hash, as `run --set phase1.design=...` reports it.
    run = trialsim("run", REFERENCE, "--set", "phase1.design=boin", "--reps", "1",
                   "--format", "json")
    assert document["scenario_sha256"]["boin"] == json.loads(run.stdout)["scenario_sha256"]
    assert document["scenario_sha256"]["tite-crm"] != document["scenario_sha256"]["boin"]
    # The CSV gives each difference's count of replicates, as the JSON does.
    rows = list(csv.DictReader(io.StringIO(trialsim(
        "compare", REFERENCE, "--design", "tite-crm", "--design", "boin", "--reps", "200",
        "--format", "csv").stdout)))
    median = next(
        r for r in rows if r["design"] == "boin" and r["metric"] == "median_pfs_weeks_mean"
    )
    assert int(median["difference_replicates"]) == \
        document["differences_vs_first"]["boin"]["median_pfs_weeks_mean"]["replicates"]
    table = trialsim("compare", REFERENCE, "--design", "tite-crm", "--design", "3+3",
                     "--reps", "100").stdout
    assert "3+3 - tite-crm" in table


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--design", "boin", "--design", "boin"), "each design once"),
        (("--design", "crm", "--set", "phase1.enabled=false"), "needs an enabled [phase1]"),
        (("--design", "crm",), "give at least two designs to compare"),
        (("--design", "3+3", "--design", "crm", "--set", "phase1.indifference_halfwidth=0.6"),
         "phase1.indifference_halfwidth = 0.6 is not allowed"),
    ],
)
def test_bad_compare_input_exits_2(args, expected):
    result = trialsim("compare", REFERENCE, "--reps", "10", *args)
    assert result.returncode == 2 and expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_sweep_writes_the_grid_and_a_rerun_reads_every_point_from_the_store(tmp_path):
    args = ("sweep", REFERENCE, "--vary", "accrual.rate_per_month=0.5,1.0",
            "--vary", "phase2.true_median_weeks=8,13", "--set", "phase1.enabled=false",
            "--reps", "100", "--store", str(tmp_path / "s.sqlite"))
    first = trialsim(*args, "--out", str(tmp_path / "a.csv"))
    assert first.returncode == 0, first.stderr
    rows = list(csv.DictReader((tmp_path / "a.csv").read_text().splitlines()))
    assert [(r["accrual.rate_per_month"], r["phase2.true_median_weeks"]) for r in rows] == [
        ("0.5", "8"), ("0.5", "13"), ("1.0", "8"), ("1.0", "13")]
    # common random numbers: the true median does not change who registers or when
    assert rows[0]["early_termination"] == rows[1]["early_termination"]
    again = trialsim(*args, "--out", str(tmp_path / "b.csv"))
    assert again.returncode == 0
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_sweep_validates_each_point_with_the_set_and_its_values(tmp_path):
    # Refused before: --set phase2.pfs_model=weibull was validated without the varied shape.
    result = trialsim("sweep", REFERENCE, "--vary", "phase2.weibull_shape=1,2", "--set",
                      "phase2.pfs_model=weibull", "--reps", "20", "--out", "grid.json",
                      cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    document = json.loads((tmp_path / "grid.json").read_text())
    assert [p["values"] for p in document["points"]] == [
        {"phase2.weibull_shape": 1}, {"phase2.weibull_shape": 2}]
    assert document["scenario"] == REFERENCE and len(document["scenario_sha256"]) == 64


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--vary", "accrual.rate_per_mnth=0.4"), "did you mean accrual.rate_per_month?"),
        (("--vary", "accrual.rate_per_month=0.4,-1"), "accrual.rate_per_month = -1"),
        (("--vary", "accrual.rate_per_month="), "--vary accrual.rate_per_month="),
        # An empty --plot was skipped and an empty --store replaced by the default, silently.
        (("--vary", "accrual.rate_per_month=0.4", "--plot", ""), "--plot '': expected a file"),
        (("--vary", "accrual.rate_per_month=0.4", "--store", ""), "--store '': expected a file"),
    ],
)
def test_bad_sweep_input_exits_2_and_writes_nothing(tmp_path, args, expected):
    result = trialsim("sweep", REFERENCE, *args, "--reps", "10", cwd=tmp_path)
    assert result.returncode == 2 and expected in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []


RANDOMIZED = "egf104900"


def test_randomized_run_reports_each_look_and_is_the_same_whatever_the_workers(tmp_path):
    outputs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}.json"
        result = trialsim("run", "emilia", "--reps", "250", "--seed", "4", "--workers", workers,
                          "--format", "json", "--out", str(out))
        assert result.returncode == 0, result.stderr
        outputs.append(json.loads(out.read_text()))
    assert json.dumps(outputs[0]["metrics"]) == json.dumps(outputs[1]["metrics"])
    metrics = outputs[0]["metrics"]
    looks = [metrics[f"reject_at_look_{k}_os"]["estimate"] for k in (1, 2, 3)]
    assert sum(looks) == pytest.approx(metrics["reject_h0_os"]["estimate"])
    ended = [metrics[f"futility_at_look_{k}_os"]["estimate"] for k in (1, 2, 3)]
    assert sum(looks) + sum(ended) == pytest.approx(1.0)
    for name in ("reject_h0_pfs", "hr_estimate_mean_os", "events_mean_pfs", "n_enrolled_mean",
                 "duration_months_mean", "stopped_early", "reject_any"):
        assert name in metrics
    assert set(outputs[0]["reference"]) == {"schoenfeld_reject_h0_pfs", "schoenfeld_reject_h0_os"}


def test_randomized_set_override_of_an_endpoint_key():
    null = json.loads(trialsim("run", RANDOMIZED, "--reps", "200", "--format", "json",
                               "--set", "randomized.pfs.hazard_ratio=1").stdout)
    assert null["metrics"]["reject_h0"]["estimate"] < 0.1


def test_randomized_trace_lists_patients_and_looks(tmp_path):
    out = tmp_path / "trial.csv"
    result = trialsim("trace", "egf100151", "--seed", "2", "--out", str(out))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(out.read_text().splitlines()))
    kinds = {row["event"] for row in rows}
    assert {"randomized", "progression_or_death", "death", "look_1_pfs", "look_1_os",
            "accrual_closed"} <= kinds
    days = [float(row["day"]) for row in rows]
    assert days == sorted(days)


def test_the_trace_says_stopped_early_only_when_the_stop_closed_accrual(tmp_path):
    # Accrual at 30 a month reaches n = 400 on day 398, before the efficacy stop at look 2 (day
    # 444): accrual was not closed by the stop (it was labelled "stopped early" all the same).
    scenario = tmp_path / "quick.toml"
    scenario.write_text(
        '[trial]\nname = "quick"\n[accrual]\nrate_per_month = 30.0\n[randomized]\nn = 400\n'
        'arms = ["control", "exp"]\n[randomized.pfs]\ncontrol_median_months = 6.0\n'
        "hazard_ratio = 0.7\nalpha = 0.025\nplanned_events = [100, 200, 300]\n"
    )
    closed = {}
    for name, seed in ((str(scenario), "2"), ("egf100151", "1")):
        rows = csv.DictReader(trialsim("trace", name, "--seed", seed).stdout.splitlines())
        closed[name] = next(row for row in rows if row["event"] == "accrual_closed")["detail"]
    assert closed[str(scenario)] == "400 randomized"
    assert closed["egf100151"] == "258 randomized; stopped early"  # at its interim, day 497.5


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("run", RANDOMIZED, "--set", "randomized.pfs.planned_events=[300, 200]"),
         "randomized.pfs.planned_events = [300, 200] is not allowed: expected strictly "
         "increasing"),
        (("run", RANDOMIZED, "--set", "randomized.pfs.planned_events=[5000]"),
         "at most 296 events can happen"),
        (("run", RANDOMIZED, "--set", "randomized.block_sizes=[3]"),
         "randomized.block_sizes = [3]: each size must be a multiple of the ratio sum 2"),
        (("run", RANDOMIZED, "--set", "randomized.pfs.efficacy=fancy"),
         'randomized.pfs.efficacy = "fancy": unknown efficacy boundary'),
        (("run", RANDOMIZED, "--set", "randomized.pfs.futility=fixed"),
         "randomized.pfs.futility_z: expected one z"),
        (("run", "emilia", "--set", "randomized.os.control_median_months=5"),
         "its median PFS (6.4 months) is not shorter than its median OS"),
        (("run", RANDOMIZED, "--set", "randomized.crossover.probability=0.5"),
         "needs both [randomized.pfs] and [randomized.os]"),
        (("run", RANDOMIZED, "--set", "randomized.pfs.look_months=[12]"),
         "give planned_events (looks by event count) or look_months"),
        (("run", RANDOMIZED, "--set", 'randomized.arms=["a", "b", "c"]'),
         "randomized.ratio = [1, 1]: expected one integer per arm (3, control first)"),
        (("run", RANDOMIZED, "--set", 'randomized.arms=["a", "b", "c"]', "--set",
          "randomized.ratio=[1, 1, 1]", "--set", "randomized.block_sizes=[3]"),
         "randomized.pfs.hazard_ratio = 0.73: expected one hazard ratio per experimental arm (2)"),
        (("run", RANDOMIZED, "--set", "randomized.ratio=[1, 2, 1]"),
         "randomized.ratio = [1, 2, 1]: expected one integer per arm (2, control first)"),
        (("run", "th3resa", "--set", 'randomized.arms=["a", "b", "c"]', "--set",
          "randomized.ratio=[1, 1, 1]", "--set", "randomized.pfs.hazard_ratio=[0.6, 0.7]",
          "--set", "randomized.os.hazard_ratio=[0.6, 0.7]", "--set", "randomized.block_sizes=[3]"),
         "randomized.crossover.hazard_ratio: missing: with several experimental arms"),
        (("run", RANDOMIZED, "--set", 'randomized.pfs.model="piecewise-exponential"'),
         "randomized.pfs.piecewise_control_medians_months: missing: piecewise-exponential needs"),
        (("run", RANDOMIZED, "--set", 'randomized.pfs.model="piecewise-exponential"', "--set",
          "randomized.pfs.piecewise_breaks_months=[2]", "--set",
          "randomized.pfs.piecewise_control_medians_months=[2, 1]"),
         "randomized.pfs.control_median_months: not with piecewise-exponential"),
        (("run", "emilia", "--set", "randomized.pfs.piecewise_breaks_months=[2]"),
         "randomized.pfs.piecewise_breaks_months: only applies when model = "
         '"piecewise-exponential"'),
        (("compare", RANDOMIZED, "--design", "crm"), "compare needs an enabled [phase1]"),
        (("sweep", RANDOMIZED, "--vary", "randomized.n=296,400", "--plot", "p.png"),
         "for a randomized scenario use --out"),
    ],
)
def test_bad_randomized_input_exits_2_with_one_message(tmp_path, args, expected):
    result = trialsim(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_randomized_scenario_with_a_phase2_section_is_refused(tmp_path):
    scenario = tmp_path / "both.toml"
    bundled = Path(__file__).parents[1] / "scenarios"
    phase2 = (bundled / f"{REFERENCE}.toml").read_text().split("[phase2]")[1]
    scenario.write_text((bundled / f"{RANDOMIZED}.toml").read_text() + "\n[phase2]" + phase2)
    result = trialsim("validate", str(scenario))
    assert result.returncode == 2
    assert f"{scenario}: phase2: cannot be combined with [randomized]" in result.stderr
