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
import logging
import sys

from .explorer import SweepConfig, replay, sweep
from .profiles import PROFILE_NAMES, Limits
from .report import format_replay, format_summary, replay_line, summary
from .selfcheck import format_table, limits_for, self_check
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
                       operation_count=arguments.count, disabled_sync_sites=disabled,
                       resume=getattr(arguments, "resume", False),
                       fault_points=getattr(arguments, "fault_points", None),
                       schedule=getattr(arguments, "schedule", None),
                       restart=getattr(arguments, "restart", False))


def workload_name(text: str) -> str:
    """An argparse type: a registered workload's name, or a usage error listing them."""
    names = sorted(workload.name for workload in all_workloads())
    if text not in names:
        raise argparse.ArgumentTypeError(f"unknown workload {text!r}; choose from: {', '.join(names)}")
    return text


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workload", required=True, type=workload_name,
                        help="the workload to run (`python -m sim list` names them)")
    parser.add_argument("--profile", required=True, choices=PROFILE_NAMES,
                        help="the crash profile: which pending effects a crash image may keep")
    parser.add_argument("--seed", type=int, default=0, help="seeds the operations and the image sampling (default 0)")
    parser.add_argument("--fault", default=None,
                        help="inject a fault at every step where it applies, or KIND@STEP[:VARIANT] at one: "
                             "eio | enospc | short-write | bitflip | eio-read | ERRNO-CALL with ERRNO eio or "
                             "enospc and CALL write, fsync, fsync_dir, rename, create, remove or truncate "
                             "(sim/faults.py)")
    parser.add_argument("--fault-points", type=int, default=None,
                        help="sweep only this many evenly spaced injection points of the fault (default: all)")
    parser.add_argument("--schedule", default=None,
                        help="concurrent workloads: run only this schedule (the decisions a replay line names)")
    parser.add_argument("--restart", action="store_true",
                        help="also kill the process at each cut and recover on the live state, then crash (sim/restart.py)")
    parser.add_argument("--resume", action="store_true",
                        help="after each accepted recovery, write more, crash again and recover (sim/resume.py)")
    parser.add_argument("--count", type=int, default=None, help="operations (default: the workload's)")
    parser.add_argument("--keep", default=None, help="comma-separated operation indexes (shrunk cases)")
    parser.add_argument("--cap", type=int, default=Limits().exhaustive_cap,
                        help="per cut, enumerate every image when there are at most this many "
                             f"(default {Limits().exhaustive_cap})")
    parser.add_argument("--samples", type=int, default=Limits().sample_count,
                        help=f"per cut, images sampled beyond the cap (default {Limits().sample_count})")
    parser.add_argument("--nested-cap", type=int, default=16,
                        help="the same cap for crashes of recovery itself (default 16)")
    parser.add_argument("--nested-samples", type=int, default=8,
                        help="images sampled per nested crash beyond its cap (default 8)")
    parser.add_argument("--no-nested", action="store_true", help="do not crash the recovery itself")
    parser.add_argument("--disable-sync", action="append", help="a sync call site to turn into a no-op: 'caller -> frame' as the "
                        "self-check prints it, with or without line numbers")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sim", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="name the workloads")
    sweep_parser = commands.add_parser("sweep", help="explore every cut of a workload")
    _add_common(sweep_parser)
    sweep_parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    sweep_parser.add_argument("--no-shrink", action="store_true",
                              help="do not shrink a failing case to the fewest operations")
    replay_parser = commands.add_parser("replay", help="reproduce one checked case")
    _add_common(replay_parser)
    replay_parser.add_argument("--cut", type=int, required=True, help="the step before which the crash happens")
    replay_parser.add_argument("--image", required=True,
                               help="the image id the sweep printed: I, I~F (bit flip) or I.J.M (nested)")
    mutate_parser = commands.add_parser("mutate", help="plant each mutant in a scratch copy and sweep")
    mutate_parser.add_argument("--all", action="store_true",
                               help="every mutant: the catalogue and one per sync call site (default: a small sample)")
    mutate_parser.add_argument("--only", action="append", help="a mutant to run, by name (repeatable)")
    mutate_parser.add_argument("--list", action="store_true", help="name the mutants and what each plants, then stop")
    check_parser = commands.add_parser("selfcheck", help="turn each sync call site off in turn")
    check_parser.add_argument("--workload", action="append", type=workload_name,
                              help="a workload to include (repeatable; default: every core workload)")
    check_parser.add_argument("--profile", action="append", choices=PROFILE_NAMES,
                              help="a profile to sweep under (repeatable; default: strict)")
    check_parser.add_argument("--seed", type=int, default=0, help="the sweeps' seed (default 0)")
    check_parser.add_argument("--fault", action="append", default=None,
                              help="also sweep under this fault (repeatable; e.g. eio-fsync, eio-fsync_dir), at "
                                   "two points per kind, so sync sites reached only on failure paths appear")
    return parser


def main(argv: list[str] | None = None) -> int:
    # The recovery under test logs a WARNING for every torn tail it cuts -- thousands per
    # sweep, all expected; the verdicts are this program's output.
    logging.getLogger("kevy_persist").addHandler(logging.NullHandler())
    arguments = build_parser().parse_args(argv)

    if arguments.command == "list":
        for workload in all_workloads():
            reason = workload.skip_reason()
            print(f"{workload.name:44} {workload.summary}" + (f"  [unavailable: {reason}]" if reason else ""))
        return 0
    if arguments.command == "replay":
        report = replay(_config(arguments), arguments.cut, arguments.image)
        print(format_replay(report))
        return 0 if report.verdict.ok else 1
    if arguments.command == "mutate":
        return _mutate(arguments)
    if arguments.command == "selfcheck":
        names = arguments.workload or [w.name for w in all_workloads()
                                       if not w.name.startswith("toy") and not w.broken_on_purpose
                                       and w.skip_reason() is None]
        profiles = arguments.profile or ["strict"]
        configs = [SweepConfig(name, profile, seed=arguments.seed, limits=limits_for(name, Limits(64, 16)),
                               nested_limits=Limits(8, 4),
                               fault=fault, fault_points=2 if fault else None)
                   for name in names for profile in profiles for fault in [None, *(arguments.fault or [])]]
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


def _mutate(arguments) -> int:
    from .mutate import format_table, mutants_for, run_mutant

    mutants = mutants_for(arguments.all, arguments.only)
    if arguments.list:
        for mutant in mutants:
            print(f"{mutant.name:60} {mutant.description}")
        return 0
    results = []
    for mutant in mutants:
        results.append(run_mutant(mutant))
        print(f"{mutant.name}: {'killed by ' + results[-1].killed_by if results[-1].killed_by else 'SURVIVED'}",
              file=sys.stderr, flush=True)
    print(format_table(results))
    return 1 if any(not result.killed_by for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
