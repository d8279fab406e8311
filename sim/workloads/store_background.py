"""Store background workloads: BGSAVE and BGREWRITEAOF through `kevy_persist.Store` on two
shards, a write between every step (`store-background-always`, `-everysec`, `-no`).

What runs. A `Store` of two shards on `/data` -- which does not exist yet: the open creates
it, its name made durable -- (KevyHash routing, manual ticker,
`background_worker="inline"`: each `tick()` runs exactly one step of the running job, so the
explorer cuts between any two with a write in between) executes a seeded list of operations:
- `CMD argv`: a single INCR / APPEND / LPUSH; `MULTI argv | argv ...`: a block on one
  shard's keys (`store.transaction()`);
- `BGSAVE`, `BGREWRITEAOF`: `store.bgsave()` / `store.bgrewriteaof()` -- one job per shard,
  one after the other (the store's queue); BGREWRITEAOF is queued behind the save;
- `TICK`: the clock moves 400 ms and `store.tick()` runs (expiry, the everysec fsync, one
  job step: freeze, serialize, install the snapshot, copy the tee, commit).
Then the store is shut down (shutdown must fsync everything). This covers what the
engine-level `background-*` workloads do not: the store's driver, its queue across shards,
the group commit's new generation at each commit, and shutdown during nothing.

What must survive: as in `background-*` -- every acknowledged write under `always`; under
`everysec` what a tick left synced and everything acknowledged 2 s ago; under `no` nothing
until a job commits, which makes its shard durable up to that point (the `job_committed`
metrics event); everything after a shutdown that returned. The oracle is the per-shard
prefix checker (`sim.sharded_checker`), behind `sim.checkers.RecordedLayoutChecker`: once
the store's open returned, `shards.meta` names the store's layout (kevy 1.23 reads it).
"""

from __future__ import annotations

import random

from kevy_persist.disk.clock import ManualClock
from kevy_persist.errors import KevyError
from sim import model
from sim.checkers import RecordedLayoutChecker
from sim.disk import Image
from sim.sharded_checker import ShardedPrefixChecker
from sim.workloads.base import DATA_DIR, Workload
from sim.workloads.core_log import core_missing

SHARD_COUNT = 2
SEPARATOR = b"|"
KEYS = [b"%s:%d" % (kind, number) for kind in (b"counter", b"text", b"list") for number in range(3)]


def shard_of_key(key: bytes) -> int:
    from kevy_persist.layout.routing import Router, Routing

    return Router(SHARD_COUNT, Routing.KEVYHASH).shard_for_key(key)


def commands_of(operation: tuple) -> list[list[bytes]]:
    commands: list[list[bytes]] = [[]]
    for part in operation[1:]:
        if part == SEPARATOR:
            commands.append([])
        else:
            commands[-1].append(part)
    return commands


def shard_of_operation(operation: tuple) -> int | None:
    if operation[0] not in (b"CMD", b"MULTI"):
        return None
    return shard_of_key(commands_of(operation)[0][1])


def apply_operation(state: dict, operation: tuple) -> None:
    if operation[0] in (b"CMD", b"MULTI"):
        for argv in commands_of(operation):
            model.apply(state, argv)


def _write_for(key: bytes, number: int) -> list[bytes]:
    if key.startswith(b"counter"):
        return [b"INCR", key]
    if key.startswith(b"text"):
        return [b"APPEND", key, b"t%d" % number]
    return [b"LPUSH", key, b"l%d" % number]


def random_operations(seed: int) -> list[tuple]:
    rng = random.Random(f"store-background:{seed}")
    by_shard = [[key for key in KEYS if shard_of_key(key) == shard] for shard in range(SHARD_COUNT)]
    operations: list[tuple] = []

    def write(number: int) -> None:
        group = rng.choice(by_shard)
        if rng.random() < 0.3:
            parts: list[bytes] = [b"MULTI"]
            for step in range(2):
                parts += ([SEPARATOR] if step else []) + _write_for(rng.choice(group), number * 10 + step)
            operations.append(tuple(parts))
        else:
            operations.append((b"CMD", *_write_for(rng.choice(group), number)))

    write(0)
    operations.append((b"BGSAVE",))
    operations.append((b"BGREWRITEAOF",))  # queued behind the save ("scheduled")
    # Per shard the save takes five ticks (its freeze at the first, then serialize, install,
    # copy, commit) and the rewrite four: a write before every one of them.
    for number in range(1, 19):
        write(number)
        operations.append((b"TICK",))
    write(19)
    return operations


class StoreBackgroundWorkload(Workload):
    operation_count = 40
    fault_kinds = ("eio", "enospc", "short-write")

    def __init__(self, policy: str) -> None:
        self.policy = policy
        self.name = f"store-background-{policy}"
        self.summary = f"Store BGSAVE then BGREWRITEAOF on {SHARD_COUNT} shards, a write between steps, {policy}"

    def skip_reason(self) -> str | None:
        return core_missing()

    def operations(self, seed: int) -> list:
        return random_operations(seed)[: self.operation_count]

    def open_store(self, fs, clock, metrics=None):
        from kevy_persist import Store, StoreConfig

        config = StoreConfig(data_dir=DATA_DIR, shard_count=SHARD_COUNT, appendfsync=self.policy, ticker="manual",
                             background_worker="inline", metrics=metrics, shutdown_snapshot_min_log_bytes=None)
        return Store.open(config, file_system=fs, clock=clock)

    def initial_image(self, seed: int):
        """No data dir: `Store.open` creates `/data` (a crash may lose a new dir's name)."""
        return Image(("/",), ())

    def run(self, fs, operations, history) -> None:
        clock = ManualClock()
        events: list = []
        try:
            store = self.open_store(fs, clock, events.append)
        except KevyError:
            return
        issue = self.issuer(store, clock)
        acknowledged_at_ms: list[tuple[int, int]] = []
        unreliable = False  # after a failed write or fsync the policy promises nothing more
        for index, operation in enumerate(operations):
            history.begin(index)
            events.clear()
            try:
                issue(operation)
            except KevyError:
                history.fail(index)
                unreliable = True
                continue
            for event in events:
                if event.name == "job_committed":
                    history.require_shard(event.shard_index, index + 1)
                unreliable = unreliable or event.name in ("fsync_error", "job_failed")
            if operation[0] in (b"CMD", b"MULTI"):
                if self.policy == "always":
                    history.require(index + 1)
                acknowledged_at_ms.append((clock.monotonic_ms(), index + 1))
            if operation[0] == b"TICK" and self.policy == "everysec" and not unreliable:
                from kevy_persist.store.store import iter_shards

                if not any(shard.dirty for _, shard in iter_shards(store)):
                    history.require(index + 1)
                for acknowledged_ms, count in acknowledged_at_ms:
                    if clock.monotonic_ms() - acknowledged_ms >= 2000:
                        history.require(count)
        try:
            store.shutdown()
        except KevyError:
            return
        history.require(history.issued)

    def issuer(self, store, clock):
        """How an operation reaches the store (the owned variant drives it as a server does)."""
        return lambda operation: self._issue(store, clock, operation)

    def _issue(self, store, clock, operation: tuple) -> None:
        kind = operation[0]
        if kind == b"BGSAVE":
            store.bgsave()
        elif kind == b"BGREWRITEAOF":
            store.bgrewriteaof()
        elif kind == b"TICK":
            clock.advance(400)
            store.tick()
        elif kind == b"CMD":
            store.execute(*commands_of(operation)[0])
        else:
            with store.transaction() as transaction:
                for argv in commands_of(operation):
                    transaction.execute(*argv)

    def recover(self, fs) -> object:
        from kevy_persist.layout.meta import LayoutSource, read_layout
        from kevy_persist.store.store import iter_shards

        # What kevy 1.23 would read, before the open (which records a missing meta again).
        reading = read_layout(fs, DATA_DIR)
        recorded = ((reading.layout.shard_count, reading.layout.routing.value)
                    if reading.source is LayoutSource.META else None)
        store = self.open_store(fs, ManualClock())
        return recorded, tuple(sorted((key, value if isinstance(value, bytes) else tuple(value))
                                      for _, shard in iter_shards(store) for key, _, value, _ in shard.keyspace.iter_entries()))

    def checker(self, operations, *, bitflip: bool):
        return RecordedLayoutChecker(ShardedPrefixChecker(
            operations, shard_count=SHARD_COUNT, shard_of_operation=shard_of_operation,
            shard_of_key=shard_of_key, apply_operation=apply_operation, bitflip=bitflip,
        ), (SHARD_COUNT, "kevyhash"))


def workloads() -> list[Workload]:
    return [StoreBackgroundWorkload("always"), StoreBackgroundWorkload("everysec"), StoreBackgroundWorkload("no")]
