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


class QuarantineError(StorageIOError):
    """Opening could not copy a log's damaged tail aside (a full disk, say), so it refused to
    truncate the log: nothing was changed, and no partial copy was left.

    `offset` is where the tail starts in `path`, `needed_bytes` its size (the free space the
    copy needs), `quarantine_path` the copy that was attempted, `cause` the underlying error.
    """

    def __init__(self, path: str, offset: int, needed_bytes: int, quarantine_path: str,
                 cause: StorageIOError) -> None:
        reason = (
            f"cannot copy its damaged tail ({needed_bytes} bytes from byte {offset}) aside to "
            f"{quarantine_path} before cutting it ({cause.reason}); free at least "
            f"{needed_bytes} bytes on that file system and open again (the log was not changed)"
        )
        super().__init__(path, "quarantine", cause.errno, reason)
        self.offset = offset
        self.needed_bytes = needed_bytes
        self.quarantine_path = quarantine_path
        self.cause = cause


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


class LockHeldError(KevyError):
    """Another holder has the exclusive lock on `path` (`FileSystem.lock`).

    `holder_pid` is the process id the holder wrote into the file (None when unreadable).
    """

    def __init__(self, path: str, holder_pid: int | None, message: str | None = None) -> None:
        holder = f"process {holder_pid}" if holder_pid is not None else "another process (pid unknown)"
        super().__init__(message or f"{path}: locked by {holder}")
        self.path = path
        self.holder_pid = holder_pid


class DataDirInUseError(LockHeldError):
    """A data dir is open in another store or process: its `LOCK` is held.

    Two owners of one data dir would append to the same logs and replace each other's files
    (a re-shard under a live server loses the writes it acknowledges next), so the second
    owner is refused. `directory` is the data dir, `path` its LOCK file.
    """

    def __init__(self, directory: str, path: str, holder_pid: int | None, reason: str | None = None) -> None:
        holder = f"process {holder_pid}" if holder_pid is not None else "another process (pid unknown)"
        if reason is None:
            reason = f"data dir in use by {holder}, which holds {path}; refusing a second owner (stop the other one first)"
        super().__init__(path, holder_pid, f"{directory}: {reason}")
        self.directory = directory


class CommandError(KevyError):
    """A command answered with a Redis error reply; `message` is the whole reply text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StoreClosedError(KevyError):
    """The store was shut down; it accepts no more commands."""
