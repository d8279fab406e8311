"""`kevy-persist`: file tools for kevy data dirs.

    kevy-persist dump DIR [--shards N] [--routing kevyhash|slots]
        print the logical keyspace as JSON (the fixtures' expected.json shape, plus
        deadline_ms per key); read-only.
    kevy-persist check DIR [--json]
        verify every file (layout, snapshots, logs, history pairing, key routing) and print
        what was found; exit status 1 on damage, 0 when clean. Read-only.
    kevy-persist reshard ... / export-rdb ... / import-rdb ...
        see `cli_reshard.py` and `cli_rdb.py`.

Both read a dir another process owns (a live server) as it is at that moment, and say so on
stderr: they never take the dir's lock, so they never stop a server from starting.

Exit status 2 means the command could not run (bad arguments, a path that is not a data
dir, unreadable layout).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from kevy_persist.disk.clock import SystemClock
from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.engine.integrity import check_data_dir
from kevy_persist.engine.shard_opening import load_shard_read_only
from kevy_persist.errors import KevyError
from kevy_persist.layout.databases import parse_database_dir
from kevy_persist.layout.meta import LayoutSource, ShardLayout, read_layout
from kevy_persist.layout.ownership import current_owner, describe_owner
from kevy_persist.layout.routing import Routing
from kevy_persist.reshard.swapdb import database_directory
from kevy_persist.tools.logical_dump import render_entries


def resolve_layout(directory: str, shards: int | None, routing: str | None) -> ShardLayout:
    """The layout to read `directory` with: the recorded one, or the options for a dir
    without `shards.meta`. Options contradicting a recorded layout are refused."""
    reading = read_layout(OsFileSystem(), directory)
    recorded = reading.layout
    wanted = ShardLayout(
        shards if shards is not None else (recorded.shard_count if recorded else 1),
        Routing(routing) if routing is not None else (recorded.routing if recorded else Routing.KEVYHASH),
    )
    if reading.source is LayoutSource.META and recorded != wanted:
        raise KevyError(
            f"{directory}: shards.meta records {recorded.shard_count} shards by "
            f"{recorded.routing.value}, not {wanted.shard_count} by {wanted.routing.value}"
        )
    return wanted


def dump(directory: str, shards: int | None, routing: str | None, now_ms: int | None = None) -> dict[str, Any]:
    """The logical content at `now_ms` (default: now). Replay runs at that time too, so a
    kevy 1.23 log that holds `XADD key * ...` (it logs `*` as sent) gets its ID from it."""
    layout = resolve_layout(directory, shards, routing)
    if now_ms is None:
        now_ms = SystemClock().now_ms()
    entries = []
    for index in range(layout.shard_count):
        reading = load_shard_read_only(OsFileSystem(), directory, index, now_ms)
        entries.extend(
            entry for entry in reading.keyspace.iter_entries() if entry[3] is None or entry[3] > now_ms
        )
    rendered = render_entries(entries)
    result = {"routing": layout.routing.value, "shards": layout.shard_count, **rendered}
    others = _database_dirs(directory)
    if others:  # a dir that never used another database dumps exactly as before
        result["databases"] = {
            str(number): {"keys": dump(database_directory(directory, number), layout.shard_count,
                                       layout.routing.value, now_ms)["keys"]}
            for number in others
        }
    return result


def _database_dirs(directory: str) -> list[int]:
    """The numbers of the `db-{n}/` dirs (databases 1..) that `directory` holds."""
    return sorted(number for number in map(parse_database_dir, OsFileSystem().list_dir(directory)) if number)


def check_every_database(directory: str) -> tuple[bool, str, dict[str, Any]]:
    """`check` of the dir and of each `db-{n}/` in it: (damaged, text, JSON)."""
    report = check_data_dir(OsFileSystem(), directory)
    damaged, text, as_json = report.damaged, report.as_text(), report.as_json()
    others = _database_dirs(directory)
    if others:
        as_json["databases"] = {}
    for number in others:
        other = check_data_dir(OsFileSystem(), database_directory(directory, number))
        damaged = damaged or other.damaged
        text += f"database {number}:\n" + other.as_text()
        as_json["databases"][str(number)] = other.as_json()
    return damaged, text, as_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kevy-persist", description="kevy data-dir tools")
    commands = parser.add_subparsers(dest="command", required=True)
    dump_parser = commands.add_parser("dump", help="print the logical keyspace as JSON")
    dump_parser.add_argument("directory")
    dump_parser.add_argument("--shards", type=int)
    dump_parser.add_argument("--routing", choices=[routing.value for routing in Routing])
    check_parser = commands.add_parser("check", help="verify every file of a data dir")
    check_parser.add_argument("directory")
    check_parser.add_argument("--json", action="store_true", help="machine-readable report")
    _add_optional_commands(commands)
    arguments = parser.parse_args(argv)
    try:
        if arguments.command in ("dump", "check"):
            _require_directory(arguments.directory)
            owner = current_owner(OsFileSystem(), arguments.directory)
            if owner.held:
                print(f"kevy-persist: note: {describe_owner(arguments.directory, owner)}", file=sys.stderr)
        if arguments.command == "dump":
            json.dump(dump(arguments.directory, arguments.shards, arguments.routing), sys.stdout, indent=1)
            sys.stdout.write("\n")
            return 0
        if arguments.command == "check":
            damaged, text, as_json = check_every_database(arguments.directory)
            if arguments.json:
                json.dump(as_json, sys.stdout, indent=1)
                sys.stdout.write("\n")
            else:
                sys.stdout.write(text)
            return 1 if damaged else 0
        return arguments.run(arguments)
    except KevyError as error:
        print(f"kevy-persist: {error}", file=sys.stderr)
        return 2


def _require_directory(path: str) -> None:
    """Refuse a path that is not a directory: reading it as an empty data dir would print a
    clean, empty result for a typo."""
    file_system = OsFileSystem()
    if not file_system.exists(path):
        raise KevyError(f"{path}: no such data dir")
    try:
        file_system.list_dir(path)
    except KevyError as error:
        raise KevyError(f"{path}: not a data dir ({error})") from error


def _add_optional_commands(commands: Any) -> None:
    """Sub-commands contributed by other modules (re-shard, RDB export and import)."""
    from kevy_persist.tools.cli_rdb import add_rdb_commands
    from kevy_persist.tools.cli_reshard import add_reshard_command

    add_reshard_command(commands)
    add_rdb_commands(commands)


if __name__ == "__main__":
    sys.exit(main())
