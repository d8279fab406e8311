"""`kevy-persist reshard DIR --shards N [--routing kevyhash|slots]`: re-shard a data dir offline,
every database of it (DIR itself, then each `DIR/db-{n}/`, all to the same layout).

Exactly what opening the dir with that layout does (`reshard.reconcile_layout`): finish or
discard an interrupted re-shard, then re-home every key if the recorded layout differs. A
progress bar is drawn on a terminal for large dirs; one summary line is printed. A dir
without `shards.meta` whose inferred layout already matches (or a fresh dir) gets the
layout recorded. It owns the dir while it runs (the dir's `LOCK`): a dir a server or a
store holds is refused, naming the holder's process id, and no file is touched.

Exit status: 0 done (or nothing to do), 2 refused (a `KevyError`: the dir is in use, unknown
routing tag, unreadable journal, corrupt source...), with the error on stderr.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kevy_persist.disk.clock import SystemClock
from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.errors import KevyError
from kevy_persist.layout.databases import parse_database_dir
from kevy_persist.layout.meta import LayoutSource, ShardLayout, read_layout, write_layout
from kevy_persist.layout.ownership import take_ownership
from kevy_persist.layout.routing import Routing
from kevy_persist.reshard.progress import TerminalProgress
from kevy_persist.reshard.reconcile import reconcile_layout, summary_line
from kevy_persist.reshard.recovery import InterruptedOutcome
from kevy_persist.reshard.swapdb import database_directory, recover_interrupted_swap


def add_reshard_command(subparsers: Any) -> None:
    """Register `reshard` on `kevy-persist`'s sub-command parser."""
    parser = subparsers.add_parser("reshard", help="change a data dir's shard count or routing, offline")
    parser.add_argument("directory")
    parser.add_argument("--shards", type=int, required=True, help="the new shard count")
    parser.add_argument(
        "--routing", choices=[routing.value for routing in Routing], default=None,
        help="kevyhash or slots (default: keep the recorded routing)",
    )
    parser.set_defaults(run=run_reshard)


def run_reshard(arguments: argparse.Namespace) -> int:
    fs = OsFileSystem()
    directory = arguments.directory
    try:
        if not fs.exists(directory):
            raise KevyError(f"{directory}: no such data dir")
        lock = take_ownership(fs, directory)
    except KevyError as error:
        print(f"kevy-persist reshard: {error}", file=sys.stderr)
        return 2
    try:
        return _reshard_owned(fs, directory, arguments)
    finally:
        lock.release()


def _reshard_owned(fs: OsFileSystem, directory: str, arguments: argparse.Namespace) -> int:
    """Database 0 (the dir), then every `db-{n}/` with the same layout, as an open does; a
    committed SWAPDB is finished first (its temps in two dirs are data, not stale temps)."""
    try:
        recover_interrupted_swap(fs, directory)
        recorded = read_layout(fs, directory).layout
        routing = Routing(arguments.routing) if arguments.routing else (recorded.routing if recorded else Routing.KEVYHASH)
        requested = ShardLayout(arguments.shards, routing)
        numbers = sorted(number for number in map(parse_database_dir, fs.list_dir(directory)) if number)
        for number in [0, *numbers]:
            _reshard_one(fs, database_directory(directory, number), requested, "" if not number else f"database {number}: ")
    except (KevyError, ValueError) as error:
        print(f"kevy-persist reshard: {error}", file=sys.stderr)
        return 2
    return 0


def _reshard_one(fs: OsFileSystem, directory: str, requested: ShardLayout, label: str) -> None:
    report = reconcile_layout(fs, directory, requested, SystemClock(), progress=TerminalProgress.for_stderr())
    if report.recovery.outcome is InterruptedOutcome.ROLLED_FORWARD:
        print(f"{label}finished an interrupted re-shard to {report.recovery.journal.shard_count} shards")
    elif report.recovery.outcome is InterruptedOutcome.DISCARDED:
        print(f"{label}discarded an uncommitted re-shard attempt ({', '.join(report.recovery.removed)})")
    if report.reshard is not None:
        print(label + summary_line(report.reshard))
    elif report.found.source in (LayoutSource.FRESH, LayoutSource.LEGACY):
        write_layout(fs, directory, requested)
        print(f"{label}recorded the layout: {requested.shard_count} shards ({requested.routing.value})")
    else:
        print(f"{label}already {requested.shard_count} shards ({requested.routing.value}); nothing to do")
