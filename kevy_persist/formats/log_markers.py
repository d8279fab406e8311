"""Marker records in a log: the epoch marker and the transaction brackets, in both formats.

A marker is a record that carries no command for the keyspace, only structure:

| marker           | format 2 (KEVYAOF2)               | format 1 (KEVYAOF1, kevy-readable)      |
|------------------|-----------------------------------|-----------------------------------------|
| epoch            | `\\0KEVYEPOCH <epoch> base|incr`    | `DEL "\\0KEVYEPOCH:<epoch>:base|incr"`   |
| transaction open | `\\0KEVYMULTI`                      | `DEL "\\0KEVYMULTI"`                     |
| transaction end  | `\\0KEVYEXEC`                       | `DEL "\\0KEVYEXEC"`                      |
| synced           | `\\0KEVYSYNCED <offset>`            | `DEL "\\0KEVYSYNCED:<offset>"`           |

The synced marker says that an fsync of this file completed covering bytes `[0, offset)`:
the writer puts it in front of the first append after such an fsync (`aof.LogWriter`), so a
hole in the log that a later synced marker claims as durable is damage, not a crash's lost
page (specs/aof-format.md, "Lost pages").

Format 2 uses command names no client can send. kevy 1.23 refuses unknown commands when it
replays a format-1 log, so there the markers are deletions of a reserved key: kevy applies a
no-op, and we read the structure. Keys starting with `\\0KEVY` are reserved: a client's DEL or
UNLINK naming one is refused (`names_reserved_key`), so no user command can forge a marker.
Either form is recognised in either format.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

RESERVED_KEY_PREFIX = b"\x00KEVY"
EPOCH_NAME = b"\x00KEVYEPOCH"
BEGIN_NAME = b"\x00KEVYMULTI"
COMMIT_NAME = b"\x00KEVYEXEC"
SYNCED_NAME = b"\x00KEVYSYNCED"
EPOCH_KINDS = ("base", "incr")
_DELETE_NAMES = (b"DEL", b"del")


@attrs.frozen
class EpochMarker:
    """Which history a log belongs to: `base` (full state) or `incr` (continues a snapshot)."""

    epoch: int
    kind: str

    def __attrs_post_init__(self) -> None:
        assert self.epoch >= 0, self.epoch
        assert self.kind in EPOCH_KINDS, self.kind


def epoch_marker_argv(marker: EpochMarker, format_version: int = 2) -> list[bytes]:
    if format_version == 1:
        return [b"DEL", b"%s:%d:%s" % (EPOCH_NAME, marker.epoch, marker.kind.encode())]
    return [EPOCH_NAME, str(marker.epoch).encode(), marker.kind.encode()]


def marker_name(argv: Sequence[bytes]) -> bytes | None:
    """The marker name an argv carries in either form (`EPOCH_NAME...`, `BEGIN_NAME`,
    `COMMIT_NAME`), or None for an ordinary command. Replay asks once per record."""
    if not argv:
        return None
    head = argv[0]
    if head.startswith(RESERVED_KEY_PREFIX):
        return head
    if len(argv) == 2 and head in _DELETE_NAMES and argv[1].startswith(RESERVED_KEY_PREFIX):
        return argv[1]
    return None


def is_epoch_marker(argv: Sequence[bytes]) -> bool:
    name = marker_name(argv)
    return name is not None and name.startswith(EPOCH_NAME)


def parse_epoch_marker(argv: Sequence[bytes]) -> EpochMarker | None:
    """The marker an argv holds; None when it is not one; ValueError when malformed."""
    name = marker_name(argv)
    if name is None or not name.startswith(EPOCH_NAME):
        return None
    fields = list(argv[1:]) if name is argv[0] else name[len(EPOCH_NAME) + 1 :].split(b":")
    if len(fields) != 2 or not fields[0].isdigit() or fields[1].decode("latin-1") not in EPOCH_KINDS:
        raise ValueError(f"malformed epoch marker {list(argv)!r}")
    return EpochMarker(int(fields[0]), fields[1].decode("latin-1"))


def synced_marker_argv(offset: int, format_version: int = 2) -> list[bytes]:
    """The record saying an fsync covered the file's bytes `[0, offset)`."""
    assert offset >= 0, offset
    if format_version == 1:
        return [b"DEL", b"%s:%d" % (SYNCED_NAME, offset)]
    return [SYNCED_NAME, b"%d" % offset]


def parse_synced_marker(argv: Sequence[bytes]) -> int | None:
    """The offset a synced marker claims durable; None for any other record (a malformed
    synced marker claims nothing: it cannot prove anything either way)."""
    name = marker_name(argv)
    if name is None or not name.startswith(SYNCED_NAME):
        return None
    if name is argv[0]:  # format 2: [name, offset]
        if name != SYNCED_NAME or len(argv) != 2:
            return None
        text = argv[1]
    else:  # format 1: DEL "<name>:<offset>"
        rest = name[len(SYNCED_NAME) :]
        if not rest.startswith(b":"):
            return None
        text = rest[1:]
    return int(text) if text.isdigit() and len(text) <= 19 else None


def transaction_begin_argv(format_version: int = 2) -> list[bytes]:
    return [b"DEL", BEGIN_NAME] if format_version == 1 else [BEGIN_NAME]


def transaction_commit_argv(format_version: int = 2) -> list[bytes]:
    return [b"DEL", COMMIT_NAME] if format_version == 1 else [COMMIT_NAME]


def is_transaction_begin(argv: Sequence[bytes]) -> bool:
    return marker_name(argv) == BEGIN_NAME


def is_transaction_commit(argv: Sequence[bytes]) -> bool:
    return marker_name(argv) == COMMIT_NAME


def names_reserved_key(argv: Sequence[bytes]) -> bool:
    """A client's DEL/UNLINK naming a reserved key (it could read back as a marker)."""
    return (
        len(argv) > 1
        and argv[0].upper() in (b"DEL", b"UNLINK")
        and any(key.startswith(RESERVED_KEY_PREFIX) for key in argv[1:])
    )
