"""Points in a shard's history, as its files record them (DESIGN §3).

A log's first record (its epoch marker) names the log's `LogIdentity`: its epoch and whether
it is the full state (`base`) or continues a snapshot (`incr`). A snapshot's trailer names the
`LogPosition` it covers: the byte offset in the log of one epoch up to which its content
reaches. The rules that pair them are `engine/history.py`.
"""

from __future__ import annotations

import enum

import attrs


class LogKind(enum.Enum):
    BASE = "base"  # the log alone is the full state
    INCREMENTAL = "incr"  # the log continues a snapshot


@attrs.frozen
class LogPosition:
    """A point in a shard's history: byte `offset` in the log of epoch `epoch`."""

    epoch: int
    offset: int


@attrs.frozen
class LogIdentity:
    """What a log's first record says about it; `None` for a legacy (kevy-written) log."""

    epoch: int
    kind: LogKind
