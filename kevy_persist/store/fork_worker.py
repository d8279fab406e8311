"""`ForkedChild`: a background job's serialize step in a forked copy of the process.

What it guarantees. `start()` forks; the caller holds the shard's lock, so the child's memory
is the keyspace exactly at the job's freeze (the kernel's copy-on-write pages are the view;
no Python-level copy is made). The child runs `work()` -- writing and fsyncing the job's temp
file through the OS file system -- and leaves with `os._exit`: status 0 on success, 1 after
writing the error's text to a pipe. It never returns into the parent's code, runs no atexit
handler and flushes no inherited buffer.

Care with threads. Only the forking thread exists in the child; a lock another thread held
at the fork stays held there forever. The child's work touches no lock: the encoder and the
OS file system's writes, nothing of the store's runtime, no logging. `cancel()` kills the
child (SIGKILL) at shutdown; its temp file is then removed by the job's abort.

This module and `disk/os_fs.py` are the only users of `os` in the core; fork needs a real
file system (`Store.open` refuses `background_worker="fork"` with any other).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

from kevy_persist.errors import KevyError

ERROR_TEXT_LIMIT_BYTES = 4096
CHILD_NICENESS = 10


class ChildFailedError(KevyError):
    """The forked child could not write the job's file (its error text, or how it died)."""


class ForkedChild:
    def __init__(self, work: Callable[[], object]) -> None:
        self._work = work
        self._pid: int | None = None
        self._read_fd: int | None = None
        self._status: int | None = None
        self.error: BaseException | None = None

    def start(self) -> None:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            status = 1
            try:
                os.close(read_fd)
                # Below the server in the scheduler's eyes: on a busy machine the requests
                # keep their cores and the save takes longer (Redis's child does not do this;
                # with two cores and a Python server the trade is worth it).
                os.nice(CHILD_NICENESS)
                self._work()
                status = 0
            except BaseException as error:  # noqa: BLE001 -- reported through the pipe
                text = f"{type(error).__name__}: {error}".encode("utf-8", "replace")
                try:
                    os.write(write_fd, text[:ERROR_TEXT_LIMIT_BYTES])
                except OSError:
                    pass
            finally:
                os._exit(status)
        os.close(write_fd)
        self._pid = pid
        self._read_fd = read_fd

    @property
    def done(self) -> bool:
        if self._status is None:
            assert self._pid is not None, "not started"
            pid, status = os.waitpid(self._pid, os.WNOHANG)
            if pid == 0:
                return False
            self._reap(status)
        return True

    def wait(self, timeout_seconds: float | None = None) -> bool:
        """Block until the child exits (the timeout is not supported: waitpid blocks)."""
        if self._status is None:
            assert self._pid is not None, "not started"
            _, status = os.waitpid(self._pid, 0)
            self._reap(status)
        return True

    def cancel(self) -> None:
        if self._status is None and self._pid is not None:
            try:
                os.kill(self._pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _reap(self, status: int) -> None:
        self._status = status
        assert self._read_fd is not None
        message = b""
        while chunk := os.read(self._read_fd, ERROR_TEXT_LIMIT_BYTES):
            message += chunk
        os.close(self._read_fd)
        self._read_fd = None
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            return
        if os.WIFSIGNALED(status):
            reason = f"killed by signal {os.WTERMSIG(status)}"
        else:
            reason = message.decode("utf-8", "replace") or f"exit status {os.WEXITSTATUS(status)}"
        self.error = ChildFailedError(f"background child failed: {reason}")
