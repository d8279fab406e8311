"""The simulator catches the Rust kevy 1.23's commit order; ours passes the same schedule.

Method. `kevy123-order-no` runs the background schedule (`sim/workloads/background.py`) with
kevy 1.23's order (rename the snapshot, then reset the log; no epochs, a rewritten log that
does not say it is the full state); `background-no` runs it with ours. The explorer sweeps
both. A direct run shows the no-crash case: SAVE, then BGREWRITEAOF, then a restart doubles
every list under kevy's order and is exact under ours.
"""

from __future__ import annotations

import random

from kevy_persist.commands import CommandContext
from kevy_persist.disk.clock import ManualClock
from kevy_persist.engine.background_job import BackgroundJob
from kevy_persist.engine.background_protocol import JobKind
from kevy_persist.engine.shard import ShardOptions
from kevy_persist.engine.shard_opening import open_shard
from sim.cut_outcomes import cut_outcomes
from sim.explorer import SweepConfig, record, selected_operations, sweep
from sim.profiles import Limits
from sim.report import format_summary
from sim.simfs import SimFileSystem
from sim.workloads import workload_named
from sim.workloads.kevy_commit_order import KevyOrderWorkload


def _lists_after_save_rewrite_restart(job_class) -> dict:
    fs = SimFileSystem()
    fs.make_dirs("/data")
    options = ShardOptions(directory="/data", index=0)
    shard = open_shard(fs, ManualClock(), options)
    context = CommandContext(0, random.Random(0))
    for name in (b"a", b"b", b"c"):
        shard.execute([b"RPUSH", b"list:" + name, b"x", b"y"], context)
    for kind in (JobKind.SNAPSHOT, JobKind.REWRITE):
        job = job_class.freeze(shard, kind)
        job.serialize()
        if kind is JobKind.SNAPSHOT:
            job.install_snapshot()
        job.copy_tee(job.take_tee())
        job.commit()
        job.close_retired_files()
    shard.close()
    reopened = open_shard(SimFileSystem.from_image(_live_image(fs)), ManualClock(), options)
    return {key: list(value) for key, _, value, _ in reopened.keyspace.iter_entries()}


def _live_image(fs):
    from sim.disk import Image

    return Image(("/", "/data"), tuple(sorted((f"/data/{name}", fs.read_bytes(f"/data/{name}"))
                                              for name in fs.list_dir("/data"))))


def test_save_then_rewrite_then_restart_doubles_every_list_in_kevy_order_only():
    """No crash at all: kevy's order loads the snapshot and then the full-state log over it."""
    kevy_job = KevyOrderWorkload("no").job_class()
    assert _lists_after_save_rewrite_restart(kevy_job) == {
        b"list:" + name: [b"x", b"y", b"x", b"y"] for name in (b"a", b"b", b"c")}
    assert _lists_after_save_rewrite_restart(BackgroundJob) == {
        b"list:" + name: [b"x", b"y"] for name in (b"a", b"b", b"c")}


def test_the_sweep_finds_kevy_orders_double_application_and_passes_ours():
    """strict: kevy's order fails at the end of the run (no crash needed); ext4-ordered also
    fails at a cut between its snapshot rename and its log reset; ours: no violation."""
    kevy = sweep(SweepConfig("kevy123-order-no", "strict", limits=Limits(48, 12), nested_limits=Limits(4, 2)))
    assert kevy.violation_count > 0
    assert {violation.kind for violation in kevy.violations} == {"not-a-prefix"}
    # The saved shard's list holds its first item twice: the snapshot's copy and the log's.
    assert any(violation.detail.count("b'first'") == 2 for violation in kevy.violations), format_summary(kevy)

    workload = workload_named("kevy123-order-no")
    config = SweepConfig("kevy123-order-no", "ext4-ordered", limits=Limits(48, 12))
    steps = record(workload, selected_operations(workload, config), config, None).steps
    snapshot_rename = next(index for index, operation, path, _ in steps
                           if operation == "rename" and path.endswith(".rdb.tmp"))
    log_rename = next(index for index, operation, path, _ in steps
                      if index > snapshot_rename and operation == "rename" and path.endswith(".aof.tmp"))
    window = [kinds for cut, _, kinds in cut_outcomes("kevy123-order-no", "ext4-ordered", limits=Limits(48, 12))
              if snapshot_rename < cut <= log_rename]
    assert any("VIOLATION:not-a-prefix" in kinds for kinds in window), window

    for profile in ("strict", "ext4-ordered"):
        ours = sweep(SweepConfig("background-no", profile, limits=Limits(48, 12), nested_limits=Limits(4, 2)))
        assert ours.violation_count == 0, format_summary(ours)
