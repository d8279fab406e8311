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
- `rewrite`: BGREWRITEAOF = a `base` log written to a temp; off the lock, copies of the live
  log's new range (the tee) and fsyncs; then, lock held, the last range copied, fsync,
  rename over the log, fsync_dir; a write between job steps is acknowledged after the live
  log's fsync. Invariant: exact recovery. Variants `no-tee` and `no-commit-copy` (the
  commit renames without copying what arrived since the last copy) must fail.
- `reshard`: temps written and fsynced, fsync_dir, journal written and fsynced, fsync_dir
  (the commit point), sources moved, temps installed, layout recorded, journal removed,
  fsync_dir -- with the real file names and any shape (`reshard_program`). Recovery: a
  durable, whole journal rolls forward, else discard. Invariant: the keyspace is the old one
  or the new one, never a mix or a loss. Variant `no-fsync-dir-before-journal` must fail.
`follow` checks that a label sequence (a simulator trace, mapped by `sim/model_traces.py`) is
a path of a model whose every state satisfies its invariants.
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


def follow(initial: Iterable, successors: Callable, invariants: dict[str, Callable], labels: Iterable[str],
           invisible: frozenset = frozenset()) -> tuple[str, set]:
    """Is `labels` (a simulator trace mapped to transition labels) a path of the model?

    From the initial states, each label must be a transition of some current state, with any
    number of `invisible` transitions (no door call shows them) before it; states that break
    an invariant are dropped. Returns ("", the states reached) or (why not, the states before
    the label that failed)."""
    current = set(initial)
    for number, wanted in enumerate(labels):
        closure, frontier = set(current), list(current)
        while frontier:
            for label, following in successors(frontier.pop()):
                if label in invisible and following not in closure:
                    closure.add(following)
                    frontier.append(following)
        reached = {following for state in closure for label, following in successors(state) if label == wanted}
        if not reached:
            return f"step {number} ({wanted!r}) is no transition of the model here", current
        kept = {state for state in reached if all(holds(state) for holds in invariants.values())}
        if not kept:
            broken = next(name for name, holds in invariants.items() if not holds(next(iter(reached))))
            return f"step {number} ({wanted!r}) reaches a state breaking {broken}", current
        current = kept
    return "", current


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
        in_flight = core[2]
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
    if kind == "write":  # ("write", file): more bytes, not yet fsynced
        return names, pending, synced - {step[1]}
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


def program_model(program: list[tuple] | list[list[tuple]], initial_files: dict[str, str], recover: Callable,
                  expected: Callable, writes: bool = False, start: int = 0) -> tuple[list, Callable, dict]:
    """A linear protocol program as (initial states, successors, invariants): a crash may hit
    between any two steps (every image); with `writes`, a client write may arrive between
    steps (acknowledged per `expected`). Several programs (a list of them, the same length
    and commit point) are the orders the code may take: the model runs each. With `start`,
    the run begins after the first `start` steps (made durable: a recovery resuming a
    committed protocol). State: (which program, position, disk, writes)."""
    programs = program if isinstance(program[0], list) else [program]

    def successors(state):
        which, position, disk, written = state
        steps = programs[which]
        if position < len(steps):
            step = steps[position]
            yield step_label(step), (which, position + 1, disk_step(disk, step), written)
        if writes and written < 2:
            yield "client write", (which, position, disk, written + 1)

    def recovers_exactly(state):
        _, position, disk, written = state
        return all(recover(image, position, written) == expected(position, written) for image in crash_images(disk))

    initial = []
    for which, steps in enumerate(programs):
        disk = disk_empty(initial_files)
        for step in steps[:start]:
            disk = disk_step(disk, step)
        if start:
            disk = disk_step(disk, ("fsync_dir",))
        initial.append((which, start, disk, 0))
    return initial, successors, {"recovery-is-exact": recovers_exactly}


def step_label(step: tuple) -> str:
    return f"{step[0]} {' '.join(map(str, step[1:]))}".strip()


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
    return check(f"save{'/' + variant if variant else ''}", *save_model(variant))


def save_model(variant: str = "") -> tuple[list, Callable, dict]:
    program = list(SAVE_PROGRAM)
    if variant == "no-fsync-dir-between":
        program.remove(("fsync_dir",))
    return program_model(program, {"dump": "snapshot-1", "aof": "log-1"}, save_recover,
                         lambda position, written: "exact")


# --------------------------------------------------------------------------- BGREWRITEAOF

# State: (phase, disk, written, copied). Phases: 0 no temp yet; 1 the tee runs off the lock
# (client writes land in the live log, copies of the live range since the last take append
# to the temp, the temp may be fsynced); 2 the owner holds the lock for the commit (no client
# write): the last range is copied, then the temp fsynced; 3 fsynced, renamed next; 4
# renamed, its fsync_dir next; 5 done. A copy writes the temp, so it is unsynced again; the
# commit skips its fsync when nothing arrived since a copy whose fsync covered the temp. An
# `fsync_dir` of the directory may come from anything else in it (another shard's job), so it
# is a step of every phase; in phase 4 it is the commit's own. "lock" has no door call: the
# trace validator infers it.


def rewrite_successors(variant: str = "", max_writes: int = 2) -> Callable:
    def successors(state):
        phase, disk, written, copied = state
        may_copy = variant != "no-tee" and not (phase == 2 and variant == "no-commit-copy")
        if phase == 0:
            yield "create aof.tmp base-log", (1, disk_step(disk, ("create", "aof.tmp", "base-log")), written, copied)
        if phase in (1, 2) and may_copy and copied < written:
            yield "copy", (phase, disk_step(disk, ("write", "base-log")), written, written)
        if phase == 1 or (phase == 2 and (copied == written or not may_copy)):
            yield "fsync base-log", (1 if phase == 1 else 3, disk_step(disk, ("fsync", "base-log")), written, copied)
        if phase <= 1 and written < max_writes:
            yield "client write", (phase, disk, written + 1, copied)  # logged, fsynced, acknowledged
        if phase == 1:
            yield "lock", (2, disk, written, copied)
        synced_and_copied = phase == 2 and copied == written and "base-log" in disk[2]
        if phase == 3 or synced_and_copied:  # the commit skips its fsync when the last copy's covers all
            yield "rename aof.tmp aof", (4, disk_step(disk, ("rename", "aof.tmp", "aof")), written, copied)
        if phase >= 1:
            yield "fsync_dir", (5 if phase == 4 else phase, disk_step(disk, ("fsync_dir",)), written, copied)
    return successors


def rewrite_recovers_exactly(state) -> bool:
    """The live log holds every acknowledged write: the old log always does (it is the log
    the writes went to); the new one only with every write copied into it, whole."""
    _, disk, written, copied = state
    for image in crash_images(disk):
        log = image.get("aof")
        if log is None or not log[1]:
            return False
        if log[0] == "base-log" and copied < written:
            return False
    return True


def rewrite_initial() -> tuple:
    return (0, disk_empty({"aof": "log-1"}), 0, 0)


def check_rewrite(variant: str = "") -> Result:
    return check(f"rewrite{'/' + variant if variant else ''}", [rewrite_initial()], rewrite_successors(variant),
                 {"recovery-is-exact": rewrite_recovers_exactly})


# --------------------------------------------------------------------------- re-shard

# With the real file names, so a simulated trace maps onto it name for name: `temps` new
# shards written as `dump-{i}.rdb.reshard`, the `sources` (the old layout's files) moved to
# `{name}.premigration`, the non-empty new shards `installs` copied to `dump-{i}.rdb` (a
# source's name, once it moved), the layout recorded in `shards.meta`. Old files are
# `old:{name}`, the new shards `new-{i}`, their installed copies `new-{i} copy`.


def reshard_program(temps: int = 2, sources: tuple = ("aof-0.aof", "dump-0.rdb"), installs: tuple = (0, 1),
                    variant: str = "", one_by_one: bool = False) -> list[tuple]:
    """`one_by_one`: each temp is created and fsynced before the next (an import's fresh
    install), else all are created, filled, then fsynced (a re-shard's streaming writers)."""
    if one_by_one:
        program = [step for i in range(temps)
                   for step in (("create", f"dump-{i}.rdb.reshard", f"new-{i}"), ("fsync", f"new-{i}"))]
    else:
        program = [("create", f"dump-{i}.rdb.reshard", f"new-{i}") for i in range(temps)]
        program += [("fsync", f"new-{i}") for i in range(temps)]
    if variant != "no-fsync-dir-before-journal":
        program.append(("fsync_dir",))
    program += [("create", "reshard.journal", "journal"), ("fsync", "journal"), ("fsync_dir",)]  # the commit
    # finish_committed: move the sources aside, copy the temps into place, record the layout
    # (its durable replace's fsync_dir makes all of that durable), then drop temps and journal
    program += [("rename", name, f"{name}.premigration") for name in sources]
    for i in installs:
        program += [("create", f"dump-{i}.rdb", f"new-{i} copy"), ("fsync", f"new-{i} copy")]
    program += [("create", "shards.meta.tmp", "meta-new"), ("fsync", "meta-new"),
                ("rename", "shards.meta.tmp", "shards.meta"), ("fsync_dir",)]
    program += [("remove", f"dump-{i}.rdb.reshard") for i in range(temps)]
    program += [("remove", "reshard.journal"), ("fsync_dir",)]
    return program


def reshard_commit_position(program: list[tuple]) -> int:
    """The step after the fsync_dir that makes the journal's name durable."""
    return program.index(("fsync", "journal")) + 2


def reshard_recover(image: dict, sources: tuple, installs: tuple, kept: tuple) -> str:
    """`kept`: new shards whose old file at `dump-{i}.rdb` already holds the new content
    (finish_committed leaves it in place: neither moved nor copied)."""
    def whole(name: str, file: str) -> bool:
        return image.get(name) == (file, True)

    def installed(i: int) -> bool:
        return whole(f"dump-{i}.rdb", f"new-{i} copy") or (i in kept and whole(f"dump-{i}.rdb", f"old:dump-{i}.rdb"))

    journal = image.get("reshard.journal")
    if journal is not None and journal[1]:
        # roll forward: every new shard must be there, whole, as a temp or installed
        if all(whole(f"dump-{i}.rdb.reshard", f"new-{i}") or installed(i) for i in (*installs, *kept)):
            return "new layout"
        return "lost: roll-forward without its temps"
    if whole("shards.meta", "meta-new"):  # the new layout is recorded: its shards must be there
        if all(installed(i) for i in (*installs, *kept)):
            return "new layout"
        return "lost: the new layout recorded without its shard"
    if all(whole(name, f"old:{name}") for name in sources) and all(installed(i) for i in kept):
        return "old layout"
    return "lost: the old layout without its source (moved, no journal to finish)"


def reshard_model(variant: str = "", temps: int = 2, sources: tuple = ("aof-0.aof", "dump-0.rdb"),
                  installs: tuple = (0, 1), kept: tuple = (), from_commit: bool = False) -> tuple[list, Callable, dict]:
    """The re-shard of one shape; `from_commit`: the run starts at the commit point (the
    recovery of a committed re-shard rolls it forward)."""
    programs = [reshard_program(temps, sources, installs, variant, one_by_one) for one_by_one in (False, True)]
    commit = reshard_commit_position(programs[0])

    def expected(position: int, written: int) -> str:
        return "new layout" if position >= commit else "old layout"

    def recover(image, position, written):
        outcome = reshard_recover(image, sources, installs, kept)
        # before the commit either outcome is allowed once the journal's name may be on disk
        if position < commit and outcome in ("old layout", "new layout"):
            return "old layout"
        return outcome

    initial_files = {**{name: f"old:{name}" for name in sources},
                     **{f"dump-{i}.rdb": f"old:dump-{i}.rdb" for i in kept}, "shards.meta": "meta-old"}
    return program_model(programs, initial_files, recover, expected, start=commit if from_commit else 0)


def check_reshard(variant: str = "") -> Result:
    return check(f"reshard{'/' + variant if variant else ''}", *reshard_model(variant))


ALL_CHECKS = [
    ("group_commit", lambda: check_group_commit(), True),
    ("group_commit/mark-at-start", lambda: check_group_commit(variant="mark-at-start"), False),
    ("group_commit/cover-at-end", lambda: check_group_commit(variant="cover-at-end"), False),
    ("save", lambda: check_save(), True),
    ("save/no-fsync-dir-between", lambda: check_save("no-fsync-dir-between"), False),
    ("rewrite", lambda: check_rewrite(), True),
    ("rewrite/no-tee", lambda: check_rewrite("no-tee"), False),
    ("rewrite/no-commit-copy", lambda: check_rewrite("no-commit-copy"), False),
    ("reshard", lambda: check_reshard(), True),
    ("reshard/no-fsync-dir-before-journal", lambda: check_reshard("no-fsync-dir-before-journal"), False),
]


if __name__ == "__main__":
    for name, run, should_hold in ALL_CHECKS:
        result = run()
        expectation = "" if (result.counterexample is None) == should_hold else "  <-- UNEXPECTED"
        print(result.line() + expectation)
