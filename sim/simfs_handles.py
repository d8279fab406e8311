"""The open-file handles of `SimFileSystem` (the `ReadableFile` / `WritableFile` protocols).

Handles hold no state of their own beyond a position: every call goes back to the file
system, which numbers it as a step (so the explorer can cut there) and applies it to the
inode's live bytes and pending effects.
"""

from __future__ import annotations

import errno as errno_codes
import os
from typing import Protocol

from kevy_persist.errors import StorageIOError


class HandleBackend(Protocol):
    """What a handle asks of its file system (`SimFileSystem` is the one implementation)."""

    def step(self, operation: str, path: str) -> tuple[int, str]: ...

    def live_bytes(self, inode: int) -> bytearray: ...

    def check_read_fault(self, index: int, path: str) -> None: ...

    def handle_write(self, handle: SimWritableFile, data: bytes) -> None: ...

    def handle_fsync(self, handle: SimWritableFile) -> None: ...

    def handle_truncate(self, handle: SimWritableFile, size: int) -> None: ...

    def release_lock(self, path: str) -> None: ...


def _error(path: str, operation: str, code: int) -> StorageIOError:
    return StorageIOError(path, operation, code, os.strerror(code))


class SimReadableFile:
    def __init__(self, fs: HandleBackend, inode: int, path: str) -> None:
        self._fs = fs
        self._inode = inode
        self.path = path
        self._position = 0

    def read(self, size: int = -1) -> bytes:
        index, _ = self._fs.step("read", self.path)
        self._fs.check_read_fault(index, self.path)
        live = self._fs.live_bytes(self._inode)
        end = len(live) if size < 0 else self._position + size
        data = bytes(live[self._position:end])
        self._position += len(data)
        return data

    def seek(self, offset: int) -> None:
        self._fs.step("seek", self.path)
        if offset < 0:
            raise _error(self.path, "seek", errno_codes.EINVAL)
        self._position = offset

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        self._fs.step("close", self.path)


class SimWritableFile:
    def __init__(self, fs: HandleBackend, inode: int, path: str, *, append: bool) -> None:
        self._fs = fs
        self.inode = inode
        self.path = path
        self.append = append
        self.closed = False
        self.position = len(fs.live_bytes(inode))

    def write(self, data: bytes) -> None:
        self._fs.handle_write(self, data)

    def fsync(self) -> None:
        self._fs.handle_fsync(self)

    def truncate(self, size: int) -> None:
        self._fs.handle_truncate(self, size)

    def tell(self) -> int:
        return self.position

    def close(self) -> None:
        self._fs.step("close", self.path)
        self.closed = True


class SimFileLock:
    """A lock `SimFileSystem.lock` granted; `release` frees the path for the next `lock`."""

    def __init__(self, fs: HandleBackend, path: str) -> None:
        self._fs = fs
        self.path = path
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._fs.release_lock(self.path)
