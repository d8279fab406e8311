"""Finishing a committed re-shard, and recovering an interrupted one at open.

A re-shard is committed once `reshard.journal` is durable (specs/reshard.md, steps 1-5).
From then on the new shards' snapshots, `dump-{i}.rdb.reshard`, are the data; the old
files are only kept as backups. `finish_committed` takes the data dir from any state a
crash can leave after the commit point to the new layout, and is idempotent: it decides
everything from the names present, never from what the crashed run had done.

1. Every old file is moved away to `{name}.premigration.{stamp}` (stamp from the journal).
   While the journal exists every `aof-{k}.aof` is old (a new shard's log is created only
   after the journal is gone), and `dump-{k}.rdb` is old unless it is the new snapshot:
   its temp is gone (installed earlier) or it holds exactly the temp's bytes (installed,
   temp not yet removed). When the backup name already exists, the file in the way is a
   second copy (a rename that left both names) or a partial install, and is removed.
2. Each temp is *copied* to `dump-{i}.rdb` and fsynced -- not renamed: under the weakest
   crash model a rename may leave neither name, and the temp is the only copy of the data.
3. `shards.meta` records the new layout (durable replace); its fsync_dir also makes the
   moves and copies of steps 1-2 durable, so no old log can ever be found next to a new
   snapshot once the journal is gone.
4. The temps and the journal are removed and the directory fsynced: the journal's removal
   must be durable before anything else happens in the dir, or a later attempt's temps
   (same names) could be read back under this journal.

`recover_interrupted_reshard` runs first at every open: a complete journal is rolled
forward by `finish_committed`; a torn one (`decode_reshard_journal` gives None: the crash
came before the commit point) is removed along with every temp, and the old layout stands.
Stale temps without a journal are removed the same way. Neither removal needs an fsync: a
resurrected torn journal or temp is discarded again. A journal that cannot be read, is
absurdly large, or names an impossible layout refuses the open (`LayoutError`): guessing
could lose the only copy of the data.
"""

from __future__ import annotations

import enum

import attrs

from kevy_persist.disk.fs import FileSystem, join
from kevy_persist.errors import LayoutError, StorageIOError
from kevy_persist.layout.meta import ShardLayout, write_layout
from kevy_persist.layout.names import (
    RESHARD_JOURNAL_NAME,
    FileRole,
    ReshardJournal,
    classify,
    decode_reshard_journal,
    log_name,
    premigration_name,
    reshard_temp_name,
    snapshot_name,
)
from kevy_persist.layout.routing import MAX_SHARD_COUNT
from kevy_persist.reshard.protocol import Phase, PhaseListener, PhaseTracker

# kevy's journal is five short lines; anything far larger is not a journal.
MAX_JOURNAL_SIZE_BYTES = 4096
COPY_CHUNK_BYTES = 4 << 20


class InterruptedOutcome(enum.Enum):
    NONE = "none"  # nothing was interrupted
    DISCARDED = "discarded"  # an uncommitted attempt was thrown away: the old layout stands
    ROLLED_FORWARD = "rolled-forward"  # a committed attempt was finished: the new layout stands


@attrs.frozen
class FinishReport:
    moved_to_backup: tuple[str, ...]
    removed_duplicates: tuple[str, ...]
    installed: tuple[int, ...]


@attrs.frozen
class RecoveryReport:
    outcome: InterruptedOutcome
    journal: ReshardJournal | None = None
    removed: tuple[str, ...] = ()
    finish: FinishReport | None = None


def same_content(fs: FileSystem, path: str, other_path: str) -> bool:
    """Byte-for-byte equality of two files, read in chunks."""
    if fs.size(path) != fs.size(other_path):
        return False
    first, second = fs.open_read(path), fs.open_read(other_path)
    try:
        while True:
            chunk = first.read(COPY_CHUNK_BYTES)
            if chunk != second.read(COPY_CHUNK_BYTES):
                return False
            if not chunk:
                return True
    finally:
        first.close()
        second.close()


def copy_file(fs: FileSystem, source_path: str, target_path: str) -> int:
    """Create (or truncate) `target_path` with `source_path`'s bytes and fsync it."""
    reader = fs.open_read(source_path)
    try:
        writer = fs.open_write(target_path)
        try:
            copied = 0
            while chunk := reader.read(COPY_CHUNK_BYTES):
                writer.write(chunk)
                copied += len(chunk)
            writer.fsync()
        finally:
            writer.close()
    finally:
        reader.close()
    return copied


def _is_new_snapshot(fs: FileSystem, directory: str, index: int, journal: ReshardJournal, names: set[str]) -> bool:
    if index >= journal.shard_count:
        return False
    temp = reshard_temp_name(index)
    if temp not in names:
        return True
    return same_content(fs, join(directory, snapshot_name(index)), join(directory, temp))


def finish_committed(
    fs: FileSystem, directory: str, journal: ReshardJournal, tracker: PhaseTracker
) -> FinishReport:
    """Steps 1-4 of the module docstring; `tracker` is in COMMITTED or JOURNAL_FOUND."""
    assert tracker.committed, tracker.phase
    names = set(fs.list_dir(directory))
    moved: list[str] = []
    removed: list[str] = []
    kept_new: set[int] = set()
    for name in sorted(names):
        named = classify(name)
        if named.role is FileRole.SNAPSHOT and name == snapshot_name(named.shard_index):
            if _is_new_snapshot(fs, directory, named.shard_index, journal, names):
                kept_new.add(named.shard_index)
                continue
        elif not (named.role is FileRole.LOG and name == log_name(named.shard_index)):
            continue  # not an old-layout file (non-canonical names are never opened)
        backup = premigration_name(name, journal.stamp_ns)
        if backup in names:
            fs.remove(join(directory, name))
            removed.append(name)
        else:
            fs.rename(join(directory, name), join(directory, backup))
            moved.append(name)
    installed = []
    for index in range(journal.shard_count):
        temp = reshard_temp_name(index)
        if index in kept_new or temp not in names:
            continue
        copy_file(fs, join(directory, temp), join(directory, snapshot_name(index)))
        installed.append(index)
    # No fsync_dir of its own: the one closing `write_layout` (same directory) makes these
    # moves and copies durable together with the meta, and all of it before the journal's
    # removal -- the order that matters. Until then the journal is there to redo them.
    tracker.advance(Phase.TARGETS_INSTALLED)
    write_layout(fs, directory, ShardLayout(journal.shard_count, journal.routing))
    tracker.advance(Phase.LAYOUT_RECORDED)
    for name in sorted(fs.list_dir(directory)):
        if classify(name).role is FileRole.RESHARD_TEMP:
            fs.remove(join(directory, name))
    fs.remove(join(directory, RESHARD_JOURNAL_NAME))
    fs.fsync_dir(directory)
    tracker.advance(Phase.FINISHED)
    return FinishReport(tuple(moved), tuple(removed), tuple(installed))


def read_journal(fs: FileSystem, directory: str) -> ReshardJournal | None:
    """The journal in `directory`; None when torn; `LayoutError` when it cannot be trusted."""
    path = join(directory, RESHARD_JOURNAL_NAME)
    try:
        size_bytes = fs.size(path)
        if size_bytes > MAX_JOURNAL_SIZE_BYTES:
            raise LayoutError(path, f"re-shard journal is {size_bytes} bytes; not a journal, refusing to guess")
        data = fs.read_bytes(path)
    except StorageIOError as error:
        raise LayoutError(
            path, f"the re-shard journal cannot be read ({error.reason}); the data dir may be "
            "mid re-shard, refusing to open it"
        ) from error
    journal = decode_reshard_journal(data)
    if journal is None:
        return None
    for field, value in (("n", journal.shard_count), ("prev_n", journal.previous_shard_count)):
        if not 1 <= value <= MAX_SHARD_COUNT:
            raise LayoutError(path, f"re-shard journal says {field}={value}, outside 1..{MAX_SHARD_COUNT}")
    return journal


def recover_interrupted_reshard(
    fs: FileSystem, directory: str, *, listener: PhaseListener | None = None
) -> RecoveryReport:
    """Roll a committed re-shard forward or discard an uncommitted one (module docstring)."""
    if not fs.exists(directory):
        return RecoveryReport(InterruptedOutcome.NONE)
    names = fs.list_dir(directory)
    tracker = PhaseTracker(listener)
    removed: list[str] = []
    if RESHARD_JOURNAL_NAME in names:
        journal = read_journal(fs, directory)
        if journal is not None:
            tracker.advance(Phase.JOURNAL_FOUND)
            finish = finish_committed(fs, directory, journal, tracker)
            return RecoveryReport(InterruptedOutcome.ROLLED_FORWARD, journal, finish=finish)
        fs.remove(join(directory, RESHARD_JOURNAL_NAME))
        removed.append(RESHARD_JOURNAL_NAME)
    for name in names:
        if classify(name).role is FileRole.RESHARD_TEMP:
            fs.remove(join(directory, name))
            removed.append(name)
    if not removed:
        return RecoveryReport(InterruptedOutcome.NONE)
    tracker.advance(Phase.DISCARDED)
    return RecoveryReport(InterruptedOutcome.DISCARDED, removed=tuple(removed))
