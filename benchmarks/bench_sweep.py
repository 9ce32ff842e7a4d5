"""Time a what-if sweep as a user runs it: 20 points x 5,000 replicates, 2 workers.

    python benchmarks/bench_sweep.py [--reps N] [--workers W] [--scenario NAME]

The grid is 5 accrual rates x 4 true medians of the bundled scenario, in a fresh store, so every
point is computed. Prints wall time and replicates per second; the figure goes into the README.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="ruxolitinib_trastuzumab")
    parser.add_argument("--reps", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    options = parser.parse_args()
    script = Path(sys.executable).with_name("trialsim")
    with tempfile.TemporaryDirectory() as folder:
        arguments = [
            str(script), "sweep", options.scenario,
            "--vary", "accrual.rate_per_month=0.4,0.6,0.8,1.0,1.2",
            "--vary", "phase2.true_median_weeks=8,10,13,16",
            "--reps", str(options.reps), "--workers", str(options.workers),
            "--store", str(Path(folder) / "bench.sqlite"),
            "--out", str(Path(folder) / "bench.csv"),
        ]
        start = time.perf_counter()
        subprocess.run(arguments, check=True)
        elapsed = time.perf_counter() - start
    total = 20 * options.reps
    print(f"sweep of 20 points x {options.reps} reps ({options.scenario}), {options.workers} "
          f"workers: {elapsed:.1f} s wall, {total / elapsed:,.0f} reps/s")


if __name__ == "__main__":
    main()
