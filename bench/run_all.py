"""Run every side-by-side benchmark once and print their tables (markdown) one after another.

    python bench/run_all.py            # full size: 1M-key snapshot, 100k SETs/GETs, 5k fsynced SETs
    python bench/run_all.py --quick    # a smoke-sized run (seconds)

Each script is also runnable alone; see its docstring for the method.
"""

from __future__ import annotations

import argparse

import bench_log
import bench_snapshot
import bench_store


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    parser.add_argument("--repeat", type=int, default=1, help="snapshot runs per side (best shown)")
    arguments = parser.parse_args(argv)
    keys, operations, always_operations = (2_000, 400, 40) if arguments.quick else (1_000_000, 100_000, 5_000)
    bench_snapshot.main(["--keys", str(keys), "--repeat", str(arguments.repeat)])
    print()
    bench_log.main(["--operations", str(operations), "--always-operations", str(always_operations)])
    print()
    bench_store.main(["--operations", str(operations), "--always-operations", str(always_operations)])


if __name__ == "__main__":
    main()
