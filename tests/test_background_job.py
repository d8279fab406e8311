"""The background job protocol on one shard: steps, the transition table, abort, failures.

Method: a shard opened on the simulator's in-memory file system (`open_shard`), writes run
between every step of a BGSAVE or BGREWRITEAOF job, then the files are read back by a fresh
`open_shard` on a clean reboot (every live byte durable) and compared with the keyspace the
writes produced. Crash states between the steps are the simulator's job (`sim/`, workloads
`background-*`); these tests pin the steps' contracts one by one.
"""

from __future__ import annotations

import errno
import itertools
import random

import pytest

from kevy_persist.commands import CommandContext
from kevy_persist.disk.clock import ManualClock
from kevy_persist.engine import aof
from kevy_persist.engine.aof import FsyncPolicy
from kevy_persist.engine.background_job import BackgroundJob, JobCancelledError, JobRefusedError
from kevy_persist.engine.background_protocol import (
    TRANSITIONS,
    JobKind,
    JobPhaseTracker,
    JobProtocolViolation,
    Phase,
)
from kevy_persist.engine.shard import ShardOptions
from kevy_persist.engine.shard_opening import open_shard
from kevy_persist.engine.snapshot import load_snapshot
from kevy_persist.errors import StorageIOError, WritesRefusedError
from kevy_persist.formats.positions import LogPosition
from sim.simfs import SimFileSystem
from store_support import reboot

DIRECTORY = "/data"


class FailNextFsync:
    """A fault plan for `SimFileSystem`: the next fsync fails with EIO, nothing else does."""

    def __init__(self):
        self.spent = False

    def write_outcome(self, step_index, size_bytes):
        return size_bytes, None

    def fsync_fails(self, step_index):
        failing, self.spent = not self.spent, True
        return failing

    def failure(self, step_index, call):
        """The fault-plan interface every door call asks (maybe twice for one call): EIO for
        the first fsync only."""
        if call != "fsync":
            return None
        if not self.spent:
            self.spent, self.failing_step = True, step_index
        return errno.EIO if step_index == getattr(self, "failing_step", None) else None


def open_data_shard(fs, **options):
    fs.make_dirs(DIRECTORY)
    return open_shard(fs, ManualClock(), ShardOptions(directory=DIRECTORY, index=0, **options))


def run(shard, *argv):
    reply, _ = shard.execute([part if isinstance(part, bytes) else str(part).encode() for part in argv],
                             CommandContext(shard.clock.now_ms(), random.Random(0)))
    return reply


def state(shard):
    return {key: value if isinstance(value, bytes) else (dict(value) if isinstance(value, dict) else list(value))
            for key, _, value, _ in shard.keyspace.iter_entries()}


counter = itertools.count()


def writes(shard):
    """One INCR, APPEND, LPUSH and a two-command transaction (all non-idempotent)."""
    number = next(counter)
    run(shard, "INCR", "counter")
    run(shard, "APPEND", "text", f"t{number}")
    run(shard, "LPUSH", "list", f"l{number}")
    shard.execute_transaction([[b"INCR", b"counter"], [b"RPUSH", b"list", b"x%d" % number]],
                              CommandContext(0, random.Random(0)), True)


def serialize_and_install(job):
    """The off-the-lock steps before the tee: serialize, and for a snapshot job install it."""
    job.serialize()
    if job.kind is JobKind.SNAPSHOT:
        job.install_snapshot()


def run_job(shard, kind, between=writes):
    """Every step of a job with `between(shard)` before, between and after the steps."""
    between(shard)
    job = BackgroundJob.freeze(shard, kind)
    between(shard)
    job.serialize()
    between(shard)
    if kind is JobKind.SNAPSHOT:
        job.install_snapshot()
        between(shard)
    job.copy_tee(job.take_tee())
    between(shard)
    job.copy_tee(job.take_tee())
    between(shard)
    job.commit()
    job.close_retired_files()
    between(shard)
    return job


@pytest.mark.parametrize("kind", list(JobKind))
def test_a_job_with_writes_between_every_step_reopens_to_the_same_state(kind):
    """After the commit, a clean reboot's `open_shard` rebuilds exactly the keyspace."""
    fs = SimFileSystem()
    shard = open_data_shard(fs)
    epoch_before = shard.epoch
    job = run_job(shard, kind)
    assert job.phase is Phase.COMMITTED
    assert shard.epoch == epoch_before + 1
    assert shard.background_job is None
    expected = state(shard)
    shard.close()
    reopened = open_data_shard(reboot(fs))
    assert state(reopened) == expected
    assert not reopened.open_report.finished_interrupted_save


def test_a_snapshot_job_names_the_frozen_position_and_the_new_log_holds_only_the_tee():
    """The snapshot's trailer covers (e, end offset at freeze); the new log is (e+1, incr)
    and holds exactly the records appended after the freeze."""
    fs = SimFileSystem()
    shard = open_data_shard(fs)
    writes(shard)
    epoch, offset = shard.epoch, shard.writer.end_offset
    job = BackgroundJob.freeze(shard, JobKind.SNAPSHOT)
    run(shard, "LPUSH", "list", "after-freeze")
    serialize_and_install(job)
    job.commit()
    loaded = load_snapshot(fs, shard.snapshot_path)
    assert loaded.covered == LogPosition(epoch, offset)
    assert b"after-freeze" not in {item for _, _, value, _ in loaded.records if not isinstance(value, bytes)
                                   for item in value}
    scan = aof.scan_log(fs, shard.log_path)
    assert scan.epoch_marker.epoch == epoch + 1 and scan.epoch_marker.kind == "incr"
    commands = [entry.argv for entry in aof.iter_log(fs, shard.log_path)][1:]
    assert commands == [[b"LPUSH", b"list", b"after-freeze"]]


def test_a_rewrite_job_writes_a_base_log_of_the_view_then_the_tee():
    fs = SimFileSystem()
    shard = open_data_shard(fs)
    for number in range(5):
        run(shard, "RPUSH", "list", f"item{number}")
    job = BackgroundJob.freeze(shard, JobKind.REWRITE)
    run(shard, "RPUSH", "list", "after-freeze")
    job.serialize()
    job.copy_tee(job.take_tee())
    job.commit()
    scan = aof.scan_log(fs, shard.log_path)
    assert scan.epoch_marker.kind == "base"
    commands = [entry.argv for entry in aof.iter_log(fs, shard.log_path)][1:]
    assert commands == [[b"RPUSH", b"list", *(b"item%d" % n for n in range(5))],
                        [b"RPUSH", b"list", b"after-freeze"]]


def test_the_view_is_copy_on_write_so_writes_after_the_freeze_stay_out_of_the_snapshot():
    fs = SimFileSystem()
    shard = open_data_shard(fs)
    run(shard, "HSET", "hash", "a", "1")
    run(shard, "SET", "string", "before")
    job = BackgroundJob.freeze(shard, JobKind.SNAPSHOT)
    run(shard, "HSET", "hash", "b", "2")
    run(shard, "SET", "string", "after")
    run(shard, "DEL", "hash")
    serialize_and_install(job)
    job.commit()
    records = {key: value for key, _, value, _ in load_snapshot(fs, shard.snapshot_path).records}
    strings = dict(records)
    assert strings[b"string"] == b"before"
    assert dict(strings[b"hash"]) == {b"a": b"1"}


@pytest.mark.parametrize("kind", list(JobKind))
@pytest.mark.parametrize("abort_after", ["freeze", "serialize", "install", "copy_tee"])
def test_an_abort_before_the_commit_leaves_the_live_files_as_they_were(kind, abort_after):
    """Byte for byte: the live log (and, before a snapshot job's install, the snapshot) are
    what the writes alone made of them; the temps are gone, the tee stopped, the view
    released; reopening gives the live keyspace (an installed snapshot pairs with the log)."""
    fs = SimFileSystem()
    shard = open_data_shard(fs)
    writes(shard)
    shard.save()
    writes(shard)
    job = BackgroundJob.freeze(shard, kind)
    steps = ["freeze", "serialize", "install", "copy_tee"]
    reached = steps[: steps.index(abort_after) + 1]
    if "serialize" in reached:
        job.serialize()
    if "install" in reached and kind is JobKind.SNAPSHOT:
        job.install_snapshot()
    if "copy_tee" in reached:
        job.copy_tee(job.take_tee())
    writes(shard)
    installed = job.phase is Phase.SNAPSHOT_INSTALLED or (kind is JobKind.SNAPSHOT and "install" in reached)
    live_before = {name: fs.read_bytes(f"{DIRECTORY}/{name}") for name in fs.list_dir(DIRECTORY)
                   if not name.endswith(".tmp") and not (installed and name.endswith(".rdb"))}
    job.abort()
    assert job.phase is Phase.ABORTED
    assert {name: fs.read_bytes(f"{DIRECTORY}/{name}") for name in fs.list_dir(DIRECTORY)
            if not (installed and name.endswith(".rdb"))} == live_before
    assert shard.background_job is None
    assert shard.keyspace._view_count == 0
    run(shard, "INCR", "counter")  # the tee is gone: the record goes to the live log only
    expected = state(shard)
    shard.close()
    assert state(open_data_shard(reboot(fs))) == expected


def test_a_cancelled_serialize_removes_its_temp_and_the_job_aborts():
    fs = SimFileSystem()
    shard = open_data_shard(fs)
    for number in range(20000):
        run(shard, "SET", f"key{number}", "value")
    job = BackgroundJob.freeze(shard, JobKind.SNAPSHOT)

    def cancel():
        raise JobCancelledError("stop")

    with pytest.raises(JobCancelledError):
        job.serialize(between_chunks=cancel)
    assert not fs.exists(job.snapshot_temp_path)
    job.abort()
    assert job.phase is Phase.ABORTED


def test_a_live_log_failure_during_the_job_aborts_it_at_the_commit():
    """A write the live log refused is applied in memory but is in neither the view nor the
    tee, so committing would lose it behind later writes: the commit refuses, the shard keeps
    refusing writes (MISCONF) until a SAVE."""
    fs = SimFileSystem()
    shard = open_data_shard(fs)
    writes(shard)
    job = BackgroundJob.freeze(shard, JobKind.SNAPSHOT)
    serialize_and_install(job)
    shard.failure = "fsync failed: EIO (injected by the test)"
    with pytest.raises(JobRefusedError):
        job.commit()
    assert job.phase is Phase.ABORTED
    assert not fs.exists(job.snapshot_temp_path) and not fs.exists(job.log_temp_path)
    with pytest.raises(WritesRefusedError):
        run(shard, "INCR", "counter")


def test_a_shard_that_refused_writes_at_the_freeze_is_trusted_again_after_the_commit():
    fs = SimFileSystem()
    shard = open_data_shard(fs)
    writes(shard)
    shard.failure = "fsync failed: EIO (injected by the test)"
    job = BackgroundJob.freeze(shard, JobKind.SNAPSHOT)
    serialize_and_install(job)
    job.commit()
    assert shard.failure is None
    run(shard, "INCR", "counter")


def test_a_failed_temp_fsync_aborts_and_leaves_the_live_log_in_use():
    """EIO on the new log temp's fsync at the commit: aborted, the old log still appends."""
    fs = SimFileSystem()
    shard = open_data_shard(fs)
    writes(shard)
    job = BackgroundJob.freeze(shard, JobKind.REWRITE)
    job.serialize()
    live_log = shard.writer
    fs.faults = FailNextFsync()  # the commit's fsync of the new log temp
    with pytest.raises(StorageIOError):
        job.commit()
    fs.faults = None
    assert job.phase is Phase.ABORTED
    assert shard.writer is live_log and shard.failure is None
    run(shard, "INCR", "counter")


def test_a_snapshot_job_without_a_log_installs_the_snapshot_only():
    fs = SimFileSystem()
    shard = open_data_shard(fs, log_enabled=False)
    run(shard, "SET", "k", "v")
    job = BackgroundJob.freeze(shard, JobKind.SNAPSHOT)
    run(shard, "SET", "k", "after")
    serialize_and_install(job)
    job.commit()
    assert job.tracker.history == [Phase.FROZEN, Phase.SERIALIZED, Phase.SNAPSHOT_INSTALLED, Phase.COMMITTED]
    assert dict((key, value) for key, _, value, _ in load_snapshot(fs, shard.snapshot_path).records) == {b"k": b"v"}


def test_changes_since_save_count_writes_and_a_snapshot_job_subtracts_those_before_its_freeze():
    fs = SimFileSystem()
    shard = open_data_shard(fs)
    run(shard, "SET", "a", "1")
    run(shard, "GET", "a")  # a read changes nothing
    run(shard, "INCR", "n")
    assert shard.changes_since_save == 2
    job = BackgroundJob.freeze(shard, JobKind.SNAPSHOT)
    run(shard, "INCR", "n")
    serialize_and_install(job)
    job.commit()
    assert shard.changes_since_save == 1


def test_one_job_per_shard_and_no_synchronous_save_under_a_job():
    fs = SimFileSystem()
    shard = open_data_shard(fs)
    BackgroundJob.freeze(shard, JobKind.SNAPSHOT)
    with pytest.raises(AssertionError):
        BackgroundJob.freeze(shard, JobKind.REWRITE)
    with pytest.raises(AssertionError):
        shard.save()


@pytest.mark.parametrize("kind", list(JobKind))
def test_every_move_outside_the_transition_table_is_refused(kind):
    """Method: every (phase, phase) pair of the kind; the tracker accepts exactly the table's."""
    for source, target in itertools.product(Phase, Phase):
        tracker = JobPhaseTracker(kind)
        tracker.phase = source
        if target in TRANSITIONS[kind][source]:
            tracker.advance(target)
            assert tracker.phase is target
        else:
            with pytest.raises(JobProtocolViolation):
                tracker.advance(target)


def test_large_collections_are_serialized_in_slices():
    """A 20,000-field hash is written as several chunks (no single join of its whole payload)
    and reads back whole."""
    from kevy_persist.formats import snapshot_format
    from kevy_persist.formats.records import ValueKind
    from kevy_persist.formats.snapshot_decode import decode_snapshot

    big = {b"f%d" % number: b"v" for number in range(20000)}
    chunks = list(snapshot_format.encode_snapshot_chunks([(b"h", ValueKind.HASH, big, None)], None))
    assert len(chunks) >= 20000 // snapshot_format.LARGE_VALUE_SLICE_ITEMS
    assert max(map(len, chunks)) < 4 * snapshot_format.LARGE_VALUE_SLICE_ITEMS * 16
    decoded = decode_snapshot(b"".join(chunks), "mem")
    [(key, kind, value, deadline)] = decoded.records
    assert dict(value) == big


def test_fsync_policy_is_kept_by_the_new_writer():
    fs = SimFileSystem()
    shard = open_data_shard(fs, fsync_policy=FsyncPolicy.ALWAYS)
    run_job(shard, JobKind.SNAPSHOT)
    assert shard.writer.policy is FsyncPolicy.ALWAYS


@pytest.mark.parametrize("kind", list(JobKind))
def test_a_tee_across_log_formats_is_re_encoded(kind):
    """A format-1 log (kevy 1.23's) opened with log_format=2: the tee's records written during
    the job are read from the live v1 log and re-encoded into the new v2 log."""
    fs = SimFileSystem()
    shard = open_data_shard(fs, log_format=1)
    writes(shard)
    shard.close()
    shard = open_data_shard(fs, log_format=2)
    assert shard.writer.format_version == 1
    job = run_job(shard, kind)
    assert job.tee_bytes > 0
    assert aof.scan_log(fs, shard.log_path).format_version == 2
    expected = state(shard)
    shard.close()
    assert state(open_data_shard(reboot(fs))) == expected


def test_the_write_path_keeps_nothing_extra_during_a_job():
    """The tee is the live log's tail: a job adds no per-write state to the shard."""
    fs = SimFileSystem()
    shard = open_data_shard(fs)
    job = BackgroundJob.freeze(shard, JobKind.SNAPSHOT)
    before = shard.writer.end_offset
    for number in range(100):
        run(shard, "SET", f"k{number}", "v")
    assert job.take_tee() == (before, shard.writer.end_offset)
    assert job.take_tee() == (shard.writer.end_offset, shard.writer.end_offset)
