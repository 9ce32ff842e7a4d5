"""Scenario loading and validation: every kind of bad input gives one message naming the file (or
--set option), the key path, the value and what is allowed."""

from importlib import resources

import pytest

from sim.errors import ScenarioError
from sim.scenario import bundled_scenarios, load_scenario, parse_override, resolve_source

MINIMAL = """
[trial]
name = "minimal"
[accrual]
rate_per_month = 2.0
[phase2]
n = 20
alpha = 0.05
null_median_weeks = 8
true_median_weeks = 13
follow_up_weeks = 26
"""


@pytest.fixture
def write(tmp_path):
    def _write(text: str, name: str = "my.toml") -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return _write


def _error(source, overrides=()) -> str:
    with pytest.raises(ScenarioError) as raised:
        load_scenario(source, overrides)
    return str(raised.value)


def test_minimal_scenario_takes_the_textbook_defaults(write):
    scenario = load_scenario(write(MINIMAL))
    assert scenario.accrual.model == "poisson"
    assert scenario.accrual.max_months is None
    assert scenario.phase2.test == "exponential"
    assert scenario.progression_assessment == "continuous"
    assert scenario.phase2.death_median_weeks is None
    assert scenario.phase2.dropout_median_weeks is None


def test_every_bundled_scenario_is_valid():
    assert "ruxolitinib_trastuzumab" in bundled_scenarios()
    for name in bundled_scenarios():
        assert load_scenario(name).name


def test_not_toml(write):
    message = _error(write("[trial\nname = 1"))
    assert "my.toml" in message and "not valid TOML" in message and "line 1" in message


def test_unknown_key_suggests_the_nearest(write):
    message = _error(write(MINIMAL.replace("alpha = 0.05", "alpah = 0.05")))
    assert "my.toml" in message
    assert "unknown key phase2.alpah" in message
    assert "did you mean phase2.alpha?" in message


def test_unknown_section(write):
    message = _error(write(MINIMAL + "\n[phase3]\nn = 1\n"))
    assert "unknown key phase3" in message
    assert "trial, accrual, treatment, phase1, phase2" in message


@pytest.mark.parametrize(
    ("line", "replacement", "key", "value", "allowed"),
    [
        ("rate_per_month = 2.0", 'rate_per_month = "fast"', "accrual.rate_per_month", '"fast"',
         "a number >= 1e-06 and <= 1000"),
        ("rate_per_month = 2.0", "rate_per_month = -1.0", "accrual.rate_per_month", "-1.0",
         "a number >= 1e-06 and <= 1000"),
        ("rate_per_month = 2.0", "rate_per_month = 1e308", "accrual.rate_per_month", "1e+308",
         "a number >= 1e-06 and <= 1000"),
        ("alpha = 0.05", "alpha = 1.5", "phase2.alpha", "1.5", "a number > 0 and < 1"),
        ("alpha = 0.05", "alpha = 0", "phase2.alpha", "0", "a number > 0 and < 1"),
        ("null_median_weeks = 8", "null_median_weeks = 0", "phase2.null_median_weeks", "0",
         "a number >= 1e-06 and <= 1e+06"),
        ("true_median_weeks = 13", "true_median_weeks = -2", "phase2.true_median_weeks", "-2",
         "a number >= 1e-06 and <= 1e+06"),
        ("true_median_weeks = 13", "true_median_weeks = 1e-308", "phase2.true_median_weeks",
         "1e-308", "a number >= 1e-06 and <= 1e+06"),
        ("n = 20", "n = 0", "phase2.n", "0", "a whole number >= 1 and <= 1e+06"),
        ("n = 20", "n = 2.5", "phase2.n", "2.5", "a whole number >= 1 and <= 1e+06"),
        ("n = 20", "n = true", "phase2.n", "true", "a whole number >= 1 and <= 1e+06"),
    ],
)
def test_wrong_type_or_out_of_range(write, line, replacement, key, value, allowed):
    message = _error(write(MINIMAL.replace(line, replacement)))
    assert message == f"{write(MINIMAL.replace(line, replacement))}: {key} = {value} is not " \
                      f"allowed: expected {allowed}"


def test_missing_required_key(write):
    message = _error(write(MINIMAL.replace("n = 20\n", "")))
    assert "my.toml" in message
    assert "missing required key phase2.n (a whole number >= 1 and <= 1e+06)" in message


def test_choice_lists_what_is_allowed(write):
    message = _error(write(MINIMAL.replace("[phase2]", '[phase2]\ntest = "wilcoxon"')))
    assert 'phase2.test = "wilcoxon" is not allowed: expected one of "exponential", ' \
           '"one-sample-logrank"' in message


def test_missing_file_and_unknown_bundled_name():
    message = _error("no_such_trial")
    assert "no_such_trial" in message and "ruxolitinib_trastuzumab" in message


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("phase2.alpha=1.5", "--set phase2.alpha=1.5: phase2.alpha = 1.5 is not allowed"),
        ("accrual.rate_per_month=fast",
         '--set accrual.rate_per_month=fast: accrual.rate_per_month = "fast" is not allowed'),
        ("phase2.alpah=0.1", "did you mean phase2.alpha?"),
        ("phase2.n", "--set phase2.n: expected KEY=VALUE"),
        ("phase2.n=[1", "is not a TOML value"),
        ("phase2.alpha.x=1", "phase2.alpha is a value, not a table of keys"),
        # Values are shown as TOML writes them, not as Python's repr (datetime.date(2020, 1, 1)).
        ("trial.name=2020-01-01", "--set trial.name=2020-01-01: trial.name = 2020-01-01 is not "
         'allowed: expected a string (for text, quote it: "2020-01-01")'),
        ('phase1.true_dlt_probs=[0.1, 07:30:00, "x"]',
         "phase1.true_dlt_probs[1] = 07:30:00 is not allowed"),
        ('randomized.arms=["a", "a"]', 'randomized.arms = ["a", "a"]: expected distinct names'),
    ],
)
def test_bad_set_values(override, expected):
    source = "emilia" if override.startswith("randomized.") else "ruxolitinib_trastuzumab"
    assert expected in _error(source, [override])


def test_set_reads_toml_values_and_bare_words():
    assert parse_override("accrual.rate_per_month=0.6") == ("accrual.rate_per_month", 0.6)
    assert parse_override("phase2.test=one-sample-logrank") == ("phase2.test", "one-sample-logrank")
    assert parse_override("a.b=[0.1, 0.2]") == ("a.b", [0.1, 0.2])
    scenario = load_scenario(
        "ruxolitinib_trastuzumab",
        ["accrual.rate_per_month=0.6", "phase2.true_median_weeks=8"],
    )
    assert scenario.accrual.rate_per_month == 0.6 and scenario.phase2.true_median_weeks == 8


def test_a_disabled_phase1_is_ignored_even_where_there_is_none():
    # emilia has no [phase1]: disabling it used to demand phase1.design.
    assert load_scenario("emilia", ["phase1.enabled=false"]).sha256() == \
        load_scenario("emilia").sha256()
    # Its other keys are neither required nor read: the trial is the one without a phase I.
    without = load_scenario("ruxolitinib_trastuzumab", ["phase1.enabled=false"])
    assert without.phase1 is None and not without.has_phase1
    partial = load_scenario(
        "ruxolitinib_trastuzumab", ["phase1={enabled=false, design=\"boin\"}"]
    )
    assert partial.sha256() == without.sha256()
    assert "phase1.enabled = \"no\" is not allowed" in _error("emilia", ["phase1.enabled=no"])


def test_a_disabled_ae_model_is_ignored():
    with_model = load_scenario("ruxolitinib_trastuzumab")
    assert with_model.toxicity is not None
    without = load_scenario("ruxolitinib_trastuzumab", ["toxicity.enabled=false"])
    assert without.toxicity is None
    partial = load_scenario("ruxolitinib_trastuzumab", ["toxicity={enabled=false}"])
    assert partial.sha256() == without.sha256()
    assert load_scenario("emilia", ["toxicity.enabled=false"]).sha256() == \
        load_scenario("emilia").sha256()
    # An AE-defined DLT needs the model: said, not a crash.
    message = _error(
        "ruxolitinib_trastuzumab",
        ['phase1.dlts_from="ae_model"', "toxicity.enabled=false"],
    )
    assert "toxicity" in message


def test_a_scenario_file_may_start_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "bom.toml"
    _, text = resolve_source("tdm1_neratinib")
    path.write_text("\ufeff" + text, encoding="utf-8")
    assert load_scenario(str(path)).sha256() == load_scenario("tdm1_neratinib").sha256()


def test_a_disabled_phase2_is_ignored_as_design_md_says():
    # DESIGN.md: "[phase2] absent, or enabled = false: a phase I-only trial". It was an unknown key.
    phase1_only = load_scenario("tdm1_neratinib")
    assert load_scenario("tdm1_neratinib", ["phase2.enabled=false"]).sha256() == \
        phase1_only.sha256()
    without = load_scenario(
        "ruxolitinib_trastuzumab",
        ["phase2.enabled=false", "phase1.true_median_weeks_by_level=[13, 13, 13, 13]"],
    )
    assert without.phase2 is None and not without.has_phase2 and without.has_phase1
    needs = _error("ruxolitinib_trastuzumab", ["phase2.enabled=false"])
    assert "a phase I-only trial needs" in needs
    assert "phase2" in _error("ruxolitinib_trastuzumab",
                              ["phase1.enabled=false", "phase2.enabled=false"])


def test_a_haybittle_peto_design_whose_interims_spend_alpha_is_refused_when_loaded():
    # EMILIA's OS at alpha 0.0125 with interim z 2.4: the two interims spend 0.0132 (mvtnorm, see
    # tests/stats/test_group_sequential.py). It passed validation, then `run` raised a traceback.
    message = _error("emilia", ['randomized.os.efficacy="haybittle-peto"',
                                "randomized.os.efficacy_parameter=2.4"])
    assert "randomized.os.efficacy_parameter = 2.4: interim z 2.4 spends 0.0132" in message
    load_scenario("emilia", ['randomized.os.efficacy="haybittle-peto"',
                             "randomized.os.efficacy_parameter=2.6"])


@pytest.mark.parametrize(
    ("source", "overrides", "expected"),
    [
        # Each passed validation, then `run` raised a traceback or ran for ever (a fuzzer's finds).
        ("egf104900", ["randomized.block_sizes=[4, 4]"],
         "randomized.block_sizes = [4, 4]: expected each size once"),
        ("ruxolitinib_trastuzumab",
         ["toxicity.drug[0].dose_levels=[25.0, 20.0, 15.0, 10.0]"],
         "expected increasing doses, the lowest first"),
        ("ruxolitinib_trastuzumab", ["phase1.target_dlt=0.08"],
         "phase1.indifference_halfwidth = 0.09 with target_dlt 0.08: halfwidth must be in"),
        ("ruxolitinib_trastuzumab_observed_accrual",
         ["accrual.sites=10000", "accrual.rate_per_site_month=1000"],
         "accrual.rate_per_site_month: adds up to 1e+07 a month over the centres"),
        ("ruxolitinib_trastuzumab", ["phase1.prior_sd=1e308"],
         "expected a number >= 0.01 and <= 10"),
        ("emilia", ["randomized.n=1000000000000000000000000000000"], "and <= 1e+06"),
    ],
)
def test_values_that_would_break_a_run_are_refused_when_loaded(source, overrides, expected):
    assert expected in _error(source, overrides)


def test_set_replaces_a_list_item_named_by_its_index():
    scenario = load_scenario(
        "ruxolitinib_trastuzumab",
        ['toxicity.ae[0].name="anemia"', "phase1.true_dlt_probs[1]=0.3"],
    )
    assert [ae.name for ae in scenario.toxicity.ae[:2]] == ["anemia", "neutrophil count decreased"]
    assert scenario.phase1.true_dlt_probs[:3] == [0.05, 0.3, 0.20]


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        # This one blamed the scenario file: "unknown key toxicity.ae[0]".
        ("toxicity.ae[0].haematologic=3",
         "--set toxicity.ae[0].haematologic=3: toxicity.ae[0].haematologic = 3 is not allowed: "
         "expected true or false"),
        ("toxicity.ae[0].grade_probs_per_cycle=[0.5, 0.5, 0.5, 0.5]",
         "--set toxicity.ae[0].grade_probs_per_cycle=[0.5, 0.5, 0.5, 0.5]: "
         "toxicity.ae[0].grade_probs_per_cycle: expected probabilities adding up to <= 1"),
        # The problem shows at another key (a rule names the renamed AE): file and override.
        ("toxicity.ae[1].name=x",
         "ruxolitinib_trastuzumab (bundled) with --set toxicity.ae[1].name=x: "
         'toxicity.rule[1].ae = "neutrophil count decreased": expected an AE name'),
        ("toxicity.ae[9].name=x",
         "--set toxicity.ae[9].name=x: toxicity.ae has items toxicity.ae[0] to toxicity.ae[8]; "
         "--set replaces an item, it does not add one"),
        ("toxicity.ae.0.name=x",
         "--set toxicity.ae.0.name=x: toxicity.ae is a list: name an item by its index from 0, "
         "as toxicity.ae[0].name"),
        ("toxicity.rdi_drug[0]=x",
         "--set toxicity.rdi_drug[0]=x: toxicity.rdi_drug is not a list, so it has no item [0]"),
        ("toxicity.ae[first].name=x",
         "--set toxicity.ae[first].name=x: expected KEY=VALUE with a dotted key, a list item by "
         "its index from 0 (toxicity.ae[0].name)"),
    ],
)
def test_set_of_a_list_item_names_the_override(override, expected):
    assert _error("ruxolitinib_trastuzumab", [override]).startswith(expected)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["treatment.scan_interval_weeks=9", "treatment.progression_assessment=scans"], None),
        (["treatment.progression_assessment=scans"], "needs treatment.scan_interval_weeks"),
        (["phase2.pfs_model=weibull"], 'pfs_model = "weibull" needs a shape'),
        (["phase2.weibull_shape=1.5"], 'only applies when phase2.pfs_model = "weibull"'),
        (["phase2.pfs_model=piecewise-exponential", "phase2.piecewise_breaks_weeks=[4]",
          "phase2.piecewise_median_weeks=[8]"], "expected one median per piece, 2 for 1 break"),
        (["phase2.pfs_model=piecewise-exponential", "phase2.piecewise_breaks_weeks=[4, 2]",
          "phase2.piecewise_median_weeks=[8, 9, 10]"], "strictly increasing"),
        (["phase2.subgroups=[{share=0.6, median_weeks=80}, {share=0.5, median_weeks=3}]"],
         "shares add up to 1.1"),
        (["phase2.response_prob=0.2"], "needs treatment.scan_interval_weeks"),
    ],
)
def test_keys_that_depend_on_each_other(write, overrides, expected):
    path = write(MINIMAL)
    if expected is None:
        assert load_scenario(path, overrides).progression_assessment == "scans"
    else:
        assert expected in _error(path, overrides)


def test_hash_ignores_key_order_and_sees_overrides(write):
    reordered = MINIMAL.replace("n = 20\nalpha = 0.05", "alpha = 0.05\nn = 20")
    assert load_scenario(write(MINIMAL, "a.toml")).sha256() == \
        load_scenario(write(reordered, "b.toml")).sha256()
    assert load_scenario(write(MINIMAL, "a.toml")).sha256() != \
        load_scenario(write(MINIMAL, "a.toml"), ["phase2.n=21"]).sha256()


@pytest.mark.parametrize(
    ("source", "overrides", "expected"),
    [
        ("MINIMAL", ['phase1.design="3+3"'], "phase1.true_dlt_probs: missing: give the true DLT"),
        ("ruxolitinib_trastuzumab", ["phase1.dlts_from=ae_model", "toxicity.enabled=false"],
         'phase1.dlts_from: "ae_model" needs a [toxicity] AE model'),
        ("ruxolitinib_trastuzumab",
         ["phase1.dlts_from=ae_model", "phase1.dlt_window_days=28"],
         "phase1.dlt_window_days = 28: with DLTs from the AE model the window is "
         "toxicity.dlt.window_cycles x treatment.cycle_days = 21 days"),
    ],
)
def test_dlts_from_the_ae_model_need_one(write, source, overrides, expected):
    assert expected in _error(write(MINIMAL) if source == "MINIMAL" else source, overrides)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('name = "fatigue"', 'name = "WBC-decreased"',
         'toxicity.ae[3].name = "WBC decreased" makes the same metric names as "WBC-decreased" '
         "(wbc_decreased): expected names that differ in their letters or digits"),
        ('name = "anaemia"', 'name = "anaemia"\ncycle_factors = [10.0]',
         "toxicity.ae[0].cycle_factors: P(any grade) in a cycle reaches 1.366 at the largest "
         "level multiplier and cycle factor: expected at most 1"),
        ('min_grade = 3\naction = "hold"\nrecover_to_grade = 1',
         'min_grade = 3\naction = "hold"\nrecover_to_grade = 3',
         "toxicity.rule[1].recover_to_grade = 3 is not allowed: a hold lasts until the AE is "
         "below min_grade (3); expected 0 to 2"),
    ],
)
def test_ae_model_problems_found_before_running(write, old, new, expected):
    # Each of these used to pass `validate` and then stop `run` with a traceback (or, for the
    # names, merge two AE types' metrics).
    text = (resources.files("sim.scenarios") / "ruxolitinib_trastuzumab.toml").read_text()
    assert old in text
    assert expected in _error(write(text.replace(old, new, 1)))


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["randomized.pfs.efficacy=hwang-shih-decani"],
         'randomized.pfs.efficacy_parameter: missing: efficacy = "hwang-shih-decani" needs its '
         "gamma"),
        (["randomized.pfs.efficacy_parameter=2"],
         "--set randomized.pfs.efficacy_parameter=2: randomized.pfs.efficacy_parameter = 2: "
         'efficacy = "ld-obrien-fleming" takes no parameter'),
        (["randomized.os.futility=beta-spending", "randomized.os.futility_spending=kim-demets"],
         'randomized.os.futility_parameter: missing: futility_spending = "kim-demets" needs its '
         "rho"),
    ],
)
def test_a_boundary_parameter_is_named_by_its_key(overrides, expected):
    assert expected in _error("emilia", overrides)


def test_arm_names_must_make_distinct_metric_names():
    message = _error("egf104900", ['randomized.arms=["Lapatinib", "lapatinib"]'])
    assert 'randomized.arms = "lapatinib" makes the same metric names as "Lapatinib"' in message


def test_dlts_from_the_ae_model_replace_the_given_probabilities():
    """The calibrated AE model implies about 1-1.5% DLTs per level: the trial saw none in 10
    patients (DOMAIN.md section 1)."""
    given = load_scenario("ruxolitinib_trastuzumab")
    switched = load_scenario("ruxolitinib_trastuzumab", ["phase1.dlts_from=ae_model"])
    assert given.phase1.true_dlt_probs == [0.05, 0.10, 0.20, 0.25]
    implied = switched.phase1.true_dlt_probs
    assert len(implied) == 4 and implied == sorted(implied) and 0.005 < implied[-1] < 0.03


@pytest.mark.parametrize(
    ("value", "shown"),
    [("0", "0"), ("-2.0", "-2.0"), ("0.001", "0.001"), ("150", "150"), ("inf", "inf"),
     ('"strong"', '"strong"')],
)
def test_exposure_response_hazard_ratio_must_be_a_number_from_0_01_to_100(value, shown):
    override = f"toxicity.exposure_response_hazard_ratio={value}"
    message = _error("ruxolitinib_trastuzumab", [override])
    assert message == (
        f"--set {override}: toxicity.exposure_response_hazard_ratio = {shown} is not allowed: "
        "expected a number >= 0.01 and <= 100"
    )


def test_exposure_response_hazard_ratio_is_optional_and_read_from_the_toxicity_section():
    assert load_scenario("ruxolitinib_trastuzumab").toxicity \
        .exposure_response_hazard_ratio is None
    linked = load_scenario(
        "ruxolitinib_trastuzumab", ["toxicity.exposure_response_hazard_ratio=2"]
    )
    assert linked.toxicity.exposure_response_hazard_ratio == 2.0
    message = _error("tdm1_neratinib", ["toxicity.exposure_response_hazard_ratio=2"])
    assert "missing required key toxicity.rdi_drug" in message
