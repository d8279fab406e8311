"""Names in a kevy data dir, and the re-shard journal's text: pure logic, no I/O.

Every name a data dir may hold, as the Rust kevy 1.23 spells it (facts in
`specs/layout.md`):

    dump-{i}.rdb                         shard i's snapshot
    aof-{i}.aof                          shard i's log
    shards.meta                          the layout record (`meta.py`)
    shards.meta.tmp                      our durable-replace temp for it (kevy has none)
    dump-{i}.rdb.tmp, aof-{i}.aof.tmp    our durable-replace temps of a save or rewrite
    reshard.journal                      a re-shard's commit record
    dump-{i}.rdb.reshard                 a re-shard's new snapshot, before the commit
    {source}.premigration.{stamp}        a re-shard's backup of an old file (stamp: unix ns)
    aof-{i}.aof.corrupt-quarantine.{s}   our quarantined torn/corrupt log tail (unix s)
    aof-{i}.aof.panic-quarantine.{s}     kevy's name for the same thing (recognised)

Shard indexes in names are parsed the way kevy parses them (Rust's unsigned integer
parser: ASCII digits, optional leading `+`, leading zeros allowed), because the legacy
shard count must come out the same as kevy's.
"""

from __future__ import annotations

import enum
import re

import attrs

from kevy_persist.layout.routing import Routing

SHARDS_META_NAME = "shards.meta"
SHARDS_META_TEMP_NAME = "shards.meta.tmp"
RESHARD_JOURNAL_NAME = "reshard.journal"
RESHARD_JOURNAL_HEADER = "kevy-reshard-journal v1"

_RESHARD_SUFFIX = ".reshard"
_TEMP_SUFFIX = ".tmp"
_PREMIGRATION_MARK = ".premigration."
_QUARANTINE_MARK = ".corrupt-quarantine."
_KEVY_QUARANTINE_MARK = ".panic-quarantine."

_RUST_UNSIGNED = re.compile(r"\+?[0-9]+")
_DIGITS = re.compile(r"[0-9]+")
# Rust's `char::is_whitespace` set (Unicode White_Space), which `str::trim` strips.
_RUST_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def parse_rust_unsigned(text: str, bits: int) -> int | None:
    """`text.parse::<u{bits}>().ok()` in Rust: None unless `+`? ASCII digits, in range."""
    if not _RUST_UNSIGNED.fullmatch(text):
        return None
    value = int(text.lstrip("+"))
    return value if value < 1 << bits else None


def rust_lines(text: str) -> list[str]:
    """Rust's `str::lines`: split on LF, drop one trailing CR per line, no final empty line."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def rust_trim(text: str) -> str:
    """Rust's `str::trim` (Unicode White_Space on both ends)."""
    return text.strip(_RUST_WHITESPACE)


def _check_index(index: int) -> None:
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise ValueError(f"shard index must be a non-negative int, not {index!r}")


def snapshot_name(index: int) -> str:
    _check_index(index)
    return f"dump-{index}.rdb"


def log_name(index: int) -> str:
    _check_index(index)
    return f"aof-{index}.aof"


def reshard_temp_name(index: int) -> str:
    """Where a re-shard writes new shard `index`'s snapshot before the journal commits."""
    return snapshot_name(index) + _RESHARD_SUFFIX


def premigration_name(source_name: str, stamp_ns: int) -> str:
    """The backup name a committed re-shard renames an old-layout file to."""
    assert "/" not in source_name
    assert stamp_ns >= 0
    return f"{source_name}{_PREMIGRATION_MARK}{stamp_ns}"


def quarantine_name(index: int, stamp_seconds: int) -> str:
    """Where a log's damaged tail is copied before the log is truncated."""
    assert stamp_seconds >= 0
    return f"{log_name(index)}{_QUARANTINE_MARK}{stamp_seconds}"


class FileRole(enum.Enum):
    SNAPSHOT = "snapshot"
    LOG = "log"
    SHARDS_META = "shards-meta"
    SHARDS_META_TEMP = "shards-meta-temp"
    RESHARD_JOURNAL = "reshard-journal"
    RESHARD_TEMP = "reshard-temp"
    TEMP = "temp"  # a save's or rewrite's `.tmp`: never read, stale once nobody owns the dir
    PREMIGRATION_BACKUP = "premigration-backup"
    QUARANTINE = "quarantine"
    OTHER = "other"


@attrs.frozen
class NamedFile:
    """A file name and what it is; `shard_index` for per-shard roles, `stamp` for backups."""

    name: str
    role: FileRole
    shard_index: int | None = None
    stamp: int | None = None


def _shard_index(name: str, prefix: str, suffix: str) -> int | None:
    if not (name.startswith(prefix) and name.endswith(suffix)):
        return None
    if len(name) < len(prefix) + len(suffix):
        return None
    return parse_rust_unsigned(name[len(prefix) : len(name) - len(suffix)], bits=64)


def classify(name: str) -> NamedFile:
    """What `name` (a bare file name) is in a data dir."""
    if name == SHARDS_META_NAME:
        return NamedFile(name, FileRole.SHARDS_META)
    if name == SHARDS_META_TEMP_NAME:
        return NamedFile(name, FileRole.SHARDS_META_TEMP)
    if name == RESHARD_JOURNAL_NAME:
        return NamedFile(name, FileRole.RESHARD_JOURNAL)
    index = _shard_index(name, "dump-", ".rdb")
    if index is not None:
        return NamedFile(name, FileRole.SNAPSHOT, index)
    index = _shard_index(name, "aof-", ".aof")
    if index is not None:
        return NamedFile(name, FileRole.LOG, index)
    index = _shard_index(name, "dump-", ".rdb" + _RESHARD_SUFFIX)
    if index is not None:
        return NamedFile(name, FileRole.RESHARD_TEMP, index)
    if name.endswith(_TEMP_SUFFIX):
        source = classify(name[: -len(_TEMP_SUFFIX)])
        if source.role in (FileRole.SNAPSHOT, FileRole.LOG):
            return NamedFile(name, FileRole.TEMP, source.shard_index)
    for mark, role in (
        (_PREMIGRATION_MARK, FileRole.PREMIGRATION_BACKUP),
        (_QUARANTINE_MARK, FileRole.QUARANTINE),
        (_KEVY_QUARANTINE_MARK, FileRole.QUARANTINE),
    ):
        source, found, stamp_text = name.rpartition(mark)
        if found and _DIGITS.fullmatch(stamp_text):
            source_role = classify(source)
            if source_role.role in (FileRole.SNAPSHOT, FileRole.LOG):
                return NamedFile(name, role, source_role.shard_index, int(stamp_text))
    return NamedFile(name, FileRole.OTHER)


@attrs.frozen
class ReshardJournal:
    """kevy's re-shard commit record: written durably at the commit point.

    `stamp_ns` names the `.premigration.` backups; `previous_shard_count` is the old
    layout's count; the target layout is (`shard_count`, `routing`).
    """

    stamp_ns: int
    previous_shard_count: int
    shard_count: int
    routing: Routing


def encode_reshard_journal(journal: ReshardJournal) -> bytes:
    """kevy 1.23's journal text; `routing=` is last, so any torn prefix fails to decode."""
    text = (
        f"{RESHARD_JOURNAL_HEADER}\nstamp={journal.stamp_ns}\n"
        f"prev_n={journal.previous_shard_count}\nn={journal.shard_count}\n"
        f"routing={journal.routing.value}\n"
    )
    return text.encode("ascii")


def decode_reshard_journal(data: bytes) -> ReshardJournal | None:
    """The journal, or None when it is torn or foreign (kevy then discards it).

    Mirrors kevy's `parse_journal`: the first line must be the header; every later line
    must be `key=value` with a known key (the last of a repeated key wins); all four
    fields must parse. Values are not trimmed.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = rust_lines(text)
    if not lines or lines[0] != RESHARD_JOURNAL_HEADER:
        return None
    fields: dict[str, int | Routing | None] = {}
    for line in lines[1:]:
        key, found, value = line.partition("=")
        if not found:
            return None
        if key == "stamp":
            fields[key] = parse_rust_unsigned(value, bits=128)
        elif key in ("prev_n", "n"):
            fields[key] = parse_rust_unsigned(value, bits=64)
        elif key == "routing":
            fields[key] = Routing(value) if value in ("kevyhash", "slots") else None
        else:
            return None
    values = [fields.get(key) for key in ("stamp", "prev_n", "n", "routing")]
    if any(value is None for value in values):
        return None
    stamp_ns, previous_shard_count, shard_count, routing = values
    return ReshardJournal(stamp_ns, previous_shard_count, shard_count, routing)
