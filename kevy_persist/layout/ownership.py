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


# -- cluster mode: one process per shard -----------------------------------------------------
#
# In cluster mode a supervisor owns the dir (it holds `LOCK`, so a second server, a second
# supervisor or `kevy-persist reshard` is still refused) and starts one process per shard. A
# shard process cannot take `LOCK` -- its supervisor holds it -- so it checks that the holder
# is the process it was told about (its supervisor) and takes its shard's own lock,
# `LOCK-{i}`: two processes for one shard (a restart racing a process that has not died yet)
# are refused the same way two stores of one dir are.


def shard_lock_name(index: int) -> str:
    assert index >= 0
    return f"{LOCK_NAME}-{index}"


def take_shard_ownership(file_system: FileSystem, directory: str, index: int, supervisor_pid: int) -> FileLock:
    """Hold shard `index`'s lock, for a shard process whose supervisor (`supervisor_pid`) holds
    the dir. `DataDirInUseError` when the dir is not held by that supervisor, or when another
    process holds the shard."""
    probe = current_owner(file_system, directory)
    if not probe.held or probe.holder_pid != supervisor_pid:
        holder = f"process {probe.holder_pid}" if probe.held else "nobody"
        raise DataDirInUseError(directory, lock_path(directory), probe.holder_pid,
                                f"{lock_path(directory)} is held by {holder}, not by supervisor process "
                                f"{supervisor_pid}: a shard process serves only under its supervisor")
    path = join(directory, shard_lock_name(index))
    try:
        return file_system.lock(path)
    except LockHeldError as error:
        raise DataDirInUseError(directory, path, error.holder_pid) from None
