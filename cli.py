"""The trialsim command line: argument parsing and printing only."""

import csv
import io
import json
import math
import os
import sys
import tempfile
from pathlib import Path

import click

import sim
from sim.errors import ScenarioError, SimError

MAX_REPS = 100_000_000  # beyond it a run takes days; larger numbers overflow array sizes
# sim.stats.group_sequential.MAX_LOOKS (a test keeps them equal), not imported: scipy is slow to
# import and `trialsim --help` needs none of it.
MAX_LOOKS = 20
SCENARIO_HELP = (
    "A scenario file (TOML) or the name of a bundled scenario (see `trialsim scenarios`)."
)


class _Group(click.Group):
    """Bad input exits 2 with its message alone; anything unexpected exits 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ScenarioError as error:
            click.echo(f"trialsim: {error}", err=True)
            sys.exit(2)
        except SimError as error:
            click.echo(f"trialsim: {error}", err=True)
            sys.exit(1)


@click.group(cls=_Group)
@click.version_option(sim.__version__, prog_name="trialsim")
def main() -> None:
    """Simulate clinical trials before they run: power, type I error, duration, early closure."""


def _load(scenario: str, overrides: tuple[str, ...]):
    from sim.scenario import load_scenario

    return load_scenario(scenario, overrides)


def _check_out(out: str | None, option: str = "--out") -> None:
    """Refuse, before any work, an output path that cannot take a file: the folder must exist
    and take a file (tried, as permissions alone do not tell, e.g. for root), the name must be a
    file name the folder allows, and an existing path must be a regular file to replace."""
    if out is None:
        return
    path = Path(out)
    if not out or out.endswith(os.sep):
        raise ScenarioError(f"{option} {out!r}: expected a file name, not a folder")
    folder = path.resolve().parent
    if not folder.is_dir():
        raise ScenarioError(f"{option} {out}: the folder {folder} does not exist")
    try:
        longest = os.pathconf(folder, "PC_NAME_MAX")
        if len(os.fsencode(path.name)) > longest:
            raise ScenarioError(f"{option} {out}: the file name is longer than {longest} bytes")
        if path.is_dir():
            raise ScenarioError(f"{option} {out!r}: expected a file name, not a folder")
        if path.exists() and not path.is_file():
            raise ScenarioError(f"{option} {out}: exists and is not a regular file to replace")
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".trialsim-", suffix=".tmp")
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise ScenarioError(f"{option} {out}: cannot write in {folder}: {error.strerror}") from None


def _emit(text: str, out: str | None) -> None:
    """Print, or write `out` atomically: a temporary file in the same folder, then a rename
    (with the permissions a new file gets)."""
    if out is None:
        click.echo(text, nl=False)
        return
    folder = Path(out).resolve().parent
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".trialsim-", suffix=".tmp")
    except OSError as error:
        raise ScenarioError(f"--out {out}: cannot write in {folder}: {error.strerror}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, out)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise ScenarioError(f"--out {out}: could not be written: {error.strerror}") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _environment() -> dict[str, str]:
    from sim.sweep import environment

    return environment()


def _progress_bar(reps: int):
    """A click progress bar on stderr when stderr is a terminal and the run is long, else None."""
    if reps < 2000 or not sys.stderr.isatty():
        return None
    return click.progressbar(length=reps, label="replicates", file=sys.stderr)


def _table(result, scenario) -> str:
    width = max(28, *(len(name) + 2 for name in result.metrics))
    lines = [
        f"{scenario.name}: {result.reps} replicates, seed {result.seed}",
        "",
        f"{'metric':<{width}}{'estimate':>12}{'MC SE':>10}",
    ]
    for name, estimate in result.metrics.items():
        value = "-" if estimate.replicates == 0 else f"{estimate.estimate:.4f}"
        se = f"{estimate.mc_se:.4f}" if math.isfinite(estimate.mc_se) else "-"
        note = "" if estimate.replicates in (0, result.reps) else f"  ({estimate.replicates} reps)"
        lines.append(f"{name:<{width}}{value:>12}{se:>10}{note}")
    if scenario.toxicity is not None:
        lines += ["", *_ae_table(result, scenario)]
    if result.reference:
        if scenario.randomized is not None:
            lines += ["", "Schoenfeld's approximation (normal log-rank z at the planned events)"]
        else:
            lines += ["", "closed-form reference (textbook model: complete follow-up, exact times)"]
        lines += [f"{name:<{width}}{value:>12.4f}" for name, value in result.reference.items()]
    return "\n".join(lines) + "\n"


def _ae_table(result, scenario) -> list[str]:
    """Adverse events as a trial reports them (highest grade per patient: patients and % of
    treated patients), averaged over the simulated trials."""
    from sim.analysis import metric_slug

    metrics = result.metrics
    patients = metrics["ae_patients_mean"].estimate
    lines = [f"adverse events by highest grade per patient: patients (% of treated), mean over "
             f"trials of {patients:.1f} treated patients",
             f"{'AE':<30}" + "".join(f"{h:>14}" for h in ("G1", "G2", "G3", "G4", "any", "G3+"))]
    for ae in scenario.toxicity.ae:
        slug = metric_slug(ae.name)
        counts = [metrics[f"ae_n_grade{g}_{slug}"].estimate for g in range(1, 5)]
        counts += [sum(counts), counts[2] + counts[3]]
        shares = [metrics[f"ae_grade{g}_{slug}"].estimate for g in range(1, 5)]
        shares += [metrics[f"ae_any_{slug}"].estimate, metrics[f"ae_grade3plus_{slug}"].estimate]
        lines.append(f"{ae.name:<30}" + "".join(
            f"{f'{c:.1f} ({100 * s:.1f}%)':>14}" for c, s in zip(counts, shares, strict=True)
        ))
    lines.append(
        f"dose hold {100 * metrics['dose_hold'].estimate:.1f}%, reduction "
        f"{100 * metrics['dose_reduction'].estimate:.1f}%, stopped for toxicity "
        f"{100 * metrics['discontinued_toxicity'].estimate:.1f}%, RDI >= 80% "
        f"{100 * metrics['rdi_80'].estimate:.1f}% (mean RDI {metrics['rdi_mean'].estimate:.3f})"
    )
    return lines


def _csv(result) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["metric", "estimate", "mc_se", "replicates"])
    for name, estimate in result.metrics.items():
        row = estimate.as_dict()
        writer.writerow([name, _csv_number(row["estimate"]), _csv_number(row["mc_se"]),
                         row["replicates"]])
    return buffer.getvalue()


def _csv_number(value: float | None) -> str:
    return "" if value is None else repr(value)


def _json(result) -> str:
    document = {
        "scenario": result.scenario,
        "scenario_sha256": result.scenario_sha256,
        "version": sim.__version__,
        "seed": result.seed,
        "reps": result.reps,
        "environment": _environment(),
        "metrics": {name: estimate.as_dict() for name, estimate in result.metrics.items()},
        "reference": result.reference,
    }
    return json.dumps(document, indent=2) + "\n"


@main.command()
@click.argument("scenario")
@click.option("--reps", type=click.IntRange(min=1, max=MAX_REPS), default=1000, show_default=True,
              help="Number of simulated trials.")
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True,
              help="Root seed: the same seed gives the same numbers whatever --workers is.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a scenario key by its dotted path (repeatable); VALUE is TOML.")
@click.option("--format", "output_format", type=click.Choice(["table", "json", "csv"]),
              default="table", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="Write the result here (atomically).")
@click.option("--observed", type=click.Path(dir_okay=False), metavar="REGISTRATIONS.csv",
              help="An open trial's registrations so far: simulate the rest of it.")
@click.option("--opened", metavar="DATE", help="With --observed: the day the trial opened.")
@click.option("--as-of", "as_of", metavar="DATE",
              help="With --observed: the day the file is complete to (default: its last date).")
def run(scenario, reps, seed, workers, overrides, output_format, out, observed, opened, as_of):
    """Operating characteristics of SCENARIO, each with its Monte Carlo SE."""
    from sim.runner import run as run_scenario

    loaded = _load(scenario, overrides)
    _check_out(out)
    accrual, provenance = None, None
    if observed is not None:
        from sim import registrations as planning

        if opened is None:
            raise ScenarioError("--observed needs --opened DATE, the day the trial opened")
        deadline = loaded.accrual.max_months
        accrual, registrations, as_of_date = planning.observed_accrual(
            observed, planning.parse_date(opened, "--opened"),
            None if as_of is None else planning.parse_date(as_of, "--as-of"),
            math.inf if deadline is None else deadline * planning.DAYS_PER_MONTH,
        )
        provenance = {"file": observed, "sha256": _file_sha256(observed),
                      "registered": len(registrations.dates), "opened": opened,
                      "as_of": as_of_date.isoformat()}
    elif opened is not None or as_of is not None:
        raise ScenarioError("--opened and --as-of go with --observed REGISTRATIONS.csv")
    bar = _progress_bar(reps)
    if bar is None:
        result = run_scenario(loaded, reps, seed, workers, accrual=accrual)
    else:
        with bar:
            result = run_scenario(loaded, reps, seed, workers, progress=bar.update,
                                  accrual=accrual)
    render = {"table": lambda r: _table(r, loaded), "json": _json, "csv": _csv}[output_format]
    text = render(result)
    if provenance is not None and output_format == "json":
        document = json.loads(text)
        document["observed"] = provenance
        text = json.dumps(document, indent=2) + "\n"
    _emit(text, out)


def _file_sha256(path: str) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


run.help += f"\n\nSCENARIO: {SCENARIO_HELP}"


@main.command()
@click.argument("scenario")
@click.option("--design", "designs", multiple=True, required=True,
              type=click.Choice(["3+3", "crm", "tite-crm", "boin"]),
              help="A phase I design to compare (repeatable; the first is the reference).")
@click.option("--reps", type=click.IntRange(min=1, max=MAX_REPS), default=1000, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE")
@click.option("--format", "output_format", type=click.Choice(["table", "json", "csv"]),
              default="table", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False))
def compare(scenario, designs, reps, seed, workers, overrides, output_format, out):
    """Phase I designs side by side on the same simulated patients and arrival times.

    Each metric's estimate and Monte Carlo SE per design, and the paired difference against the
    first design with its SE (the same replicates, so the difference is not noise).
    """
    from sim.runner import compare as compare_designs

    if len(set(designs)) != len(designs):
        raise ScenarioError(f"--design: each design once, got {', '.join(designs)}")
    if not _load(scenario, overrides).has_phase1:
        raise ScenarioError(f"{scenario}: compare needs an enabled [phase1] section")
    if len(designs) < 2:
        raise ScenarioError(f"--design {designs[0]}: give at least two designs to compare (the "
                            "first is the reference; `trialsim run` simulates one)")
    scenarios = {design: _load(scenario, (*overrides, f"phase1.design={design}"))
                 for design in designs}
    _check_out(out)
    bar = _progress_bar(reps)
    if bar is None:
        result = compare_designs(scenarios, reps, seed, workers)
    else:
        with bar:
            result = compare_designs(scenarios, reps, seed, workers, progress=bar.update)
    render = {"table": _compare_table, "json": _compare_json, "csv": _compare_csv}
    _emit(render[output_format](result), out)


def _compare_table(result) -> str:
    first = result.designs[0]
    header = f"{'metric':<28}" + "".join(f"{d:>22}" for d in result.designs)
    header += "".join(f"{d + ' - ' + first:>26}" for d in result.designs[1:])
    lines = [f"{result.scenario}: {result.reps} replicates, seed {result.seed}, "
             f"estimate (MC SE); differences paired against {first}, over the replicates in "
             f"which both designs define the metric (their number: --format json or csv)",
             "", header]
    for name in result.metrics[first]:
        row = f"{name:<28}"
        for design in result.designs:
            row += f"{_cell(result.metrics[design][name]):>22}"
        for design in result.designs[1:]:
            difference = result.differences[design].get(name)
            cell = "" if difference is None else _cell(difference, signed=True)
            row += f"{cell:>26}"
        lines.append(row)
    return "\n".join(lines) + "\n"


def _cell(estimate, signed: bool = False) -> str:
    if estimate.replicates == 0:
        return "-"
    value = f"{estimate.estimate:+.4f}" if signed else f"{estimate.estimate:.4f}"
    se = f"{estimate.mc_se:.4f}" if math.isfinite(estimate.mc_se) else "-"
    return f"{value} ({se})"


def _compare_json(result) -> str:
    document = {
        "scenario": result.scenario,
        "scenario_sha256": result.scenario_sha256,  # per design: each is its own scenario
        "designs": list(result.designs),
        "version": sim.__version__,
        "seed": result.seed,
        "reps": result.reps,
        "environment": _environment(),
        "metrics": {d: {n: e.as_dict() for n, e in m.items()} for d, m in result.metrics.items()},
        "differences_vs_first": {
            d: {n: e.as_dict() for n, e in m.items()} for d, m in result.differences.items()
        },
    }
    return json.dumps(document, indent=2) + "\n"


def _compare_csv(result) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["design", "metric", "estimate", "mc_se", "replicates", "difference_vs_first",
                     "difference_mc_se", "difference_replicates"])
    for design in result.designs:
        for name, estimate in result.metrics[design].items():
            row = estimate.as_dict()
            difference = result.differences.get(design, {}).get(name)
            diff = (difference.as_dict() if difference
                    else {"estimate": None, "mc_se": None, "replicates": ""})
            writer.writerow([design, name, _csv_number(row["estimate"]),
                             _csv_number(row["mc_se"]), row["replicates"],
                             _csv_number(diff["estimate"]), _csv_number(diff["mc_se"]),
                             diff["replicates"]])
    return buffer.getvalue()


@main.command()
@click.argument("scenario")
@click.option("--vary", "varies", multiple=True, required=True, metavar="KEY=V1,V2,...",
              help="A key and its values (repeatable; the first varies slowest).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a key at every point.")
@click.option("--reps", type=click.IntRange(min=1, max=MAX_REPS), default=1000, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--store", type=click.Path(dir_okay=False),
              help="SQLite store of finished points (default: <trial name>-sweep.sqlite here).")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the grid here: .csv or .json.")
@click.option("--plot", type=click.Path(dir_okay=False),
              help="Draw power and early termination against the first key (.png, .pdf, .svg).")
def sweep(scenario, varies, overrides, reps, seed, workers, store, out, plot):
    """What-if sweep: SCENARIO at every combination of the --vary values.

    Every point uses the same seed streams (common random numbers), so differences between points
    carry far less Monte Carlo noise than independent runs. Finished points are stored as they
    finish: run the same command again to finish an interrupted sweep without recomputing what is
    done.
    """
    from sim import sweep as sweeps

    plan = sweeps.plan_sweep(scenario, varies, overrides)
    _check_out(out)
    _check_out(store, "--store")
    out_format = sweeps.output_format(out) if out else None
    if plot is not None:
        from sim import plotting

        _check_out(plot, "--plot")
        plotting.check_plot_target(plot)
        first = plan.points[0].scenario
        if first.randomized is not None:
            raise ScenarioError(
                f"--plot {plot}: draws a single-arm trial's power and early termination; for a "
                f"randomized scenario use --out FILE.csv and plot its metrics"
            )
        if not first.has_phase2:
            raise ScenarioError(
                f"--plot {plot}: draws power and early termination, which a phase I-only "
                f"scenario does not report; use --out for its metrics"
            )
    store_path = store or sweeps.default_store_path(plan)
    bar = _progress_bar(reps * len(plan.points))

    def on_point(point) -> None:
        if bar is not None and not point.computed:
            bar.update(reps)

    with sweeps.SweepStore.open(store_path) as opened:
        if bar is None:
            result = sweeps.run_sweep(plan, opened, reps, seed, workers, on_point=on_point)
        else:
            with bar:
                result = sweeps.run_sweep(plan, opened, reps, seed, workers)
                bar.update(reps * len(plan.points))
    if result.reused and sys.stderr.isatty():
        click.echo(f"{result.reused} of {len(plan.points)} points read from {store_path}",
                   err=True)
    render = {None: sweeps.render_table, "csv": sweeps.render_csv, "json": sweeps.render_json}
    _emit(render[out_format](result), out)
    if plot:
        plotting.plot_sweep(result, plot)


@main.command()
@click.argument("scenario")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE")
def validate(scenario, overrides):
    """Check SCENARIO and print what it resolves to (defaults filled in)."""
    loaded = _load(scenario, overrides)
    click.echo(f"{scenario}: valid scenario {loaded.name!r} (sha256 {loaded.sha256()[:16]})")
    for section, values in loaded.model_dump(mode="json").items():
        for key, value in (values or {}).items():
            if value is not None and value != []:
                click.echo(f"  {section}.{key} = {json.dumps(value)}")
    click.echo(f"  (progression assessed by {loaded.progression_assessment})")


@main.command()
@click.argument("scenario")
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True)
@click.option("--replicate", type=click.IntRange(min=0), default=0, show_default=True,
              help="Which replicate of `run --seed S` to show (0-based).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the CSV here (atomically).")
def trace(scenario, seed, replicate, overrides, out):
    """One simulated trial as CSV, a row per patient event (a swimmer plot's data)."""
    from sim.engine import TrialPlan, simulate_trial
    from sim.rng import replicate_streams

    loaded = _load(scenario, overrides)
    _check_out(out)
    if loaded.randomized is not None:
        _emit(_randomized_trace(loaded, seed, replicate), out)
        return
    record = simulate_trial(
        TrialPlan.from_scenario(loaded), replicate_streams(seed, replicate), trace=True
    )
    registered = {p.patient_id: p.registration_day for p in record.patients}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["patient_id", "day", "weeks_from_registration", "event", "detail"])
    for event in record.events:
        if event.patient_id in registered:
            weeks = f"{(event.day - registered[event.patient_id]) / 7:.2f}"
            patient = event.patient_id
        else:  # a trial-level event
            weeks, patient = "", ""
        writer.writerow([patient, f"{event.day:.2f}", weeks, event.event, event.detail])
    detail = f"accrual closed: {record.closure_reason}"
    if loaded.has_phase2:
        detail += _final_analysis_text(record, loaded)
    writer.writerow(["", f"{record.analysis_day:.2f}", "", "final_analysis", detail])
    _emit(buffer.getvalue(), out)


def _final_analysis_text(record, scenario) -> str:
    """The trial's final analysis as its report would state it, for the trace's last row."""
    from sim.analysis import final_analysis
    from sim.runner import analysis_plan
    from sim.units import DAYS_PER_MONTH

    plan = analysis_plan(scenario)
    result = final_analysis(record, plan)
    if not result.treated:
        return "; nobody treated in phase II"

    def weeks(value: float) -> str:
        return "NA" if math.isnan(value) else f"{value:.1f}"

    test = {"exponential": "exponential test", "one-sample-logrank": "one-sample log-rank"}
    if result.analysed:
        verdict = "H0 rejected" if result.rejected else "H0 not rejected"
        tested = f"{test[plan.test]} p = {result.p_value:.3g}: {verdict}"
    else:
        tested = f"too few for the efficacy analysis ({plan.min_patients_for_analysis} needed)"
    median = result.median_weeks
    estimate = "not reached" if math.isnan(median.estimate) else f"{median.estimate:.1f} weeks"
    orr = result.orr
    return (
        f"; {result.treated} treated, {result.events} events; {tested}; KM median PFS {estimate} "
        f"(95% CI {weeks(median.lower)} to {weeks(median.upper)}); PFS at "
        f"{plan.pfs_rate_day / DAYS_PER_MONTH:g} months {weeks(100 * result.pfs_rate)}%; ORR "
        f"{orr.successes}/{orr.n} = {100 * orr.proportion:.1f}% (95% CI {100 * orr.lower:.1f}% "
        f"to {100 * orr.upper:.1f}%)"
    )


def _randomized_trace(scenario, seed: int, replicate: int) -> str:
    """One randomized trial as CSV: each patient's randomization and events (as known at the
    trial's last analysis), then every look."""
    from sim.interim import EFFICACY, FUTILITY, analyse
    from sim.randomized import RandomizedPlan, simulate_cohort
    from sim.rng import replicate_streams

    plan = RandomizedPlan.from_scenario(scenario)
    cohort, closed = simulate_cohort(plan, replicate_streams(seed, replicate))
    result = analyse(cohort, plan.designs, plan.scan_interval_days, plan.stratified_test, closed)
    end = result.duration_days
    arms, strata = plan.allocation.arms, plan.allocation.strata
    rows = []
    for index in range(result.n_enrolled):
        registered = float(cohort.registration_day[index])
        stratum = ", ".join(f"{factor.name} {level}" for factor, level in
                            zip(plan.allocation.factors, strata[cohort.stratum[index]],
                                strict=True))
        detail = f"arm {arms[cohort.arm[index]]}" + (f"; stratum {stratum}" if stratum else "")
        events = [(0.0, "randomized", detail)]
        for time, event in ((cohort.pfs_event_time[index], "progression_or_death"),
                            (cohort.os_event_time[index], "death"),
                            (cohort.dropout_time[index], "dropout")):
            has_pfs = plan.pfs_rates is not None
            if registered + time <= end and (event != "progression_or_death" or has_pfs):
                events.append((float(time), event, ""))
        for time, event, text in sorted(events, key=lambda e: e[0]):
            rows.append((index + 1, registered + time, f"{time / 7:.2f}", event, text))
        if cohort.switched[index] and registered + cohort.pfs_event_time[index] <= end:
            time = float(cohort.pfs_event_time[index])
            rows.append((index + 1, registered + time, f"{time / 7:.2f}", "crossover", ""))
    for design, endpoint in zip(plan.designs, result.endpoints, strict=True):
        compared = f"{arms[design.comparison]} vs {arms[0]}; " if len(arms) > 2 else ""
        for look in endpoint.looks:
            rows.append(("", look.day, "", f"look_{look.look}_{look.endpoint}",
                         f"{compared}events {look.events}; z {look.z:.3f}; efficacy z "
                         f"{look.efficacy_z:.3f}; futility z {look.futility_z:.3f}; "
                         f"{look.decision}"))
    # Closed by an interim stop only if it came while accrual was open (its day is the close).
    stopped_then = result.stopped_early and any(
        look.day == result.accrual_closed_day and look.decision in (EFFICACY, FUTILITY)
        for endpoint in result.endpoints for look in endpoint.looks
    )
    rows.append(("", result.accrual_closed_day, "", "accrual_closed",
                 f"{result.n_enrolled} randomized" + ("; stopped early" if stopped_then else "")))
    rows.sort(key=lambda row: row[1])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["patient_id", "day", "weeks_from_registration", "event", "detail"])
    for patient, day, weeks, event, detail in rows:
        writer.writerow([patient, f"{day:.2f}", weeks, event, detail])
    return buffer.getvalue()


@main.command("predict-accrual")
@click.argument("registrations", type=click.Path(dir_okay=False))
@click.option("--target", type=click.IntRange(min=1, max=1_000_000), required=True,
              help="Registrations the trial needs.")
@click.option("--opened", required=True, metavar="DATE",
              help="The day the trial opened (YYYY-MM-DD).")
@click.option("--as-of", "as_of", metavar="DATE",
              help="The day the data are complete to (default: the last registration).")
@click.option("--deadline", metavar="DATE",
              help="Report the chance of reaching the target by then.")
@click.option("--site-opened", "site_opened", multiple=True, metavar="SITE=DATE",
              help="Each centre's opening date (repeatable): predicts per centre.")
@click.option("--level", type=click.FloatRange(min=0, max=1, min_open=True, max_open=True),
              default=0.9, show_default=True, help="Prediction interval level.")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def predict_accrual(registrations, target, opened, as_of, deadline, site_opened, level,
                    output_format):
    """When will REGISTRATIONS.csv reach --target? Poisson-gamma posterior predictive.

    REGISTRATIONS.csv: a header row with a 'date' column (YYYY-MM-DD) and optionally 'site', then
    one row per registration so far.
    """
    if math.isnan(level):  # click's range lets nan through
        raise ScenarioError("--level nan: expected a number above 0 and below 1")
    from sim import registrations as planning

    opened_date = planning.parse_date(opened, "--opened")
    sites = {}
    for item in site_opened:
        site, separator, date = item.partition("=")
        if not separator or not site.strip():
            raise ScenarioError(f"--site-opened {item}: expected SITE=YYYY-MM-DD")
        sites[site.strip()] = planning.parse_date(date, f"--site-opened {item}")
    prediction = planning.predict(
        registrations, target, opened_date,
        None if as_of is None else planning.parse_date(as_of, "--as-of"),
        None if deadline is None else planning.parse_date(deadline, "--deadline"),
        sites, level,
    )
    try:
        dates = {
            name: planning.date_after(opened_date, getattr(prediction, f"{name}_day"))
            for name in ("mean", "median", "lower", "upper")
        }
    except ScenarioError as error:
        raise ScenarioError(f"--target {target}: {error}") from None
    if output_format == "json":
        document = {
            "target": prediction.target,
            "registered": prediction.registered,
            "as_of": planning.date_after(opened_date, prediction.as_of_day).isoformat(),
            "level": prediction.level,
            **{f"{name}_date": date.isoformat() for name, date in dates.items()},
            "probability_by_deadline": prediction.probability_by_deadline,
            "version": sim.__version__,
        }
        click.echo(json.dumps(document, indent=2))
        return
    click.echo(f"{prediction.registered} registered by "
               f"{planning.date_after(opened_date, prediction.as_of_day)}; target {target}")
    click.echo(f"  median date reaching it: {dates['median']}  (mean {dates['mean']})")
    click.echo(f"  {level:.0%} prediction interval: {dates['lower']} to {dates['upper']}")
    if prediction.probability_by_deadline is not None:
        click.echo(f"  probability of reaching it by {deadline}: "
                   f"{prediction.probability_by_deadline:.3f}")


def _numbers(text: str | None, option: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ScenarioError(f"{option} {text}: expected numbers separated by commas") from None


def _boundary_rule(make, rule_option: str, rule: str, parameter_option: str,
                   parameter: float | None):
    """`make()`, a boundary rule, with its errors naming the options that give the rule and its
    parameter (the library knows neither)."""
    from sim.stats import group_sequential as gs

    try:
        return make()
    except gs.RuleParameterError as error:
        if error.needed is None:
            raise ScenarioError(f"{parameter_option} {parameter:g}: {rule_option} {rule} takes "
                                f"no parameter") from None
        raise ScenarioError(f"{rule_option} {rule} needs {parameter_option} (its "
                            f"{error.needed})") from None
    except ValueError as error:
        given = "" if parameter is None else f" {parameter_option} {parameter:g}"
        raise ScenarioError(f"{rule_option} {rule}{given}: {error}") from None


@main.command()
@click.option("--looks", type=click.IntRange(min=1, max=MAX_LOOKS), required=True,
              help="Analyses, the final one included.")
@click.option("--alpha", type=float, default=0.025, show_default=True, help="One-sided alpha.")
@click.option("--spending", default="ld-obrien-fleming", show_default=True,
              help="Efficacy boundary: ld-obrien-fleming, ld-pocock, hwang-shih-decani, "
                   "kim-demets, obrien-fleming, pocock, wang-tsiatis, haybittle-peto "
                   "(or rpact's codes asOF, asP, asHSD, asKD, OF, P, WT, HP).")
@click.option("--parameter", type=float,
              help="gamma (hwang-shih-decani), rho (kim-demets), delta (wang-tsiatis) or the "
                   "interim z (haybittle-peto, default 3).")
@click.option("--info-fractions", metavar="F1,F2,...",
              help="Information fraction at each look (default equally spaced).")
@click.option("--futility", type=click.Choice(["obrien-fleming", "pocock", "hwang-shih-decani",
                                               "kim-demets"]),
              help="Beta-spending family for futility bounds.")
@click.option("--futility-parameter", type=float, help="gamma or rho of the beta spending.")
@click.option("--beta", type=float, default=0.2, show_default=True,
              help="Type II error for beta spending.")
@click.option("--futility-z", metavar="Z1,Z2,...",
              help="Fixed futility z-bounds at the interims (instead of beta spending).")
@click.option("--binding", is_flag=True, help="Efficacy bounds assume futility stops are obeyed.")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def boundaries(looks, alpha, spending, parameter, info_fractions, futility, futility_parameter,
               beta, futility_z, binding, output_format):
    """Group-sequential boundaries for a protocol: z, nominal p and alpha spent at each look.

    Computed by recursive numerical integration (Armitage, McPherson and Rowe 1969; Jennison and
    Turnbull 2000, chapter 19); one-sided.
    """
    from sim.stats import group_sequential as gs

    fractions = _numbers(info_fractions, "--info-fractions")
    if fractions is None:
        fractions = tuple((k + 1) / looks for k in range(looks))
    if len(fractions) != looks:
        raise ScenarioError(f"--info-fractions {info_fractions}: expected {looks} fractions "
                            f"(--looks {looks})")
    if futility is not None and futility_z is not None:
        raise ScenarioError("--futility and --futility-z: give one of them")
    if futility is None and futility_z is None:
        for given, option in ((binding, "--binding"),
                              (futility_parameter is not None, "--futility-parameter")):
            if given:
                raise ScenarioError(f"{option}: goes with --futility or --futility-z")
    if futility_z is not None:
        values = _numbers(futility_z, "--futility-z")
        if len(values) not in (1, looks - 1) or not all(math.isfinite(v) for v in values):
            raise ScenarioError(
                f"--futility-z {futility_z}: expected one finite z, or one per interim look "
                f"({looks - 1} with --looks {looks})"
            )
    for option, value in (("--alpha", alpha), ("--beta", beta), ("--parameter", parameter),
                          ("--futility-parameter", futility_parameter)):
        if value is not None and not math.isfinite(value):
            raise ScenarioError(f"{option} {value}: expected a finite number")
    if not 0 < alpha < 0.5:
        raise ScenarioError(f"--alpha {alpha:g}: expected a one-sided alpha above 0 and below 0.5")
    if futility is not None and not 0 < beta < 1 - alpha:
        raise ScenarioError(f"--beta {beta:g}: expected a type II error above 0 and below "
                            f"1 - alpha ({1 - alpha:g})")
    if fractions is not None and not all(math.isfinite(f) for f in fractions):
        raise ScenarioError(f"--info-fractions {info_fractions}: expected finite numbers")
    steps = zip(fractions, fractions[1:], strict=False)
    if not (0 < fractions[0] and all(a < b for a, b in steps) and fractions[-1] <= 1):
        raise ScenarioError(f"--info-fractions {info_fractions}: expected increasing fractions "
                            f"of the maximum information, above 0 and at most 1")
    efficacy = _boundary_rule(lambda: gs.efficacy_rule(spending, parameter),
                              "--spending", spending, "--parameter", parameter)
    if futility is not None:
        beta_spending = _boundary_rule(lambda: gs.SpendingFunction(futility, futility_parameter),
                                       "--futility", futility, "--futility-parameter",
                                       futility_parameter)
    try:
        rule = None
        if futility is not None:
            rule = gs.BetaSpendingFutility(beta_spending, beta)
        elif futility_z is not None:
            rule = gs.FixedFutility(values[0] if len(values) == 1 else values)
        result = gs.group_sequential_boundaries(fractions, alpha, efficacy, rule,
                                                binding=binding)
    except (ValueError, TypeError) as error:
        raise ScenarioError(f"boundaries: {error}") from None
    rows = []
    for k in range(looks):
        row = {
            "look": k + 1,
            "information_fraction": result.information_fractions[k],
            "efficacy_z": result.efficacy_z[k],
            "efficacy_p": result.efficacy_p[k],
            "alpha_spent": result.alpha_spent[k],
        }
        if result.futility_z is not None:
            row["futility_z"] = result.futility_z[k]
            row["futility_p"] = result.futility_p[k]
        if result.beta_spent is not None:
            row["beta_spent"] = result.beta_spent[k]
        rows.append(row)
    if output_format == "json":
        document = {"alpha": alpha, "efficacy": result.efficacy_rule,
                    "futility": result.futility_rule, "binding": binding, "drift": result.drift,
                    "looks": rows, "version": sim.__version__}
        click.echo(json.dumps(document, indent=2))
        return
    click.echo(f"one-sided alpha {alpha:g}; efficacy: {result.efficacy_rule}"
               + (f"; futility: {result.futility_rule} ({'binding' if binding else 'non-binding'})"
                  if result.futility_rule else ""))
    header = list(rows[0])
    click.echo("".join(f"{name:>22}" for name in header))
    for row in rows:
        click.echo("".join(f"{row[name]:>22}" if isinstance(row[name], int)
                           else f"{row[name]:>22.4f}" for name in header))


@main.command()
def scenarios():
    """The bundled scenarios, one line each."""
    from sim.scenario import bundled_scenarios

    for name, summary in bundled_scenarios().items():
        click.echo(f"{name:<32} {summary}")
