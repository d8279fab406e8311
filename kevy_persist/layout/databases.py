"""Numbered databases in a data dir, and the two journals that change two of them: pure logic.

Database 0 is the data dir itself, exactly as kevy 1.23 lays it out (so a dir that never used
another database is byte for byte a kevy 1.23 dir). Database `n` (1 <= n < 16 by default) is
a complete data dir of the same format in the subdirectory `db-{n}/`, with the same shard
layout; it exists once something was written to it (specs/layout.md, section 7).

Two operations change two databases' files, and each has a journal in the root dir:

    swapdb.journal   SWAPDB's commit record (`SwapJournal`): once it is durable the swap is
                     rolled forward at the next open (reshard/swapdb.py)
    move.journal     MOVE's intent (`MoveJournal`): written before the key is copied to the
                     target database; recovery deletes the key from the source database when
                     the target holds it (store/databases.py)

Both are short ASCII texts ending in a `crc=` line (CRC-32C of every byte before that line),
so a torn or partly garbage journal decodes to None instead of to another valid journal.
"""

from __future__ import annotations

import re

import attrs

from kevy_persist.formats.crc import crc32c
from kevy_persist.layout.routing import Routing

DATABASE_DIR_PREFIX = "db-"
DEFAULT_DATABASE_COUNT = 16
MAX_DATABASE_COUNT = 1024
SWAP_JOURNAL_NAME = "swapdb.journal"
MOVE_JOURNAL_NAME = "move.journal"
SWAP_JOURNAL_HEADER = "kevy-swapdb-journal v1"
MOVE_JOURNAL_HEADER = "kevy-move-journal v1"
# Far above what either journal holds (a MOVE journal holds its key in hex: 2 bytes per byte).
MAX_JOURNAL_BYTES = 1 << 30

_CANONICAL = re.compile(r"[1-9][0-9]{0,9}")


def database_dir_name(database: int) -> str:
    """The subdirectory of database `database` (>= 1; database 0 is the dir itself)."""
    assert isinstance(database, int) and database >= 1, database
    return f"{DATABASE_DIR_PREFIX}{database}"


def parse_database_dir(name: str) -> int | None:
    """The database a root-dir entry named `name` holds, or None (only `db-{n}`, n >= 1,
    canonical decimal: `db-01` is not a database dir and is never opened)."""
    if not name.startswith(DATABASE_DIR_PREFIX):
        return None
    digits = name[len(DATABASE_DIR_PREFIX):]
    return int(digits) if _CANONICAL.fullmatch(digits) else None


@attrs.frozen
class SwapJournal:
    """SWAPDB's commit record: databases `first` and `second` (first < second) exchange
    their content; `stamp_ns` names the re-shard-style backups, (shard_count, routing) is the
    layout every database shares."""

    stamp_ns: int
    first: int
    second: int
    shard_count: int
    routing: Routing


@attrs.frozen
class MoveJournal:
    """MOVE's intent: `key` goes from database `source` to database `target`."""

    source: int
    target: int
    key: bytes


def _seal(lines: list[str]) -> bytes:
    body = "".join(line + "\n" for line in lines).encode("ascii")
    return body + f"crc={crc32c(body):08x}\n".encode("ascii")


def _unseal(data: bytes, header: str) -> dict[str, str] | None:
    """The key=value fields of a sealed journal, or None when torn, damaged or foreign."""
    body, found, tail = data.rpartition(b"crc=")
    if not found or not tail.endswith(b"\n") or (body and not body.endswith(b"\n")):
        return None
    try:
        checksum = int(tail[:-1].decode("ascii"), 16)
        text = body.decode("ascii")
    except (UnicodeDecodeError, ValueError):
        return None
    if len(tail) != 9 or checksum != crc32c(body):
        return None
    lines = text.split("\n")[:-1]
    if not lines or lines[0] != header:
        return None
    fields = {}
    for line in lines[1:]:
        key, separator, value = line.partition("=")
        if not separator or key in fields:
            return None
        fields[key] = value
    return fields


def encode_swap_journal(journal: SwapJournal) -> bytes:
    return _seal([
        SWAP_JOURNAL_HEADER, f"stamp={journal.stamp_ns}", f"first={journal.first}", f"second={journal.second}",
        f"n={journal.shard_count}", f"routing={journal.routing.value}",
    ])


def decode_swap_journal(data: bytes) -> SwapJournal | None:
    fields = _unseal(data, SWAP_JOURNAL_HEADER)
    if fields is None or set(fields) != {"stamp", "first", "second", "n", "routing"}:
        return None
    if fields["routing"] not in ("kevyhash", "slots"):
        return None
    try:
        stamp, first, second, count = (int(fields[name]) for name in ("stamp", "first", "second", "n"))
    except ValueError:
        return None
    if stamp < 0 or not 0 <= first < second or count < 1:
        return None
    return SwapJournal(stamp, first, second, count, Routing(fields["routing"]))


def encode_move_journal(journal: MoveJournal) -> bytes:
    return _seal([MOVE_JOURNAL_HEADER, f"source={journal.source}", f"target={journal.target}",
                  f"key={journal.key.hex()}"])


def decode_move_journal(data: bytes) -> MoveJournal | None:
    fields = _unseal(data, MOVE_JOURNAL_HEADER)
    if fields is None or set(fields) != {"source", "target", "key"}:
        return None
    try:
        source, target, key = int(fields["source"]), int(fields["target"]), bytes.fromhex(fields["key"])
    except ValueError:
        return None
    if source < 0 or target < 0 or source == target:
        return None
    return MoveJournal(source, target, key)
