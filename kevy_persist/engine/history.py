"""Which snapshot and which part of which log make up a shard's state (DESIGN §3).

Pure decision logic, no I/O: given what the snapshot's trailer says it covers and what the
log's epoch marker says the log is, decide where replay starts -- or refuse, because history is
missing and guessing would silently lose or duplicate writes.

The table (snapshot epoch = the trailer's epoch; a kevy-written snapshot without trailer, or
ours written for a format-1 log, names no position and counts as epoch 0; a legacy log is one
without an epoch marker -- kevy's, or ours in format 1):

| log                               | snapshot needed | replay from                      |
|-----------------------------------|-----------------|----------------------------------|
| absent                            | if present      | nothing                          |
| legacy, snapshot without position | if present      | the log's first record           |
| legacy, snapshot covers a position| yes             | the covered offset               |
| `base`, any epoch                 | no (ignored)    | the first record after the marker|
| any, epoch < snapshot epoch       | yes             | nothing: the log is stale        |
| `incr`, epoch == snapshot epoch   | yes (trailer)   | the trailer's covered offset     |
| `incr`, epoch == snapshot epoch+1 | yes             | the first record after the marker|
| any other `incr`                  | --              | refused: history is missing      |

The second-to-last row is the reset log written right after a save; the one before it is the
crash window between a save's snapshot rename and its log swap, where the old log is still in
place and only its tail past the covered offset is new. A shard opened in that window must
finish the save (write the reset log) before it appends: the old log's valid end may lie
before the covered offset, and appends there would be skipped by the next replay.
"""

from __future__ import annotations

import enum

import attrs

from kevy_persist.formats.positions import LogIdentity, LogKind, LogPosition


@attrs.frozen
class ReplayPlan:
    load_snapshot: bool
    # Byte offset in the log where replay starts; None = the first record after the header
    # (and after the epoch marker, when there is one).
    log_start_offset: int | None
    replay_log: bool
    # The log must be replaced by a fresh one (epoch = the snapshot's + 1) before appends:
    # an interrupted save is finished, or a stale log is retired.
    replace_log: bool = False


class HistoryDecision(enum.Enum):
    OK = "ok"
    MISSING_HISTORY = "missing-history"


def plan_replay(
    snapshot_present: bool,
    covered: LogPosition | None,
    log_present: bool,
    identity: LogIdentity | None,
) -> tuple[HistoryDecision, ReplayPlan | None, str]:
    """Decide how to rebuild a shard; the string explains a refusal.

    `covered` is the snapshot trailer's position (None without snapshot or without trailer).
    """
    assert covered is None or snapshot_present, "a covered position comes from a snapshot"
    snapshot_epoch = covered.epoch if covered is not None else 0
    if not log_present:
        return HistoryDecision.OK, ReplayPlan(snapshot_present, None, False), ""
    if identity is None:
        if covered is not None:
            # Our snapshot of a legacy log (a save after opening a kevy dir): the crash window
            # before the log swap. The reset log would carry a marker, so this is the old log.
            return HistoryDecision.OK, ReplayPlan(True, covered.offset, True, replace_log=True), ""
        return HistoryDecision.OK, ReplayPlan(snapshot_present, None, True), ""
    if covered is not None and identity.epoch < snapshot_epoch:
        # A stale log: a snapshot of a later epoch exists, so this log was closed at a point
        # an earlier save covered; its whole content is in the snapshot (a failed log swap
        # whose directory entry did not become durable leaves exactly this).
        return HistoryDecision.OK, ReplayPlan(True, None, False, replace_log=True), ""
    if identity.kind is LogKind.BASE:
        return HistoryDecision.OK, ReplayPlan(False, None, True), ""
    if covered is not None and identity.epoch == snapshot_epoch:
        return HistoryDecision.OK, ReplayPlan(True, covered.offset, True, replace_log=True), ""
    if snapshot_present and identity.epoch == snapshot_epoch + 1:
        return HistoryDecision.OK, ReplayPlan(snapshot_present, None, True), ""
    if not snapshot_present:
        reason = f"log continues a snapshot (epoch {identity.epoch}) but no snapshot exists"
    else:
        reason = (
            f"log epoch {identity.epoch} does not continue the snapshot, which covers "
            f"epoch {snapshot_epoch}"
        )
    return HistoryDecision.MISSING_HISTORY, None, reason
