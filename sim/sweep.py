"""What-if sweeps: the grid of every combination of `--vary` values, run point by point into an
SQLite store, so a stopped sweep resumes where it stopped and ends with the same numbers.

`--vary KEY=V1,V2,...` gives a key (dotted path, as `--set`) and its values, each read as a TOML
value exactly like `--set KEY=V`. Values are separated by the commas that are outside brackets,
braces and quotes, so list values need no extra quoting:
`--vary phase1.true_dlt_probs=[0.1,0.2],[0.2,0.3]` has two values, `[0.1, 0.2]` and `[0.2, 0.3]`.

Grid order: every combination, the first `--vary` varying slowest (itertools.product order).
Every point uses the same seed, so replicate i of every point draws from child i of the same root
SeedSequence (common random numbers): differences between points are not Monte Carlo noise.

The store holds finished points keyed by what determines their numbers: the point scenario's
sha256, the seed, the number of replicates and the code (trialsim version, a hash of the `sim`
package's modules, the library versions; see CodeIdentity). Any sweep may share a store: a point
another sweep already finished is read back instead of recomputed, and a sweep's output holds its
own grid only, so stores never mix. Each point is written in one transaction, and every output is
read back from the store, so a resumed sweep and an uninterrupted one give the same numbers to the
last bit. Metrics are stored in long form (point, metric, estimate, mc_se, replicates): the schema
does not depend on the metric set, which depends on the scenario (phase I levels) and grows.
"""

import csv
import hashlib
import io
import itertools
import json
import math
import platform
import re
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sim
from sim import runner
from sim.errors import ScenarioError
from sim.estimates import Estimate
from sim.scenario import (
    KEY_SYNTAX,
    Scenario,
    key_path,
    load_scenario,
    parse_override,
    read_scenario_data,
)

VARY_EXAMPLE = "e.g. --vary accrual.rate_per_month=0.4,0.6,1.0"
# Metrics the stdout table shows; the CSV and JSON outputs carry every metric.
TABLE_METRICS = ("reject_h0", "early_termination", "n_treated_mean", "duration_months_mean")
OUTPUT_FORMATS = {".csv": "csv", ".json": "json"}


# ----------------------------------------------------------------------------- the grid


@dataclass(frozen=True)
class VariedKey:
    """One `--vary` option: a dotted key and its values, with the TOML text each was read from."""

    key: str
    values: tuple[Any, ...]
    texts: tuple[str, ...]


@dataclass(frozen=True)
class SweepPoint:
    """One combination of the grid and the validated scenario it gives."""

    index: int  # 0-based position in grid order
    values: tuple[Any, ...]  # one per varied key, in grid order
    scenario: Scenario


@dataclass(frozen=True)
class SweepPlan:
    """A validated sweep: the scenario it starts from, the grid and every point's scenario.

    Only the points are validated: the scenario with the --set overrides alone may be invalid
    when a --set needs a varied key (--set phase2.pfs_model=weibull, --vary
    phase2.weibull_shape=1,2), so there is no validated "base" scenario.
    """

    source: str
    overrides: tuple[str, ...]
    grid: tuple[VariedKey, ...]
    points: tuple[SweepPoint, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(varied.key for varied in self.grid)

    @property
    def name(self) -> str:
        """The trial's name: the first point's (every point's, unless trial.name is varied)."""
        return self.points[0].scenario.name

    def sha256(self) -> str:
        """Hash of what the sweep simulates: its points' scenario hashes, in grid order. Two
        sweeps share it when they run the same scenarios in the same order, however they were
        written (file, --set or --vary)."""
        hashes = "\n".join(point.scenario.sha256() for point in self.points)
        return hashlib.sha256(hashes.encode()).hexdigest()


def parse_vary(option: str) -> VariedKey:
    """`KEY=V1,V2,...` -> VariedKey; a ScenarioError naming the option, key and value if bad."""
    key, separator, raw = option.partition("=")
    key = key.strip()
    if not separator or not key or key_path(key) is None:
        raise ScenarioError(
            f"--vary {option}: expected KEY=V1,V2,... with {KEY_SYNTAX}, {VARY_EXAMPLE}"
        )
    if not raw.strip():
        raise ScenarioError(f"--vary {option}: no values given for {key}, {VARY_EXAMPLE}")
    texts = tuple(text.strip() for text in split_values(raw))
    values = []
    for text in texts:
        if not text:
            raise ScenarioError(
                f"--vary {option}: an empty value for {key} (two commas in a row, or a comma "
                f"at either end), {VARY_EXAMPLE}"
            )
        try:
            _, value = parse_override(f"{key}={text}")
        except ScenarioError:
            raise ScenarioError(
                f"--vary {option}: the value {text!r} for {key} is not a TOML value (numbers as "
                f'0.6, strings as "text" or a bare word, lists as [0.1,0.2], values separated '
                f"by commas)"
            ) from None
        values.append(value)
    seen = {}
    for text, value in zip(texts, values, strict=True):
        canonical = json.dumps(value, sort_keys=True, default=str)
        if canonical in seen:
            spellings = f" (as {seen[canonical]} and {text})" if seen[canonical] != text else ""
            raise ScenarioError(
                f"--vary {option}: {key} is given the value {seen[canonical]} twice{spellings}; "
                f"give each value once"
            )
        seen[canonical] = text
    return VariedKey(key, tuple(values), texts)


def split_values(raw: str) -> list[str]:
    """Split at the commas outside brackets, braces and quoted strings."""
    pieces, current, depth, quote = [], [], 0, None
    characters = iter(raw)
    for character in characters:
        if quote is not None:
            current.append(character)
            if character == "\\" and quote == '"':  # a basic string's escape: keep the next one
                current.append(next(characters, ""))
            elif character == quote:
                quote = None
        elif character in "\"'":
            quote = character
            current.append(character)
        elif character in "[{":
            depth += 1
            current.append(character)
        elif character in "]}":
            depth -= 1
            current.append(character)
        elif character == "," and depth == 0:
            pieces.append("".join(current))
            current = []
        else:
            current.append(character)
    pieces.append("".join(current))
    return pieces


def plan_sweep(source: str, varies: Sequence[str], overrides: Sequence[str] = ()) -> SweepPlan:
    """Parse `--vary` options and validate every point (the scenario, the --set overrides and
    the point's --vary values together), so bad input fails before anything runs."""
    if not varies:
        raise ScenarioError(f"sweep: give at least one --vary KEY=V1,V2,..., {VARY_EXAMPLE}")
    grid = tuple(parse_vary(option) for option in varies)
    seen_keys = set()
    for varied in grid:
        if varied.key in seen_keys:
            raise ScenarioError(f"--vary {varied.key}: the key is varied twice; give it once")
        seen_keys.add(varied.key)
    for override in overrides:
        key, _ = parse_override(override)
        if key in seen_keys:
            raise ScenarioError(
                f"--set {override}: {key} is also varied by --vary; give it in one option only"
            )
    read_scenario_data(source, overrides)  # the file and the --set syntax, once, not per point
    points = []
    by_sha256 = {}
    for index, combination in enumerate(itertools.product(*(range(len(v.values)) for v in grid))):
        point_overrides = [
            f"{varied.key}={varied.texts[position]}"
            for varied, position in zip(grid, combination, strict=True)
        ]
        scenario = _load_point(source, overrides, point_overrides)
        values = tuple(
            varied.values[position] for varied, position in zip(grid, combination, strict=True)
        )
        sha256 = scenario.sha256()
        if sha256 in by_sha256:
            raise ScenarioError(
                f"--vary: the points {by_sha256[sha256]} and {', '.join(point_overrides)} give "
                f"the same scenario (equal values written differently?); give each value once"
            )
        by_sha256[sha256] = ", ".join(point_overrides)
        points.append(SweepPoint(index, values, scenario))
    return SweepPlan(source, tuple(overrides), grid, tuple(points))


def _load_point(source: str, overrides: Sequence[str], point_overrides: list[str]) -> Scenario:
    try:
        return load_scenario(source, [*overrides, *point_overrides])
    except ScenarioError as error:
        # The validator names the override it was given as "--set K=V"; the user wrote --vary.
        message = str(error)
        for override in point_overrides:
            message = message.replace(f"--set {override}", f"--vary {override}")
        # Name the point, unless the message names all of it already (one key's --vary K=V).
        if not all(f"--vary {override}" in message for override in point_overrides):
            message = f"at the sweep point {', '.join(point_overrides)}: {message}"
        raise ScenarioError(message) from None


def value_text(value: Any) -> str:
    """A value as a reader sees it in a table, a CSV cell or a legend (TOML-like, strings bare)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + ", ".join(_nested_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_nested_text(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _nested_text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else value_text(value)


# ----------------------------------------------------------------------------- the store

# Marks the file as a trialsim sweep store (SQLite's header field for this purpose): "tsim".
APPLICATION_ID = 0x7473696D
SCHEMA_VERSION = 1
_SCHEMA = (
    """
CREATE TABLE points (
    point_id INTEGER PRIMARY KEY,
    scenario_sha256 TEXT NOT NULL,
    seed TEXT NOT NULL,                 -- as text: a seed may exceed SQLite's 64-bit integers
    reps INTEGER NOT NULL,
    trialsim_version TEXT NOT NULL,
    code_sha256 TEXT NOT NULL,          -- the sim package's modules (CodeIdentity)
    environment TEXT NOT NULL,          -- JSON: python, numpy, scipy, simpy versions
    scenario_name TEXT NOT NULL,
    scenario_json TEXT NOT NULL,        -- the validated point scenario: what was simulated
    finished_utc TEXT NOT NULL,
    elapsed_seconds REAL NOT NULL,
    UNIQUE (scenario_sha256, seed, reps, trialsim_version, code_sha256, environment)
)""",
    """
CREATE TABLE metrics (
    point_id INTEGER NOT NULL REFERENCES points (point_id),
    position INTEGER NOT NULL,          -- the runner's metric order
    metric TEXT NOT NULL,
    estimate REAL,                      -- NULL: undefined in every replicate (NaN)
    mc_se REAL,                         -- NULL: undefined (fewer than 2 replicates)
    replicates INTEGER NOT NULL,
    PRIMARY KEY (point_id, metric)
)""",
)
_SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True)
class CodeIdentity:
    """The code that computes a point: with the scenario, seed and reps it fixes the numbers.

    `code_sha256` hashes the modules of the installed `sim` package (all but the two that only
    store and draw results), so it covers what the version number may not during development:
    the runner's block size (it moves the last bits), the metric set, any fix. `environment`
    names the libraries whose algorithms draw and test (numpy's Generator distributions may
    change between versions).
    """

    trialsim_version: str
    code_sha256: str
    environment: dict[str, str]

    @classmethod
    def current(cls) -> "CodeIdentity":
        package = Path(sim.__file__).resolve().parent
        return cls(sim.__version__, package_sha256(package), environment())

    @property
    def environment_text(self) -> str:
        return json.dumps(self.environment, sort_keys=True, separators=(",", ":"))


# Modules that only store and draw results: editing them does not change a point's numbers.
_OUTPUT_MODULES = ("sweep.py", "plotting.py")


def package_sha256(package: Path) -> str:
    """Hash of the modules under `package` (paths and bytes), but the output-only ones."""
    digest = hashlib.sha256()
    modules = {module.relative_to(package).as_posix(): module for module in package.rglob("*.py")}
    for name in sorted(set(modules) - set(_OUTPUT_MODULES)):
        digest.update(name.encode() + b"\0" + modules[name].read_bytes() + b"\0")
    return digest.hexdigest()


def environment() -> dict[str, str]:
    """The versions `run --format json` reports: Python and the libraries that compute."""
    import numpy
    import scipy
    import simpy

    return {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "simpy": simpy.__version__,
    }


@dataclass(frozen=True)
class PointKey:
    """What determines a point's numbers; equal keys give equal numbers, bit for bit."""

    scenario_sha256: str
    seed: int
    reps: int
    code: CodeIdentity

    def row(self) -> tuple:
        return (
            self.scenario_sha256,
            str(self.seed),
            self.reps,
            self.code.trialsim_version,
            self.code.code_sha256,
            self.code.environment_text,
        )


_KEY_COLUMNS = "scenario_sha256, seed, reps, trialsim_version, code_sha256, environment"


class SweepStore:
    """An SQLite file of finished points. Open with `SweepStore.open(path)`; use as a context."""

    def __init__(self, connection: sqlite3.Connection, path: Path):
        self._connection = connection
        self.path = path

    @classmethod
    def open(cls, path: str | Path) -> "SweepStore":
        """Open or create a store; a ScenarioError if the file is not one (nothing is changed)."""
        path = Path(path)
        label = f"--store {path}"
        if path.is_dir():
            raise ScenarioError(f"{label}: is a folder, expected an SQLite file")
        if not path.resolve().parent.is_dir():
            raise ScenarioError(f"{label}: the folder {path.resolve().parent} does not exist")
        if path.is_file() and path.stat().st_size > 0:
            with path.open("rb") as stream:
                if stream.read(len(_SQLITE_HEADER)) != _SQLITE_HEADER:
                    raise ScenarioError(f"{label}: not an SQLite file; give another --store path")
        try:
            # Autocommit mode: each point's transaction is opened and committed explicitly.
            connection = sqlite3.connect(path, isolation_level=None, timeout=60)
        except sqlite3.Error as error:
            raise ScenarioError(f"{label}: cannot open the store: {error}") from None
        try:
            cls._prepare(connection, label)
        except BaseException:
            connection.close()
            raise
        return cls(connection, path)

    @staticmethod
    def _prepare(connection: sqlite3.Connection, label: str) -> None:
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                application_id = connection.execute("PRAGMA application_id").fetchone()[0]
                version = connection.execute("PRAGMA user_version").fetchone()[0]
                tables = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
                if application_id == 0 and tables == 0:
                    # One statement at a time: executescript would commit the open transaction.
                    connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    for statement in _SCHEMA:
                        connection.execute(statement)
                elif application_id != APPLICATION_ID:
                    raise ScenarioError(
                        f"{label}: an SQLite file that is not a trialsim sweep store; "
                        f"give another --store path"
                    )
                elif version != SCHEMA_VERSION:
                    raise ScenarioError(
                        f"{label}: a sweep store of format {version}, this trialsim writes "
                        f"format {SCHEMA_VERSION}; give another --store path"
                    )
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        except sqlite3.Error as error:
            raise ScenarioError(f"{label}: cannot use the store: {error}") from None

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> "SweepStore":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def find(self, key: PointKey) -> dict[str, Estimate] | None:
        """The stored metrics of a finished point, in the runner's order; None if not stored."""
        found = self._connection.execute(
            f"SELECT point_id FROM points WHERE ({_KEY_COLUMNS}) = (?, ?, ?, ?, ?, ?)", key.row()
        ).fetchone()
        if found is None:
            return None
        rows = self._connection.execute(
            "SELECT metric, estimate, mc_se, replicates FROM metrics WHERE point_id = ? "
            "ORDER BY position",
            found,
        )
        return {
            metric: Estimate(_from_real(estimate), _from_real(mc_se), replicates)
            for metric, estimate, mc_se, replicates in rows
        }

    def save(
        self,
        key: PointKey,
        scenario: Scenario,
        metrics: dict[str, Estimate],
        elapsed_seconds: float,
    ) -> None:
        """Write one finished point in one transaction (a crash leaves all of it or none)."""
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            # Another sweep sharing the store may have finished the same point meanwhile: its
            # numbers are the same (same key), so the first one written stays.
            cursor = connection.execute(
                f"INSERT OR IGNORE INTO points ({_KEY_COLUMNS}, scenario_name, scenario_json, "
                f"finished_utc, elapsed_seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    *key.row(),
                    scenario.name,
                    json.dumps(scenario.model_dump(mode="json"), sort_keys=True),
                    datetime.now(UTC).isoformat(timespec="seconds"),
                    elapsed_seconds,
                ),
            )
            if cursor.rowcount == 1:
                connection.executemany(
                    "INSERT INTO metrics (point_id, position, metric, estimate, mc_se, "
                    "replicates) VALUES (?, ?, ?, ?, ?, ?)",
                    _metric_rows(cursor.lastrowid, metrics),
                )
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise


def _metric_rows(point_id: int, metrics: dict[str, Estimate]):
    for position, (name, estimate) in enumerate(metrics.items()):
        yield (
            point_id,
            position,
            name,
            _to_real(estimate.estimate),
            _to_real(estimate.mc_se),
            estimate.replicates,
        )


def _to_real(value: float) -> float | None:
    # SQLite stores NaN as NULL anyway; saying so keeps the read-back explicit.
    return None if math.isnan(value) else value


def _from_real(value: float | None) -> float:
    return math.nan if value is None else float(value)


def default_store_path(plan: SweepPlan) -> Path:
    """`<trial name>-sweep.sqlite` in the current folder (names made file-safe)."""
    safe_name = re.sub(r"[^A-Za-z0-9._-]+", "_", plan.name).strip("._") or "scenario"
    return Path(f"{safe_name}-sweep.sqlite")


# ----------------------------------------------------------------------------- running


@dataclass(frozen=True)
class PointResult:
    point: SweepPoint
    metrics: dict[str, Estimate]
    computed: bool  # False: read from the store, finished by an earlier (or another) sweep


@dataclass(frozen=True)
class SweepResult:
    plan: SweepPlan
    seed: int
    reps: int
    code: CodeIdentity
    points: tuple[PointResult, ...]

    @property
    def reused(self) -> int:
        """Points read from the store instead of computed."""
        return sum(not result.computed for result in self.points)


def run_sweep(
    plan: SweepPlan,
    store: SweepStore,
    reps: int,
    seed: int,
    workers: int = 1,
    on_point: Callable[[PointResult], None] | None = None,
    on_replicates: Callable[[int], None] | None = None,
) -> SweepResult:
    """Run every point of `plan` not yet in `store`, in grid order, saving each as it finishes.

    `on_point(result)` is told of every point, stored or computed, in grid order;
    `on_replicates(k)` of every k replicates finished inside a computed point.
    """
    code = CodeIdentity.current()
    results = []
    # One pool for every point: starting one per point costs a few per cent of a sweep.
    with runner.pool(workers) as executor:
        for point in plan.points:
            key = PointKey(point.scenario.sha256(), seed, reps, code)
            metrics = store.find(key)
            computed = metrics is None
            if computed:
                started = time.perf_counter()
                run = runner.run(point.scenario, reps, seed, workers, progress=on_replicates,
                                 executor=executor)
                store.save(key, point.scenario, run.metrics, time.perf_counter() - started)
                # Read back what was stored, so a fresh and a resumed sweep report the same bits.
                metrics = store.find(key)
            result = PointResult(point, metrics, computed)
            results.append(result)
            if on_point is not None:
                on_point(result)
    return SweepResult(plan, seed, reps, code, tuple(results))


# ----------------------------------------------------------------------------- output


def output_format(out: str | Path) -> str:
    """The format of --out from its suffix, "csv" or "json"; a ScenarioError for anything else."""
    suffix = Path(out).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise ScenarioError(
            f"--out {out}: expected a file ending in {' or '.join(OUTPUT_FORMATS)} "
            f"(the format follows the suffix)"
        )
    return OUTPUT_FORMATS[suffix]


def metric_names(result: SweepResult) -> list[str]:
    """Every metric of the sweep, in the runner's order."""
    names = {}
    for point in result.points:
        names.update(dict.fromkeys(point.metrics))
    return list(names)


def render_csv(result: SweepResult) -> str:
    """One row per point: its index, the varied values, then each metric and its MC SE."""
    names = metric_names(result)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["point", *result.plan.keys]
    for name in names:
        header += [name, f"{name}_mc_se"]
    writer.writerow(header)
    for point in result.points:
        row = [point.point.index + 1, *(value_text(v) for v in point.point.values)]
        for name in names:
            estimate = point.metrics.get(name)
            row += (
                ["", ""]
                if estimate is None
                else [
                    _csv_number(estimate.estimate),
                    _csv_number(estimate.mc_se),
                ]
            )
        writer.writerow(row)
    return buffer.getvalue()


def _csv_number(value: float) -> str:
    return repr(value) if math.isfinite(value) else ""


def render_json(result: SweepResult) -> str:
    """The provenance fields of `run --format json`, the grid, then one object per point."""
    plan = result.plan
    document = {
        "scenario": plan.name,
        "scenario_sha256": plan.sha256(),
        "version": sim.__version__,
        "seed": result.seed,
        "reps": result.reps,
        "environment": result.code.environment,
        "overrides": list(plan.overrides),
        "grid": [{"key": varied.key, "values": list(varied.values)} for varied in plan.grid],
        "points": [
            {
                "point": point.point.index + 1,
                "values": dict(zip(plan.keys, point.point.values, strict=True)),
                "scenario_sha256": point.point.scenario.sha256(),
                "metrics": {name: estimate.as_dict() for name, estimate in point.metrics.items()},
                "reference": runner.reference_figures(point.point.scenario),
            }
            for point in result.points
        ],
    }
    return json.dumps(document, indent=2) + "\n"


def render_table(result: SweepResult, metrics: Sequence[str] = TABLE_METRICS) -> str:
    """The varied values and a few headline metrics per point, as `estimate (MC SE)`."""
    shown = [name for name in metrics if name in metric_names(result)]
    header = [*result.plan.keys, *shown]
    rows = []
    for point in result.points:
        cells = [value_text(value) for value in point.point.values]
        for name in shown:
            estimate = point.metrics.get(name)
            if estimate is None:  # the point's scenario does not report it (e.g. no phase II)
                cells.append("")
                continue
            value = "-" if estimate.replicates == 0 else f"{estimate.estimate:.4f}"
            se = f" ({estimate.mc_se:.4f})" if math.isfinite(estimate.mc_se) else ""
            cells.append(value + se)
        rows.append(cells)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    plan = result.plan
    lines = [
        f"{plan.name}: {len(result.points)} points x {result.reps} replicates, "
        f"seed {result.seed} at every point; metrics as estimate (MC SE)",
        "",
        "  ".join(cell.rjust(width) for cell, width in zip(header, widths, strict=True)),
    ]
    lines += [
        "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines += ["", "every metric: --out FILE.csv or --out FILE.json"]
    return "\n".join(lines) + "\n"
