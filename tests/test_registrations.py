"""`trialsim predict-accrual`: the registrations file, its errors, and the pooled prediction
against its closed form."""

import dataclasses
import datetime
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from scipy import stats

OPENED = datetime.date(2015, 1, 1)
MONTH = 365.25 / 12


def trialsim(*args):
    script = Path(sys.executable).with_name("trialsim")
    return subprocess.run([str(script), *args], capture_output=True, text=True)


@pytest.fixture
def registrations(tmp_path):
    path = tmp_path / "registrations.csv"
    days = [20, 45, 70, 100, 160, 200, 260, 300, 330, 360]
    lines = ["date,site"] + [f"{OPENED + datetime.timedelta(days=d)},{'AB'[d % 2]}" for d in days]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_pooled_prediction_matches_the_closed_form(registrations):
    # Jeffreys' prior: after n = 10 registrations in T months the rate is Gamma(10.5, T); the
    # time to R = 10 more is (R T / 10.5) F(2R, 21) months (Anisimov and Fedorov 2007), so its
    # median is R T / 10.5 times the median of F(20, 21).
    as_of = OPENED + datetime.timedelta(days=365)
    result = trialsim("predict-accrual", registrations, "--target", "20", "--opened",
                      str(OPENED), "--as-of", str(as_of), "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    months_open = 365 / MONTH
    median_months = 10 * months_open / 10.5 * stats.f.ppf(0.5, 20, 21)
    expected = as_of + datetime.timedelta(days=round(median_months * MONTH))
    got = datetime.date.fromisoformat(document["median_date"])
    assert abs((got - expected).days) <= 1
    assert document["registered"] == 10 and document["target"] == 20


def test_deadline_probability_is_the_predictive_cdf(registrations):
    as_of = OPENED + datetime.timedelta(days=365)
    deadline = as_of + datetime.timedelta(days=400)
    result = trialsim("predict-accrual", registrations, "--target", "20", "--opened",
                      str(OPENED), "--as-of", str(as_of), "--deadline", str(deadline),
                      "--format", "json")
    months_open = 365 / MONTH
    scale = 10 * months_open / 10.5
    expected = stats.f.cdf(400 / MONTH / scale, 20, 21)
    assert json.loads(result.stdout)["probability_by_deadline"] == pytest.approx(expected, 1e-6)


@pytest.mark.parametrize(
    ("content", "args", "expected"),
    [
        ("when\n2015-02-01\n", (), "expected a header row with a 'date' column"),
        ("date\n2015-02-01\n2015-02-30\n", (), "row 3, column date: '2015-02-30' is not a date"),
        ("date\n2015-02-01\n", ("--target", "1"), "--target 1: already reached"),
        ("date\n2014-12-01\n", (), "before --opened 2015-01-01"),
        ("date\n2015-02-01\n", ("--site-opened", "A=2015-01-01"), "has no 'site' column"),
        ("date,site\n2015-02-01,A\n", ("--site-opened", "B=2015-01-01"),
         "no opening date for site(s) A"),
        ("date,date\n2015-02-01,2015-02-02\n", (), "names a column twice"),
        ("date\n2015-02-01\n", ("--deadline", "2014-01-01"), "before --opened"),
        ("date\n2015-02-01\n", ("--target", "1000000"), "--target 1000000: the prediction "
         "falls beyond the year 9999"),
        ("date\n2015-02-01\n", ("--target", "1000001"), "is not in the range 1<=x<=1000000"),
        ("date\n2015-02-01\n", ("--level", "nan"), "--level nan: expected a number above 0"),
    ],
)
def test_bad_registrations_exit_2(tmp_path, content, args, expected):
    path = tmp_path / "r.csv"
    path.write_text(content)
    target = () if "--target" in args else ("--target", "30")
    result = trialsim("predict-accrual", str(path), "--opened", "2015-01-01", *target, *args)
    assert result.returncode == 2
    assert expected in result.stderr and "Traceback" not in result.stderr


def test_observed_run_replays_registrations_then_follows_the_predictive(registrations):
    # The first ten registrations are the file's; after --as-of the count in a window of w months
    # has the Poisson-gamma predictive mean (n + 1/2) / T * w (Jeffreys' prior; T months open).
    from sim.engine import TrialPlan, simulate_trial
    from sim.registrations import observed_accrual
    from sim.rng import replicate_streams
    from sim.scenario import validate_scenario

    as_of = OPENED + datetime.timedelta(days=365)
    model, _, _ = observed_accrual(registrations, OPENED, as_of, math.inf)
    window_months = 6
    scenario = validate_scenario(
        {"trial": {"name": "observed"},
         "accrual": {"rate_per_month": 1.0, "max_months": 365 / MONTH + window_months},
         "phase2": {"n": 500, "alpha": 0.05, "null_median_weeks": 8, "true_median_weeks": 8,
                    "follow_up_weeks": 0}},
        "observed",
    )
    plan = dataclasses.replace(TrialPlan.from_scenario(scenario), accrual=model)
    observed_days = [20, 45, 70, 100, 160, 200, 260, 300, 330, 360]
    counts = []
    for replicate in range(3000):
        trial = simulate_trial(plan, replicate_streams(4, replicate))
        days = [p.registration_day for p in trial.patients]
        assert days[:10] == observed_days
        counts.append(len(days) - 10)
    expected = 10.5 / (365 / MONTH) * window_months
    mean = sum(counts) / len(counts)
    se = statistics.stdev(counts) / len(counts) ** 0.5
    assert abs(mean - expected) <= 3 * se, (mean, expected, se)


def test_a_byte_order_mark_is_read_as_excel_writes_it(registrations):
    # Excel's "CSV UTF-8" starts the file with U+FEFF; read as plain UTF-8 it glued itself to the
    # header ("\ufeffdate") and the file was refused for lacking a 'date' column.
    with_bom = Path(registrations).with_name("with_bom.csv")
    with_bom.write_bytes(b"\xef\xbb\xbf" + Path(registrations).read_bytes())
    for path in (registrations, str(with_bom)):
        result = trialsim("run", "ruxolitinib_trastuzumab", "--observed", path, "--opened",
                          str(OPENED), "--reps", "20", "--format", "json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["observed"]["registered"] == 10


def test_observed_options_go_together(registrations):
    result = trialsim("run", "ruxolitinib_trastuzumab", "--observed", registrations,
                      "--reps", "10")
    assert result.returncode == 2 and "--observed needs --opened" in result.stderr
    result = trialsim("run", "ruxolitinib_trastuzumab", "--opened", "2015-01-01", "--reps", "10")
    assert result.returncode == 2 and "go with --observed" in result.stderr
    result = trialsim("run", "ruxolitinib_trastuzumab", "--observed", registrations,
                      "--opened", "2015-01-01", "--reps", "50", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["observed"]["registered"] == 10


def test_an_open_trial_is_not_closed_by_its_past_checkpoints(registrations):
    # Ten registrations in the first year, data to day 365, a checkpoint asking for 12 by month 6:
    # the trial is open on day 365, so that checkpoint is past; one asking for 30 by month 18
    # (14 months open) is still to come and closes it on its day unless 20 more come by then.
    from sim.registrations import observed_accrual
    from sim.runner import run
    from sim.scenario import validate_scenario

    as_of = OPENED + datetime.timedelta(days=365)
    model, _, _ = observed_accrual(registrations, OPENED, as_of, math.inf)
    scenario = validate_scenario(
        {"trial": {"name": "observed"},
         "accrual": {"rate_per_month": 1.0, "checkpoints": [
             {"month": 6, "min_registered": 12}, {"month": 18, "min_registered": 30}]},
         "phase2": {"n": 40, "alpha": 0.05, "null_median_weeks": 8, "true_median_weeks": 8,
                    "follow_up_weeks": 0}},
        "observed",
    )
    metrics = run(scenario, 300, seed=2, accrual=model).metrics
    # (Every replicate closed at month 6 before past checkpoints were left out.)
    assert metrics["close_months_q10"].estimate == pytest.approx(18.0)
    assert metrics["n_registered_mean"].estimate > 10


def test_as_of_after_the_deadline_is_refused(registrations):
    result = trialsim("run", "ruxolitinib_trastuzumab", "--observed", registrations,
                      "--opened", "2015-01-01", "--as-of", "2016-06-01",
                      "--set", "accrual.max_months=12", "--reps", "10")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--as-of 2016-06-01: after the scenario's accrual deadline" in result.stderr
