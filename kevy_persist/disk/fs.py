"""The one door to the disk: the `FileSystem` protocol.

Everything in the persistence core that touches storage receives a `FileSystem`; only
`fs_os.OsFileSystem` talks to the operating system, and `sim.simfs.SimFileSystem` models it
in memory for the crash simulator.

Durability contract (the one the simulator enforces):

- File data is durable only after `WritableFile.fsync()` returned.
- A name -- a new file, a rename, a remove -- is durable only after `fsync_dir(parent)`
  returned. Nothing fsyncs a directory behind the caller's back.
- `rename(source, target)` replaces `target` atomically for readers of the live system;
  after a crash either name may be what survives, per the crash profile.
- A failed `fsync` raises `StorageIOError` and must never be retried and trusted: the
  kernel may have dropped the dirty pages (see DESIGN §3, fsync failure).
- `lock(path)` is an exclusive advisory lock held by this open (LevelDB's `LOCK`, taken with
  `flock`): a second `lock` of the same path -- from another process, or another open in this
  one -- raises `LockHeldError` naming the holder's process id, which the holder wrote into
  the file. The lock is not on disk: it ends with `release()`, with the process, or with a
  crash (a crash image holds at most a stale `LOCK` file, which the next `lock` takes over).

Paths are plain `str`, joined with `/` (use `join`).
"""

from __future__ import annotations

from typing import Protocol

import attrs


def join(directory: str, name: str) -> str:
    """Join a directory and a file name with `/` (pure; no `os.path`)."""
    if not directory:
        return name
    return directory.rstrip("/") + "/" + name


def parent(path: str) -> str:
    """The directory holding `path` (`.` for a bare name)."""
    head, _, _ = path.rpartition("/")
    return head or ("/" if path.startswith("/") else ".")


def basename(path: str) -> str:
    return path.rpartition("/")[2]


class ReadableFile(Protocol):
    path: str

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes from the current position (all remaining for -1)."""

    def seek(self, offset: int) -> None:
        """Move to absolute byte `offset`."""

    def tell(self) -> int: ...

    def close(self) -> None: ...


class WritableFile(Protocol):
    path: str

    def write(self, data: bytes) -> None:
        """Write all of `data` at the end of what this handle wrote (or raise)."""

    def fsync(self) -> None:
        """Make every byte written so far durable (or raise StorageIOError)."""

    def truncate(self, size: int) -> None:
        """Cut the file to `size` bytes; later writes go at the new end."""

    def tell(self) -> int:
        """The file size as this handle sees it (the next write's offset)."""

    def close(self) -> None: ...


class FileLock(Protocol):
    path: str

    def release(self) -> None:
        """Give the lock up (idempotent)."""


@attrs.frozen
class LockProbe:
    """What `FileSystem.probe_lock` saw: is the lock held, and by which process."""

    held: bool
    holder_pid: int | None = None


def parse_holder_pid(data: bytes) -> int | None:
    """The process id a lock holder wrote (`"<pid>\\n"`), or None when it is not one."""
    text = data.strip()
    return int(text) if text.isdigit() and len(text) <= 10 else None


class FileSystem(Protocol):
    def open_read(self, path: str) -> ReadableFile: ...

    def open_write(self, path: str) -> WritableFile:
        """Create or truncate `path` and open it for writing."""

    def open_append(self, path: str) -> WritableFile:
        """Open `path` for appending, creating it empty when missing."""

    def read_bytes(self, path: str) -> bytes:
        """The whole content of a (small) file."""

    def rename(self, source: str, target: str) -> None: ...

    def remove(self, path: str) -> None: ...

    def list_dir(self, path: str) -> list[str]:
        """Names (not paths) in directory `path`, sorted."""

    def exists(self, path: str) -> bool: ...

    def size(self, path: str) -> int: ...

    def make_dirs(self, path: str) -> None:
        """Create `path` and missing parents (no error if it exists)."""

    def fsync_dir(self, path: str) -> None:
        """Make the names in directory `path` durable."""

    def lock(self, path: str) -> FileLock:
        """Take the exclusive lock on `path` (created when missing) and write this process's
        id into it; raise `LockHeldError` (with the holder's id) when someone holds it."""

    def probe_lock(self, path: str) -> LockProbe:
        """Whether someone holds the lock on `path`, without taking it or writing anything."""
