"""trialsim against rpact's getSimulationSurvival on the same two-arm, three-look design.

    python benchmarks/bench_randomized.py [--reps 10000] [--workers 1 2]

The design (the issue's benchmark): 990 patients accrued evenly over 24 months, 1:1, control
median 6.4 months, HR 0.75, exponential, continuous assessment, looks at 170, 339 and 508 events
with Lan-DeMets O'Brien-Fleming bounds, one-sided alpha 0.025. trialsim is timed as a user runs
it (`trialsim run`, process start included, through bench_run.measure), and like rpact: inside
the process around the simulation alone (sim.runner.run, after the imports); rpact inside R with
system.time around getSimulationSurvival alone (R's start and library load not counted), when
Rscript and rpact are installed. Prints each time, trialsim's rejection rates next to rpact's,
and the ratios rpact time / trialsim time.
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_run import measure  # noqa: E402

SCENARIO = """
[trial]
name = "bench_randomized"
[accrual]
model = "fixed"
rate_per_month = 41.25
[treatment]
progression_assessment = "continuous"
[randomized]
n = 990
arms = ["control", "experimental"]
[randomized.pfs]
control_median_months = 6.4
hazard_ratio = 0.75
alpha = 0.025
planned_events = [170, 339, 508]
efficacy = "ld-obrien-fleming"
"""

RPACT = """
suppressMessages(library(rpact))
d <- getDesignGroupSequential(kMax = 3, alpha = 0.025, sided = 1, typeOfDesign = "asOF",
                              informationRates = c(1/3, 2/3, 1))
t <- system.time(s <- getSimulationSurvival(d, median2 = 6.4, hazardRatio = 0.75,
    plannedEvents = c(170, 339, 508), maxNumberOfSubjects = 990, accrualTime = c(0, 24),
    directionUpper = FALSE, maxNumberOfIterations = {reps}, seed = 1))
cat(t[["elapsed"]], s$overallReject, s$rejectPerStage, "\\n")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=10_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        scenario = Path(directory) / "bench_randomized.toml"
        scenario.write_text(SCENARIO)
        out = Path(directory) / "result.json"
        times, inside = {}, {}
        for workers in options.workers:
            arguments = ["run", str(scenario), "--reps", str(options.reps), "--seed", "1",
                         "--workers", str(workers), "--format", "json", "--out", str(out)]
            elapsed, peak_kib = measure(arguments)
            times[workers] = elapsed
            metrics = json.loads(out.read_text())["metrics"]
            rates = [metrics[f"reject_at_look_{k}"]["estimate"] for k in (1, 2, 3)]
            print(f"trialsim, {workers} worker(s): {elapsed:.2f} s, "
                  f"{options.reps / elapsed:,.0f} reps/s, peak {peak_kib / 1024:.0f} MiB; "
                  f"reject {metrics['reject_h0']['estimate']:.4f} per look "
                  + " ".join(f"{r:.4f}" for r in rates))
            inside[workers] = _inside(scenario, options.reps, workers)
            print(f"trialsim, {workers} worker(s), the simulation alone: {inside[workers]:.2f} s")
    if shutil.which("Rscript") is None:
        print("rpact: Rscript not found (apt-get install r-base-core r-cran-rpact)")
        return
    completed = subprocess.run(["Rscript", "-e", RPACT.replace("{reps}", str(options.reps))],
                               capture_output=True, text=True)
    if completed.returncode != 0:
        print(f"rpact: failed: {completed.stderr.strip()}")
        return
    elapsed, overall, *stages = (float(x) for x in completed.stdout.split())
    print(f"rpact getSimulationSurvival, one core: {elapsed:.2f} s; reject {overall:.4f} "
          f"per look " + " ".join(f"{s:.4f}" for s in stages))
    for workers, seconds in times.items():
        print(f"ratio rpact / trialsim ({workers} worker(s)): {elapsed / seconds:.2f} as a "
              f"command, {elapsed / inside[workers]:.2f} the simulation alone")


def _inside(scenario: Path, reps: int, workers: int) -> float:
    """Seconds of sim.runner.run alone, in a fresh process once its imports are done (as
    system.time around getSimulationSurvival in R)."""
    code = (
        "import sys, time\n"
        "from sim.runner import run\n"
        "from sim.scenario import load_scenario\n"
        "scenario = load_scenario(sys.argv[1])\n"
        "start = time.perf_counter()\n"
        "run(scenario, int(sys.argv[2]), seed=1, workers=int(sys.argv[3]))\n"
        "print(time.perf_counter() - start)\n"
    )
    completed = subprocess.run([sys.executable, "-c", code, str(scenario), str(reps),
                                str(workers)], capture_output=True, text=True, check=True)
    return float(completed.stdout)


if __name__ == "__main__":
    main()
