"""Typed errors that carry their evidence.

One root class, `KevyError`. Callers branch on the class and its attributes (`path`,
`offset`, `reason`, ...), never on message text. Expected outcomes of a crash -- a torn log
tail, say -- are values in a report, not exceptions; these classes are for operating errors
(a corrupt file, a failed fsync, a refused layout) and for misuse of the API.
"""

from __future__ import annotations


class KevyError(Exception):
    """Root of every error raised by kevy."""


class CorruptionError(KevyError):
    """A file's bytes do not follow its format.

    `offset` is the byte offset in `path` where the damage was found.
    """

    def __init__(self, path: str, offset: int, reason: str) -> None:
        super().__init__(f"{path}: corrupt at byte {offset}: {reason}")
        self.path = path
        self.offset = offset
        self.reason = reason


class UnsupportedRecordError(CorruptionError):
    """A well-formed record of a kind this version cannot load (e.g. a stream)."""


class ChecksumMismatchError(CorruptionError):
    """A file's or payload's stored checksum differs from the one its bytes give."""


class UnsupportedVersionError(CorruptionError):
    """A file or payload of a format version this code does not read."""


class UnsupportedValueError(KevyError):
    """A stored value has no encoding in the format asked for (a stream in an RDB, say)."""

    def __init__(self, key: bytes, type_name: str, reason: str) -> None:
        super().__init__(f"key {key!r} ({type_name}): {reason}")
        self.key = key
        self.type_name = type_name
        self.reason = reason


class StorageIOError(KevyError):
    """The file system refused an operation (EIO, ENOSPC, ...)."""

    def __init__(self, path: str, operation: str, errno: int | None, reason: str) -> None:
        super().__init__(f"{path}: {operation} failed: {reason}")
        self.path = path
        self.operation = operation
        self.errno = errno
        self.reason = reason


class LayoutError(KevyError):
    """A data dir's layout cannot be used as it is (unknown routing tag, missing history...)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class HistoryGapError(LayoutError):
    """A snapshot and a log do not form a contiguous history; nothing is guessed."""


class WritesRefusedError(KevyError):
    """A shard stopped acknowledging writes after an fsync failure (Redis MISCONF)."""

    def __init__(self, shard_index: int, reason: str) -> None:
        super().__init__(
            f"MISCONF shard {shard_index} refuses writes: {reason}"
        )
        self.shard_index = shard_index
        self.reason = reason


class CommandError(KevyError):
    """A command answered with a Redis error reply; `message` is the whole reply text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StoreClosedError(KevyError):
    """The store was shut down; it accepts no more commands."""
