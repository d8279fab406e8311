"""The background job protocol's phases and the moves between them (the table is the spec).

A background job is one BGSAVE (`JobKind.SNAPSHOT`) or one BGREWRITEAOF (`JobKind.REWRITE`)
of one shard. Everything that decides *in which order* it may touch the disk lives here, in
the shape of h11's `_state.py`: an `Enum` of phases and one transition table per kind; any
other move is a programming error and raises `JobProtocolViolation`. The steps themselves are
`background_job.py`; `specs/background-save.md` numbers them with the crash outcome after
each. This module is pure.

Who runs each step (the store decides where; nothing here starts a thread):

| step            | phase reached       | runs on            | what it does                              |
|-----------------|---------------------|--------------------|-------------------------------------------|
| freeze          | FROZEN              | owner (lock held)  | copy-on-write view, covered position, tee |
| serialize       | SERIALIZED          | off the lock       | temp file from the view (a snapshot's fsynced; a rewrite's by the first tee copy) |
| install snapshot| SNAPSHOT_INSTALLED  | off the lock       | rename over `dump-{i}.rdb`, fsync_dir (snapshot jobs) |
| copy tee        | TEE_COPIED          | off the lock       | records taken from the tee into the new log temp, fsynced (repeatable) |
| commit          | LOG_RENAMED         | owner              | last records, fsync, rename over `aof-{i}.aof`, switch writer |
| (fsync_dir)     | COMMITTED           | owner              | the new log's name is durable             |

The snapshot may be installed off the lock because a snapshot covering `(e, o)` pairs with
the live log `e` at any moment: replay from `o` gives the live state, whatever was appended
since (`history.plan_replay`). A snapshot job of a shard without a log (appendonly off) goes
SNAPSHOT_INSTALLED -> COMMITTED. ABORTED leaves the live files as they were (after
SNAPSHOT_INSTALLED the new snapshot covers a position of the live log, so the shard's state
is unchanged); FAILED means the new log is live but its name may not be durable, so the
shard refuses writes until a save succeeds.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from kevy_persist.errors import KevyError


class JobKind(enum.Enum):
    SNAPSHOT = "bgsave"  # a snapshot, then the next `incr` log holding the tee
    REWRITE = "bgrewriteaof"  # the next `base` log: the view's rebuild commands, then the tee


class Phase(enum.Enum):
    FROZEN = "frozen"  # view frozen, covered position taken, tee started (owner)
    SERIALIZED = "serialized"  # the temp file holds the view and is fsynced
    TEE_COPIED = "tee-copied"  # records taken from the tee are in the new log temp, fsynced
    SNAPSHOT_INSTALLED = "snapshot-installed"  # dump-{i}.rdb is the new snapshot (durable)
    LOG_RENAMED = "log-renamed"  # aof-{i}.aof is the new log; its name not yet durable
    COMMITTED = "committed"  # fsync_dir: the new log's name is durable; tee stopped
    ABORTED = "aborted"  # tee stopped, temps removed, live files as before
    FAILED = "failed"  # the new log is live but its name may not be durable (MISCONF)


_BEFORE_COMMIT = frozenset({Phase.FROZEN, Phase.SERIALIZED, Phase.TEE_COPIED, Phase.SNAPSHOT_INSTALLED})

TRANSITIONS: dict[JobKind, dict[Phase, frozenset[Phase]]] = {
    JobKind.SNAPSHOT: {
        Phase.FROZEN: frozenset({Phase.SERIALIZED, Phase.ABORTED}),
        Phase.SERIALIZED: frozenset({Phase.SNAPSHOT_INSTALLED, Phase.ABORTED}),
        # COMMITTED straight from here only for a shard without a log (nothing to tee).
        Phase.SNAPSHOT_INSTALLED: frozenset({Phase.TEE_COPIED, Phase.COMMITTED, Phase.ABORTED}),
        Phase.TEE_COPIED: frozenset({Phase.TEE_COPIED, Phase.LOG_RENAMED, Phase.ABORTED}),
        Phase.LOG_RENAMED: frozenset({Phase.COMMITTED, Phase.FAILED}),
        Phase.COMMITTED: frozenset(),
        Phase.ABORTED: frozenset(),
        Phase.FAILED: frozenset(),
    },
    JobKind.REWRITE: {
        Phase.FROZEN: frozenset({Phase.SERIALIZED, Phase.ABORTED}),
        Phase.SERIALIZED: frozenset({Phase.TEE_COPIED, Phase.ABORTED}),
        Phase.TEE_COPIED: frozenset({Phase.TEE_COPIED, Phase.LOG_RENAMED, Phase.ABORTED}),
        Phase.SNAPSHOT_INSTALLED: frozenset(),  # a rewrite never writes a snapshot
        Phase.LOG_RENAMED: frozenset({Phase.COMMITTED, Phase.FAILED}),
        Phase.COMMITTED: frozenset(),
        Phase.ABORTED: frozenset(),
        Phase.FAILED: frozenset(),
    },
}

TERMINAL_PHASES = frozenset({Phase.COMMITTED, Phase.ABORTED, Phase.FAILED})
# Phases the owner must be in (lock held) to enter; the others are entered off the lock.
OWNER_PHASES = frozenset({Phase.FROZEN, Phase.LOG_RENAMED, Phase.COMMITTED, Phase.FAILED, Phase.ABORTED})

PhaseListener = Callable[[Phase], None]


class JobProtocolViolation(KevyError):
    """Code asked for a move the table does not allow (a bug, never a disk state)."""

    def __init__(self, kind: JobKind, current: Phase, requested: Phase) -> None:
        super().__init__(f"{kind.value} job in phase {current.value} cannot move to {requested.value}")
        self.kind = kind
        self.current = current
        self.requested = requested


class JobPhaseTracker:
    """The current phase of one job; tells an optional listener each move (the simulator's
    workloads listen to learn where each step lies in the run)."""

    __slots__ = ("kind", "phase", "history", "_listener")

    def __init__(self, kind: JobKind, listener: PhaseListener | None = None) -> None:
        self.kind = kind
        self.phase = Phase.FROZEN
        self.history: list[Phase] = [Phase.FROZEN]
        self._listener = listener
        if listener is not None:
            listener(Phase.FROZEN)

    def advance(self, phase: Phase) -> None:
        if phase not in TRANSITIONS[self.kind][self.phase]:
            raise JobProtocolViolation(self.kind, self.phase, phase)
        self.phase = phase
        self.history.append(phase)
        if self._listener is not None:
            self._listener(phase)

    @property
    def finished(self) -> bool:
        return self.phase in TERMINAL_PHASES


def may_abort(kind: JobKind, phase: Phase) -> bool:
    """Before the new log is renamed into place a job can still be abandoned."""
    return Phase.ABORTED in TRANSITIONS[kind][phase]


def is_before_commit(phase: Phase) -> bool:
    return phase in _BEFORE_COMMIT
