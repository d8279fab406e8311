"""Re-shard workloads: re-home every key under a new layout, crashed at every step.

What runs. The initial image is a data dir written by the real core under the source layout
(`open_shard`, `Shard.execute`, `Shard.save`): each source shard holds keys that route to
it, in one of four shapes -- snapshot only (moved as raw records), snapshot plus a log tail,
a log only, and (always the *last* source, so a merged replay would run it after the other
sources were loaded) snapshot plus a log holding a FLUSHALL followed by more writes. The run
is `reshard.reconcile_layout` to the target layout -- what opening the store with the new
shard count does. Workloads: grow 1->3, shrink 3->2, 2->4, kevyhash->slots, slots->kevyhash.

Where the commit point lies. The run listens to the protocol's phases
(`reshard_protocol.Phase`) and records in the history: operation 0 (the commit) is *issued*
when the temps are durable (the journal write starts next) and *required* once the journal's
directory entry is fsynced; operation 1 (the finish) is issued when the layout is recorded
and required when the journal's removal is durable.

Recovery is `reconcile_layout` again (a later clock, so its own attempt's journal stamp
differs from the run's), then every shard of the target layout opened with `open_shard`.

Oracle (`ReshardChecker`). The logical content (`logical_dump.render_entries` of every
shard) must equal a plain-dict model of the setup writes (per source shard; FLUSHALL clears
only its own shard); every key must sit in the shard it routes to under the target layout;
`shards.meta` must name the target and no journal, temp or old-layout file may remain in
the way. The outcome at recovery start is one of: `discard` (old layout found; allowed only
while the commit is not required), `roll-forward` (the run's journal finished; allowed only
once the journal write was issued), `roll-forward-recovery-attempt` (a nested crash of
recovery's own re-shard), `complete` (already the new layout). `sim.cut_outcomes` reports
them per cut. Replay a failure with the line the sweep prints.
"""

from __future__ import annotations

import json
import random

from kevy_persist.disk.clock import ManualClock
from kevy_persist.errors import KevyError
from sim.checkers import Outcome, Verdict
from sim.disk import Image
from sim.workloads.base import DATA_DIR, Workload
from sim.workloads.core_log import core_missing

RUN_NOW_MS = 1_800_000_000_000
SECOND_RUN_NOW_MS = RUN_NOW_MS + 60_000  # a back-to-back workload's second re-shard
RECOVERY_NOW_MS = RUN_NOW_MS + 3_600_000
SETUP_NOW_MS = RUN_NOW_MS - 3_600_000
KEYS_PER_SOURCE = 3


def _source_shapes(shard_count: int) -> list[str]:
    """One shape per source shard; the last source always carries the FLUSHALL."""
    others = ["snapshot", "snapshot+log", "log"]
    return [others[index % len(others)] for index in range(shard_count - 1)] + ["flushall"]


def _keys_by_source(shard_count: int, routing) -> list[list[bytes]]:
    from kevy_persist.layout.routing import router_for

    router = router_for(shard_count, routing)
    keys: list[list[bytes]] = [[] for _ in range(shard_count)]
    number = 0
    while any(len(found) < KEYS_PER_SOURCE for found in keys):
        key = b"k%d{t%d}" % (number, number % 7)
        found = keys[router.shard_for_key(key)]
        if len(found) < KEYS_PER_SOURCE:
            found.append(key)
        number += 1
    return keys


def _source_commands(shape: str, keys: list[bytes], rng: random.Random) -> list[tuple[bytes, ...]]:
    """The writes (and SAVE / FLUSHALL) one source shard receives, in order."""
    first, second, third = keys
    writes = [
        (b"SET", first, b"v%d" % rng.randrange(100)),
        (b"LPUSH", second, b"a", b"b"),
        (b"INCR", third),
    ]
    more = [(b"APPEND", first, b"-x"), (b"LPUSH", second, b"c"), (b"INCR", third)]
    if shape == "snapshot":
        return writes + [(b"SAVE",)]
    if shape == "snapshot+log":
        return writes + [(b"SAVE",)] + more
    if shape == "log":
        return writes + more
    assert shape == "flushall"
    return writes + [(b"SAVE",), (b"INCR", third), (b"FLUSHALL",)] + more


def _model_content(commands_by_source: list[list[tuple[bytes, ...]]]) -> str:
    """The oracle: the expected logical dump, from plain dicts (never the core's keyspace)."""
    from kevy_persist.formats.records import ValueKind
    from kevy_persist.tools.logical_dump import render_entries
    from sim import model

    entries = []
    for commands in commands_by_source:
        state: dict[bytes, object] = {}
        for argv in commands:
            if argv[0] == b"FLUSHALL":
                state.clear()
            else:
                model.apply(state, argv)
        for key, value in state.items():
            kind = ValueKind.STRING if isinstance(value, bytes) else ValueKind.LIST
            entries.append((key, kind, value, None))
    return json.dumps(render_entries(entries), sort_keys=True)


class ReshardWorkload(Workload):
    operation_count = 2
    # Bit flips are left out: a flipped journal reads as torn and is discarded (see the
    # gaps in specs/reshard.md); EIO on every sync covers the abandon path.
    fault_kinds = ("eio",)

    def __init__(self, name: str, source: tuple[int, str], target: tuple[int, str],
                 interrupted: tuple[int, str] | None = None, first_target: tuple[int, str] | None = None) -> None:
        self.name = f"reshard-{name}"
        self.source = source
        self.target = target
        # A committed, unfinished re-shard to this layout in the initial image (its journal
        # and temps present, the crash right after its commit point).
        self.interrupted = interrupted
        # Back to back: the run re-shards to `first_target`, then (no crash between) to
        # `target`; the history marks the first re-shard's commit and finish.
        self.first_target = first_target
        self.summary = f"re-shard {source[0]} {source[1]} -> {target[0]} {target[1]} (reconcile_layout)"
        if first_target is not None:
            self.summary = (f"re-shard {source[0]} {source[1]} -> {first_target[0]} {first_target[1]} -> "
                            f"{target[0]} {target[1]} back to back (reconcile_layout twice)")
        if interrupted is not None:
            self.summary += f", over a committed re-shard to {interrupted[0]} {interrupted[1]}"
        self._setup_cache: tuple[Image, str] | None = None

    def skip_reason(self) -> str | None:
        missing = core_missing()
        if missing:
            return missing
        try:
            from kevy_persist.reshard.reconcile import reconcile_layout  # noqa: F401
        except Exception as error:  # noqa: BLE001
            return f"kevy_persist.reshard is not ready: {error}"
        return None

    def _layouts(self):
        from kevy_persist.layout.meta import ShardLayout
        from kevy_persist.layout.routing import Routing

        return (ShardLayout(self.source[0], Routing(self.source[1])),
                ShardLayout(self.target[0], Routing(self.target[1])))

    def _first_target_layout(self):
        from kevy_persist.layout.meta import ShardLayout
        from kevy_persist.layout.routing import Routing

        return ShardLayout(self.first_target[0], Routing(self.first_target[1]))

    def operations(self, seed: int) -> list:
        return ["commit", "finish"]

    def _setup(self) -> tuple[Image, str]:
        """The initial data dir and its expected content (the same for every seed: seeds
        vary which crash images are sampled)."""
        if self._setup_cache is None:
            self._setup_cache = self._build_setup()
        return self._setup_cache

    def _build_setup(self) -> tuple[Image, str]:
        from kevy_persist.commands import CommandContext
        from kevy_persist.engine.aof import FsyncPolicy
        from kevy_persist.engine.shard import ShardOptions
        from kevy_persist.engine.shard_opening import open_shard
        from kevy_persist.layout.meta import write_layout
        from sim.simfs import SimFileSystem

        source, _ = self._layouts()
        rng = random.Random("reshard-setup")
        fs = SimFileSystem()
        fs.make_dirs(DATA_DIR)
        clock = ManualClock(SETUP_NOW_MS)
        keys = _keys_by_source(source.shard_count, source.routing)
        commands_by_source = []
        for index, shape in enumerate(_source_shapes(source.shard_count)):
            commands = _source_commands(shape, keys[index], rng)
            commands_by_source.append(commands)
            options = ShardOptions(directory=DATA_DIR, index=index, fsync_policy=FsyncPolicy.ALWAYS)
            shard = open_shard(fs, clock, options)
            for argv in commands:
                if argv[0] == b"SAVE":
                    shard.save()
                else:
                    shard.execute(list(argv), CommandContext(clock.now_ms(), rng))
                    shard.sync_log()
            shard.close()
        write_layout(fs, DATA_DIR, source)
        if self.interrupted is not None:
            from kevy_persist.layout.meta import ShardLayout
            from kevy_persist.layout.routing import Routing
            from kevy_persist.reshard.protocol import Phase
            from kevy_persist.reshard.reconcile import reshard

            class _Stop(Exception):
                pass

            def stop_after_commit(phase) -> None:
                if phase is Phase.COMMITTED:
                    raise _Stop()

            interrupted = ShardLayout(self.interrupted[0], Routing(self.interrupted[1]))
            try:
                reshard(fs, DATA_DIR, source, interrupted, ManualClock(SETUP_NOW_MS), listener=stop_after_commit)
            except _Stop:
                pass
        files = tuple(sorted((f"{DATA_DIR}/{name}", fs.read_bytes(f"{DATA_DIR}/{name}"))
                             for name in fs.list_dir(DATA_DIR)))
        image = Image(tuple(sorted(fs.directories)), files)
        return image, _model_content(commands_by_source)

    def initial_image(self, seed: int) -> Image:
        return self._setup()[0]

    def run(self, fs, operations, history) -> None:
        from kevy_persist.reshard.protocol import Phase
        from kevy_persist.reshard.reconcile import reconcile_layout

        marks = {Phase.TEMPS_DURABLE: ("begin", 0), Phase.COMMITTED: ("require", 1),
                 Phase.LAYOUT_RECORDED: ("begin", 1), Phase.FINISHED: ("require", 2)}
        attempt_started = []

        def listener(phase) -> None:
            # Phases of finishing an earlier journal (before this run's attempt) are not it.
            if phase is Phase.TEMPS_DURABLE:
                attempt_started.append(True)
            if not attempt_started:
                return
            action, number = marks.get(phase, (None, 0))
            if action == "begin":
                history.begin(number)
            elif action == "require":
                history.require(number)

        _, target = self._layouts()
        try:
            if self.first_target is not None:
                reconcile_layout(fs, DATA_DIR, self._first_target_layout(), ManualClock(RUN_NOW_MS),
                                 listener=listener)
                reconcile_layout(fs, DATA_DIR, target, ManualClock(SECOND_RUN_NOW_MS))
            else:
                reconcile_layout(fs, DATA_DIR, target, ManualClock(RUN_NOW_MS), listener=listener)
        except KevyError:
            return  # a fault: the attempt failed; recovery must still find one whole layout

    def recover(self, fs) -> object:
        from kevy_persist.engine.shard import ShardOptions
        from kevy_persist.engine.shard_opening import open_shard
        from kevy_persist.layout.meta import read_layout
        from kevy_persist.layout.names import FileRole, classify
        from kevy_persist.layout.routing import router_for
        from kevy_persist.reshard.reconcile import reconcile_layout
        from kevy_persist.tools.logical_dump import render_entries

        source, target = self._layouts()
        report = reconcile_layout(fs, DATA_DIR, target, ManualClock(RECOVERY_NOW_MS))
        interrupted = None
        if self.interrupted is not None:
            from kevy_persist.layout.meta import ShardLayout
            from kevy_persist.layout.routing import Routing

            interrupted = ShardLayout(self.interrupted[0], Routing(self.interrupted[1]))
        stamp = report.recovery.journal.stamp_ns if report.recovery.journal is not None else None
        if stamp in (RUN_NOW_MS * 1_000_000, SECOND_RUN_NOW_MS * 1_000_000):
            kind = "roll-forward"
        elif stamp == RECOVERY_NOW_MS * 1_000_000:
            kind = "roll-forward-recovery-attempt"
        elif stamp is not None and interrupted is not None and report.found.layout == interrupted:
            kind = "discard"  # the earlier journal finished; this run's attempt left no trace
        elif report.found.layout == (interrupted or source):
            kind = "discard"
        elif self.first_target is not None and report.found.layout == self._first_target_layout():
            kind = "first-complete"  # back to back: the first re-shard finished, the second left no trace
        elif report.found.layout == target:
            kind = "complete"
        else:
            kind = f"unexpected-layout:{report.found.layout}"
        problems = []
        reading = read_layout(fs, DATA_DIR)
        if reading.layout != target:
            problems.append(f"shards.meta names {reading.layout}, not {target}")
        for name in fs.list_dir(DATA_DIR):
            named = classify(name)
            if named.role in (FileRole.RESHARD_JOURNAL, FileRole.RESHARD_TEMP):
                problems.append(f"{name} left behind")
            elif named.role in (FileRole.SNAPSHOT, FileRole.LOG) and named.shard_index >= target.shard_count:
                problems.append(f"{name} lies outside the layout")
        router = router_for(target.shard_count, target.routing)
        clock = ManualClock(RECOVERY_NOW_MS)
        entries = []
        for index in range(target.shard_count):
            shard = open_shard(fs, clock, ShardOptions(directory=DATA_DIR, index=index))
            for entry in shard.keyspace.iter_entries():
                if router.shard_for_key(entry[0]) != index:
                    problems.append(f"{entry[0]!r} in shard {index} routes elsewhere")
                entries.append(entry)
            shard.close()
        content = json.dumps(render_entries(entries), sort_keys=True)
        if len(entries) != len({entry[0] for entry in entries}):
            problems.append("a key is in two shards")
        return (kind, content, tuple(problems))

    def checker(self, operations, *, bitflip: bool):
        return ReshardChecker(self._setup()[1], bitflip=bitflip)


class ReshardChecker:
    """Keyspace unchanged; outcome on the right side of the commit point (module doc)."""

    def __init__(self, expected_content: str, *, bitflip: bool = False) -> None:
        self.expected_content = expected_content
        self.bitflip = bitflip

    def with_failures(self, failed: frozenset[int]) -> ReshardChecker:
        return self  # a failed attempt never required its commit: the rules below hold as is

    def check(self, outcome: Outcome, freeze: tuple[int, int]) -> Verdict:
        required, issued = freeze
        if outcome.failure:
            if self.bitflip and outcome.failure.startswith("refused:"):
                return Verdict("refused-corruption", True, outcome.detail)
            return Verdict(outcome.failure, False, outcome.detail)
        kind, content, problems = outcome.state
        if problems:
            if self.bitflip:
                return Verdict("refused-corruption", True, "; ".join(problems))
            return Verdict("layout-incomplete", False, "; ".join(problems))
        if content != self.expected_content:
            if self.bitflip:
                return Verdict("degraded-content", True)
            return Verdict("keyspace-changed", False, f"recovered {content[:300]}")
        if kind == "discard" and required >= 1:
            return Verdict("lost-commit", False, "the old layout came back after the commit point")
        if kind == "roll-forward" and issued < 1:
            return Verdict("early-commit", False, "rolled forward a journal the run never began")
        if kind == "first-complete" and issued < 1:
            return Verdict("early-commit", False, "the first re-shard's layout before its commit began")
        if kind not in ("discard", "roll-forward", "roll-forward-recovery-attempt", "complete", "first-complete"):
            return Verdict("unexpected-outcome", False, kind)
        return Verdict(kind, True)


def workloads() -> list[Workload]:
    return [
        ReshardWorkload("grow-1-3", (1, "kevyhash"), (3, "kevyhash")),
        ReshardWorkload("shrink-3-2", (3, "kevyhash"), (2, "kevyhash")),
        ReshardWorkload("2-4", (2, "kevyhash"), (4, "kevyhash")),
        ReshardWorkload("kevyhash-slots", (2, "kevyhash"), (3, "slots")),
        ReshardWorkload("slots-kevyhash", (3, "slots"), (2, "kevyhash")),
        # Opening with a third layout while a committed re-shard is unfinished: the journal
        # is finished first, then the new attempt reuses the temp names (this is what makes
        # the journal's removal need its own fsync_dir).
        ReshardWorkload("over-journal-2-3-4", (2, "kevyhash"), (4, "slots"), interrupted=(3, "kevyhash")),
        # Two re-shards with no crash between: the second reuses the temp names the first
        # just removed, so the first's removal of its journal must be durable on its own.
        ReshardWorkload("twice-1-3-2", (1, "kevyhash"), (2, "kevyhash"), first_target=(3, "kevyhash")),
    ]
