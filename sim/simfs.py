"""`SimFileSystem`: the `kevy_persist.fs.FileSystem` protocol, in memory, with pending effects.

What it models. Like LevelDB's fault-injection Env, it keeps track of the state of a file
system as of the last sync: per file (inode) the durable bytes plus the effects (writes,
truncates) not yet fsynced, in order; per directory the durable entries plus the pending
creates, renames and removes, made durable only by `fsync_dir` of that directory. A directory
made by `make_dirs` is such a pending create in its parent (`sim.disk.DIRECTORY_INODE`): until
`fsync_dir(parent)` a crash may lose it, and everything under it with it. Reads see
the live state (every effect applied), as a running program does. A crash profile
(`sim.profiles`) later decides which pending effects a crash image keeps.

Every call is a numbered step. Before performing step K the file system calls its observer
(the explorer cuts there) and, when asked to, records the step's call site: the first stack
frame outside the simulator's file-system machinery and outside `kevy_persist/disk/fs.py`, e.g.
`sim/workloads/toy.py:110 in _fsync`; when that frame is in `kevy_persist/` and so is its
caller, the caller comes first, so a shared helper is told apart by who called it:
`kevy_persist/engine/shard.py:194 in sync_log -> kevy_persist/engine/aof.py:179 in fsync`. Locks
(`lock`, `probe_lock`) are process state, not disk state: the `LOCK` file is created and
written like any file (a crash image may hold it, stale), the lock itself lives in this
object only, so a file system rebuilt from a crash image starts with every lock free. Faults
(`sim.faults.FaultPlan`) are injected by step index into any door call that changes the disk
(and into reads, for recovery): a failed call raises the errno and leaves what
`sim.faults` says it leaves. A sync call site can be turned into a
no-op (the self-check of `sim.selfcheck`), named exactly or by its key without line numbers
(`site_key`).

Errors are raised as `kevy_persist.errors.StorageIOError` with the errno and operation name
`kevy_persist.fs_os` uses, so code under test cannot tell the two apart; the differential
test (`sim/test_simfs_differential.py`) holds them to that.
"""

from __future__ import annotations

import errno as errno_codes
import os
from collections.abc import Callable

from kevy_persist.disk.fs import LockProbe, basename, parent, parse_holder_pid
from kevy_persist.errors import LockHeldError, StorageIOError

from .call_sites import call_site, innermost_frame, site_key  # noqa: F401 -- re-exported
from .disk import (
    CREATE,
    DIRECTORY_INODE,
    REMOVE,
    RENAME,
    TRUNCATE,
    WRITE,
    DiskState,
    Effect,
    Image,
    InodeState,
    NameOperation,
    apply_effect,
    apply_effects,
    apply_name_operation,
    make_image,
    namespace_after,
    with_directory_links,
    without_directory_links,
)
from .simfs_handles import SimFileLock, SimReadableFile, SimWritableFile

SYNC_OPERATIONS = frozenset({"fsync", "fsync_dir"})
Observer = Callable[["SimFileSystem", int, str, str], None]


def _error(path: str, operation: str, code: int) -> StorageIOError:
    return StorageIOError(path, operation, code, os.strerror(code))


class _Inode:
    __slots__ = ("durable", "live", "pending", "first_effect_index")

    def __init__(self, durable: bytes = b"") -> None:
        self.durable = durable
        self.live = bytearray(durable)
        self.pending: list[Effect] = []
        self.first_effect_index = 0

    def effect_count(self) -> int:
        return self.first_effect_index + len(self.pending)


class SimFileSystem:
    """The in-memory file system; see the module docstring for the model."""

    def __init__(self, *, observer: Observer | None = None, faults=None,
                 record_sites: bool = False, track_sync_sites: bool = False,
                 disabled_sync_sites: frozenset[str] = frozenset(), process_id: int = 4242) -> None:
        self.directories: set[str] = {"/"}
        self._inodes: dict[int, _Inode] = {}
        self._next_inode = 1
        self._live_entries: dict[str, dict[str, int]] = {"/": {}}
        self._durable_entries: dict[str, dict[str, int]] = {"/": {}}
        self._pending_names: list[NameOperation] = []
        self.step_count = 0
        self.version = 0  # bumped by every change of live or durable state
        self.observer = observer
        self.faults = faults
        self.record_sites = record_sites
        self.track_sync_sites = track_sync_sites or bool(disabled_sync_sites)
        self.disabled_sync_sites = disabled_sync_sites
        self.steps: list[tuple[int, str, str, str]] = []  # (index, operation, path, site)
        self.creating_steps: set[int] = set()  # the open/lock steps that made a new name
        self.sync_sites_seen: dict[str, int] = {}  # site -> calls
        self.skipped_syncs = 0
        self._snapshot_cache: tuple[int, DiskState] | None = None
        self.process_id = process_id  # what `lock` writes into a LOCK file
        self._held_locks: set[str] = set()
        # Called in the middle of an fsync (after it started, before it returns): the
        # scheduler of simulated threads switches there (None: fsync is one instant).
        self.during_sync: Callable[[SimFileSystem, int, str], None] | None = None

    # -- construction from a crash image --------------------------------------------------------

    @classmethod
    def from_image(cls, image: Image, **options) -> SimFileSystem:
        """A file system whose whole state is durable and equal to `image` (after a reboot)."""
        fs = cls(**options)
        for directory in sorted(image.directories, key=len):  # parents first
            fs.directories.add(directory)
            fs._live_entries.setdefault(directory, {})
            fs._durable_entries.setdefault(directory, {})
            if directory != "/":
                fs._durable_entries.setdefault(parent(directory), {})[basename(directory)] = DIRECTORY_INODE
        for path, data in image.files:
            inode = fs._new_inode(data)
            directory, name = parent(path), basename(path)
            fs._live_entries[directory][name] = inode
            fs._durable_entries[directory][name] = inode
        return fs

    @classmethod
    def from_state(cls, state: DiskState, **options) -> SimFileSystem:
        """A file system whose disk is `state` with its pending effects still pending: the
        process that wrote it was killed (its locks are gone), the OS kept running."""
        fs = cls(**options)
        fs.directories = set(state.directories)
        for number, frozen in state.inodes.items():
            inode = _Inode(frozen.durable)
            inode.pending = list(frozen.pending)
            inode.first_effect_index = frozen.first_effect_index
            inode.live = bytearray(apply_effects(frozen.durable, frozen.pending))
            fs._inodes[number] = inode
        fs._next_inode = max(state.inodes, default=0) + 1
        fs._durable_entries = {directory: dict(entries) for directory, entries in state.durable_entries.items()}
        fs._live_entries = without_directory_links(namespace_after(state, len(state.pending_names)))
        for directory in fs.directories:
            fs._durable_entries.setdefault(directory, {})
            fs._live_entries.setdefault(directory, {})
        fs._pending_names = list(state.pending_names)
        return fs

    def _new_inode(self, durable: bytes = b"") -> int:
        number = self._next_inode
        self._next_inode += 1
        self._inodes[number] = _Inode(durable)
        return number

    # -- steps ------------------------------------------------------------------------------------

    def step(self, operation: str, path: str) -> tuple[int, str]:
        index = self.step_count
        self.step_count = index + 1
        site = ""
        if self.record_sites or (self.track_sync_sites and operation in SYNC_OPERATIONS):
            site = call_site(3)
            if self.record_sites:
                self.steps.append((index, operation, path, site))
            if operation in SYNC_OPERATIONS:
                self.sync_sites_seen[site] = self.sync_sites_seen.get(site, 0) + 1
        if self.observer is not None:
            self.observer(self, index, operation, path)
        return index, site

    def _check_fault(self, index: int, call: str, path: str, operation: str) -> None:
        """Raise the errno the fault plan gives door call `call` at step `index`, if any."""
        if self.faults is not None:
            code = self.faults.failure(index, call)
            if code is not None:
                raise _error(path, operation, code)

    def _sync_disabled(self, site: str) -> bool:
        """The self-check turned this sync call site into a no-op (exact site or its key)."""
        disabled = self.disabled_sync_sites
        return bool(site) and bool(disabled) and (site in disabled or site_key(site) in disabled)

    def snapshot(self) -> DiskState:
        """The current state, frozen (cached until the next change)."""
        cached = self._snapshot_cache
        if cached is not None and cached[0] == self.version:
            return cached[1]
        state = DiskState(
            frozenset(self.directories),
            {number: InodeState(inode.durable, tuple(inode.pending), inode.first_effect_index)
             for number, inode in self._inodes.items()},
            {directory: dict(entries) for directory, entries in self._durable_entries.items()},
            tuple(self._pending_names),
        )
        self._snapshot_cache = (self.version, state)
        return state

    def live_image(self) -> Image:
        """What the next process sees when this one exits without a crash (every effect)."""
        live = {number: bytes(inode.live) for number, inode in self._inodes.items()}
        directories = frozenset(self.directories)
        return make_image(directories, with_directory_links(directories, self._live_entries), live)

    def has_live_name_containing(self, text: str) -> bool:
        return any(text in name for entries in self._live_entries.values() for name in entries)

    # -- lookups ----------------------------------------------------------------------------------

    @staticmethod
    def _normalize(path: str) -> str:
        return path.rstrip("/") or "/"

    def check_read_fault(self, index: int, path: str) -> None:
        """Used by `SimReadableFile.read`: raise EIO when the plan fails this read."""
        self._check_fault(index, "read", path, "read")

    def live_bytes(self, inode: int) -> bytearray:
        """The bytes a reader of `inode` sees now (durable plus pending writes)."""
        return self._inodes[inode].live

    def _lookup(self, path: str, operation: str) -> int:
        path = self._normalize(path)
        entries = self._live_entries.get(parent(path))
        inode = None if entries is None else entries.get(basename(path))
        if inode is None:
            if path in self.directories:
                raise _error(path, operation, errno_codes.EISDIR)
            if entries is None:
                raise _error(path, operation, self._not_a_directory_code(parent(path)))
            raise _error(path, operation, errno_codes.ENOENT)
        return inode

    def _parent_entries(self, path: str, operation: str) -> dict[str, int]:
        entries = self._live_entries.get(parent(path))
        if entries is None:
            raise _error(path, operation, self._not_a_directory_code(parent(path)))
        return entries

    def _not_a_directory_code(self, path: str) -> int:
        entries = self._live_entries.get(parent(path))
        return errno_codes.ENOTDIR if entries and basename(path) in entries else errno_codes.ENOENT

    def _record_name(self, kind: str, path: str, source: str, target: str, inode: int,
                     replaced_inode: int = -1) -> None:
        effects = 0 if inode == DIRECTORY_INODE else self._inodes[inode].effect_count()
        self._pending_names.append(
            NameOperation(kind, parent(path), source, target, inode, replaced_inode, effects))
        self.version += 1

    # -- FileSystem protocol ----------------------------------------------------------------------

    def open_read(self, path: str) -> SimReadableFile:
        index, _ = self.step("open_read", path)
        self._check_fault(index, "read", path, "open")
        return SimReadableFile(self, self._lookup(path, "open"), path)

    def open_write(self, path: str) -> SimWritableFile:
        index, _ = self.step("open_write", path)
        return SimWritableFile(self, self._open_for_writing(index, path, truncate=True), path, append=False)

    def open_append(self, path: str) -> SimWritableFile:
        index, _ = self.step("open_append", path)
        return SimWritableFile(self, self._open_for_writing(index, path, truncate=False), path, append=True)

    def _open_for_writing(self, index: int, path: str, *, truncate: bool, operation: str = "open") -> int:
        path = self._normalize(path)
        if path in self.directories:
            raise _error(path, "open", errno_codes.EISDIR)
        entries = self._parent_entries(path, "open")
        name = basename(path)
        inode = entries.get(name)
        if inode is None:
            self.creating_steps.add(index)
            self._check_fault(index, "create", path, operation)
            inode = self._new_inode()
            entries[name] = inode
            self._record_name(CREATE, path, "", name, inode)
        elif truncate and (self._inodes[inode].live or self._inodes[inode].pending):
            self._apply(inode, Effect(TRUNCATE, 0, b""))
        return inode

    def _apply(self, inode_number: int, effect: Effect) -> None:
        inode = self._inodes[inode_number]
        apply_effect(inode.live, effect)
        inode.pending.append(effect)
        self.version += 1

    def read_bytes(self, path: str) -> bytes:
        index, _ = self.step("read_bytes", path)
        self._check_fault(index, "read", path, "read")
        return bytes(self._inodes[self._lookup(path, "read")].live)

    def rename(self, source: str, target: str) -> None:
        index, _ = self.step("rename", source)
        source, target = self._normalize(source), self._normalize(target)
        inode = self._lookup(source, "rename")
        if source == target:
            return
        assert parent(source) == parent(target), "the simulator models same-directory renames"
        if target in self.directories:
            raise _error(source, "rename", errno_codes.EISDIR)
        self._check_fault(index, "rename", source, "rename")
        entries = self._live_entries[parent(source)]
        replaced = entries.get(basename(target), -1)
        del entries[basename(source)]
        entries[basename(target)] = inode
        self._record_name(RENAME, target, basename(source), basename(target), inode, replaced)

    def remove(self, path: str) -> None:
        index, _ = self.step("remove", path)
        path = self._normalize(path)
        inode = self._lookup(path, "remove")
        self._check_fault(index, "remove", path, "remove")
        del self._live_entries[parent(path)][basename(path)]
        self._record_name(REMOVE, path, basename(path), "", inode)

    def list_dir(self, path: str) -> list[str]:
        self.step("list_dir", path)
        path = self._normalize(path)
        if path not in self.directories:
            raise _error(path, "list", self._not_a_directory_code(path))
        children = [basename(directory) for directory in self.directories
                    if directory != path and parent(directory) == path]
        return sorted(list(self._live_entries[path]) + children)

    def exists(self, path: str) -> bool:
        self.step("exists", path)
        path = self._normalize(path)
        if path in self.directories:
            return True
        entries = self._live_entries.get(parent(path))
        return entries is not None and basename(path) in entries

    def size(self, path: str) -> int:
        self.step("size", path)
        return len(self._inodes[self._lookup(path, "stat")].live)

    def make_dirs(self, path: str) -> None:
        self.step("make_dirs", path)
        path = self._normalize(path)
        missing = []
        cursor = path
        while cursor not in self.directories:
            entries = self._live_entries.get(parent(cursor))
            if entries is not None and basename(cursor) in entries:
                code = errno_codes.EEXIST if cursor == path else errno_codes.ENOTDIR
                raise _error(path, "mkdir", code)
            missing.append(cursor)
            cursor = parent(cursor)
        for directory in reversed(missing):
            # The new directory's content starts empty and durable; its name in its parent
            # is a pending create like a file's (durable on fsync_dir(parent)).
            self.directories.add(directory)
            self._live_entries[directory] = {}
            self._durable_entries[directory] = {}
            self._record_name(CREATE, directory, "", basename(directory), DIRECTORY_INODE)

    def fsync_dir(self, path: str) -> None:
        index, site = self.step("fsync_dir", path)
        path = self._normalize(path)
        if path not in self.directories:
            raise _error(path, "fsync_dir", self._not_a_directory_code(path))
        if self._sync_disabled(site):
            self.skipped_syncs += 1
            return
        code = None if self.faults is None else self.faults.failure(index, "fsync_dir")
        mine = [operation for operation in self._pending_names if operation.directory == path]
        # A failed fsync_dir may have written any order-respecting subset of the names
        # (sim.faults); the rest stay pending. A good one writes them all.
        written = [True] * len(mine) if code is None else self.faults.written_names(mine, f"{index}:{path}")
        durable = self._durable_entries[path]
        chosen = {id(operation) for operation, keep in zip(mine, written) if keep}
        remaining = []
        for operation in self._pending_names:
            if id(operation) in chosen:
                apply_name_operation(durable, operation)
            else:
                remaining.append(operation)
        if len(remaining) != len(self._pending_names):
            self._pending_names = remaining
            self.version += 1
        if code is not None:
            raise _error(path, "fsync_dir", code)

    def lock(self, path: str) -> SimFileLock:
        index, _ = self.step("lock", path)
        path = self._normalize(path)
        if path in self._held_locks:
            raise LockHeldError(path, parse_holder_pid(bytes(self._inodes[self._lookup(path, "lock")].live)))
        self._parent_entries(path, "lock")  # the errno and operation fs_os reports
        inode = self._open_for_writing(index, path, truncate=True, operation="lock")
        self._apply(inode, Effect(WRITE, 0, b"%d\n" % self.process_id))
        self._held_locks.add(path)
        return SimFileLock(self, path)

    def probe_lock(self, path: str) -> LockProbe:
        self.step("probe_lock", path)
        path = self._normalize(path)
        if path not in self._held_locks:
            return LockProbe(False)
        return LockProbe(True, parse_holder_pid(bytes(self._inodes[self._lookup(path, "lock")].live)))

    def release_lock(self, path: str) -> None:
        """Used by `SimFileLock.release` (not a step: no disk state changes)."""
        self._held_locks.discard(path)

    # -- used by the file handles -----------------------------------------------------------------

    def handle_write(self, handle: SimWritableFile, data: bytes) -> None:
        index, _ = self.step("write", handle.path)
        if handle.closed:
            raise _error(handle.path, "write", errno_codes.EBADF)
        inode = self._inodes[handle.inode]
        failure = None
        if self.faults is not None:
            written, failure = self.faults.write_outcome(index, len(data))
            data = data[:written]
        offset = len(inode.live) if handle.append else handle.position
        if data:
            self._apply(handle.inode, Effect(WRITE, offset, bytes(data)))
        # Like fs_os: an append handle's size is its own count (size at open plus what it
        # wrote), even when another handle changed the file meanwhile.
        handle.position = (handle.position if handle.append else offset) + len(data)
        if failure is not None:
            raise _error(handle.path, "write", failure)

    def handle_fsync(self, handle: SimWritableFile) -> None:
        index, site = self.step("fsync", handle.path)
        if handle.closed:
            raise _error(handle.path, "fsync", errno_codes.EBADF)
        if self._sync_disabled(site):
            self.skipped_syncs += 1
            return
        inode = self._inodes[handle.inode]
        if self.during_sync is not None:
            # An fsync covers what was written before it started: with simulated threads
            # (sim/scheduler.py) another thread may write while it runs, and only the
            # effects pending at the start become durable when it returns.
            started_with = len(inode.pending)
            self.during_sync(self, index, handle.path)
            if len(inode.pending) > started_with:
                self._sync_prefix(inode, started_with, index, handle.path)
                return
        if self.faults is not None and self.faults.failure(index, "fsync") is not None:
            # Linux marks the dirty pages clean after a failed writeback: the data stays
            # readable until evicted but will never reach the disk, and the next fsync of
            # the file succeeds. So: drop the pending effects without making them durable.
            inode.first_effect_index += len(inode.pending)
            inode.pending.clear()
            self.version += 1
            raise _error(handle.path, "fsync", self.faults.failure(index, "fsync"))
        if inode.pending:
            inode.durable = bytes(inode.live)
            inode.first_effect_index += len(inode.pending)
            inode.pending.clear()
            self.version += 1

    def _sync_prefix(self, inode: _Inode, count: int, index: int, path: str) -> None:
        """Make the first `count` pending effects durable (or drop them, on a failed fsync)."""
        failure = None if self.faults is None else self.faults.failure(index, "fsync")
        if failure is None:
            inode.durable = apply_effects(inode.durable, inode.pending[:count])
        inode.first_effect_index += count
        del inode.pending[:count]
        self.version += 1
        if failure is not None:
            raise _error(path, "fsync", failure)

    def handle_truncate(self, handle: SimWritableFile, size: int) -> None:
        index, _ = self.step("truncate", handle.path)
        if handle.closed:
            raise _error(handle.path, "truncate", errno_codes.EBADF)
        self._check_fault(index, "truncate", handle.path, "truncate")
        self._apply(handle.inode, Effect(TRUNCATE, size, b""))
        handle.position = size


__all__ = ["SimFileSystem", "SimReadableFile", "SimWritableFile", "call_site", "site_key", "innermost_frame", "WRITE", "REMOVE", "RENAME"]
