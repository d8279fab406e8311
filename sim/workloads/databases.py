"""Databases: SWAPDB and MOVE, the two protocols that change two databases' files
(`swapdb-1shard`, `swapdb-2shards`).

What runs. A `Store` opened on `/data` of the simulated file system (the real opening,
database, re-shard and log code; `appendfsync always`, manual ticker, `ManualClock`)
executes a seeded list of operations over databases 0, 1 and 2:
- `SET db key value` and `INCR db key` (database 1 and 2 are created by their first write);
- `MOVE db key target`: `store.database(db).execute("MOVE", ...)` -- the move journal, the
  RESTORE in the target fsynced, then the DEL at the source;
- `COPY db key target`: `COPY key key DB target REPLACE` (one write, to the target);
- `SWAPDB a b`: `Store.swap_databases` -- temps in both dirs, `swapdb.journal` (the commit
  point), each dir finished by the re-shard roll-forward, both databases reopened;
- `SAVE`: every database's snapshot and fresh log.
Every operation is acknowledged only once durable (`always`, and MOVE / SWAPDB fsync
themselves), so after a crash in operation k the recovered state must be the model after
k-1 or k operations: a SWAPDB half done (one dir swapped, not the other), a key MOVE left
in both databases or in neither, a database dir lost are all `not-a-prefix` violations.

Recovery is `Store.open` of `/data`: it rolls a committed swap forward before anything else
reads the dirs, opens every `db-{n}/`, then settles a MOVE journal. The state is every
database's keys as `b"{db}|{key}"` -> value (`canonical`), and the oracle the plain-dict
model below (`apply`), which shares no code with the store. Replay a failure with the line
the sweep prints.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from kevy_persist.disk.clock import ManualClock
from kevy_persist.errors import KevyError
from sim import model
from sim.checkers import PrefixChecker
from sim.workloads.base import DATA_DIR, Workload
from sim.workloads.core_log import core_missing

KEYS = (b"a", b"b", b"c")
DATABASES = (b"0", b"1", b"2")


def apply(state: dict[bytes, bytes], operation: Sequence[bytes]) -> None:
    """One operation on the model: keys are `b"{db}|{key}"`."""
    verb = operation[0]
    if verb == b"SAVE":
        return
    if verb == b"SWAPDB":
        first, second = operation[1], operation[2]
        swapped = {}
        for name, value in state.items():
            database, _, key = name.partition(b"|")
            database = {first: second, second: first}.get(database, database)
            swapped[database + b"|" + key] = value
        state.clear()
        state.update(swapped)
        return
    name = operation[1] + b"|" + operation[2]
    if verb == b"SET":
        state[name] = operation[3]
    elif verb == b"INCR":
        state[name] = b"%d" % (int(state.get(name, b"0")) + 1)
    elif verb in (b"MOVE", b"COPY"):
        target = operation[3] + b"|" + operation[2]
        if name not in state or (verb == b"MOVE" and target in state):
            return
        state[target] = state[name]
        if verb == b"MOVE":
            del state[name]


def random_operations(seed: int, count: int) -> list[tuple[bytes, ...]]:
    rng = random.Random(f"databases:{seed}")
    operations: list[tuple[bytes, ...]] = [(b"SET", b"0", b"a", b"v0"), (b"SET", b"1", b"b", b"w0")]
    while len(operations) < count:
        number = len(operations)
        roll = rng.random()
        database, key = rng.choice(DATABASES), rng.choice(KEYS)
        other = rng.choice([name for name in DATABASES if name != database])
        if number == count // 2:
            operations.append((b"SWAPDB", *sorted((database, other))))
        elif roll < 0.3:
            operations.append((b"SET", database, key, b"v%d" % number))
        elif roll < 0.45:
            operations.append((b"INCR", database, b"n"))
        elif roll < 0.65:
            operations.append((b"MOVE", database, key, other))
        elif roll < 0.75:
            operations.append((b"COPY", database, key, other))
        elif roll < 0.9:
            operations.append((b"SWAPDB", *sorted((database, other))))
        else:
            operations.append((b"SAVE",))
    return operations


def canonical(store) -> model.CanonicalState:
    from kevy_persist.store.store import iter_shards

    state = {}
    for number, database in store.databases.opened():
        for _, shard in iter_shards(database):
            for key, _, value, _ in shard.keyspace.iter_entries():
                state[b"%d|%s" % (number, key)] = value
    return model.canonical(state)


class DatabaseChecker(PrefixChecker):
    """`PrefixChecker` over this module's model (a failed operation may be skipped)."""

    def __init__(self, operations: Sequence, *, bitflip: bool = False, failed: frozenset[int] = frozenset()) -> None:
        self.operations = list(operations)
        self.bitflip = bitflip
        self.failed = failed
        self._prefixes = {}
        states = {model.canonical({}): {}}
        self._prefixes[model.canonical({})] = [0]
        for index, operation in enumerate(self.operations):
            following = {}
            for key, current in states.items():
                applied = dict(current)
                apply(applied, operation)
                following[model.canonical(applied)] = applied
                if index in failed:
                    following[key] = current
            states = following
            for key in states:
                self._prefixes.setdefault(key, []).append(index + 1)

    def with_failures(self, failed: frozenset[int]) -> DatabaseChecker:
        if failed == self.failed:
            return self
        return DatabaseChecker(self.operations, bitflip=self.bitflip, failed=failed)


class DatabaseWorkload(Workload):
    # Two writes, then three of MOVE / COPY / SWAPDB / writes with a SWAPDB in the middle:
    # every SWAPDB cut is several hundred steps (two dirs' temps, journal, two roll-forwards).
    operation_count = 5
    fault_kinds = ("eio", "enospc")

    def __init__(self, shard_count: int) -> None:
        self.shard_count = shard_count
        self.name = f"swapdb-{shard_count}shard{'s' if shard_count > 1 else ''}"
        self.summary = (f"SWAPDB, MOVE, COPY ... DB and writes over databases 0-2 under appendfsync always "
                        f"({shard_count} shard{'s' if shard_count > 1 else ''} each)")

    def skip_reason(self) -> str | None:
        return core_missing()

    def operations(self, seed: int) -> list:
        return random_operations(seed, self.operation_count)

    def open_store(self, fs, clock):
        from kevy_persist import Store, StoreConfig

        config = StoreConfig(data_dir=DATA_DIR, shard_count=self.shard_count, appendfsync="always",
                             ticker="manual", databases=3)
        return Store.open(config, file_system=fs, clock=clock)

    def run(self, fs, operations, history) -> None:
        fs.make_dirs(DATA_DIR)
        try:
            store = self.open_store(fs, ManualClock())
        except KevyError:
            return  # opening failed (a fault): nothing was acknowledged
        for index, operation in enumerate(operations):
            history.begin(index)
            try:
                _issue(store, operation)
            except KevyError:
                history.fail(index)
                continue
            history.require(index + 1)
        try:
            store.shutdown()
        except KevyError:
            return

    def recover(self, fs) -> object:
        store = self.open_store(fs, ManualClock())
        try:
            return canonical(store)
        finally:
            store.shutdown(save=False)

    def checker(self, operations, *, bitflip: bool):
        return DatabaseChecker(operations, bitflip=bitflip)


def _issue(store, operation: tuple[bytes, ...]) -> None:
    verb = operation[0]
    if verb == b"SAVE":
        store.save()
    elif verb == b"SWAPDB":
        store.swap_databases(int(operation[1]), int(operation[2]))
    else:
        database = store.database(int(operation[1]))
        if verb == b"SET":
            database.execute(b"SET", operation[2], operation[3])
        elif verb == b"INCR":
            database.execute(b"INCR", operation[2])
        elif verb == b"MOVE":
            database.execute(b"MOVE", operation[2], operation[3])
        else:
            database.execute(b"COPY", operation[2], operation[2], b"DB", operation[3], b"REPLACE")


class MoveWorkload(DatabaseWorkload):
    """MOVEs that move (`move-1shard`): the seeded mixes of `swapdb-*` may draw none that finds
    its key (seed 0 draws none), and only a MOVE that moves writes the move journal."""

    # The last write is to a key a MOVE moved away, at its source: a MOVE journal whose
    # removal was not durable would come back after a crash and delete it again.
    MOVES = ((b"SET", b"0", b"a", b"v0"), (b"SET", b"1", b"b", b"w0"), (b"MOVE", b"0", b"a", b"2"),
             (b"MOVE", b"1", b"b", b"0"), (b"SET", b"2", b"a", b"v4"), (b"SET", b"1", b"b", b"w5"))

    def __init__(self) -> None:
        super().__init__(1)
        self.name = "move-1shard"
        self.summary = "MOVE between databases 0-2 (each move found and journaled) under appendfsync always"

    # Writing after a recovery (`--resume`, sim/resume.py): each moved key written again at
    # its source. A recovery that settled a MOVE journal without making its removal durable
    # lets the journal come back after a later crash, and the next open then deletes the key
    # at the source again -- an acknowledged write lost.
    resume_operations = ((b"SET", b"0", b"a", b"r0"), (b"SET", b"1", b"b", b"r1"))
    resume_apply = staticmethod(apply)

    def operations(self, seed: int) -> list:
        return list(self.MOVES)

    def resume(self, fs, operations, history) -> None:
        """Recover (open, which settles a MOVE journal), then issue `operations`, each
        acknowledged once `appendfsync always` returned."""
        store = self.open_store(fs, ManualClock())
        for index, operation in enumerate(operations):
            history.begin(index)
            _issue(store, operation)
            history.require(index + 1)
        store.shutdown()


class SwapChainWorkload(DatabaseWorkload):
    """Two SWAPDBs of databases 1 and 2 (`swapdb-chain-1shard`): neither dir is the root, so
    nothing fsyncs the root between the first swap's end and the second's commit point. A
    first swap whose journal's removal was not made durable comes back after a crash there
    and rolls forward whatever temps the second left: with one dir's temp names durable and
    not the other's, half a swap. (The seeded mixes of `swapdb-*` swap with database 0 each
    time, whose dir is the root, so every swap fsyncs the root early.)"""

    SWAPS = ((b"SET", b"0", b"a", b"v0"), (b"SET", b"1", b"b", b"w0"), (b"SET", b"2", b"c", b"x0"),
             (b"SWAPDB", b"1", b"2"), (b"SWAPDB", b"1", b"2"))

    def __init__(self) -> None:
        super().__init__(1)
        self.name = "swapdb-chain-1shard"
        self.summary = "SWAPDB 1 2 twice (the root never fsynced between) under appendfsync always (1 shard each)"

    def operations(self, seed: int) -> list:
        return list(self.SWAPS)


def workloads() -> list[Workload]:
    return [DatabaseWorkload(1), DatabaseWorkload(2), MoveWorkload(), SwapChainWorkload()]
