"""The AE model's cost per replicate: a scenario with its [toxicity] section and without it.

    python benchmarks/bench_ae_cost.py [--scenario NAME] [--reps N] [--rounds R]

Issue 4's budget: the AE model may add at most 50% to the replicate time without it. Each round
times both, one after the other, each in a fresh process on one core: CPU time of `sim.runner.run`
for `--reps` replicates after 200 to warm up (start-up excluded, unlike `bench_run.py`). Prints
the medians over the rounds and the ratio (the machine's speed drifts: rounds interleave so that
both sides see the same drift).
"""

import argparse
import statistics
import subprocess
import sys

TIMED = """
import sys, time
from sim.runner import run
from sim.scenario import load_scenario
scenario = load_scenario(sys.argv[1], sys.argv[3:])
run(scenario, 200, seed=99)
reps = int(sys.argv[2])
start = time.process_time()
run(scenario, reps, seed=1)
print((time.process_time() - start) / reps * 1000)
"""


def per_replicate_ms(scenario: str, reps: int, overrides: list[str]) -> float:
    arguments = [sys.executable, "-c", TIMED, scenario, str(reps), *overrides]
    return float(subprocess.run(arguments, check=True, capture_output=True, text=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="ruxolitinib_trastuzumab")
    parser.add_argument("--reps", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=10)
    options = parser.parse_args()
    with_ae, without = [], []
    for _ in range(options.rounds):
        with_ae.append(per_replicate_ms(options.scenario, options.reps, []))
        without.append(per_replicate_ms(options.scenario, options.reps, ["toxicity.enabled=false"]))
    ratios = [a / b for a, b in zip(with_ae, without, strict=True)]
    print(
        f"{options.scenario}: {options.rounds} rounds of {options.reps} replicates, medians: "
        f"{statistics.median(with_ae):.3f} ms with the AE model, "
        f"{statistics.median(without):.3f} ms without; ratio {statistics.median(ratios):.3f} "
        f"(rounds {min(ratios):.3f}-{max(ratios):.3f})"
    )


if __name__ == "__main__":
    main()
