"""Model-checked durability protocols: explicit state machines and a breadth-first checker.

What it is. Each protocol is a state machine over an abstract disk -- per name the durable
file and the renames, creates and removes not yet made durable by `fsync_dir`, per file
whether its bytes were fsynced -- plus the acknowledgements given. A *crash* is a
transition: the disk keeps, per name, any prefix of that name's pending changes (the
`weakest` profile's names), an unsynced file's bytes are torn; then *recovery* is a
transition computing what a reboot would see, and the invariants judge that view. `check`
explores every reachable state breadth-first (so the first violation found has a shortest
path), printing states explored, depth, invariants checked and time, and the shortest
counterexample when an invariant fails.

Protocols (specs/*.md gives each in prose; the simulator runs the real code):
- `group_commit`: writers append records; a leader fsyncs covering what was appended when
  its fsync *started*; a writer is acknowledged once a completed fsync covers its record.
  Invariant: every acknowledged record survives any crash. Variants `mark-at-start` (the
  leader marks its offset durable when its fsync starts) and `cover-at-end` (a record
  appended during the fsync counted as covered) must fail -- they are the two races the
  simulator's scheduler catches in the real code.
- `save`: SAVE = snapshot by durable replace, fsync_dir, then the next epoch's log by
  durable replace, fsync_dir; recovery pairs snapshot and log by the history rules
  (specs/shard-history.md). Invariant: recovery is exact (every acknowledged write, none
  twice) and never refuses. Variant `no-fsync-dir-between` (kevy 1.23's missing barrier)
  must fail.
- `rewrite`: BGREWRITEAOF = a `base` log written to a temp with writes teed into it, fsync,
  rename over the log, fsync_dir; a write between job steps is acknowledged after the live
  log's fsync. Invariant: exact recovery. Variant `no-tee` must fail.
- `reshard`: temps written and fsynced, fsync_dir, journal written and fsynced, fsync_dir
  (the commit point), sources moved, temps installed, layout recorded, journal removed,
  fsync_dir. Recovery: a durable, whole journal rolls forward, else discard. Invariant: the
  keyspace is the old one or the new one, never a mix or a loss. Variant
  `no-fsync-dir-before-journal` must fail.
Run: `python specs/model_check.py` (every protocol and variant: a table).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable

# --------------------------------------------------------------------------- the checker


class Result:
    def __init__(self, name: str, states: int, depth: int, invariants: int, seconds: float,
                 counterexample: list[str] | None, failed_invariant: str) -> None:
        self.name = name
        self.states = states
        self.depth = depth
        self.invariants = invariants
        self.seconds = seconds
        self.counterexample = counterexample
        self.failed_invariant = failed_invariant

    def line(self) -> str:
        verdict = "holds" if self.counterexample is None else \
            f"FAILS {self.failed_invariant} after {len(self.counterexample)} steps: {' ; '.join(self.counterexample)}"
        return (f"{self.name}: {self.states} states, depth {self.depth}, {self.invariants} invariants, "
                f"{self.seconds * 1000:.0f} ms: {verdict}")


def check(name: str, initial: Iterable, successors: Callable, invariants: dict[str, Callable],
          max_states: int = 2_000_000) -> Result:
    """Breadth-first over every reachable state; the first violation has a shortest path."""
    started = time.perf_counter()
    parents: dict = {}
    queue: deque = deque()
    for state in initial:
        parents[state] = None
        queue.append((state, 0))
    depth = 0
    while queue:
        state, level = queue.popleft()
        depth = max(depth, level)
        for invariant_name, holds in invariants.items():
            if not holds(state):
                return Result(name, len(parents), depth, len(invariants), time.perf_counter() - started,
                              _path(parents, state), invariant_name)
        for label, following in successors(state):
            if following not in parents:
                parents[following] = (state, label)
                queue.append((following, level + 1))
                assert len(parents) <= max_states, "state space larger than expected"
    return Result(name, len(parents), depth, len(invariants), time.perf_counter() - started, None, "")


def _path(parents: dict, state) -> list[str]:
    labels = []
    while parents[state] is not None:
        state, label = parents[state]
        labels.append(label)
    return labels[::-1]


# --------------------------------------------------------------------------- group commit

# State: (appended, durable, in_flight, acknowledged); in_flight = the offset the running
# fsync covers (records appended before it started), or -1 when none runs.


def group_commit_successors(records: int, variant: str = "") -> Callable:
    def successors(state):
        appended, durable, in_flight, acknowledged = state
        if appended < records:
            yield "append", (appended + 1, durable, in_flight, acknowledged)
        if in_flight < 0 and durable < appended:
            covers = appended
            marked = max(durable, covers) if variant == "mark-at-start" else durable
            yield f"fsync-start(covers {covers})", (appended, marked, covers, acknowledged)
        if in_flight >= 0:
            covered = appended if variant == "cover-at-end" else in_flight
            yield "fsync-end", (appended, max(durable, covered), -1, acknowledged)
        for count in range(acknowledged + 1, durable + 1):  # the acknowledged prefix grows
            yield f"ack({count})", (appended, durable, in_flight, count)
    return successors


def check_group_commit(records: int = 4, variant: str = "") -> Result:
    # State: (appended, marked durable, in flight, acknowledged, on disk): what the disk really
    # holds is tracked apart from the leader's marks, updated only when an fsync ends, with
    # what was appended when it started.
    inner = group_commit_successors(records, variant)

    def successors(state):
        *core, disk = state
        appended, durable, in_flight, acknowledged = core
        for label, (next_appended, next_durable, next_in_flight, next_acknowledged) in inner(tuple(core)):
            next_disk = disk
            if label == "fsync-end":
                next_disk = max(disk, in_flight)  # the fsync persisted what existed at its start
            yield label, (next_appended, next_durable, next_in_flight, next_acknowledged, next_disk)

    invariants = {"acknowledged-survive-a-crash": lambda state: state[3] <= state[4]}
    return check(f"group_commit{'/' + variant if variant else ''}", [(0, 0, -1, 0, 0)], successors, invariants)


# --------------------------------------------------------------------------- an abstract disk

# Disk: (durable names, pending name changes, synced files). Names map to a file id; a
# pending change is (name, file id or None for a remove). A crash keeps, per name, a prefix of
# its pending changes; a file whose bytes were not fsynced reads as torn.


def disk_empty(files: dict[str, str]) -> tuple:
    return (tuple(sorted(files.items())), (), frozenset(files.values()))


def disk_step(disk: tuple, step: tuple) -> tuple:
    names, pending, synced = disk
    kind = step[0]
    if kind == "create":  # ("create", name, file): a new file under a new name, unsynced
        return names, pending + ((step[1], step[2]),), synced - {step[2]}
    if kind == "fsync":  # ("fsync", file)
        return names, pending, synced | {step[1]}
    if kind == "rename":  # ("rename", source, target): two changes of two names
        file = _live(disk).get(step[1])
        return names, pending + ((step[2], file), (step[1], None)), synced
    if kind == "remove":
        return names, pending + ((step[1], None),), synced
    assert kind == "fsync_dir", step
    durable = dict(names)
    for name, file in pending:
        if file is None:
            durable.pop(name, None)
        else:
            durable[name] = file
    return tuple(sorted(durable.items())), (), synced


def _live(disk: tuple) -> dict:
    names, pending, _ = disk
    live = dict(names)
    for name, file in pending:
        if file is None:
            live.pop(name, None)
        else:
            live[name] = file
    return live


def crash_images(disk: tuple) -> list[dict[str, tuple[str, bool]]]:
    """Every image a crash may leave: name -> (file, bytes whole)."""
    names, pending, synced = disk
    chains: dict[str, list] = {}
    for name, file in pending:
        chains.setdefault(name, []).append(file)
    images = [dict(names)]
    for name, chain in chains.items():
        grown = []
        for image in images:
            for kept in range(len(chain) + 1):
                copy = dict(image)
                for file in chain[:kept]:
                    if file is None:
                        copy.pop(name, None)
                    else:
                        copy[name] = file
                grown.append(copy)
        images = grown
    return [{name: (file, file in synced) for name, file in image.items()} for image in images]


def run_program(name: str, program: list[tuple], initial_files: dict[str, str], recover: Callable,
                expected: Callable, writes: bool = False) -> Result:
    """A linear protocol program; a crash may hit between any two steps (every image); with
    `writes`, a client write may arrive between steps (acknowledged per `expected`)."""
    def successors(state):
        position, disk, written = state
        if position < len(program):
            step = program[position]
            yield f"{step[0]} {' '.join(map(str, step[1:]))}".strip(), (position + 1, disk_step(disk, step), written)
        if writes and written < 2:
            yield "client write", (position, disk, written + 1)

    def recovers_exactly(state):
        position, disk, written = state
        return all(recover(image, position, written) == expected(position, written) for image in crash_images(disk))

    initial = [(0, disk_empty(initial_files), 0)]
    return check(name, initial, successors, {"recovery-is-exact": recovers_exactly})


# --------------------------------------------------------------------------- SAVE

SAVE_PROGRAM = [
    ("create", "dump.tmp", "snapshot-2"), ("fsync", "snapshot-2"), ("rename", "dump.tmp", "dump"),
    ("fsync_dir",),
    ("create", "aof.tmp", "log-2"), ("fsync", "log-2"), ("rename", "aof.tmp", "aof"), ("fsync_dir",),
]


def save_recover(image: dict, position: int, written: int) -> str:
    """The history rules on what the image holds (specs/shard-history.md)."""
    snapshot, log = image.get("dump"), image.get("aof")
    if snapshot is None or log is None or not snapshot[1] or not log[1]:
        return "refused: a file is missing or torn"
    pair = (snapshot[0], log[0])
    if pair in (("snapshot-1", "log-1"), ("snapshot-2", "log-1"), ("snapshot-2", "log-2")):
        return "exact"  # old+old; new snapshot + old log from the covered offset; new+new
    return "refused: history missing"  # old snapshot + a log of the next epoch


def check_save(variant: str = "") -> Result:
    program = list(SAVE_PROGRAM)
    if variant == "no-fsync-dir-between":
        program.remove(("fsync_dir",))
    return run_program(f"save{'/' + variant if variant else ''}", program,
                       {"dump": "snapshot-1", "aof": "log-1"}, save_recover, lambda position, written: "exact")


# --------------------------------------------------------------------------- BGREWRITEAOF

REWRITE_PROGRAM = [
    ("create", "aof.tmp", "base-log"), ("tee",), ("fsync", "base-log"), ("rename", "aof.tmp", "aof"),
    ("fsync_dir",),
]


def check_rewrite(variant: str = "") -> Result:
    """Writes between job steps land in the live log (fsynced: acknowledged) and, once the tee
    is on, in the temp too; recovery is exact when the live log holds every acknowledged
    write: the old log always does; the new one only if the tee covered the writes made
    before the tee started (its content is the view + the tee)."""
    program = [step for step in REWRITE_PROGRAM if not (variant == "no-tee" and step == ("tee",))]
    tee_at = program.index(("tee",)) if ("tee",) in program else None

    def successors(state):
        position, disk, written, teed = state
        if position < len(program):
            step = program[position]
            label = f"{step[0]} {' '.join(map(str, step[1:]))}".strip()
            following = disk if step == ("tee",) else disk_step(disk, step)
            yield label, (position + 1, following, written, written if step == ("tee",) else teed)
        if written < 2 and position < len(program):
            # a client write: logged to the live log (and teed once the tee runs), fsynced, acked
            on = tee_at is not None and position > tee_at
            yield "client write", (position, disk, written + 1, written + 1 if on else teed)

    def recovers_exactly(state):
        position, disk, written, teed = state
        for image in crash_images(disk):
            log = image.get("aof")
            if log is None or not log[1]:
                return False
            if log[0] == "base-log" and teed < written:
                return False  # the new log lacks acknowledged writes
        return True

    return check(f"rewrite{'/' + variant if variant else ''}", [(0, disk_empty({"aof": "log-1"}), 0, 0)],
                 successors, {"recovery-is-exact": recovers_exactly})


# --------------------------------------------------------------------------- re-shard

RESHARD_PROGRAM = [
    ("create", "new-0.tmp", "new-0"), ("create", "new-1.tmp", "new-1"), ("fsync", "new-0"), ("fsync", "new-1"),
    ("fsync_dir",),
    ("create", "journal", "journal"), ("fsync", "journal"), ("fsync_dir",),
    # finish_committed: move the sources aside, copy the temps into place, record the layout
    # (its durable replace's fsync_dir makes all of that durable), then drop temps and journal
    ("rename", "old-0", "old-0.premigration"),
    ("create", "shard-0", "new-0 copy"), ("fsync", "new-0 copy"), ("create", "shard-1", "new-1 copy"),
    ("fsync", "new-1 copy"), ("create", "meta.tmp", "meta"), ("fsync", "meta"), ("rename", "meta.tmp", "meta"),
    ("fsync_dir",), ("remove", "new-0.tmp"), ("remove", "new-1.tmp"), ("remove", "journal"), ("fsync_dir",),
]


def reshard_recover(image: dict, position: int, written: int) -> str:
    journal = image.get("journal")
    if journal is not None and journal[1]:
        # roll forward: every new shard must be there, whole, as a temp or installed
        for index in (0, 1):
            file = image.get(f"new-{index}.tmp") or image.get(f"shard-{index}")
            if file is None or not file[1] or not file[0].startswith(f"new-{index}"):
                return "lost: roll-forward without its temps"
        return "new layout"
    meta = image.get("meta")
    if meta is not None and meta[1]:  # the new layout is recorded: its shards must be there
        for index in (0, 1):
            file = image.get(f"shard-{index}")
            if file is None or not file[1] or not file[0].startswith(f"new-{index}"):
                return "lost: the new layout recorded without its shard"
        return "new layout"
    source = image.get("old-0")
    if source is None or not source[1]:
        return "lost: the old layout without its source (moved, no journal to finish)"
    return "old layout"


def check_reshard(variant: str = "") -> Result:
    program = list(RESHARD_PROGRAM)
    if variant == "no-fsync-dir-before-journal":
        program.pop(4)
    commit = program.index(("fsync", "journal")) + 2  # after the fsync_dir that follows it

    def expected(position: int, written: int) -> str:
        return "new layout" if position >= commit else "old layout"

    def recover(image, position, written):
        outcome = reshard_recover(image, position, written)
        # before the commit either outcome is allowed once the journal's name may be on disk
        if position < commit and outcome in ("old layout", "new layout"):
            return "old layout"
        return outcome

    return run_program(f"reshard{'/' + variant if variant else ''}", program, {"old-0": "old-0"}, recover, expected)


ALL_CHECKS = [
    ("group_commit", lambda: check_group_commit(), True),
    ("group_commit/mark-at-start", lambda: check_group_commit(variant="mark-at-start"), False),
    ("group_commit/cover-at-end", lambda: check_group_commit(variant="cover-at-end"), False),
    ("save", lambda: check_save(), True),
    ("save/no-fsync-dir-between", lambda: check_save("no-fsync-dir-between"), False),
    ("rewrite", lambda: check_rewrite(), True),
    ("rewrite/no-tee", lambda: check_rewrite("no-tee"), False),
    ("reshard", lambda: check_reshard(), True),
    ("reshard/no-fsync-dir-before-journal", lambda: check_reshard("no-fsync-dir-before-journal"), False),
]


if __name__ == "__main__":
    for name, run, should_hold in ALL_CHECKS:
        result = run()
        expectation = "" if (result.counterexample is None) == should_hold else "  <-- UNEXPECTED"
        print(result.line() + expectation)
