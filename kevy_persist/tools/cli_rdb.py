"""`kevy-persist export-rdb` / `import-rdb`: the bridge between kevy data dirs and Redis RDB files.

    kevy-persist export-rdb DIR OUT.rdb [--compress]
        write every live key of every shard of every database of DIR, with its TTL, to
        OUT.rdb (RDB version 10, loadable by Redis 7.0 and later; SELECTDB per database); a
        durable replace of OUT.rdb. DIR is only read.
    kevy-persist import-rdb IN.rdb DIR [--shards N] [--routing kevyhash|slots] [--db N]
        build a new data dir DIR (empty or missing) from a Redis RDB file of version 6 to 10:
        database n of the file becomes DIR/db-n/ (0: DIR itself), or with --db N only that
        one, as database 0; each database all of it or, after a crash, none of it.

A progress bar is drawn on a terminal for large files; one summary line is printed. Exit
status: 0 done, 2 refused (a `KevyError`: a corrupt or unsupported file, a non-empty target,
a database past the 16 kevy keeps without --db...), with the error on stderr.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kevy_persist.disk.clock import SystemClock
from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.errors import KevyError
from kevy_persist.layout.meta import ShardLayout
from kevy_persist.layout.routing import Routing
from kevy_persist.reshard.progress import TerminalProgress
from kevy_persist.tools import rdb_export, rdb_import


def add_rdb_commands(subparsers: Any) -> None:
    """Register `export-rdb` and `import-rdb` on `kevy-persist`'s sub-command parser."""
    export_parser = subparsers.add_parser("export-rdb", help="write a data dir as a Redis RDB file")
    export_parser.add_argument("directory")
    export_parser.add_argument("output")
    export_parser.add_argument(
        "--compress", action="store_true", help="LZF-compress strings over 20 bytes (smaller, slower)"
    )
    export_parser.set_defaults(run=run_export)
    import_parser = subparsers.add_parser("import-rdb", help="build a new data dir from a Redis RDB file")
    import_parser.add_argument("input")
    import_parser.add_argument("directory")
    import_parser.add_argument("--shards", type=int, default=1, help="shard count of the new dir (default 1)")
    import_parser.add_argument(
        "--routing", choices=[routing.value for routing in Routing], default=Routing.KEVYHASH.value
    )
    import_parser.add_argument("--db", type=int, default=None, help="import only this database, as database 0 "
                               "(default: every database as itself)")
    import_parser.set_defaults(run=run_import)


def run_export(arguments: argparse.Namespace) -> int:
    try:
        report = rdb_export.export_rdb(
            OsFileSystem(), arguments.directory, arguments.output, SystemClock(),
            compress=arguments.compress, progress=TerminalProgress.for_stderr("exporting"),
        )
    except KevyError as error:
        print(f"kevy-persist export-rdb: {error}", file=sys.stderr)
        return 2
    print(rdb_export.summary_line(report))
    return 0


def run_import(arguments: argparse.Namespace) -> int:
    try:
        layout = ShardLayout(arguments.shards, Routing(arguments.routing))
        report = rdb_import.import_rdb(
            OsFileSystem(), arguments.input, arguments.directory, layout, SystemClock(),
            database=arguments.db, progress=TerminalProgress.for_stderr("importing"),
        )
    except (KevyError, ValueError) as error:
        print(f"kevy-persist import-rdb: {error}", file=sys.stderr)
        return 2
    print(rdb_import.summary_line(report))
    return 0
