"""Executable specification of the snapshot <-> log history protocol (specs/shard-history.md).

An abstract shard: operations are numbered 0, 1, 2...; a snapshot holds the first `count` of
them and names the log position it covers; a log has an epoch, a kind and records (one per
operation, record k at byte `HEADER + k`). The protocol actions are SAVE (snapshot, then a
fresh `incr` log), REWRITE (a `base` log holding everything) and their failures: a SAVE
whose new log never got renamed, and one whose new log's name did not survive the crash (the
shard refused writes meanwhile). A crash may stop the last action after any of its steps.

The property, checked by Hypothesis over action sequences and crash points: recovery by
`kevy_persist.history.plan_replay` rebuilds exactly the operations acknowledged so far, never
one twice, and refuses nothing. `plan_is_self_consistent` is a PEP 316 contract that
CrossHair checks over every input of `plan_replay`, not only the protocol's.
"""

from __future__ import annotations

import attrs

from kevy_persist.engine.history import HistoryDecision, plan_replay
from kevy_persist.formats.positions import LogIdentity, LogKind, LogPosition

HEADER = 16  # abstract header + marker size; record k of a log sits at byte HEADER + k


@attrs.frozen
class AbstractLog:
    epoch: int
    kind: LogKind
    first_operation: int  # the operation of record 0 (a base log starts at 0)
    record_count: int

    @property
    def end_offset(self) -> int:
        return HEADER + self.record_count


@attrs.frozen
class AbstractSnapshot:
    operation_count: int
    covered: LogPosition


@attrs.frozen
class Disk:
    snapshot: AbstractSnapshot | None
    log: AbstractLog


def plan_state(disk: Disk) -> int | None:
    """How many operations recovery rebuilds: None when refused, -1 for a hole or a double
    application (never correct), else the length of the rebuilt prefix."""
    snapshot = disk.snapshot
    decision, plan, _ = plan_replay(
        snapshot is not None,
        snapshot.covered if snapshot is not None else None,
        True,
        LogIdentity(disk.log.epoch, disk.log.kind),
    )
    if decision is not HistoryDecision.OK:
        return None
    assert plan is not None
    count = snapshot.operation_count if plan.load_snapshot and snapshot is not None else 0
    if not plan.replay_log:
        return count
    start_record = 0 if plan.log_start_offset is None else plan.log_start_offset - HEADER
    replayed = range(max(start_record, 0), disk.log.record_count)
    if len(replayed) == 0:
        return count
    first = disk.log.first_operation + replayed.start
    if first != count:
        return -1  # a hole or a double application: never a valid state
    return count + len(replayed)


def run(actions: list[str], crash_step: int) -> tuple[Disk, int]:
    """Apply `actions` (the last one cut after `crash_step` of its steps); (disk, acknowledged)."""
    disk = Disk(None, AbstractLog(1, LogKind.BASE, 0, 0))
    operations = 0
    for position, action in enumerate(actions):
        last = position == len(actions) - 1
        steps = crash_step if last else 99
        if action == "append":
            if steps >= 1:
                disk = attrs.evolve(disk, log=attrs.evolve(disk.log, record_count=disk.log.record_count + 1))
                operations += 1
        elif action in ("save", "save-log-fails", "save-log-name-lost"):
            log = disk.log
            if steps >= 1:
                disk = attrs.evolve(disk, snapshot=AbstractSnapshot(operations, LogPosition(log.epoch, log.end_offset)))
            if steps >= 2 and action == "save":
                disk = attrs.evolve(disk, log=AbstractLog(log.epoch + 1, LogKind.INCREMENTAL, operations, 0))
            # save-log-fails: the new log never replaced the old one, which stays in use.
            # save-log-name-lost: the rename happened but its name did not survive; the shard
            # refused writes until the next save, so the old log is what the crash leaves.
        elif action == "rewrite":
            if steps >= 1:
                disk = attrs.evolve(disk, log=AbstractLog(disk.log.epoch + 1, LogKind.BASE, 0, operations))
    return disk, operations


def plan_is_self_consistent(
    snapshot_present: bool,
    has_covered: bool,
    covered_epoch: int,
    covered_offset: int,
    log_present: bool,
    has_identity: bool,
    log_epoch: int,
    incremental: bool,
) -> bool:
    """A plan never loads a snapshot that is absent, starts replay only at a covered offset,
    and never replays a log that is absent; a refusal always says why.

    pre: covered_epoch >= 0 and covered_offset >= 0 and log_epoch >= 0
    post: __return__
    """
    covered = LogPosition(covered_epoch, covered_offset) if has_covered and snapshot_present else None
    identity = LogIdentity(log_epoch, LogKind.INCREMENTAL if incremental else LogKind.BASE) if has_identity else None
    decision, plan, reason = plan_replay(snapshot_present, covered, log_present, identity)
    if decision is not HistoryDecision.OK:
        return plan is None and bool(reason)
    assert plan is not None
    if plan.load_snapshot and not snapshot_present:
        return False
    if plan.log_start_offset is not None and (covered is None or plan.log_start_offset != covered.offset):
        return False
    return log_present or not plan.replay_log
