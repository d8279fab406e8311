"""`import-rdb`: a new kevy data dir built from a Redis RDB file (versions 6 to 10).

The file is read whole and decoded (`formats.rdb_decode`: every encoding Redis 7.0 writes,
typed errors naming path, offset and reason for anything else) before anything is written.
Then, as Redis does when it loads: keys whose deadline has passed are dropped, empty
collections (older Redis versions wrote some) are skipped, FUNCTION2 libraries are not loaded
(kevy runs no functions) -- each counted in the report. Every database of the file is
imported as itself (database n into `DIR/db-{n}/`; one past the `databases` count is
refused), or with `database` only that one, as database 0 (the others counted as skipped). Keys starting with `\\0KEVY` (reserved for kevy's log
markers) are refused.

Every key is routed by the target layout and each database's shards are written by
`reshard.fresh_install` in one commit: the directory must be empty (or missing), and after
any crash each database holds all of its keys or none of them (database 0 is installed
first, then the others in number order: a crash between two leaves the later ones out, and
the next import into that dir is refused as not empty). Deadlines stay absolute unix ms.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from itertools import compress, repeat
from operator import is_, is_not, itemgetter, methodcaller
from typing import Any

import attrs

from kevy_persist.disk.clock import Clock
from kevy_persist.disk.fs import FileSystem
from kevy_persist.errors import KevyError, LayoutError
from kevy_persist.formats.log_markers import RESERVED_KEY_PREFIX
from kevy_persist.formats.rdb_decode import DecodedRdb, Record, decode_rdb
from kevy_persist.formats.records import ValueKind
from kevy_persist.layout.databases import DEFAULT_DATABASE_COUNT
from kevy_persist.layout.meta import ShardLayout
from kevy_persist.layout.routing import router_for
from kevy_persist.reshard.fresh_install import install_fresh_layout
from kevy_persist.reshard.protocol import PhaseListener
from kevy_persist.reshard.swapdb import database_directory

ProgressCallback = Callable[[int, int], None]


@attrs.frozen
class ImportReport:
    path: str
    directory: str
    layout: ShardLayout
    rdb_version: int
    database: int | None  # the one imported (`--db N`), None: every database as itself
    key_count: int
    keys_per_shard: tuple[int, ...]
    expires_count: int
    skipped_expired: int
    skipped_empty: int
    skipped_other_databases: dict[int, int]
    skipped_functions: int
    source_bytes: int
    written_bytes: int
    elapsed_ms: int


def _choose_databases(decoded: DecodedRdb, path: str, database: int | None,
                      database_count: int) -> tuple[dict[int, int], dict[int, int]]:
    """{RDB database: kevy database} to import, and the skipped ones' key counts: every
    database as itself (None), or the one `database` names as database 0 (`--db N`)."""
    counts = {index: len(records) for index, records in decoded.databases.items()}
    if database is not None:
        return {database: 0}, {index: count for index, count in counts.items() if index != database}
    beyond = sorted(index for index in counts if index >= database_count)
    if beyond:
        raise KevyError(f"{path}: keys in database {beyond[0]}, beyond the {database_count} databases kevy "
                        "keeps; choose the one to import with --db N")
    return {index: index for index in sorted(set(counts) | {0})}, {}


def route_records(records: list[Record], layout: ShardLayout, now_ms: int, path: str) -> tuple[list[list[Any]], int, int]:
    """Per-shard entries of the live records; with the expired count and the TTL count.

    Entries are the decoder's tuples themselves (the snapshot encoder takes them as they
    are), except sorted sets, whose (member, score) pairs become a dict (it wants `items()`).
    The common cases run at C speed: the key scan for the reserved prefix, the pick of the
    records with a deadline, and routing through `Router.shard_indexes`.
    """
    prefix = RESERVED_KEY_PREFIX
    keys = list(map(itemgetter(0), records))
    if any(map(methodcaller("startswith", prefix), keys)):
        reserved = next(key for key in keys if key.startswith(prefix))
        raise KevyError(f"{path}: key {reserved[:64]!r} starts with \\0KEVY, which kevy reserves for log markers")
    with_deadline = list(compress(records, map(is_not, map(itemgetter(3), records), repeat(None))))
    expired = {record[0] for record in with_deadline if record[3] <= now_ms}
    live = records
    if expired:
        live = [record for record in records if record[0] not in expired]
        keys = list(map(itemgetter(0), live))
    if any(map(is_, map(itemgetter(1), live), repeat(ValueKind.ZSET))):
        live = [
            (record[0], record[1], dict(record[2]), record[3]) if record[1] is ValueKind.ZSET else record
            for record in live
        ]
    shards: list[list[Any]]
    if layout.shard_count == 1:
        shards = [live]
    else:
        shards = [[] for _ in range(layout.shard_count)]
        appends = [shard.append for shard in shards]
        for index, record in zip(router_for(layout.shard_count, layout.routing).shard_indexes(keys), live):
            appends[index](record)
    return shards, len(expired), len(with_deadline) - len(expired)


def import_rdb(
    fs: FileSystem,
    rdb_path: str,
    directory: str,
    layout: ShardLayout,
    clock: Clock,
    *,
    database: int | None = None,
    database_count: int = DEFAULT_DATABASE_COUNT,
    progress: ProgressCallback | None = None,
    listener: PhaseListener | None = None,
) -> ImportReport:
    """Build `directory` from the RDB at `rdb_path` (module docstring)."""
    started_ms = clock.monotonic_ms()
    if fs.exists(directory) and fs.list_dir(directory):
        # Refused before the (long) decode too; the install checks again, after recovery.
        raise LayoutError(directory, "not empty: a new data dir is built only in an empty one")
    data = fs.read_bytes(rdb_path)
    total = len(data)
    # The bar's first half is the decode (by bytes read), the second the shards written.
    decode_progress = None if progress is None else (lambda done, _: progress(done // 2, total))
    decoded = decode_rdb(data, rdb_path, progress=decode_progress)
    chosen, skipped_databases = _choose_databases(decoded, rdb_path, database, database_count)
    # The records hold no reference cycles: a collection pass over a million of them while
    # they are routed and written would find nothing, so the collector waits.
    collector_was_enabled = gc.isenabled()
    gc.disable()
    keys_per_shard = [0] * layout.shard_count
    expired = expires = written_bytes = 0
    try:
        routed = {}
        for source, target in chosen.items():
            routed[target] = route_records(decoded.databases.get(source, []), layout, clock.now_ms(), rdb_path)
        version, empty, functions = decoded.version, decoded.empty_keys_skipped, len(decoded.functions)
        del decoded
        shard_written = None if progress is None else (
            lambda index: progress(total // 2 + total * (index + 1) // (2 * layout.shard_count), total))
        # Database 0 first (its install needs the dir empty), then each other one in its
        # `db-{n}/`: every database is installed in one commit of its own.
        for target in sorted(routed):
            shards, dropped, with_ttl = routed.pop(target)
            install = install_fresh_layout(fs, database_directory(directory, target), layout, shards, clock,
                                           listener=listener if target == 0 else None,
                                           shard_written=shard_written if target == 0 else None)
            written_bytes += install.written_bytes
            expired += dropped
            expires += with_ttl
            for index, shard in enumerate(shards):
                keys_per_shard[index] += len(shard)
    finally:
        if collector_was_enabled:
            gc.enable()
    if progress is not None:
        progress(total, total)
    return ImportReport(
        path=rdb_path,
        directory=directory,
        layout=layout,
        rdb_version=version,
        database=min(chosen) if len(chosen) == 1 else None,
        key_count=sum(keys_per_shard),
        keys_per_shard=tuple(keys_per_shard),
        expires_count=expires,
        skipped_expired=expired,
        skipped_empty=empty,
        skipped_other_databases=skipped_databases,
        skipped_functions=functions,
        source_bytes=len(data),
        written_bytes=written_bytes,
        elapsed_ms=clock.monotonic_ms() - started_ms,
    )


def _which(report: ImportReport) -> str:
    return "every database" if report.database is None else f"database {report.database}"


def summary_line(report: ImportReport) -> str:
    skipped = [
        f"{count} {what}"
        for count, what in (
            (report.skipped_expired, "expired"),
            (report.skipped_empty, "empty"),
            (sum(report.skipped_other_databases.values()), "in other databases"),
            (report.skipped_functions, "function libraries (not loaded)"),
        )
        if count
    ]
    return (
        f"imported {report.key_count} keys ({report.expires_count} with a TTL) from {report.path} "
        f"(RDB {report.rdb_version}, {_which(report)}) into {report.directory}: "
        f"{report.layout.shard_count} shard{'s' if report.layout.shard_count != 1 else ''} ({report.layout.routing.value}), {report.written_bytes} bytes "
        f"in {report.elapsed_ms} ms" + (f"; skipped {', '.join(skipped)}" if skipped else "")
    )
