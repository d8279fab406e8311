"""Benchmark: distinct crash images checked per CPU-minute by the explorer.

What it measures. Sweeps of small log workloads (`log-always`, `log-no`: six INCR / APPEND /
LPUSH commands through a real shard) under the `weakest` profile, nested crashes on, several
seeds. A "distinct image" is one crash image (top-level or from a crash during recovery) on
which the real recovery code (`open_shard`) ran and whose result a checker judged; duplicates
are removed by content before recovery runs. CPU time is `time.process_time()` of the sweeps.
The target (issue 3) is at least 50,000 distinct images per CPU-minute.

Run: `python bench/bench_sim.py [--seeds N] [--json]`. Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
import time

from sim.explorer import SweepConfig, sweep
from sim.profiles import Limits

TARGET_PER_CPU_MINUTE = 50_000


def run(seeds: int) -> dict:
    sweep(SweepConfig("log-always", "strict"))  # warm-up: imports, first allocation
    distinct = checked = 0
    cpu_seconds = 0.0
    wall_start = time.perf_counter()
    for workload in ("log-always", "log-no"):
        for seed in range(seeds):
            result = sweep(SweepConfig(workload, "weakest", seed=seed, limits=Limits(256, 64),
                                       nested_limits=Limits(16, 8)))
            assert result.violation_count == 0, result.violations[:1]
            distinct += result.distinct_images
            checked += result.images_checked
            cpu_seconds += result.cpu_seconds
    per_minute = distinct / cpu_seconds * 60
    return {
        "workloads": ["log-always", "log-no"], "profile": "weakest", "seeds": seeds,
        "distinct_images": distinct, "images_checked": checked,
        "cpu_seconds": round(cpu_seconds, 2), "wall_seconds": round(time.perf_counter() - wall_start, 2),
        "distinct_images_per_cpu_minute": round(per_minute),
        "target_per_cpu_minute": TARGET_PER_CPU_MINUTE, "meets_target": per_minute >= TARGET_PER_CPU_MINUTE,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    arguments = parser.parse_args()
    figures = run(arguments.seeds)
    if arguments.json:
        print(json.dumps(figures, sort_keys=True))
    else:
        print(f"{figures['distinct_images']} distinct images in {figures['cpu_seconds']} CPU s: "
              f"{figures['distinct_images_per_cpu_minute']:,} per CPU-minute "
              f"(target {TARGET_PER_CPU_MINUTE:,}: {'met' if figures['meets_target'] else 'NOT met'})")


if __name__ == "__main__":
    main()
