"""One background save (BGSAVE) or log rewrite (BGREWRITEAOF) of one shard, as explicit steps.

What it models. The protocol of `specs/background-save.md`, one method per step, no thread
inside: the caller (the store's worker and owner, or the crash simulator) runs each step where
the table in `background_protocol.py` says, and may run writes between any two.

1. `freeze` (owner, lock held, no write in between): a copy-on-write view of the keyspace,
   the log position it equals (`covered` = the live log's epoch `e` and end offset `o`), and
   the start of the tee: every record appended to the live log from now on goes to the next
   log too -- as the live log's bytes past `o`, copied from it (`engine/log_tail.py`), so
   the write path does nothing more during a job.
2. `serialize` (off the lock): the view into a temp file -- `dump-{i}.rdb.tmp` (its trailer
   names `covered`), fsynced, for a snapshot; for a rewrite `aof-{i}.aof.tmp` = epoch marker
   `(e + 1, base)` + the commands that rebuild the view (fsynced by the next step).
3. `install_snapshot` (snapshot jobs, off the lock): rename the temp over `dump-{i}.rdb`,
   fsync_dir. A snapshot covering `(e, o)` pairs with the live log `e` at any moment (replay
   from `o`), so this needs no pause of the writers.
4. `take_tee` (owner: the live log's range appended since the last take) then `copy_tee`
   (off the lock), repeatable: that range goes into the new log temp (for a snapshot it is
   created here with marker `(e + 1, incr)`), fsynced. Most of the tee is copied off the
   lock, so the commit has little left to write.
5. `commit` (owner, lock held, no fsync of the live log in flight): the rest of the tee into the
   new log temp, fsync; the new log is renamed over `aof-{i}.aof`, becomes the live writer,
   fsync_dir. Only now is the job committed: everything written before it is durable in the
   new files. The replaced log's handle and the view's maps are kept until
   `close_retired_files` (off the lock): freeing a big file's blocks happens at its last
   close, and freeing a million frozen entries takes tens of milliseconds.
6. `abort` (owner) at any step before the log rename: the tee stops, temps are removed, the
   view is released; the live files hold what they held (a snapshot installed in step 3
   covers a position of the live log, so it pairs with it exactly).

Why no crash replays a write twice or drops one: the snapshot names the position it equals;
the new log is one epoch newer and holds exactly the records after that position (the tee);
the snapshot's name is durable before the new log's rename; and `history.plan_replay` pairs
each combination the disk can hold (specs/shard-history.md). A live-log failure during the job
(a refused write, a failed fsync) aborts it at commit: the view plus the tee would then not
equal the keyspace, which has the refused write applied. A shard that already refused writes
at the freeze takes none during the job, so its commit is exact and ends the refusal, as a
SAVE does.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

from kevy_persist.disk.fs import FileSystem
from kevy_persist.engine import aof, log_tail, snapshot
from kevy_persist.engine.background_protocol import (
    JobKind,
    JobPhaseTracker,
    Phase,
    PhaseListener,
    is_before_commit,
)
from kevy_persist.engine.rewrite import rebuild_commands
from kevy_persist.errors import KevyError, StorageIOError
from kevy_persist.formats.aof_format import encode_record, header_for
from kevy_persist.formats.log_markers import EpochMarker, epoch_marker_argv
from kevy_persist.formats.positions import LogKind, LogPosition

BATCH_RECORDS = aof.REWRITE_BATCH_RECORDS
BetweenChunks = Callable[[], None]


class JobCancelledError(KevyError):
    """Raised by a step's `between_chunks` callback to stop a job (shutdown, SAVE)."""


class JobRefusedError(KevyError):
    """The commit found the shard unable to take the job's files (its live log failed)."""

    def __init__(self, shard_index: int, reason: str) -> None:
        super().__init__(f"shard {shard_index}: background job aborted: {reason}")
        self.shard_index = shard_index
        self.reason = reason


class BackgroundJob:
    """The steps of one job on one shard (see the module docstring for who runs which)."""

    def __init__(self, shard: Any, kind: JobKind, view: Any, listener: PhaseListener | None) -> None:
        self.shard = shard
        self.kind = kind
        self.view = view
        writer = shard.writer
        self.covered = LogPosition(shard.epoch, writer.end_offset) if writer is not None else None
        self.writer_at_freeze = writer
        self.failure_at_freeze = shard.failure
        # The tee: the live log's bytes from the freeze's end offset on (engine/log_tail.py);
        # everything below `tee_copied_to` is in the new log temp already.
        self.has_log = writer is not None
        self.tee_copied_to = writer.end_offset if writer is not None else 0
        self.keys_at_freeze = len(shard.keyspace)
        self.changes_at_freeze = shard.changes_since_save
        self.serialized_bytes = 0
        self.tee_bytes = 0
        self.error: BaseException | None = None
        self._log_temp: Any = None  # the new log temp's handle, open for appends
        self._log_temp_end_offset = 0
        self._log_temp_synced_to = -1  # the temp's end when this process last fsynced it
        self._retired: list[Any] = []  # handles of replaced files, closed off the lock
        self.tracker = JobPhaseTracker(kind, listener)

    # -- paths ------------------------------------------------------------------------------

    @property
    def file_system(self) -> FileSystem:
        return self.shard.file_system

    @property
    def snapshot_temp_path(self) -> str:
        return snapshot.temp_path_for(self.shard.snapshot_path)

    @property
    def log_temp_path(self) -> str:
        return self.shard.log_path + aof.TEMP_SUFFIX

    @property
    def phase(self) -> Phase:
        return self.tracker.phase

    @property
    def next_epoch(self) -> int:
        """The epoch of the log this job makes (one past the live log's)."""
        return self.shard.epoch + 1

    @property
    def next_marker(self) -> EpochMarker | None:
        """The new log's first record: `(e + 1, incr)` after a snapshot, `(e + 1, base)` for
        a rewrite (None only in the simulator's kevy-1.23 variant, which has no epochs)."""
        kind = LogKind.INCREMENTAL if self.kind is JobKind.SNAPSHOT else LogKind.BASE
        return EpochMarker(self.next_epoch, kind.value)

    # -- 1. freeze (owner) ------------------------------------------------------------------

    @classmethod
    def freeze(
        cls, shard: Any, kind: JobKind, *, copy_view: bool = True, listener: PhaseListener | None = None
    ) -> BackgroundJob:
        """Start a job on `shard`; the caller holds its lock and runs no write meanwhile.

        `copy_view=False` when the serializer reads another copy of the keyspace frozen at
        this instant (a forked child's memory): then no Python-level view is kept.
        """
        assert shard.file_system is not None, "an in-memory shard has nothing to save"
        assert shard.background_job is None, "one background job per shard"
        assert kind is JobKind.SNAPSHOT or shard.writer is not None, "a rewrite needs a log"
        view = shard.keyspace.freeze_view() if copy_view else None
        job = cls(shard, kind, view, listener)
        shard.background_job = job
        return job

    # -- 2. serialize (off the lock) --------------------------------------------------------

    def serialize(self, entries: Iterable[Any] | None = None, *, between_chunks: BetweenChunks | None = None) -> int:
        """Write the view (or `entries`) into the temp file and fsync it; its size in bytes.

        A failure (or a cancellation raised by `between_chunks`) removes the temp and is
        re-raised; the caller then has the owner `abort` the job.
        """
        assert self.phase is Phase.FROZEN, self.phase
        if entries is None:
            assert self.view is not None, "a job frozen without a view needs its entries"
            entries = self.view.iter_entries()
        fs = self.file_system
        if self.kind is JobKind.SNAPSHOT:
            snapshot.write_snapshot_temp(fs, self.snapshot_temp_path, entries, self.covered,
                                         between_chunks=between_chunks)
            size_bytes = fs.size(self.snapshot_temp_path)
        else:
            size_bytes = self._write_rewrite_temp(entries, between_chunks)
        self.serialized_bytes = size_bytes
        self.tracker.advance(Phase.SERIALIZED)
        return size_bytes

    def adopt_serialized(self) -> int:
        """The temp file was written and fsynced by another process (a forked child) from the
        keyspace as it was at the freeze; record it as this job's serialize step."""
        assert self.phase is Phase.FROZEN, self.phase
        path = self.snapshot_temp_path if self.kind is JobKind.SNAPSHOT else self.log_temp_path
        self.serialized_bytes = self.file_system.size(path)
        self.tracker.advance(Phase.SERIALIZED)
        return self.serialized_bytes

    def _write_rewrite_temp(self, entries: Iterable[Any], between_chunks: BetweenChunks | None) -> int:
        shard = self.shard
        fs = self.file_system
        temp = aof.start_log_temp(fs, self.log_temp_path, shard.options.log_format, self.next_marker, (),
                                  clock=shard.clock)
        try:
            commands = rebuild_commands(entries)
            while batch := list(itertools.islice(commands, BATCH_RECORDS)):
                temp.append_many(batch)
                if between_chunks is not None:
                    between_chunks()
            # No fsync here: the tee copies append to this same file and the first one's
            # fsync, off the lock too, makes these commands durable with the tee's records.
        except BaseException:
            temp.close()
            _remove_quietly(fs, self.log_temp_path)
            raise
        temp.close()
        return temp.end_offset

    def release_view(self) -> tuple[dict, dict] | None:
        """Owner, after `serialize`: the view is no longer read, so the keyspace stops copying
        on write now rather than at the commit; returns the frozen maps for the caller to
        free off the lock (`free_in_chunks`), or None when there was no view."""
        assert self.phase is not Phase.FROZEN, "the view is still being serialized"
        if self.view is None:
            return None
        return self.view.release()

    # -- 3. install the snapshot (off the lock) ---------------------------------------------

    def install_snapshot(self) -> None:
        """Rename the snapshot temp over `dump-{i}.rdb` and fsync_dir (see the module doc).

        The old snapshot is held open across the rename so its blocks are freed at the close
        here, not inside the rename."""
        assert self.kind is JobKind.SNAPSHOT and self.phase is Phase.SERIALIZED, (self.kind, self.phase)
        fs = self.file_system
        path = self.shard.snapshot_path
        previous = fs.open_read(path) if fs.exists(path) else None
        try:
            snapshot.install_snapshot(fs, self.snapshot_temp_path, path)
        finally:
            if previous is not None:
                previous.close()
        self.tracker.advance(Phase.SNAPSHOT_INSTALLED)

    # -- 4. the tee (owner takes, off the lock copies) --------------------------------------

    def take_tee(self) -> tuple[int, int]:
        """Owner: the byte range of the live log appended since the last take."""
        assert self.has_log, "a shard without a log has no tee"
        start, end = self.tee_copied_to, self.shard.writer.end_offset
        self.tee_copied_to = end
        return start, end

    @property
    def pending_tee_bytes(self) -> int:
        """Live log bytes not yet taken (read off the lock: a moment's estimate)."""
        return self.shard.writer.end_offset - self.tee_copied_to if self.has_log else 0

    def copy_tee(self, tee_range: tuple[int, int], *, between_chunks: BetweenChunks | None = None) -> None:
        """Off the lock: append the live log's bytes `tee_range` (from `take_tee`) to the new
        log temp and fsync it (`between_chunks` is called after each chunk, as in `serialize`)."""
        assert self.phase in self._ready_for_tee, self.phase
        temp = self._append_to_log_temp(tee_range, between_chunks)
        # The bulk made durable here, off the lock, so the commit on the owner only fsyncs the
        # last few records -- and none at all when nothing arrived since this copy.
        temp.fsync()
        self._log_temp_synced_to = self._log_temp_end_offset
        self.tracker.advance(Phase.TEE_COPIED)

    def _append_to_log_temp(self, tee_range: tuple[int, int], between_chunks: BetweenChunks | None = None) -> Any:
        temp = self._open_log_temp()
        start, end = tee_range
        written = log_tail.copy_log_range(
            self.file_system, self.shard.log_path, start, end, temp, self.shard.options.log_format,
            between_chunks,
        )
        self._log_temp_end_offset += written
        self.tee_bytes += end - start
        return temp

    def _open_log_temp(self) -> Any:
        """The new log temp, open for appends: created here for a snapshot job (header and
        marker `(e + 1, incr)`), reopened for a rewrite (its serialize step wrote it)."""
        if self._log_temp is not None:
            return self._log_temp
        fs = self.file_system
        if self.kind is JobKind.SNAPSHOT:
            log_format = self.shard.options.log_format
            marker = self.next_marker
            head = header_for(log_format)
            if marker is not None:
                head += encode_record(log_format, epoch_marker_argv(marker, log_format))
            self._log_temp = fs.open_write(self.log_temp_path)
            self._log_temp.write(head)
            self._log_temp_end_offset = len(head)
        else:
            self._log_temp_end_offset = fs.size(self.log_temp_path)
            self._log_temp = fs.open_append(self.log_temp_path)
        return self._log_temp

    @property
    def _ready_for_tee(self) -> tuple[Phase, ...]:
        """The phases after which the tee may be copied (and the job committed)."""
        first = Phase.SNAPSHOT_INSTALLED if self.kind is JobKind.SNAPSHOT else Phase.SERIALIZED
        return (first, Phase.TEE_COPIED)

    # -- 5. commit (owner) ------------------------------------------------------------------

    def commit(self) -> None:
        """Owner, lock held, no fsync of the live log in flight: make the job's files live.

        Raises `JobRefusedError` (the live log failed during the job) or a `StorageIOError`;
        before the log rename the job is then aborted (live files as before); after it, the
        job is FAILED and the shard refuses writes until a later save succeeds. Call
        `close_retired_files` afterwards, off the lock.
        """
        assert self.phase in self._ready_for_tee, self.phase
        shard = self.shard
        assert shard.background_job is self, "the job was replaced"
        assert shard.writer is self.writer_at_freeze, "the live log changed under the job"
        assert self.covered is None or shard.epoch == self.covered.epoch, "the epoch changed under the job"
        try:
            if shard.failure != self.failure_at_freeze:
                raise JobRefusedError(shard.index, shard.failure or "the shard's log failed")
            if self.kind is JobKind.SNAPSHOT:
                shard.changes_since_save -= self.changes_at_freeze
            if not self.has_log:
                self._finish(Phase.COMMITTED)
                shard.failure = None
                return
            temp = self._append_to_log_temp(self.take_tee())
            if self._log_temp_synced_to != self._log_temp_end_offset:
                # the new log, durable before its rename (unless the last copy's fsync was)
                temp.fsync()
            self._close_log_temp()
            if self.phase is not Phase.TEE_COPIED:
                self.tracker.advance(Phase.TEE_COPIED)
            self.file_system.rename(self.log_temp_path, shard.log_path)
        except BaseException as error:
            self.abort(error)
            raise
        self._switch_to_new_log()
        self.tracker.advance(Phase.LOG_RENAMED)
        try:
            self.file_system.fsync_dir(shard.file_system_directory)
        except StorageIOError as error:
            shard.failure = f"the new log's name may not be durable: {error.reason}"
            self.error = error
            self._finish(Phase.FAILED)
            raise
        shard.failure = None  # fresh files, written and fsynced: the shard is trusted again
        self._finish(Phase.COMMITTED)

    def _switch_to_new_log(self) -> None:
        """The renamed temp is the live log from now on (as `Shard.start_log` does)."""
        shard = self.shard
        end_offset = self._log_temp_end_offset
        self._retired.append(shard.writer)  # closed by close_retired_files, off the lock
        handle = self.file_system.open_append(shard.log_path)
        shard.writer = aof.LogWriter(self.file_system, shard.log_path, handle, shard.options.log_format,
                                     end_offset, shard.clock, shard.options.fsync_policy)
        shard.epoch = self.next_epoch
        shard.synced_offset = end_offset
        shard.log_baseline_bytes = end_offset

    def _close_log_temp(self) -> None:
        self._open_log_temp().close()
        self._log_temp = None

    def close_retired_files(self) -> None:
        """Off the lock, after the commit or an abort: close the replaced log (its blocks are
        freed now) and drop the view's frozen maps (their entries are freed now)."""
        retired, self._retired = self._retired, []
        for handle in retired:
            handle.close()

    # -- 6. abort (owner) -------------------------------------------------------------------

    def abort(self, error: BaseException | None = None) -> None:
        """Owner: stop the tee, remove the temps, release the view (no worker may still be
        running a step of this job). The live files are left as they are."""
        if self.tracker.finished:
            return
        assert is_before_commit(self.phase), self.phase
        self.error = error if error is not None else self.error
        if self._log_temp is not None:
            self._log_temp.close()
            self._log_temp = None
        for path in (self.snapshot_temp_path, self.log_temp_path):
            _remove_quietly(self.file_system, path)
        self._finish(Phase.ABORTED)

    def _finish(self, phase: Phase) -> None:
        shard = self.shard
        if shard.background_job is self:
            shard.background_job = None
        if self.view is not None:
            self._retired.append(_FrozenMemory(self.view.release()))  # freed off the lock
        self.tracker.advance(phase)

    @property
    def finished(self) -> bool:
        return self.tracker.finished



class _FrozenMemory:
    """The maps of a released view, held until `close_retired_files` drops them."""

    __slots__ = ("_maps",)

    def __init__(self, maps: Any) -> None:
        self._maps = maps

    def close(self) -> None:
        self._maps = None


FREE_CHUNK_ENTRIES = 20_000


def free_in_chunks(frozen: tuple[dict, dict] | None, between_chunks: BetweenChunks | None = None) -> None:
    """Drop a released view's maps a chunk of entries at a time: freeing a million entries in
    one call holds the interpreter for tens of milliseconds, which other threads (a server's
    event loop) would wait out; `between_chunks` lets them in."""
    if frozen is None:
        return
    for frozen_map in frozen:
        while frozen_map:
            for _ in range(min(FREE_CHUNK_ENTRIES, len(frozen_map))):
                frozen_map.popitem()
            if between_chunks is not None:
                between_chunks()


def _remove_quietly(fs: FileSystem, path: str) -> None:
    """Clean up a temp; a second failure must not hide the first (a stray temp is harmless:
    nothing reads it, and the next job or save overwrites it)."""
    try:
        if fs.exists(path):
            fs.remove(path)
    except KevyError:
        pass
