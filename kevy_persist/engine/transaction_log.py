"""Crash-atomic transactions in the log: begin/commit brackets and their replay.

A transaction's records are written in one append between two marker records (begin and
commit; `log_markers.py` has one form per log format). Replay holds a block's commands back
until its commit marker; a block that the log ends inside (a crash cut it) is discarded, so a transaction is applied
entirely or not at all. The byte offset where an unterminated block starts is reported so the
shard can truncate the log there before appending: otherwise a later commit marker could close
the torn block and apply half of it.
"""

from __future__ import annotations

from collections.abc import Callable

from kevy_persist.formats.log_markers import (
    BEGIN_NAME,
    COMMIT_NAME,
    is_transaction_begin,
    is_transaction_commit,
    marker_name,
    transaction_begin_argv,
    transaction_commit_argv,
)


def is_transaction_marker(argv: list[bytes]) -> bool:
    return is_transaction_begin(argv) or is_transaction_commit(argv)


def bracket(argvs: list[list[bytes]], format_version: int = 2) -> list[list[bytes]]:
    """The records that log `argvs` atomically (a single command needs no brackets)."""
    if len(argvs) <= 1:
        return argvs
    return [transaction_begin_argv(format_version), *argvs, transaction_commit_argv(format_version)]


class TransactionReplayer:
    """Feeds log records to `apply`, holding each bracketed block back until it commits."""

    def __init__(self, apply: Callable[[list[bytes]], None]) -> None:
        self._apply = apply
        self._pending: list[list[bytes]] | None = None
        self.open_block_offset: int | None = None
        self.applied_count = 0

    def feed(self, offset: int, argv: list[bytes]) -> None:
        """One log record: a command, a bracket, or an epoch marker (ignored here)."""
        name = marker_name(argv)
        if name is None:
            if self._pending is not None:
                self._pending.append(argv)
            else:
                self._apply(argv)
                self.applied_count += 1
        elif name == BEGIN_NAME:
            # A begin inside an open block cannot come from our writer (a block is one
            # append); the earlier block was cut, so it is dropped like a torn tail.
            self._pending = []
            self.open_block_offset = offset
        elif name == COMMIT_NAME:
            if self._pending is not None:
                for command in self._pending:
                    self._apply(command)
                    self.applied_count += 1
            self._pending = None
            self.open_block_offset = None

    @property
    def discarded_commands(self) -> int:
        return len(self._pending) if self._pending is not None else 0
