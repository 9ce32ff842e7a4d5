"""Per-replicate time of phase I-only trial simulations on one core (engine + design + metrics).

    python benchmarks/bench_phase1.py [--reps N]

Times `sim.runner.run` in this process (workers = 1) on phase I-only versions of the bundled
scenarios: a 10-patient TITE-CRM (the reference trial's phase I) and a 30-patient BOIN.
"""

import argparse
import time

from sim.runner import run
from sim.scenario import load_scenario

PHASE1_ONLY = [
    "phase1.true_median_weeks_by_level=[13, 13, 13, 13]",
    "phase1.follow_up_weeks=0",
    "treatment.scan_interval_weeks=9",
]
CASES = {
    "TITE-CRM, 10 patients (reference phase I)": (
        "tdm1_neratinib",
        ["phase1.design=tite-crm", "phase1.n=10", "phase1.target_dlt=0.25",
         "phase1.indifference_halfwidth=0.09", "phase1.start_level=3",
         "phase1.true_dlt_probs=[0.05, 0.10, 0.20, 0.25]", "accrual.rate_per_month=1.0"],
    ),
    "BOIN, 30 patients, cohorts of 3": (
        "tdm1_neratinib",
        ["phase1.design=boin", "phase1.n=30", "phase1.target_dlt=0.25",
         "phase1.true_dlt_probs=[0.05, 0.10, 0.20, 0.25]", "accrual.rate_per_month=1.0"],
    ),
    "3+3, at most 27 patients (tdm1_neratinib)": ("tdm1_neratinib", []),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5000)
    options = parser.parse_args()
    for label, (name, overrides) in CASES.items():
        scenario = load_scenario(name, [*PHASE1_ONLY, *overrides])
        run(scenario, 200, seed=99)  # warm caches and imports
        start = time.perf_counter()
        run(scenario, options.reps, seed=1)
        per_rep_ms = (time.perf_counter() - start) / options.reps * 1000
        print(f"{label}: {per_rep_ms:.3f} ms per replicate (1 core, {options.reps} reps)")


if __name__ == "__main__":
    main()
