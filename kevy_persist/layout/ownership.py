"""One owner per data dir: the `LOCK` file, as LevelDB keeps it.

Whoever changes a data dir -- an open `Store` (the server's too) for as long as it is open,
`kevy-persist reshard` for as long as it runs -- first takes the exclusive lock on
`{dir}/LOCK` through the `FileSystem` door (`flock` on the real disk, a table in the
simulator) and writes its process id into the file. A second owner is refused with
`DataDirInUseError` naming the dir and that process id, before it reads or writes anything:
two owners would append to the same logs and replace each other's files, and the writes one
acknowledges would be lost by the other's next replace.

The lock is not disk state: it ends with the process (a SIGKILL, a crash) and a stale `LOCK`
file is simply taken over. Readers (`kevy-persist dump` / `check`) never take it; they ask
`current_owner` and say that the dir is live, since a record being appended may then read as
a torn tail.
"""

from __future__ import annotations

from kevy_persist.disk.fs import FileLock, FileSystem, LockProbe, join
from kevy_persist.errors import DataDirInUseError, LockHeldError

LOCK_NAME = "LOCK"


def lock_path(directory: str) -> str:
    return join(directory, LOCK_NAME)


def take_ownership(file_system: FileSystem, directory: str) -> FileLock:
    """Hold `directory`'s lock until `release()`; `DataDirInUseError` when someone holds it."""
    path = lock_path(directory)
    try:
        return file_system.lock(path)
    except LockHeldError as error:
        raise DataDirInUseError(directory, path, error.holder_pid) from None


def current_owner(file_system: FileSystem, directory: str) -> LockProbe:
    """Whether someone holds `directory` and which process. Takes nothing, writes nothing."""
    return file_system.probe_lock(lock_path(directory))


def describe_owner(directory: str, probe: LockProbe) -> str:
    """The note a reader prints about a held dir."""
    holder = f"process {probe.holder_pid}" if probe.holder_pid is not None else "another process"
    return (f"{directory} is in use by {holder}: read as it is now; a record being appended may "
            f"read as a torn tail, and later writes are not included")
