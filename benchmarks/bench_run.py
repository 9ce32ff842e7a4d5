"""Time `trialsim run` as a user runs it and record the peak memory of its whole process tree.

    python benchmarks/bench_run.py [--scenario NAME] [--reps N] [--workers W] [--set K=V]...

Prints wall time, replicates per second and the peak resident memory summed over the main
process and its workers (sampled from /proc every 20 ms). Figures go into the README's table.
"""

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path


def _tree_rss_kib(root: int) -> int:
    """Resident memory of `root` and all its descendants, in KiB (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid, parent = int(entry), int(fields["PPid"])
        children.setdefault(parent, []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def measure(arguments: list[str]) -> tuple[float, int]:
    script = Path(sys.executable).with_name("trialsim")
    start = time.perf_counter()
    process = subprocess.Popen([str(script), *arguments], stdout=subprocess.DEVNULL)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_kib(process.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    code = process.wait()
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    if code != 0:
        raise SystemExit(f"trialsim exited {code}")
    return elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="ruxolitinib_trastuzumab")
    parser.add_argument("--reps", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    options = parser.parse_args()
    arguments = ["run", options.scenario, "--reps", str(options.reps),
                 "--workers", str(options.workers), "--format", "json"]
    for override in options.overrides:
        arguments += ["--set", override]
    elapsed, peak_kib = measure(arguments)
    print(f"{options.scenario}: {options.reps} reps, {options.workers} workers: "
          f"{elapsed:.2f} s wall, {options.reps / elapsed:,.0f} reps/s, "
          f"peak memory {peak_kib / 1024:.0f} MiB (all processes)")


if __name__ == "__main__":
    main()
