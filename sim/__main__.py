"""`python -m sim`: list workloads, sweep one, replay one case, self-check the syncs.

    python -m sim list
    python -m sim sweep --workload W --profile P [--seed S] [--fault F] [--json]
    python -m sim replay --workload W --profile P --seed S --cut K --image I [--fault eio@12]
    python -m sim selfcheck [--workload W ...] [--profile P ...]

A sweep with violations prints one replay line per violation (the first five), then shrinks
the case to the fewest operations that still fail and prints that replay line too. Exit
status: 0 clean, 1 violations found.
"""

from __future__ import annotations

import argparse
import json
import sys

import attrs

from .explorer import SweepConfig, replay, sweep
from .profiles import PROFILE_NAMES, Limits
from .report import format_replay, format_summary, replay_line, summary
from .selfcheck import format_table, self_check
from .shrink import shrink
from .workloads import all_workloads


def _config(arguments) -> SweepConfig:
    keep = None
    if getattr(arguments, "keep", None) is not None:
        keep = () if arguments.keep == "none" else tuple(int(part) for part in arguments.keep.split(","))
    disabled = frozenset(getattr(arguments, "disable_sync", None) or ())
    return SweepConfig(arguments.workload, arguments.profile, seed=arguments.seed,
                       limits=Limits(arguments.cap, arguments.samples),
                       nested_limits=Limits(arguments.nested_cap, arguments.nested_samples),
                       nested=not arguments.no_nested, fault=arguments.fault, keep=keep,
                       operation_count=arguments.count, disabled_sync_sites=disabled)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workload", required=True)
    parser.add_argument("--profile", required=True, choices=PROFILE_NAMES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fault", default=None, help="eio | enospc | short-write | bitflip (| KIND@STEP)")
    parser.add_argument("--count", type=int, default=None, help="operations (default: the workload's)")
    parser.add_argument("--keep", default=None, help="comma-separated operation indexes (shrunk cases)")
    parser.add_argument("--cap", type=int, default=Limits().exhaustive_cap)
    parser.add_argument("--samples", type=int, default=Limits().sample_count)
    parser.add_argument("--nested-cap", type=int, default=16)
    parser.add_argument("--nested-samples", type=int, default=8)
    parser.add_argument("--no-nested", action="store_true")
    parser.add_argument("--disable-sync", action="append", help="a sync call site to turn into a no-op: 'caller -> frame' as the "
                        "self-check prints it, with or without line numbers")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="name the workloads")
    sweep_parser = commands.add_parser("sweep", help="explore every cut of a workload")
    _add_common(sweep_parser)
    sweep_parser.add_argument("--json", action="store_true")
    sweep_parser.add_argument("--no-shrink", action="store_true")
    replay_parser = commands.add_parser("replay", help="reproduce one checked case")
    _add_common(replay_parser)
    replay_parser.add_argument("--cut", type=int, required=True)
    replay_parser.add_argument("--image", required=True)
    check_parser = commands.add_parser("selfcheck", help="turn each sync call site off in turn")
    check_parser.add_argument("--workload", action="append")
    check_parser.add_argument("--profile", action="append", choices=PROFILE_NAMES)
    check_parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args(argv)

    if arguments.command == "list":
        for workload in all_workloads():
            reason = workload.skip_reason()
            print(f"{workload.name:44} {workload.summary}" + (f"  [unavailable: {reason}]" if reason else ""))
        return 0
    if arguments.command == "replay":
        report = replay(_config(arguments), arguments.cut, arguments.image)
        print(format_replay(report))
        return 0 if report.verdict.ok else 1
    if arguments.command == "selfcheck":
        names = arguments.workload or [w.name for w in all_workloads()
                                       if not w.name.startswith("toy") and not w.broken_on_purpose
                                       and w.skip_reason() is None]
        profiles = arguments.profile or ["strict"]
        configs = [SweepConfig(name, profile, seed=arguments.seed, limits=Limits(64, 16),
                               nested_limits=Limits(8, 4)) for name in names for profile in profiles]
        rows, unclean = self_check(configs)
        print(format_table(rows))
        for line in unclean:
            print(f"baseline not clean: {line}")
        return 1 if unclean or any(not row.detected_by and not row.justification for row in rows) else 0
    config = _config(arguments)
    result = sweep(config)
    print(json.dumps(summary(result), sort_keys=True) if arguments.json else format_summary(result))
    if result.violation_count and not arguments.no_shrink:
        shrunk = shrink(config)
        if shrunk is not None:
            shrunk_config, shrunk_result = shrunk
            print(f"shrunk to {len(shrunk_config.keep)} operations: "
                  f"{replay_line(shrunk_config, shrunk_result.violations[0])}", file=sys.stderr)
    return 1 if result.violation_count else 0


if __name__ == "__main__":
    sys.exit(main())
