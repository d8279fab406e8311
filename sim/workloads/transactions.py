"""Store workloads: transactions, single commands, SAVE and log rewrite through `kevy_persist.Store`
(`transactions-always`, `transactions-everysec`, `transactions-no`).

What runs. A `Store` opened on `/data` of the simulated file system (the real opening,
layout and log code; manual ticker, `ManualClock`) executes a seeded list of operations:
- `MULTI`: a block of 2-3 writes on keys of one shard, run by `store.transaction()`; the
  block after SAVE and one in four others end with a command that always fails
  (`INCRBY key x`), so the block must be undone entirely;
- `CMD`: a single INCR / APPEND / LPUSH, or `SET key value EX 100` (logged as two records);
- `SAVE` and `REWRITE`: `Store.save()` / `Store.rewrite_log()`.
Then the store is shut down (shutdown must fsync everything). `always` runs two shards (every
acknowledged write is synced before the next is issued, so the recovered state is still one
prefix); `everysec` and `no` run one shard (independent shard logs make no global prefix).

What must survive: `always` -- every acknowledged operation; `everysec` -- the clock moves
400 ms per operation and `tick()` runs after each: everything acknowledged before a tick that
left no log dirty, and (the policy's promise, judged independently) everything acknowledged
2 s or more ago unless an fsync failed; `no` -- everything before a completed SAVE or
REWRITE; all -- everything, after a shutdown that returned. Under the `bitflip` fault a
refusal to open (`CorruptionError`, or `LayoutError` for a damaged shards.meta) is accepted,
and so is lost data (a flipped last record reads as a torn tail) as long as every surviving
value is one the history gave its key.

The oracle (`TransactionChecker`) is the plain-dict model of `sim.model` applied a block at
a time: a block is applied whole, or -- when it holds the failing command -- not at all. The
recovered state must equal the model after some prefix of the operations, so half a block
(a torn transaction) is a `not-a-prefix` violation. A failed operation (an error reply after
a fault) may be skipped. Replay a failure with the line the sweep prints.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from kevy_persist.disk.clock import ManualClock
from kevy_persist.errors import KevyError
from sim import model
from sim.checkers import Outcome, PrefixChecker, Verdict
from sim.workloads.base import DATA_DIR, Workload
from sim.workloads.core_log import core_missing

FAILING = (b"INCRBY", b"counter:0", b"not-a-number")  # always "ERR value is not an integer"
SEPARATOR = b"|"  # between the commands of a block (no key or value holds it)
KEYS = [b"%s:%d" % (kind, number) for kind in (b"counter", b"text", b"list") for number in range(3)]


class BlockAborted(Exception):
    """The model's view of a block whose failing command undoes it."""


def commands_of(operation: tuple) -> list[tuple[bytes, ...]]:
    """The commands of an operation. Operations are flat byte tuples (so reports can print
    them): `(b"MULTI", *argv, SEPARATOR, *argv, ...)`, `(b"CMD", *argv)`, `(b"SAVE",)`."""
    commands: list[tuple[bytes, ...]] = []
    current: list[bytes] = []
    for part in operation[1:]:
        if part == SEPARATOR:
            commands.append(tuple(current))
            current = []
        else:
            current.append(part)
    if current:
        commands.append(tuple(current))
    return commands


def make_operation(kind: bytes, commands: Sequence[tuple[bytes, ...]]) -> tuple[bytes, ...]:
    parts: list[bytes] = [kind]
    for number, argv in enumerate(commands):
        parts += ([SEPARATOR] if number else []) + list(argv)
    return tuple(parts)


def apply_operation(state: dict, operation: tuple) -> None:
    """Apply one operation to the model: a block atomically, SAVE/REWRITE as no-ops."""
    kind = operation[0]
    if kind in (b"SAVE", b"REWRITE"):
        return
    trial = dict(state)
    for argv in commands_of(operation):
        if tuple(argv) == FAILING:
            raise BlockAborted()
        if argv[0] == b"SET":
            trial[argv[1]] = argv[2]  # the TTL is 100 s on a clock that never gets there
        else:
            model.apply(trial, argv)
    state.clear()
    state.update(trial)


def states_with_omissions(operations: Sequence[tuple], omittable: frozenset[int]) -> list[set]:
    """Per prefix p, the states reachable by the first p operations, each failed one optional."""
    models: dict = {model.canonical({}): {}}
    result = [set(models)]
    for index, operation in enumerate(operations):
        following: dict = {}
        for state, current in models.items():
            applied = dict(current)
            try:
                apply_operation(applied, operation)
            except BlockAborted:
                applied = current
            following[model.canonical(applied)] = applied
            if index in omittable:
                following[state] = current
        models = following
        result.append(set(models))
    return result


class TransactionChecker(PrefixChecker):
    """`PrefixChecker` whose operations are blocks (see the module docstring)."""

    def __init__(self, operations: Sequence, *, bitflip: bool = False,
                 failed: frozenset[int] = frozenset(), shard_count: int = 1) -> None:
        self.operations = list(operations)
        self.bitflip = bitflip
        self.failed = failed
        self.shard_count = shard_count
        self._prefixes = {}
        self._states = states_with_omissions(self.operations, failed)
        for prefix, states in enumerate(self._states):
            for state in states:
                self._prefixes.setdefault(state, []).append(prefix)

    def check(self, outcome: Outcome, freeze: tuple[int, int]) -> Verdict:
        # The store also reads shards.meta: a flipped bit there is refused as a LayoutError
        # (unknown routing tag, not UTF-8), which is detection, as a CorruptionError is.
        if self.bitflip and outcome.failure in ("refused:LayoutError", "refused:HistoryGapError"):
            return Verdict("refused-corruption", True, outcome.detail)
        verdict = super().check(outcome, freeze)
        if verdict.ok or not self.bitflip or outcome.failure:
            return verdict
        # Under bitflip, data may be lost without detection: a flipped bit in a log's last
        # record reads as a torn tail (dropping it), and after a rewrite or on another shard
        # that loss is no prefix of the history. Accepted as long as every surviving value is
        # one the history really gave its key (nothing invented, no garbage). The sweeps
        # without bitflip keep the strict prefix rule, which is what proves atomicity.
        issued = freeze[1]
        known = {item for states in self._states[:issued + 1] for state in states for item in state}
        if all(item in known for item in outcome.state):
            return Verdict("degraded-known-values", True)
        return verdict

    def with_failures(self, failed: frozenset[int]) -> TransactionChecker:
        if failed == self.failed:
            return self
        return TransactionChecker(self.operations, bitflip=self.bitflip, failed=failed,
                                  shard_count=self.shard_count)


def _keys_by_shard(shard_count: int) -> list[list[bytes]]:
    from kevy_persist.layout.routing import Router, Routing

    router = Router(shard_count, Routing.KEVYHASH)
    groups: list[list[bytes]] = [[] for _ in range(shard_count)]
    for key in KEYS:
        groups[router.shard_for_key(key)].append(key)
    return [group for group in groups if group]


def _write(key: bytes, number: int) -> tuple[bytes, ...]:
    value = b"v%d" % number
    if key.startswith(b"counter"):
        return (b"INCR", key)
    if key.startswith(b"text"):
        return (b"APPEND", key, value)
    return (b"LPUSH", key, value)


def random_operations(seed: int, count: int, shard_count: int) -> list[tuple]:
    rng = random.Random(f"transactions:{seed}")
    groups = _keys_by_shard(shard_count)
    operations: list[tuple] = []
    for number in range(count):
        roll = rng.random()
        # SAVE and REWRITE sit inside the history, so the last write is made durable by the
        # final shutdown alone (under `no`) -- that promise is checked too.
        # The one after SAVE is an aborting block, so every seed exercises each kind.
        if number in (count // 2 - 1, count - 2):
            operations.append((b"SAVE",) if number == count // 2 - 1 else (b"REWRITE",))
        elif roll < 0.6 or number == count // 2:
            group = rng.choice(groups)
            block = [_write(rng.choice(group), number * 10 + step) for step in range(rng.randint(2, 3))]
            if number == count // 2 or (number < count - 1 and rng.random() < 0.25):
                block.append(FAILING)
            operations.append(make_operation(b"MULTI", block))
        elif roll < 0.75:
            operations.append(make_operation(b"CMD", [(b"SET", b"text:%d" % rng.randrange(3), b"s%d" % number)]))
        else:
            operations.append(make_operation(b"CMD", [_write(rng.choice(KEYS), number)]))
    return operations


def canonical_store_state(store) -> model.CanonicalState:
    from kevy_persist.store.store import iter_shards

    return tuple(sorted((key, value if isinstance(value, bytes) else tuple(value))
                        for _, shard in iter_shards(store)
                        for key, _, value, _ in shard.keyspace.iter_entries()))


class TransactionWorkload(Workload):
    operation_count = 6
    fault_kinds = ("eio", "enospc", "short-write", "bitflip")

    def __init__(self, policy: str) -> None:
        self.policy = policy
        self.shard_count = 2 if policy == "always" else 1
        self.name = f"transactions-{policy}"
        self.summary = (f"Store transactions, commands, SAVE, rewrite under appendfsync {policy} "
                        f"({self.shard_count} shard{'s' if self.shard_count > 1 else ''})")

    def skip_reason(self) -> str | None:
        return core_missing()

    def operations(self, seed: int) -> list:
        return random_operations(seed, self.operation_count, self.shard_count)

    def open_store(self, fs, clock, metrics=None):
        from kevy_persist import Store, StoreConfig

        config = StoreConfig(data_dir=DATA_DIR, shard_count=self.shard_count, appendfsync=self.policy,
                             ticker="manual", metrics=metrics)
        return Store.open(config, file_system=fs, clock=clock)

    def run(self, fs, operations, history) -> None:
        fs.make_dirs(DATA_DIR)
        clock = ManualClock()
        fsync_errors: list = []
        try:
            store = self.open_store(fs, clock, lambda event: event.name == "fsync_error" and fsync_errors.append(event))
        except KevyError:
            return  # opening failed (a fault): nothing was acknowledged, nothing more is sent
        acknowledged_at_ms: list[tuple[int, int]] = []
        for index, operation in enumerate(operations):
            history.begin(index)
            try:
                self._issue(store, operation)
            except KevyError:
                history.fail(index)
                continue
            if self.policy == "always" or operation[0] in (b"SAVE", b"REWRITE"):
                history.require(index + 1)
            acknowledged_at_ms.append((clock.monotonic_ms(), index + 1))
            if self.policy == "everysec":
                self._tick(store, clock, history, index, acknowledged_at_ms, fsync_errors)
        try:
            store.shutdown()
        except KevyError:
            return
        history.require(history.issued)

    def _issue(self, store, operation: tuple) -> None:
        from kevy_persist import TransactionAbortedError

        kind = operation[0]
        if kind == b"SAVE":
            store.save()
        elif kind == b"REWRITE":
            store.rewrite_log()
        elif kind == b"CMD":
            [argv] = commands_of(operation)
            if argv[0] == b"SET":
                store.set(argv[1], argv[2], ttl=100)
            else:
                store.execute(*argv)
        else:
            try:
                with store.transaction() as transaction:
                    for argv in commands_of(operation):
                        transaction.execute(*argv)
            except TransactionAbortedError:
                assert commands_of(operation)[-1] == FAILING, f"an unexpected abort of {operation!r}"

    def _tick(self, store, clock, history, index, acknowledged_at_ms, fsync_errors) -> None:
        from kevy_persist.store.store import iter_shards

        clock.advance(400)
        store.tick()
        if not fsync_errors and not any(shard.dirty for _, shard in iter_shards(store)):
            history.require(index + 1)
        if fsync_errors:
            return  # after a failed fsync the policy promises nothing more
        now_ms = clock.monotonic_ms()
        for acknowledged_ms, count in acknowledged_at_ms:
            if now_ms - acknowledged_ms >= 2000:
                history.require(count)

    def recover(self, fs) -> object:
        return canonical_store_state(self.open_store(fs, ManualClock()))

    def checker(self, operations, *, bitflip: bool):
        return TransactionChecker(operations, bitflip=bitflip, shard_count=self.shard_count)


def workloads() -> list[Workload]:
    return [TransactionWorkload("always"), TransactionWorkload("everysec"), TransactionWorkload("no")]
