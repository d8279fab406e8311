"""RDB import workloads: a Redis RDB file becomes a new data dir, crashed at every step.

What runs. The initial image holds `/redis.rdb` (every value type, a stream with a group
and a pending row included, TTLs, an LZF string, written by the RDB encoder) and no `/data`: the run is `tools.rdb_import.import_rdb`
into a data dir that does not exist yet, under the target layout: create `/data` (its name made
durable in `/`), decode, route, then `reshard.fresh_install` (temps, journal = commit point,
finish). So a crash image may lose the new directory's name, and with it the whole import.

Where the commit point lies (as in the re-shard workloads): operation 0 (the commit) is
issued when the temps are durable and required once the journal's directory entry is
fsynced; operation 1 (the finish) is issued when the layout is recorded and required when
the journal's removal is durable.

Recovery is what a user does next: open the dir (made afresh if the crash lost it) with the target layout
(`reshard.reconcile_layout`, as `Store.open` does), then open every shard (`open_shard`).

Oracle (`ImportChecker`). Outcome `discard` (nothing of the import survived: no layout, no
files but what recovery leaves in a fresh dir, no key) is allowed only while the commit is
not required; `roll-forward` (the run's journal was finished by recovery) only once the
journal write was issued; `complete` (the import had finished). In both of the latter the
logical content must equal the RDB's keys, computed from the encoder's input with plain
dicts, every key in the shard it routes to, `shards.meta` naming the target and no journal
or temp left. Replay a failure with the line the sweep prints.
"""

from __future__ import annotations

import json
from collections import deque

from kevy_persist.disk.clock import ManualClock
from kevy_persist.errors import KevyError
from sim.checkers import Outcome, Verdict
from sim.disk import Image
from sim.workloads.base import DATA_DIR, Workload
from sim.workloads.core_log import core_missing

RDB_PATH = "/redis.rdb"
RUN_NOW_MS = 1_800_000_000_000
RECOVERY_NOW_MS = RUN_NOW_MS + 3_600_000
FAR_DEADLINE_MS = RUN_NOW_MS + 86_400_000


def _stream():
    """A stream with a group, a consumer and a pending row for an entry deleted since."""
    from kevy_persist.data.stream import Stream
    from kevy_persist.formats.snapshot_stream import GroupPayload, StreamPayload
    from kevy_persist.formats.stream_ids import stream_id

    first, gone, last = stream_id(5, 0), stream_id(5, 1), stream_id(6, 0)
    group = GroupPayload(b"g", gone, [(b"c", RUN_NOW_MS - 10)], [(first, b"c", RUN_NOW_MS - 20, 2), (gone, b"c", RUN_NOW_MS - 10, 1)], 2)
    return Stream.from_payload(StreamPayload(last, gone, 3, [first, last], [(b"f", b"1"), (b"f", b"2", b"g", b"3")], [group]))


def _source_entries() -> list[tuple]:
    from kevy_persist.data.zset import ZSet
    from kevy_persist.formats.records import ValueKind as K

    return [
        (b"x{a}", K.STREAM, _stream(), None),
        (b"s{a}", K.STRING, b"plain", None),
        (b"n{b}", K.STRING, b"-42", FAR_DEADLINE_MS),
        (b"long{c}", K.STRING, b"compressible " * 8, None),
        (b"h{a}", K.HASH, {b"f": b"1", b"g": b"two"}, FAR_DEADLINE_MS + 1),
        (b"l{b}", K.LIST, deque([b"x", b"y", b"x"]), None),
        (b"set{c}", K.SET, {b"1", b"m"}, None),
        (b"z{d}", K.ZSET, ZSet.from_pairs([(b"m", 1.5), (b"n", -2.0)]), None),
        (b"gone{d}", K.STRING, b"expired before the import", RUN_NOW_MS - 1),
    ]


def _expected_content() -> str:
    """The oracle's content: the live source entries rendered, values as plain data."""
    from kevy_persist.tools.logical_dump import render_entries

    live = [entry for entry in _source_entries() if entry[3] is None or entry[3] > RUN_NOW_MS]
    return json.dumps(render_entries(live), sort_keys=True)


class ImportWorkload(Workload):
    operation_count = 2
    fault_kinds = ("eio",)

    def __init__(self, shard_count: int, routing: str, then_shards: int | None = None) -> None:
        self.name = f"import-rdb-{shard_count}-{routing}"
        self.summary = f"import-rdb into an empty dir, {shard_count} shards by {routing} (fresh_install)"
        self.shard_count = shard_count
        self.routing = routing
        # Then, no crash between, the dir is opened with `then_shards` shards (a re-shard that
        # reuses the temp names the import just removed: its journal's removal must be durable).
        self.then_shards = then_shards
        if then_shards is not None:
            self.name += f"-then-{then_shards}"
            self.summary += f", then re-sharded to {then_shards} at once (reconcile_layout)"

    def skip_reason(self) -> str | None:
        return core_missing()

    def _layout(self):
        from kevy_persist.layout.meta import ShardLayout
        from kevy_persist.layout.routing import Routing

        return ShardLayout(self.shard_count, Routing(self.routing))

    def _final_layout(self):
        from kevy_persist.layout.meta import ShardLayout
        from kevy_persist.layout.routing import Routing

        if self.then_shards is None:
            return self._layout()
        return ShardLayout(self.then_shards, Routing(self.routing))

    def operations(self, seed: int) -> list:
        return ["commit", "finish"]

    def initial_image(self, seed: int) -> Image:
        from kevy_persist.formats.rdb_format import encode_rdb_chunks

        entries = _source_entries()
        expires = sum(1 for entry in entries if entry[3] is not None)
        data = b"".join(encode_rdb_chunks([(0, len(entries), expires, entries)], [(b"ctime", b"0")], compress=True))
        return Image(("/",), ((RDB_PATH, data),))  # no data dir yet: the import makes it

    def run(self, fs, operations, history) -> None:
        from kevy_persist.reshard.protocol import Phase
        from kevy_persist.tools.rdb_import import import_rdb

        marks = {Phase.TEMPS_DURABLE: ("begin", 0), Phase.COMMITTED: ("require", 1),
                 Phase.LAYOUT_RECORDED: ("begin", 1), Phase.FINISHED: ("require", 2)}

        def listener(phase) -> None:
            action, number = marks.get(phase, (None, 0))
            if action == "begin":
                history.begin(number)
            elif action == "require":
                history.require(number)

        try:
            import_rdb(fs, RDB_PATH, DATA_DIR, self._layout(), ManualClock(RUN_NOW_MS), listener=listener)
            if self.then_shards is not None:
                from kevy_persist.reshard.reconcile import reconcile_layout

                reconcile_layout(fs, DATA_DIR, self._final_layout(), ManualClock(RUN_NOW_MS + 60_000))
        except KevyError:
            return  # a fault: the import failed; recovery must find all of it or none

    def recover(self, fs) -> object:
        from kevy_persist.engine.shard import ShardOptions
        from kevy_persist.engine.shard_opening import open_shard
        from kevy_persist.layout.meta import read_layout
        from kevy_persist.layout.names import FileRole, classify
        from kevy_persist.layout.routing import router_for
        from kevy_persist.reshard.reconcile import reconcile_layout
        from kevy_persist.reshard.recovery import InterruptedOutcome
        from kevy_persist.tools.logical_dump import render_entries

        target = self._final_layout()
        # As `Store.open` does: a data dir whose name the crash lost is opened as a new one.
        fs.make_dirs(DATA_DIR)
        report = reconcile_layout(fs, DATA_DIR, target, ManualClock(RECOVERY_NOW_MS))
        if report.recovery.outcome is InterruptedOutcome.ROLLED_FORWARD:
            kind = "roll-forward"
        elif report.found.is_fresh:
            kind = "discard"
        elif report.found.layout == target:
            kind = "complete"
        elif report.found.layout == self._layout():
            kind = "complete"  # the import finished; the re-shard after it left no trace
        else:
            kind = f"unexpected-layout:{report.found.layout}"
        problems = []
        names = fs.list_dir(DATA_DIR)
        for name in names:
            if classify(name).role in (FileRole.RESHARD_JOURNAL, FileRole.RESHARD_TEMP):
                problems.append(f"{name} left behind")
        if kind == "discard":
            if names:
                problems.append(f"a discarded import left {names}")
            return (kind, "", tuple(problems))
        if read_layout(fs, DATA_DIR).layout != target:
            problems.append("shards.meta does not name the target layout")
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
        return (kind, json.dumps(render_entries(entries), sort_keys=True), tuple(problems))

    def checker(self, operations, *, bitflip: bool):
        return ImportChecker(_expected_content(), bitflip=bitflip)


class ImportChecker:
    """All of the import or none of it, on the right side of the commit point."""

    def __init__(self, expected_content: str, *, bitflip: bool = False) -> None:
        self.expected_content = expected_content
        self.bitflip = bitflip

    def with_failures(self, failed: frozenset[int]) -> ImportChecker:
        return self

    def check(self, outcome: Outcome, freeze: tuple[int, int]) -> Verdict:
        required, issued = freeze
        if outcome.failure:
            if self.bitflip and outcome.failure.startswith("refused:"):
                return Verdict("refused-corruption", True, outcome.detail)
            return Verdict(outcome.failure, False, outcome.detail)
        kind, content, problems = outcome.state
        if problems:
            return Verdict("layout-incomplete", self.bitflip, "; ".join(problems))
        if kind == "discard":
            if required >= 1:
                return Verdict("lost-commit", False, "the import vanished after its commit point")
            return Verdict(kind, True)
        if kind not in ("roll-forward", "complete"):
            return Verdict("unexpected-outcome", False, kind)
        if kind == "roll-forward" and issued < 1:
            return Verdict("early-commit", False, "rolled forward a journal the run never began")
        if content != self.expected_content:
            return Verdict("degraded-content" if self.bitflip else "keyspace-wrong", self.bitflip,
                           f"recovered {content[:300]}")
        return Verdict(kind, True)


EXPORT_PATH = "/export.rdb"


class ExportWorkload(Workload):
    """`export-rdb`: the imported data dir exported to `/export.rdb` (temp, fsync, rename,
    fsync_dir), crashed at every step. Oracle: once the export returned, the file is there,
    byte for byte the export an uncrashed run writes; before, it is absent or already whole
    -- never a torn file under its final name."""

    name = "export-rdb-1-kevyhash"
    summary = "export-rdb of a 1-shard data dir to an RDB file (durable replace)"
    operation_count = 1
    fault_kinds = ("eio",)
    _image: Image | None = None

    def skip_reason(self) -> str | None:
        return core_missing()

    def operations(self, seed: int) -> list:
        return ["export"]

    def initial_image(self, seed: int) -> Image:
        if ExportWorkload._image is None:
            from kevy_persist.tools.rdb_import import import_rdb
            from sim.simfs import SimFileSystem

            source = ImportWorkload(1, "kevyhash")
            fs = SimFileSystem.from_image(source.initial_image(seed))
            import_rdb(fs, RDB_PATH, DATA_DIR, source._layout(), ManualClock(RUN_NOW_MS))
            files = tuple(sorted((f"{DATA_DIR}/{name}", fs.read_bytes(f"{DATA_DIR}/{name}"))
                                 for name in fs.list_dir(DATA_DIR)))
            ExportWorkload._image = Image(("/", DATA_DIR), files)
        return ExportWorkload._image

    def run(self, fs, operations, history) -> None:
        from kevy_persist.tools.rdb_export import export_rdb

        history.begin(0)
        try:
            export_rdb(fs, DATA_DIR, EXPORT_PATH, ManualClock(RUN_NOW_MS))
        except KevyError:
            history.fail(0)
            return
        history.require(1)

    def recover(self, fs) -> object:
        if not fs.exists(EXPORT_PATH):
            return ("absent", b"")
        return ("present", fs.read_bytes(EXPORT_PATH))

    def checker(self, operations, *, bitflip: bool):
        """The expected file: the same export run on an uncrashed copy (the export is
        deterministic: one clock, one data dir)."""
        from kevy_persist.tools.rdb_export import export_rdb
        from sim.simfs import SimFileSystem

        fs = SimFileSystem.from_image(self.initial_image(0))
        export_rdb(fs, DATA_DIR, EXPORT_PATH, ManualClock(RUN_NOW_MS))
        return ExportChecker(fs.read_bytes(EXPORT_PATH))


class ExportChecker:
    def __init__(self, expected: bytes, failed: frozenset[int] = frozenset()) -> None:
        self.expected = expected
        self.failed = failed

    def with_failures(self, failed: frozenset[int]) -> ExportChecker:
        return ExportChecker(self.expected, failed)

    def check(self, outcome: Outcome, freeze: tuple[int, int]) -> Verdict:
        required, _ = freeze
        if outcome.failure:
            return Verdict(outcome.failure, False, outcome.detail)
        kind, content = outcome.state
        if kind == "absent":
            if required >= 1:
                return Verdict("lost-acknowledged", False, "the export returned, then its file vanished")
            return Verdict("absent", True)
        if content != self.expected:
            return Verdict("export-torn", False, f"{len(content)} bytes under the final name, not the "
                           f"{len(self.expected)} the export wrote")
        return Verdict("present", True)


def workloads() -> list[Workload]:
    return [ImportWorkload(1, "kevyhash"), ImportWorkload(3, "slots"), ImportWorkload(1, "kevyhash", then_shards=3),
            ExportWorkload()]
