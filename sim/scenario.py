"""Scenario files: parse TOML, apply --set overrides, validate once, return a frozen Scenario.

Every problem becomes one ScenarioError whose message names the file (or the --set option), the
key path, the value and what is allowed. Code past this boundary trusts the Scenario it gets.
"""

import datetime
import difflib
import hashlib
import json
import re
import tomllib
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sim.analysis import metric_slug
from sim.dosefinding.skeleton import calibrate_skeleton
from sim.errors import ScenarioError
from sim.stats import group_sequential as gs
from sim.toxicity import DLTDefinition, implied_dlt_probabilities, model_from_sections

BUNDLED_PACKAGE = "sim.scenarios"

Probability = Annotated[float, Field(ge=0, le=1)]
# Bounds a planner never needs to pass, that keep the arithmetic finite: medians, durations and
# ratios from 1e-6 to 1e6 (a median of a million weeks is none), accrual rates up to 1,000 a month
# (a patient every 45 minutes), patients up to a million, prior SDs of CRM's b up to 10.
MAX_ACCRUAL_RATE = 1000.0
PositiveNumber = Annotated[float, Field(ge=1e-6, le=1e6)]
AccrualRate = Annotated[float, Field(ge=1e-6, le=MAX_ACCRUAL_RATE)]
Patients = Annotated[int, Field(ge=1, le=1_000_000)]
# Shapes far outside oncology's 0.5-3 make times overflow a float (0.001: medians times 1e300).
WeibullShape = Annotated[float, Field(ge=0.1, le=20)]


class _Section(BaseModel):
    # inf and nan are TOML numbers, but no key means them: an infinite rate or window would hang
    # or empty a simulation.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class TrialSection(_Section):
    name: str
    description: str = ""


class Checkpoint(_Section):
    month: PositiveNumber
    min_registered: Patients


NonNegative = Annotated[float, Field(ge=0)]


class AccrualSection(_Section):
    model: Literal["poisson", "fixed", "piecewise", "sites", "poisson-gamma"] = "poisson"
    rate_per_month: AccrualRate | None = None
    period_starts_months: list[NonNegative] | None = None
    period_rates_per_month: list[Annotated[float, Field(ge=0, le=MAX_ACCRUAL_RATE)]] | None = None
    site_rates_per_month: list[AccrualRate] | None = None
    sites: Annotated[int, Field(ge=1, le=10_000)] | None = None
    rate_per_site_month: AccrualRate | None = None
    rate_shape: PositiveNumber | None = None
    site_activation_months: list[NonNegative] | None = None
    activation_window_months: list[NonNegative] | None = None
    ramp_up_months: NonNegative = 0.0
    max_months: PositiveNumber | None = None
    checkpoints: list[Checkpoint] = []
    screen_failure_prob: Annotated[float, Field(ge=0, lt=1)] = 0.0
    pretreatment_withdrawal_prob: Annotated[float, Field(ge=0, lt=1)] = 0.0

    @property
    def site_count(self) -> int | None:
        if self.model == "sites":
            return len(self.site_rates_per_month)
        return self.sites if self.model == "poisson-gamma" else None


class TreatmentSection(_Section):
    cycle_days: Annotated[float, Field(ge=1)] = 21.0
    scan_interval_weeks: Annotated[float, Field(ge=1)] | None = None
    # None: "scans" when scan_interval_weeks is given, else "continuous" (the textbook model).
    progression_assessment: Literal["scans", "continuous"] | None = None


class Subgroup(_Section):
    name: str = ""
    share: Annotated[float, Field(gt=0, lt=1)]
    median_weeks: PositiveNumber


class Phase2Section(_Section):
    enabled: bool = True
    n: Patients
    alpha: Annotated[float, Field(gt=0, lt=1)]
    test: Literal["exponential", "one-sample-logrank"] = "exponential"
    logrank_method: Literal["normal", "exact-poisson"] = "normal"
    null_median_weeks: PositiveNumber
    alt_median_weeks: PositiveNumber | None = None
    true_median_weeks: PositiveNumber
    follow_up_weeks: Annotated[float, Field(ge=0)]
    pfs_model: Literal["exponential", "weibull", "piecewise-exponential"] = "exponential"
    weibull_shape: WeibullShape | None = None
    piecewise_breaks_weeks: list[PositiveNumber] | None = None
    piecewise_median_weeks: list[PositiveNumber] | None = None
    subgroups: list[Subgroup] = []
    death_median_weeks: PositiveNumber | None = None
    dropout_median_weeks: PositiveNumber | None = None
    clinical_progression_prob: Probability = 0.0
    response_prob: Probability = 0.0
    cbr_min_weeks: PositiveNumber = 24.0
    pfs_rate_months: PositiveNumber = 6.0
    min_patients_for_analysis: Annotated[int, Field(ge=0)] = 0


class Phase1Section(_Section):
    enabled: bool = True
    design: Literal["3+3", "crm", "tite-crm", "boin"]
    # Required unless dlts_from = "ae_model", which fills it with the AE model's implied values.
    true_dlt_probs: Annotated[list[Probability], Field(min_length=1)] | None = None
    dlts_from: Literal["true_dlt_probs", "ae_model"] = "true_dlt_probs"
    dose_labels: list[str] | None = None
    start_level: Annotated[int, Field(ge=1)] = 1  # 1-based, as protocols number levels
    n: Patients | None = None
    cohort_size: Annotated[int, Field(ge=1)] | None = None
    target_dlt: Annotated[float, Field(gt=0, lt=1)] | None = None
    dlt_window_days: PositiveNumber = 21.0
    dlt_onset: Literal["uniform", "early"] = "uniform"
    skeleton: list[Annotated[float, Field(gt=0, lt=1)]] | None = None
    indifference_halfwidth: Annotated[float, Field(ge=0.01, lt=0.5)] | None = None
    prior_mtd_level: Annotated[int, Field(ge=1)] | None = None
    model: Literal["empiric", "logistic"] = "empiric"
    prior_sd: Annotated[float, Field(ge=0.01, le=10)] = 1.34**0.5
    tite_weights: Literal["linear", "adaptive"] = "linear"
    crm_estimate: Literal["plugin", "posterior_mean"] = "plugin"
    no_skip_escalation: bool = True
    confirm_mtd_with_six: bool = True
    safety_threshold: Annotated[float, Field(gt=0, lt=1)] | None = 0.9
    max_wait_days: Annotated[float, Field(ge=0)] = 28.0
    count_toward_phase2: bool = True
    true_median_weeks_by_level: list[PositiveNumber] | None = None
    response_prob_by_level: list[Probability] | None = None
    follow_up_weeks: Annotated[float, Field(ge=0)] = 0.0

    @property
    def levels(self) -> int:
        return len(self.true_dlt_probs)


class DrugSection(_Section):
    name: str
    schedule: Literal["daily", "day1"]
    dose_levels: Annotated[list[PositiveNumber], Field(min_length=1)]
    dose_unit: str = ""
    start_level: Annotated[int, Field(ge=1)] = 1
    max_reductions: Annotated[int, Field(ge=0)] | None = None
    max_hold_days: PositiveNumber | None = None
    required: bool = True


class AdverseEventSection(_Section):
    name: str
    haematologic: bool
    drug: str
    grade_probs_per_cycle: Annotated[list[Probability], Field(min_length=4, max_length=4)]
    level_multipliers: list[Annotated[float, Field(ge=0)]] = []
    cycle_factors: list[Annotated[float, Field(ge=0)]] = []


class RuleSection(_Section):
    drug: str
    ae: str
    min_grade: Annotated[int, Field(ge=1, le=4)]
    action: Literal["hold", "reduce", "discontinue"] = "hold"
    recover_to_grade: Annotated[int, Field(ge=0, le=3)] = 1
    recovery_median_days: PositiveNumber | None = None
    recovery_shape: WeibullShape = 1.0
    reduce_from_occurrence: Annotated[int, Field(ge=1)] | None = None


class DltSection(_Section):
    non_haematologic_min_grade: Annotated[int, Field(ge=1, le=4)] = 3
    haematologic_min_grade: Annotated[int, Field(ge=1, le=4)] = 4
    window_cycles: Annotated[int, Field(ge=1)] = 1


class ToxicitySection(_Section):
    enabled: bool = True
    rdi_drug: str
    dose_finding_drug: str | None = None
    dlt: DltSection = DltSection()
    drug: Annotated[list[DrugSection], Field(min_length=1)]
    ae: Annotated[list[AdverseEventSection], Field(min_length=1)]
    rule: list[RuleSection] = []
    # Hazard ratio of progression at RDI 0 against RDI 1 (sim.engine progression_under_exposure);
    # absent: progression does not depend on the doses. Bounded so that a patient's progression
    # time stays within a few dozen baseline times (the engine lays the course out that far).
    exposure_response_hazard_ratio: Annotated[float, Field(ge=0.01, le=100)] | None = None


class FactorSection(_Section):
    name: str
    levels: Annotated[list[str], Field(min_length=1)]
    prevalences: Annotated[list[Annotated[float, Field(gt=0, le=1)]], Field(min_length=1)]
    # Prognostic effect: each level's hazard multiplier (PFS and OS alike); default none.
    hazard_multipliers: list[PositiveNumber] | None = None


class CrossoverSection(_Section):
    probability: Probability
    # Control patients' death hazard after switching, relative to control; default: the OS
    # endpoint's hazard_ratio (the switchers get the experimental treatment's effect).
    hazard_ratio: PositiveNumber | None = None


ENDPOINT_NAMES = ("pfs", "os")


class EndpointSection(_Section):
    control_median_months: PositiveNumber | None = None
    # The truth simulated, experimental over control: one per experimental arm (a number for two
    # arms).
    hazard_ratio: PositiveNumber | Annotated[list[PositiveNumber], Field(min_length=1)]
    model: Literal["exponential", "weibull", "piecewise-exponential"] = "exponential"
    weibull_shape: WeibullShape | None = None
    # "piecewise-exponential": the control arm's hazard in each piece, as the median it would give
    # (ln 2 / hazard), one more than the breaks.
    piecewise_breaks_months: list[PositiveNumber] | None = None
    piecewise_control_medians_months: list[PositiveNumber] | None = None
    alpha: Annotated[float, Field(gt=0, lt=0.5)]  # one-sided, this endpoint's share
    planned_events: list[Patients] | None = None
    look_months: list[PositiveNumber] | None = None
    max_events: Patients | None = None  # with look_months: full information
    efficacy: str = "ld-obrien-fleming"
    efficacy_parameter: float | None = None
    futility: Literal["none", "beta-spending", "fixed"] = "none"
    futility_spending: Literal["obrien-fleming", "pocock", "hwang-shih-decani", "kim-demets"] = (
        "obrien-fleming"
    )
    futility_parameter: float | None = None
    beta: Annotated[float, Field(gt=0, lt=0.5)] = 0.2
    futility_z: list[float] | None = None
    binding_futility: bool = False
    design_hazard_ratio: Annotated[float, Field(gt=0, lt=1)] | None = None

    @property
    def looks(self) -> int:
        return len(self.planned_events or self.look_months)

    @property
    def hazard_ratios(self) -> tuple[float, ...]:
        """One hazard ratio per experimental arm."""
        if isinstance(self.hazard_ratio, list):
            return tuple(self.hazard_ratio)
        return (self.hazard_ratio,)


class RandomizedSection(_Section):
    n: Annotated[int, Field(ge=2, le=1_000_000)]
    arms: Annotated[list[str], Field(min_length=2)]  # control first
    ratio: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=2)] | None = None
    block_sizes: Annotated[list[Annotated[int, Field(ge=2)]], Field(min_length=1)] = [4]
    factors: list[FactorSection] = []
    stratify: bool = True
    stratified_test: bool | None = None  # default: stratified when there are factors
    dropout_median_months: PositiveNumber | None = None
    crossover: CrossoverSection | None = None
    pfs: EndpointSection | None = None
    os: EndpointSection | None = None

    @property
    def allocation_ratio(self) -> tuple[int, ...]:
        return tuple(self.ratio) if self.ratio is not None else (1,) * len(self.arms)

    @property
    def endpoints(self) -> tuple[tuple[str, EndpointSection], ...]:
        """(name, section) of each endpoint given, PFS first."""
        return tuple((name, getattr(self, name)) for name in ENDPOINT_NAMES if getattr(self, name))


class Scenario(_Section):
    trial: TrialSection
    accrual: AccrualSection
    treatment: TreatmentSection = TreatmentSection()
    phase1: Phase1Section | None = None
    phase2: Phase2Section | None = None
    toxicity: ToxicitySection | None = None
    randomized: RandomizedSection | None = None

    @property
    def has_phase1(self) -> bool:
        return self.phase1 is not None and self.phase1.enabled

    @property
    def has_phase2(self) -> bool:
        return self.phase2 is not None and self.phase2.enabled

    @property
    def name(self) -> str:
        return self.trial.name

    @property
    def progression_assessment(self) -> str:
        if self.treatment.progression_assessment is not None:
            return self.treatment.progression_assessment
        return "scans" if self.treatment.scan_interval_weeks is not None else "continuous"

    def sha256(self) -> str:
        """Hash of the validated scenario (defaults filled, overrides applied), key order free."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


# ----------------------------------------------------------------------------- loading


def bundled_scenarios() -> dict[str, str]:
    """Bundled scenario name -> first line of its trial description."""
    found = {}
    for entry in sorted(resources.files(BUNDLED_PACKAGE).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            data = tomllib.loads(entry.read_text(encoding="utf-8"))
            trial = data.get("trial", {})
            summary = trial.get("description", "").strip().splitlines() or [trial.get("name", "")]
            found[entry.name.removesuffix(".toml")] = summary[0]
    return found


def resolve_source(source: str) -> tuple[str, str]:
    """(label for messages, TOML text) of a path or a bundled scenario name."""
    path = Path(source)
    if path.is_file():
        try:
            # utf-8-sig: a byte order mark (as Windows editors write one) is not TOML, skip it.
            return str(path), path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise ScenarioError(f"{source}: cannot read the scenario file: {error}") from None
    bundled = resources.files(BUNDLED_PACKAGE).joinpath(f"{source}.toml")
    if path.suffix == "" and bundled.is_file():
        return f"{source} (bundled)", bundled.read_text(encoding="utf-8")
    names = ", ".join(bundled_scenarios())
    raise ScenarioError(
        f"{source}: no such scenario file, and no bundled scenario of that name (bundled: {names})"
    )


def load_scenario(source: str, overrides: typing.Sequence[str] = ()) -> Scenario:
    """Read a scenario file or bundled name, apply `KEY=VALUE` overrides, validate."""
    label, data, from_overrides = read_scenario_data(source, overrides)
    return validate_scenario(data, label, from_overrides)


def read_scenario_data(
    source: str, overrides: typing.Sequence[str] = ()
) -> tuple[str, dict, dict[str, str]]:
    """What load_scenario validates: (label for messages, the TOML data with the overrides
    applied, each override by the key it sets). Problems reading the file or an override are
    raised here; the data itself is not checked."""
    label, text = resolve_source(source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"{label}: not valid TOML: {error}") from None
    from_overrides = {}
    for override in overrides:
        key, value = parse_override(override)
        path = key_path(key)
        _set_at(data, path, value, override)
        # Keyed as _origin compares paths: a list item's index as one more dotted part.
        from_overrides[".".join(map(str, path))] = override
    return label, data, from_overrides


# A dotted key's part: a name, then optionally list indices from 0, as in toxicity.ae[0].name.
_KEY_PART = re.compile(r"([^.\[\]]+)((?:\[\d+\])*)")
KEY_SYNTAX = "a dotted key, a list item by its index from 0 (toxicity.ae[0].name)"


def key_path(key: str) -> list[str | int] | None:
    """`toxicity.ae[0].name` -> ["toxicity", "ae", 0, "name"]; None if the key is malformed."""
    path: list[str | int] = []
    for part in key.split("."):
        match = _KEY_PART.fullmatch(part.strip())
        if match is None:
            return None
        path.append(match[1])
        path += [int(index) for index in re.findall(r"\d+", match[2])]
    return path


def _path_text(path: typing.Sequence[str | int]) -> str:
    """["toxicity", "ae", 0, "name"] -> "toxicity.ae[0].name", as messages name keys."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def parse_override(override: str) -> tuple[str, Any]:
    """`a.b=VALUE` -> ("a.b", value): VALUE is read as a TOML value, else as a bare string."""
    key, separator, raw = override.partition("=")
    key = key.strip()
    if not separator or not key or key_path(key) is None:
        raise ScenarioError(
            f"--set {override}: expected KEY=VALUE with {KEY_SYNTAX}, "
            f"e.g. --set accrual.rate_per_month=0.6"
        )
    raw = raw.strip()
    try:
        return key, tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError:
        if raw and not any(c in raw for c in "[]{}\"'=,"):
            return key, raw  # a bare word such as one-sample-logrank
        raise ScenarioError(
            f"--set {override}: the value {raw!r} is not a TOML value "
            f'(numbers as 0.6, strings as "text" or a bare word, lists as [1, 2])'
        ) from None


def _set_at(data: dict, path: list[str | int], value: Any, override: str) -> None:
    """Set the value at `path` in `data`, adding the tables it names. A list item must exist
    already: --set replaces an item, it does not grow a list (give the whole list for that)."""
    node: Any = data
    for position, part in enumerate(path):
        where = _path_text(path[:position])  # the table or list `part` is looked up in
        if isinstance(part, int):
            if not isinstance(node, list):
                raise ScenarioError(f"--set {override}: {where} is not a list, so it has no "
                                    f"item [{part}]")
            if part >= len(node):
                items = (f"items {where}[0] to {where}[{len(node) - 1}]" if node
                         else "no items")
                raise ScenarioError(f"--set {override}: {where} has {items}; --set replaces an "
                                    f"item, it does not add one (give the whole list instead)")
        elif isinstance(node, list):
            as_index = (_path_text([*path[:position], int(part), *path[position + 1:]])
                        if part.isdigit() else f"{where}[0]")
            raise ScenarioError(f"--set {override}: {where} is a list: name an item by its index "
                                f"from 0, as {as_index}")
        elif not isinstance(node, dict):
            raise ScenarioError(f"--set {override}: {where} is a value, not a table of keys")
        if position == len(path) - 1:
            node[part] = value
        elif isinstance(part, int):
            node = node[part]
        elif isinstance(path[position + 1], int) and part not in node:
            raise ScenarioError(f"--set {override}: {_path_text(path[: position + 1])} is not in "
                                f"the scenario, so it has no item [{path[position + 1]}]")
        else:
            node = node.setdefault(part, {})


def validate_scenario(
    data: dict, label: str, from_overrides: dict[str, str] | None = None
) -> Scenario:
    from_overrides = from_overrides or {}
    data = _without_disabled_phases(data)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as error:
        lines = [_describe(e, data, label, from_overrides) for e in error.errors()]
        raise ScenarioError("\n".join(dict.fromkeys(lines))) from None
    scenario, problem = _resolve_dlt_probabilities(scenario)
    if problem is None:
        problem = _cross_field_problem(scenario)
    if problem is not None:
        path, message = problem
        separator = " " if message.startswith("= ") else ": "
        origin = _origin(path, label, from_overrides, tied=True)
        raise ScenarioError(f"{origin}: {path}{separator}{message}")
    return scenario


def _without_disabled_phases(data: dict) -> dict:
    """`data` without a [phase1], [phase2] or [toxicity] whose enabled = false: a disabled
    section is ignored, so none of its keys is required (--set phase1.enabled=false also turns
    off a phase I the file does not have), and the scenario, its hash included, is that of the
    trial without it."""
    disabled = {
        section for section in ("phase1", "phase2", "toxicity")
        if isinstance(data.get(section), dict) and data[section].get("enabled") is False
    }
    return {section: values for section, values in data.items() if section not in disabled}


# ----------------------------------------------------------------------------- messages


def _origin(path: str, label: str, from_overrides: dict[str, str], tied: bool = False) -> str:
    """Where the value at `path` came from: the --set that gave it, else the file.

    tied: the problem ties keys together (a key missing, or a rule across keys), so an override
    of another key may be its cause: the file is then named with every override, e.g. "emilia
    (bundled) with --set randomized.pfs.efficacy=hwang-shih-decani" for the efficacy_parameter
    that choice needs, rather than blaming the file alone.
    """
    path = path.replace("[", ".").replace("]", "")  # a list item belongs to the list's key
    for key, override in from_overrides.items():
        if path == key or path.startswith(key + ".") or key.startswith(path + "."):
            return f"--set {override}"
    if tied and from_overrides:
        return f"{label} with " + ", ".join(f"--set {o}" for o in from_overrides.values())
    return label


def _dotted(loc: list[str]) -> str:
    return ".".join(loc).replace(".[", "[")


def _describe(error: dict, data: dict, label: str, from_overrides: dict[str, str]) -> str:
    loc = [str(part) for part in error["loc"] if not str(part).startswith(("function-", "tagged"))]
    # pydantic reports a value failing `X | None` once per branch; the branch name is noise.
    loc = [part for part in loc if part not in ("float", "int", "str", "list[float]", "none")
           and not part.startswith(("constrained-", "list["))]
    loc = [f"[{part}]" if part.isdigit() else part for part in loc]
    path = _dotted(loc)
    origin = _origin(path, label, from_overrides)
    model, field = _field_at(loc)
    if error["type"] == "extra_forbidden":
        allowed = list(model.model_fields) if model is not None else []
        close = difflib.get_close_matches(loc[-1], allowed, n=1, cutoff=0.6)
        hint = f" (did you mean {_dotted([*loc[:-1], close[0]])}?)" if close else ""
        where = f"[{_dotted(loc[:-1])}]" if len(loc) > 1 else "the top level"
        return f"{origin}: unknown key {path}{hint}; allowed in {where}: {', '.join(allowed)}"
    allowed_text = _allowed(field) if field is not None else "a valid value"
    if error["type"] == "missing":
        origin = _origin(path, label, from_overrides, tied=True)
        return f"{origin}: missing required key {path} ({allowed_text})"
    value = _toml_repr(_value_at(data, error["loc"]))
    hint = ""
    if allowed_text == "a string" and not value.startswith(('"', "[", "{")):
        # A date, number or true/false where text was meant: TOML reads 2020-01-01 as a date.
        hint = f" (for text, quote it: {json.dumps(value)})"
    return f"{origin}: {path} = {value} is not allowed: expected {allowed_text}{hint}"


def _field_at(loc: list[str]):
    """(model owning the last key, FieldInfo of the last key), None where not known."""
    owner: Any = Scenario
    field = None
    for part in loc:
        if part.startswith("["):
            continue
        if field is not None:
            owner = _model_inside(field.annotation)
        if owner is None or part not in owner.model_fields:
            return owner, None
        field = owner.model_fields[part]
    return owner, field


def _model_inside(annotation):
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        inner = _model_inside(argument)
        if inner is not None:
            return inner
    return None


def _allowed(field) -> str:
    bounds = []
    shortest = None
    for item in field.metadata:
        if isinstance(item, annotated_types.MinLen):
            shortest = item.min_length
        for attribute, symbol in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            bound = getattr(item, attribute, None)
            if bound is not None and isinstance(item, annotated_types.BaseMetadata):
                bounds.append(f"{symbol} {bound:g}")
    described = _describe_type(field.annotation, bounds)
    if shortest is not None and described.startswith("a list, "):
        described = f"a list of at least {shortest}, " + described.removeprefix("a list, ")
    return described


def _describe_type(annotation, bounds: list[str]) -> str:
    origin = typing.get_origin(annotation)
    arguments = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is Literal:
        return "one of " + ", ".join(f'"{a}"' for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType) and arguments:
        return _describe_type(arguments[0], bounds)
    if origin is Annotated:
        base, *metadata = typing.get_args(annotation)
        for item in metadata:
            for inner in getattr(item, "metadata", []):
                for attribute, symbol in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
                    bound = getattr(inner, attribute, None)
                    if bound is not None:
                        bounds = [*bounds, f"{symbol} {bound:g}"]
        return _describe_type(base, bounds)
    if origin is list:
        return f"a list, each {_describe_type(arguments[0], bounds)}"
    name = {float: "a number", int: "a whole number", str: "a string", bool: "true or false"}.get(
        annotation
    )
    if name is None and isinstance(annotation, type) and issubclass(annotation, BaseModel):
        name = f"a table with keys {', '.join(annotation.model_fields)}"
    text = name or str(annotation)
    return f"{text} {' and '.join(bounds)}" if bounds else text


def _value_at(data: Any, loc: tuple) -> Any:
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            break
    return node


def _toml_repr(value: Any) -> str:
    """A value as TOML writes it, so a message shows what the file or --set said (a date
    2020-01-01, not Python's datetime.date(2020, 1, 1); strings in double quotes)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, datetime.date | datetime.time):  # a datetime is a date too
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_repr(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key} = {_toml_repr(item)}" for key, item in value.items()) + "}"
    return repr(value)


def _cross_field_problem(scenario: Scenario) -> tuple[str, str] | None:
    """Rules that tie keys together: (key path, message) of the first one broken."""
    problem = _accrual_problem(scenario.accrual)
    if problem is not None:
        return problem
    treatment = scenario.treatment
    if treatment.progression_assessment == "scans" and treatment.scan_interval_weeks is None:
        return "treatment.progression_assessment", (
            '"scans" needs treatment.scan_interval_weeks (e.g. 9)'
        )
    if scenario.randomized is not None:
        return _randomized_problem(scenario)
    if not scenario.has_phase1 and not scenario.has_phase2:
        return "phase2", (
            "missing: a scenario needs [phase2], an enabled [phase1], both, or [randomized]"
        )
    if scenario.has_phase1:
        problem = _phase1_problem(scenario)
        if problem is not None:
            return problem
    if scenario.toxicity is not None:
        problem = _toxicity_problem(scenario)
        if problem is not None:
            return problem
    if not scenario.has_phase2:
        return None
    phase2 = scenario.phase2
    if phase2.min_patients_for_analysis > phase2.n:
        return "phase2.min_patients_for_analysis", (
            f"= {phase2.min_patients_for_analysis} is not allowed: expected at most phase2.n "
            f"({phase2.n}), or no trial is ever analysed"
        )
    if phase2.pfs_model == "weibull" and phase2.weibull_shape is None:
        return "phase2.weibull_shape", 'missing: pfs_model = "weibull" needs a shape > 0'
    if phase2.pfs_model != "weibull" and phase2.weibull_shape is not None:
        return "phase2.weibull_shape", 'only applies when phase2.pfs_model = "weibull"'
    piecewise = (phase2.piecewise_breaks_weeks, phase2.piecewise_median_weeks)
    if phase2.pfs_model == "piecewise-exponential":
        breaks, medians = piecewise
        if breaks is None or medians is None:
            return "phase2.piecewise_median_weeks", (
                "piecewise-exponential needs piecewise_breaks_weeks and piecewise_median_weeks"
            )
        if list(breaks) != sorted(set(breaks)):
            return "phase2.piecewise_breaks_weeks", (
                f"= {breaks} is not allowed: expected strictly increasing weeks"
            )
        if len(medians) != len(breaks) + 1:
            return "phase2.piecewise_median_weeks", (
                f"= {medians} is not allowed: expected one median per piece, "
                f"{len(breaks) + 1} for {len(breaks)} break(s)"
            )
    elif any(value is not None for value in piecewise):
        return "phase2.piecewise_breaks_weeks", (
            'only applies when phase2.pfs_model = "piecewise-exponential"'
        )
    if phase2.response_prob > 0 and treatment.scan_interval_weeks is None:
        return "phase2.response_prob", (
            "response is read at scans: needs treatment.scan_interval_weeks"
        )
    if scenario.has_phase1 and scenario.phase1.true_median_weeks_by_level is not None:
        if phase2.pfs_model == "piecewise-exponential" or phase2.subgroups:
            return "phase1.true_median_weeks_by_level", (
                "per-level medians apply to an exponential or Weibull base model without subgroups"
            )
    shares = sum(group.share for group in phase2.subgroups)
    if shares >= 1:
        return "phase2.subgroups", (
            f"shares add up to {shares:g}: expected less than 1, the rest of the patients "
            f"following phase2.true_median_weeks"
        )
    return None


def _resolve_dlt_probabilities(scenario: Scenario) -> tuple[Scenario, tuple[str, str] | None]:
    """With phase1.dlts_from = "ae_model", the scenario with phase1.true_dlt_probs set to the
    AE model's implied DLT probability per level (sim.toxicity.implied_dlt_probabilities, the
    other drugs at their start levels), replacing any given, so that `--set
    phase1.dlts_from=ae_model` switches a scenario over; else the scenario as it is. Or the
    first problem."""
    phase1 = scenario.phase1
    if phase1 is None:
        return scenario, None
    if phase1.dlts_from == "true_dlt_probs":
        if phase1.true_dlt_probs is None:
            return scenario, ("phase1.true_dlt_probs", (
                'missing: give the true DLT probability per level, or phase1.dlts_from = '
                '"ae_model" with a [toxicity] AE model'
            ))
        return scenario, None
    toxicity = scenario.toxicity
    if toxicity is None:
        return scenario, ("phase1.dlts_from", '"ae_model" needs a [toxicity] AE model')
    problem = _toxicity_problem(scenario, with_phase1=False)
    if problem is not None:
        return scenario, problem
    if toxicity.dose_finding_drug is None:
        return scenario, ("toxicity.dose_finding_drug", (
            "missing: with a phase I, name the drug it doses"
        ))
    window_days = toxicity.dlt.window_cycles * scenario.treatment.cycle_days
    if phase1.dlt_window_days != window_days:
        return scenario, ("phase1.dlt_window_days", (
            f"= {phase1.dlt_window_days:g}: with DLTs from the AE model the window is "
            f"toxicity.dlt.window_cycles x treatment.cycle_days = {window_days:g} days"
        ))
    model = model_from_sections(toxicity.drug, toxicity.ae)
    starts = [drug.start_level - 1 for drug in toxicity.drug]
    probabilities = implied_dlt_probabilities(
        model, DLTDefinition(**toxicity.dlt.model_dump()), toxicity.dose_finding_drug, starts
    )
    resolved = phase1.model_copy(update={"true_dlt_probs": [round(p, 12) for p in probabilities]})
    return scenario.model_copy(update={"phase1": resolved}), None


def _phase1_problem(scenario: Scenario) -> tuple[str, str] | None:
    phase1 = scenario.phase1
    levels = phase1.levels
    model_based = phase1.design != "3+3"
    if phase1.start_level > levels:
        return "phase1.start_level", (
            f"= {phase1.start_level} is not allowed: expected a level from 1 to {levels} "
            f"(phase1.true_dlt_probs has {levels})"
        )
    for key in ("dose_labels", "skeleton", "true_median_weeks_by_level", "response_prob_by_level"):
        values = getattr(phase1, key)
        if values is not None and len(values) != levels:
            return f"phase1.{key}", (
                f"has {len(values)} entries: expected one per dose level ({levels})"
            )
    if model_based and phase1.n is None:
        return "phase1.n", f'missing: design "{phase1.design}" needs the number of patients'
    if model_based and phase1.target_dlt is None:
        return "phase1.target_dlt", f'missing: design "{phase1.design}" needs a target'
    if phase1.design == "3+3" and phase1.cohort_size not in (None, 3):
        return "phase1.cohort_size", "the 3+3 design treats cohorts of 3"
    if phase1.design in ("crm", "tite-crm"):
        if phase1.skeleton is None and phase1.indifference_halfwidth is None:
            return "phase1.skeleton", (
                "missing: give a skeleton, or indifference_halfwidth to calibrate one "
                "(Lee and Cheung 2009)"
            )
        if phase1.skeleton is not None and list(phase1.skeleton) != sorted(set(phase1.skeleton)):
            return "phase1.skeleton", "expected strictly increasing DLT probabilities"
        if phase1.prior_mtd_level is not None and phase1.prior_mtd_level > levels:
            return "phase1.prior_mtd_level", f"expected a level from 1 to {levels}"
        if phase1.skeleton is None:
            try:  # the calibration's own conditions (the half-width below the target, ...)
                calibrate_skeleton(
                    phase1.target_dlt, phase1.indifference_halfwidth,
                    (phase1.prior_mtd_level or phase1.start_level) - 1, levels, phase1.model,
                )
            except ValueError as error:
                return "phase1.indifference_halfwidth", (
                    f"= {phase1.indifference_halfwidth:g} with target_dlt "
                    f"{phase1.target_dlt:g}: {error}"
                )
    if not scenario.has_phase2:
        if phase1.true_median_weeks_by_level is None:
            return "phase1.true_median_weeks_by_level", (
                "missing: a phase I-only trial needs each level's median PFS (no [phase2])"
            )
    if phase1.response_prob_by_level is not None and scenario.treatment.scan_interval_weeks is None:
        return "phase1.response_prob_by_level", (
            "response is read at scans: needs treatment.scan_interval_weeks"
        )
    return None


_ACCRUAL_KEYS = {
    "poisson": ("rate_per_month",),
    "fixed": ("rate_per_month",),
    "piecewise": ("period_starts_months", "period_rates_per_month"),
    "sites": ("site_rates_per_month",),
    "poisson-gamma": ("sites", "rate_per_site_month", "rate_shape"),
}
_SITE_KEYS = ("site_activation_months", "activation_window_months")


def _accrual_problem(accrual: AccrualSection) -> tuple[str, str] | None:
    model = accrual.model
    needed = _ACCRUAL_KEYS[model]
    for key in needed:
        if getattr(accrual, key) is None:
            return f"accrual.{key}", f'missing: accrual.model = "{model}" needs {", ".join(needed)}'
    sited = model in ("sites", "poisson-gamma")
    for key in {key for keys in _ACCRUAL_KEYS.values() for key in keys} - set(needed):
        if getattr(accrual, key) is not None:
            users = ", ".join(f'"{m}"' for m, keys in _ACCRUAL_KEYS.items() if key in keys)
            return f"accrual.{key}", f"only applies when accrual.model is {users}"
    for key in _SITE_KEYS:
        if not sited and getattr(accrual, key) is not None:
            return f"accrual.{key}", 'only applies when accrual.model = "sites" or "poisson-gamma"'
    if not sited and accrual.ramp_up_months:
        return "accrual.ramp_up_months", (
            'only applies when accrual.model = "sites" or "poisson-gamma"'
        )
    if model == "piecewise":
        starts, rates = accrual.period_starts_months, accrual.period_rates_per_month
        if not starts or starts[0] != 0 or list(starts) != sorted(set(starts)):
            return "accrual.period_starts_months", (
                f"= {starts} is not allowed: expected increasing months starting at 0"
            )
        if len(rates) != len(starts):
            return "accrual.period_rates_per_month", (
                f"has {len(rates)} entries: expected one rate per period ({len(starts)})"
            )
        if not any(rates):
            return "accrual.period_rates_per_month", "expected at least one rate > 0"
    if sited:
        if model == "sites":
            key, total = "site_rates_per_month", sum(accrual.site_rates_per_month)
        else:
            key, total = "rate_per_site_month", accrual.sites * accrual.rate_per_site_month
        if total > MAX_ACCRUAL_RATE:
            return f"accrual.{key}", (
                f"adds up to {total:g} a month over the centres: expected at most "
                f"{MAX_ACCRUAL_RATE:g} (a patient every 45 minutes)"
            )
        if accrual.site_activation_months is not None and accrual.activation_window_months:
            return "accrual.activation_window_months", (
                "give site_activation_months or activation_window_months, not both"
            )
        months = accrual.site_activation_months
        if months is not None and len(months) != accrual.site_count:
            return "accrual.site_activation_months", (
                f"has {len(months)} entries: expected one per site ({accrual.site_count})"
            )
        window = accrual.activation_window_months
        if window is not None and (len(window) != 2 or window[0] > window[1]):
            return "accrual.activation_window_months", (
                f"= {window} is not allowed: expected [first month, last month]"
            )
    months = [checkpoint.month for checkpoint in accrual.checkpoints]
    if months != sorted(set(months)):
        return "accrual.checkpoints", "expected checkpoints in increasing months, one per month"
    return None


AE_CLASSES = ("any", "haematologic", "non-haematologic")


def _slug_clash(key: str, field_name: str | None, names) -> tuple[str, str] | None:
    """Names that would give the same metric names (sim.analysis.metric_slug)."""
    seen: dict[str, str] = {}
    for index, name in enumerate(names):
        slug = metric_slug(name)
        if slug in seen:
            where = f"{key}[{index}].{field_name}" if field_name else key
            return where, (
                f'= "{name}" makes the same metric names as "{seen[slug]}" ({slug}): expected '
                "names that differ in their letters or digits"
            )
        seen[slug] = name
    return None


def _toxicity_problem(scenario: Scenario, with_phase1: bool = True) -> tuple[str, str] | None:
    toxicity = scenario.toxicity
    drugs = {drug.name: drug for drug in toxicity.drug}
    if len(drugs) != len(toxicity.drug):
        return "toxicity.drug", "expected each drug name once"
    names = ", ".join(f'"{name}"' for name in drugs)
    for index, drug in enumerate(toxicity.drug):
        if list(drug.dose_levels) != sorted(set(drug.dose_levels)):
            return f"toxicity.drug[{index}].dose_levels", (
                f"= {_toml_repr(drug.dose_levels)}: expected increasing doses, the lowest first"
            )
        if drug.start_level > len(drug.dose_levels):
            return f"toxicity.drug[{index}].start_level", (
                f"= {drug.start_level} is not allowed: expected a level from 1 to "
                f"{len(drug.dose_levels)}"
            )
    for key in ("rdi_drug", "dose_finding_drug"):
        value = getattr(toxicity, key)
        if value is not None and value not in drugs:
            return f"toxicity.{key}", f'= "{value}" is not a drug: expected one of {names}'
    ae_names = [ae.name for ae in toxicity.ae]
    if len(set(ae_names)) != len(ae_names):
        return "toxicity.ae", "expected each AE name once"
    problem = _slug_clash("toxicity.ae", "name", ae_names)
    if problem is not None:
        return problem
    for index, ae in enumerate(toxicity.ae):
        where = f"toxicity.ae[{index}]"
        if ae.drug not in drugs:
            return f"{where}.drug", f'= "{ae.drug}" is not a drug: expected one of {names}'
        if sum(ae.grade_probs_per_cycle) > 1:
            return f"{where}.grade_probs_per_cycle", "expected probabilities adding up to <= 1"
        levels = len(drugs[ae.drug].dose_levels)
        if ae.level_multipliers and len(ae.level_multipliers) != levels:
            return f"{where}.level_multipliers", (
                f"has {len(ae.level_multipliers)} entries: expected one per level of "
                f'"{ae.drug}" ({levels})'
            )
        worst = sum(ae.grade_probs_per_cycle) * max(ae.level_multipliers, default=1.0)
        worst *= max(ae.cycle_factors, default=1.0)
        if worst > 1 + 1e-12:
            return f"{where}.cycle_factors", (
                f"P(any grade) in a cycle reaches {worst:.4g} at the largest level multiplier and "
                "cycle factor: expected at most 1"
            )
    for index, rule in enumerate(toxicity.rule):
        where = f"toxicity.rule[{index}]"
        if rule.drug not in drugs:
            return f"{where}.drug", f'= "{rule.drug}" is not a drug: expected one of {names}'
        if rule.ae not in ae_names and rule.ae not in AE_CLASSES:
            return f"{where}.ae", (
                f'= "{rule.ae}": expected an AE name or one of "any", "haematologic", '
                f'"non-haematologic"'
            )
        if rule.action == "hold" and rule.recovery_median_days is None:
            return f"{where}.recovery_median_days", "missing: a hold needs a recovery time"
        if rule.action == "hold" and rule.recover_to_grade >= rule.min_grade:
            return f"{where}.recover_to_grade", (
                f"= {rule.recover_to_grade} is not allowed: a hold lasts until the AE is below "
                f"min_grade ({rule.min_grade}); expected 0 to {rule.min_grade - 1}"
            )
    if scenario.has_phase1 and with_phase1:
        drug = toxicity.dose_finding_drug
        if drug is None:
            return "toxicity.dose_finding_drug", "missing: with a phase I, name the drug it doses"
        if len(drugs[drug].dose_levels) != scenario.phase1.levels:
            return "toxicity.dose_finding_drug", (
                f'"{drug}" has {len(drugs[drug].dose_levels)} levels: expected as many as '
                f"phase1.true_dlt_probs ({scenario.phase1.levels})"
            )
    return None


def _randomized_problem(scenario: Scenario) -> tuple[str, str] | None:
    design = scenario.randomized
    for section in ("phase1", "phase2", "toxicity"):
        if getattr(scenario, section) is not None:
            return section, "cannot be combined with [randomized] (a separate trial design)"
    accrual = scenario.accrual
    if accrual.checkpoints:
        return "accrual.checkpoints", "not modelled for [randomized] trials"
    if accrual.pretreatment_withdrawal_prob:
        return "accrual.pretreatment_withdrawal_prob", (
            "not modelled for [randomized] trials: every randomized patient is analysed (ITT)"
        )
    if len(set(design.arms)) != len(design.arms):
        return "randomized.arms", (
            f"= {_toml_repr(design.arms)}: expected distinct names, control first"
        )
    problem = _slug_clash("randomized.arms", None, design.arms)
    if problem is not None:
        return problem
    arms = len(design.arms)
    if design.ratio is not None and len(design.ratio) != arms:
        return "randomized.ratio", (
            f"= {design.ratio}: expected one integer per arm ({arms}, control first)"
        )
    ratio = design.allocation_ratio
    ratio_sum = sum(ratio)
    if len(set(design.block_sizes)) != len(design.block_sizes):
        return "randomized.block_sizes", (
            f"= {_toml_repr(design.block_sizes)}: expected each size once (each block's size is "
            "drawn from them with equal probability)"
        )
    for size in design.block_sizes:
        if size % ratio_sum:
            return "randomized.block_sizes", (
                f"= {design.block_sizes}: each size must be a multiple of the ratio sum "
                f"{ratio_sum} (ratio {':'.join(map(str, ratio))})"
            )
    for index, factor in enumerate(design.factors):
        where = f"randomized.factors[{index}]"
        if len(set(factor.levels)) != len(factor.levels):
            return f"{where}.levels", "expected distinct level names"
        for key in ("prevalences", "hazard_multipliers"):
            values = getattr(factor, key)
            if values is not None and len(values) != len(factor.levels):
                return f"{where}.{key}", (
                    f"has {len(values)} entries: expected one per level ({len(factor.levels)})"
                )
        if abs(sum(factor.prevalences) - 1) > 1e-9:
            return f"{where}.prevalences", f"add up to {sum(factor.prevalences):g}: expected 1"
    if design.stratified_test and not design.factors:
        return "randomized.stratified_test", "needs [[randomized.factors]] to stratify by"
    if not design.endpoints:
        return "randomized.pfs", "missing: give [randomized.pfs], [randomized.os] or both"
    # Events of a comparison come from its two arms' patients.
    compared = min(ratio[0] + r for r in ratio[1:]) / ratio_sum if arms > 2 else 1.0
    for name, endpoint in design.endpoints:
        if len(endpoint.hazard_ratios) != arms - 1:
            return f"randomized.{name}.hazard_ratio", (
                f"= {_toml_repr(endpoint.hazard_ratio)}: expected one hazard ratio per "
                f"experimental arm ({arms - 1})"
            )
        problem = _endpoint_problem(endpoint, f"randomized.{name}", int(design.n * compared))
        if problem is not None:
            return problem
    if len(design.endpoints) == 2:
        problem = _pfs_os_problem(design)
        if problem is not None:
            return problem
    return _crossover_problem(design, arms)


def _pfs_os_problem(design: RandomizedSection) -> tuple[str, str] | None:
    """PFS counts deaths: with both endpoints, each arm's PFS hazard must be at least its OS
    hazard (death is drawn from the OS model, progression from the hazard difference)."""
    pfs, os = design.pfs, design.os
    shared = ("model", "weibull_shape", "piecewise_breaks_months")
    if any(getattr(pfs, key) != getattr(os, key) for key in shared):
        return "randomized.os.model", (
            "PFS and OS must share their model, shape and pieces (death is drawn from the OS "
            "model and progression from the hazard difference)"
        )
    piecewise = pfs.model == "piecewise-exponential"
    shape = 1.0 if pfs.weibull_shape is None else pfs.weibull_shape
    ratios = zip((1.0, *pfs.hazard_ratios), (1.0, *os.hazard_ratios), strict=True)
    for arm, (pfs_hr, os_hr) in zip(design.arms, ratios, strict=True):
        if piecewise:
            medians = zip(pfs.piecewise_control_medians_months,
                          os.piecewise_control_medians_months, strict=True)
            for piece, (pfs_median, os_median) in enumerate(medians, start=1):
                if pfs_hr / pfs_median < os_hr / os_median:
                    return "randomized.os.piecewise_control_medians_months", (
                        f'arm "{arm}", piece {piece}: the OS hazard exceeds the PFS hazard; '
                        f"PFS counts deaths, so its hazard must be at least OS's"
                    )
            continue
        pfs_median = pfs.control_median_months * pfs_hr ** (-1 / shape)
        os_median = os.control_median_months * os_hr ** (-1 / shape)
        if not pfs_median < os_median:
            return "randomized.os.control_median_months", (
                f'arm "{arm}": its median PFS ({pfs_median:.3g} months) is not shorter than '
                f"its median OS ({os_median:.3g}): PFS counts deaths, so it must be"
            )
    return None


def _crossover_problem(design: RandomizedSection, arms: int) -> tuple[str, str] | None:
    if design.crossover is not None and len(design.endpoints) != 2:
        return "randomized.crossover", (
            "switching happens at progression and changes survival: needs both "
            "[randomized.pfs] and [randomized.os]"
        )
    if design.crossover is not None and design.crossover.hazard_ratio is None and arms > 2:
        return "randomized.crossover.hazard_ratio", (
            "missing: with several experimental arms, say the death hazard ratio after switching"
        )
    return None


def _endpoint_problem(endpoint: EndpointSection, where: str, n: int) -> tuple[str, str] | None:
    if endpoint.model == "weibull" and endpoint.weibull_shape is None:
        return f"{where}.weibull_shape", 'missing: model = "weibull" needs a shape > 0'
    if endpoint.model != "weibull" and endpoint.weibull_shape is not None:
        return f"{where}.weibull_shape", 'only applies when model = "weibull"'
    piecewise = endpoint.model == "piecewise-exponential"
    breaks, medians = endpoint.piecewise_breaks_months, endpoint.piecewise_control_medians_months
    if piecewise:
        if breaks is None or medians is None:
            return f"{where}.piecewise_control_medians_months", (
                "missing: piecewise-exponential needs piecewise_breaks_months and "
                "piecewise_control_medians_months"
            )
        if list(breaks) != sorted(set(breaks)):
            return f"{where}.piecewise_breaks_months", (
                f"= {breaks} is not allowed: expected strictly increasing months"
            )
        if len(medians) != len(breaks) + 1:
            return f"{where}.piecewise_control_medians_months", (
                f"has {len(medians)} entries: expected one per piece, {len(breaks) + 1} for "
                f"{len(breaks)} break(s)"
            )
        if endpoint.control_median_months is not None:
            return f"{where}.control_median_months", (
                "not with piecewise-exponential: the pieces' medians give the control arm"
            )
    else:
        if breaks is not None or medians is not None:
            return f"{where}.piecewise_breaks_months", (
                'only applies when model = "piecewise-exponential"'
            )
        if endpoint.control_median_months is None:
            return f"{where}.control_median_months", "missing: the control arm's median"
    events, months = endpoint.planned_events, endpoint.look_months
    if (events is None) == (months is None):
        return f"{where}.planned_events", (
            "give planned_events (looks by event count) or look_months (looks by date), one of them"
        )
    looks = events if events is not None else months
    key = "planned_events" if events is not None else "look_months"
    if not looks or list(looks) != sorted(set(looks)):
        return f"{where}.{key}", f"= {looks} is not allowed: expected strictly increasing values"
    if len(looks) > gs.MAX_LOOKS:
        return f"{where}.{key}", (
            f"= {len(looks)} looks is not allowed: expected at most {gs.MAX_LOOKS} (rpact's limit; "
            "the boundaries' integration is checked up to there)"
        )
    if events is not None:
        if events[-1] > n:
            return f"{where}.planned_events", (
                f"= {events}: at most {n} events can happen (randomized.n, or with more than "
                f"two arms the patients of the two arms compared)"
            )
        if endpoint.max_events is not None:
            return f"{where}.max_events", "only applies with look_months (looks by date)"
    elif endpoint.max_events is None:
        return f"{where}.max_events", (
            "missing: with look_months, the events planned at full information (to compute "
            "information fractions)"
        )
    if endpoint.futility == "fixed":
        z = endpoint.futility_z
        if z is None or len(z) not in (1, len(looks) - 1):
            return f"{where}.futility_z", (
                f"expected one z, or one per interim look ({len(looks) - 1}), with "
                f'futility = "fixed"'
            )
    elif endpoint.futility_z is not None:
        return f"{where}.futility_z", 'only applies when futility = "fixed"'
    if endpoint.futility != "none" and len(looks) < 2:
        return f"{where}.futility", "needs at least one interim look"
    try:
        rule = gs.efficacy_rule(endpoint.efficacy, endpoint.efficacy_parameter)
    except gs.RuleParameterError as error:
        return _parameter_problem(where, "efficacy", endpoint.efficacy, endpoint.efficacy_parameter,
                                  error)
    except ValueError as error:
        return f"{where}.efficacy", f'= "{endpoint.efficacy}": {error}'
    if not isinstance(rule, gs.SpendingFunction):
        if months is not None:
            return f"{where}.efficacy", (
                f'= "{endpoint.efficacy}": classical bounds need looks by event count '
                f"(planned_events); with look_months use a spending function (ld-obrien-fleming, "
                f"ld-pocock, hwang-shih-decani, kim-demets)"
            )
        if endpoint.futility == "beta-spending":
            return f"{where}.futility", (
                f'"beta-spending" goes with a spending function for efficacy, not '
                f'"{endpoint.efficacy}": use futility = "fixed" with futility_z'
            )
        try:  # e.g. a Haybittle-Peto interim z whose interims alone spend alpha
            gs.group_sequential_boundaries([d / events[-1] for d in events], endpoint.alpha, rule)
        except ValueError as error:
            given = endpoint.efficacy_parameter
            value = "(the default)" if given is None else f"= {given:g}"
            return f"{where}.efficacy_parameter", f"{value}: {error}"
    if endpoint.futility == "beta-spending":
        try:
            gs.SpendingFunction(endpoint.futility_spending, endpoint.futility_parameter)
        except gs.RuleParameterError as error:
            return _parameter_problem(where, "futility_spending", endpoint.futility_spending,
                                      endpoint.futility_parameter, error)
        except ValueError as error:
            return f"{where}.futility_spending", f'= "{endpoint.futility_spending}": {error}'
    return None


def _parameter_problem(where: str, rule_key: str, rule: str, parameter: float | None,
                       error: "gs.RuleParameterError") -> tuple[str, str]:
    """A rule's missing or unwanted parameter, named by the key that gives it (rule_key with
    "_parameter" for "efficacy", "futility_parameter" for "futility_spending")."""
    parameter_key = f"{where}.{rule_key.removesuffix('_spending')}_parameter"
    if error.needed is None:
        return parameter_key, f'= {parameter:g}: {rule_key} = "{rule}" takes no parameter'
    return parameter_key, f'missing: {rule_key} = "{rule}" needs its {error.needed}'

