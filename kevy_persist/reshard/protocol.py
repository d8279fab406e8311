"""The re-shard protocol's phases and the transitions between them (the table is the spec).

Everything that decides *in which order* a re-shard may touch the disk lives here, in the
shape of h11's `_state.py`: an `Enum` of phases and one dict of allowed transitions; any
other move is a programming error and raises `ProtocolViolation`. `specs/reshard.md`
numbers the same steps and states the crash outcome after each; this module is pure.

Forward path (a new attempt, `reshard.reshard`):

    IDLE -> STALE_TEMPS_REMOVED -> TEMPS_WRITTEN -> TEMPS_DURABLE -> JOURNAL_WRITTEN
         -> COMMITTED -> TARGETS_INSTALLED -> LAYOUT_RECORDED -> FINISHED

Recovery at open (`reshard_recovery.recover_interrupted_reshard`):

    IDLE -> JOURNAL_FOUND -> TARGETS_INSTALLED -> LAYOUT_RECORDED -> FINISHED   (roll forward)
    IDLE -> DISCARDED                                                          (torn journal
                                                                                or stale temps)

Any phase before COMMITTED may go to ABORTED (an error while building the new shards: the
old layout is intact). From COMMITTED / JOURNAL_FOUND on there is no way back: an error
propagates and the next open rolls forward.

`COMMIT_PHASES` is where the journal is durable: a crash from there on must roll forward;
before `JOURNAL_WRITTEN` it must discard. Between the two (the journal written and fsynced,
its name not yet durable) either outcome is correct, depending on whether the name
survived.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from kevy_persist.errors import KevyError


class Phase(enum.Enum):
    IDLE = "idle"
    STALE_TEMPS_REMOVED = "stale-temps-removed"
    TEMPS_WRITTEN = "temps-written"  # every dump-{i}.rdb.reshard written and fsynced
    TEMPS_DURABLE = "temps-durable"  # fsync_dir: their names survive any crash
    JOURNAL_WRITTEN = "journal-written"  # reshard.journal written and fsynced
    COMMITTED = "committed"  # fsync_dir: the journal's name is durable (commit point)
    JOURNAL_FOUND = "journal-found"  # recovery read a complete journal (committed earlier)
    TARGETS_INSTALLED = "targets-installed"  # old files moved away, temps copied in, fsync_dir
    LAYOUT_RECORDED = "layout-recorded"  # shards.meta names the new layout (durable)
    FINISHED = "finished"  # temps and journal removed, fsync_dir
    DISCARDED = "discarded"  # recovery threw away an uncommitted attempt
    ABORTED = "aborted"  # the attempt failed before its commit point


TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.IDLE: frozenset({Phase.STALE_TEMPS_REMOVED, Phase.JOURNAL_FOUND, Phase.DISCARDED, Phase.ABORTED}),
    Phase.STALE_TEMPS_REMOVED: frozenset({Phase.TEMPS_WRITTEN, Phase.ABORTED}),
    Phase.TEMPS_WRITTEN: frozenset({Phase.TEMPS_DURABLE, Phase.ABORTED}),
    Phase.TEMPS_DURABLE: frozenset({Phase.JOURNAL_WRITTEN, Phase.ABORTED}),
    Phase.JOURNAL_WRITTEN: frozenset({Phase.COMMITTED, Phase.ABORTED}),
    Phase.COMMITTED: frozenset({Phase.TARGETS_INSTALLED}),
    Phase.JOURNAL_FOUND: frozenset({Phase.TARGETS_INSTALLED}),
    Phase.TARGETS_INSTALLED: frozenset({Phase.LAYOUT_RECORDED}),
    Phase.LAYOUT_RECORDED: frozenset({Phase.FINISHED}),
    Phase.FINISHED: frozenset(),
    Phase.DISCARDED: frozenset(),
    Phase.ABORTED: frozenset(),
}

# Phases in which the attempt is committed: a crash must be rolled forward.
COMMIT_PHASES = frozenset(
    {Phase.COMMITTED, Phase.JOURNAL_FOUND, Phase.TARGETS_INSTALLED, Phase.LAYOUT_RECORDED, Phase.FINISHED}
)

PhaseListener = Callable[[Phase], None]


class ProtocolViolation(KevyError):
    """Code asked for a transition the table does not allow (a bug, never a disk state)."""

    def __init__(self, current: Phase, requested: Phase) -> None:
        super().__init__(f"re-shard phase {current.value} cannot move to {requested.value}")
        self.current = current
        self.requested = requested


class PhaseTracker:
    """The current phase of one attempt or recovery; tells an optional listener each move.

    The simulator's re-shard workloads listen to learn where the commit point lies in the
    run, so their oracle can tell a legitimate discard from a lost commit.
    """

    __slots__ = ("phase", "history", "_listener")

    def __init__(self, listener: PhaseListener | None = None) -> None:
        self.phase = Phase.IDLE
        self.history: list[Phase] = [Phase.IDLE]
        self._listener = listener

    def advance(self, phase: Phase) -> None:
        if phase not in TRANSITIONS[self.phase]:
            raise ProtocolViolation(self.phase, phase)
        self.phase = phase
        self.history.append(phase)
        if self._listener is not None:
            self._listener(phase)

    @property
    def committed(self) -> bool:
        return self.phase in COMMIT_PHASES


def may_abort(phase: Phase) -> bool:
    """Before the commit point an attempt can still be abandoned (old layout intact)."""
    return Phase.ABORTED in TRANSITIONS[phase]
