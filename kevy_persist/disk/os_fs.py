"""The real file system: the only module of the core that imports `os`.

Every failure is re-raised as `StorageIOError` naming the path and the operation, so the
core never sees a bare `OSError`.
"""

from __future__ import annotations

import contextlib
import errno as errno_codes
import fcntl
import os
from collections.abc import Iterator

from kevy_persist.disk.fs import LockProbe, parse_holder_pid
from kevy_persist.errors import LockHeldError, StorageIOError


@contextlib.contextmanager
def _evidence(path: str, operation: str) -> Iterator[None]:
    try:
        yield
    except OSError as error:
        raise StorageIOError(path, operation, error.errno, error.strerror or str(error)) from error


class OsReadableFile:
    def __init__(self, path: str) -> None:
        self.path = path
        with _evidence(path, "open"):
            self._handle = open(path, "rb", buffering=1 << 16)

    def read(self, size: int = -1) -> bytes:
        with _evidence(self.path, "read"):
            return self._handle.read(size)

    def seek(self, offset: int) -> None:
        with _evidence(self.path, "seek"):
            self._handle.seek(offset)

    def tell(self) -> int:
        return self._handle.tell()

    def close(self) -> None:
        self._handle.close()


class OsWritableFile:
    """Unbuffered: `write` hands every byte to the kernel before it returns."""

    def __init__(self, path: str, flags: int) -> None:
        self.path = path
        with _evidence(path, "open"):
            self._fd = os.open(path, flags | os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
            self._size = os.fstat(self._fd).st_size

    def write(self, data: bytes) -> None:
        # The log appends here on every write command: one os.write in the common case, the
        # retry loop (and its memoryview) only after a short write.
        try:
            written = os.write(self._fd, data)
        except OSError as error:
            raise StorageIOError(self.path, "write", error.errno, error.strerror or str(error)) from error
        self._size += written
        if written < len(data):
            self._write_rest(memoryview(data)[written:])

    def _write_rest(self, view: memoryview) -> None:
        with _evidence(self.path, "write"):
            while view:
                written = os.write(self._fd, view)
                if written <= 0:
                    raise OSError(errno_codes.ENOSPC, "short write")
                view = view[written:]
                self._size += written

    def fsync(self) -> None:
        with _evidence(self.path, "fsync"):
            os.fsync(self._fd)

    def truncate(self, size: int) -> None:
        with _evidence(self.path, "truncate"):
            os.ftruncate(self._fd, size)
            os.lseek(self._fd, size, os.SEEK_SET)
        self._size = size

    def tell(self) -> int:
        return self._size

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class OsFileLock:
    """An `flock` held on an open descriptor: closing the descriptor releases it (so does the
    process ending, however it ends). O_CLOEXEC keeps child processes from inheriting it."""

    def __init__(self, path: str, fd: int) -> None:
        self.path = path
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _read_holder_pid(path: str) -> int | None:
    try:
        with open(path, "rb") as handle:
            return parse_holder_pid(handle.read(32))
    except OSError:
        return None


class OsFileSystem:
    def open_read(self, path: str) -> OsReadableFile:
        return OsReadableFile(path)

    def open_write(self, path: str) -> OsWritableFile:
        return OsWritableFile(path, os.O_TRUNC)

    def open_append(self, path: str) -> OsWritableFile:
        return OsWritableFile(path, os.O_APPEND)

    def read_bytes(self, path: str) -> bytes:
        with _evidence(path, "read"):
            with open(path, "rb") as handle:
                return handle.read()

    def rename(self, source: str, target: str) -> None:
        with _evidence(source, "rename"):
            os.rename(source, target)

    def remove(self, path: str) -> None:
        with _evidence(path, "remove"):
            os.remove(path)

    def list_dir(self, path: str) -> list[str]:
        with _evidence(path, "list"):
            return sorted(os.listdir(path))

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def size(self, path: str) -> int:
        with _evidence(path, "stat"):
            return os.stat(path).st_size

    def make_dirs(self, path: str) -> None:
        with _evidence(path, "mkdir"):
            os.makedirs(path, exist_ok=True)

    def lock(self, path: str) -> OsFileLock:
        with _evidence(path, "lock"):
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockHeldError(path, _read_holder_pid(path)) from None
        except OSError as error:
            os.close(fd)
            raise StorageIOError(path, "lock", error.errno, error.strerror or str(error)) from error
        # The process id is for the refusal message only; a full disk must not stop an open
        # that would otherwise succeed, so a failed write leaves the file as it is.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, b"%d\n" % os.getpid(), 0)
        return OsFileLock(path, fd)

    def probe_lock(self, path: str) -> LockProbe:
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            return LockProbe(False)  # every holder creates the file first
        except OSError as error:
            raise StorageIOError(path, "lock", error.errno, error.strerror or str(error)) from error
        try:
            # A shared lock conflicts only with an exclusive one, and is dropped at once.
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return LockProbe(True, _read_holder_pid(path))
        except OSError as error:
            raise StorageIOError(path, "lock", error.errno, error.strerror or str(error)) from error
        finally:
            os.close(fd)
        return LockProbe(False)

    def fsync_dir(self, path: str) -> None:
        with _evidence(path, "fsync_dir"):
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
