"""Stream workloads: streams and consumer groups under each fsync policy (`streams-always`,
`streams-everysec`, `streams-no`).

What runs. One shard of `/data`, opened by the real recovery code, takes a seeded history
through `Shard.execute` (as `log-*` does, see `core_log`): a consumer group created with
MKSTREAM, entries added with explicit IDs, XREADGROUP (logged as its effect: a consumer
created, one XCLAIM ... FORCE JUSTID per delivered entry and the group's new position, as
one bracketed append), XCLAIM, XACK, XDEL, XTRIM, INCRs on a counter (non-idempotent, so a
log segment applied twice shows), a synchronous SAVE (a version-4 snapshot with op-6
records) and a log rewrite (the stream rebuilt as commands, tombstone rows included).
Deliveries use the ManualClock, which moves 400 ms per operation under `everysec`.

What must survive: as in `log-*` per policy, and everything before a completed SAVE or
REWRITE under every policy. The oracle is the plain model (`sim.stream_model` for the
streams, `sim.model` for the rest): the recovered streams -- entries, last ID, each group's
last delivered ID, pending rows (entry, holder, delivery count) and consumers -- must be
the model's after one prefix of the history. Half of an XREADGROUP's effect (rows without
the group's new position, or the reverse) is no prefix. Replay a failure with the line the
sweep prints.
"""

from __future__ import annotations

import random

from kevy_persist.disk.clock import ManualClock
from kevy_persist.errors import KevyError
from sim import model
from sim.checkers import PrefixChecker
from sim.workloads.base import DATA_DIR, Workload
from sim.workloads.core_log import ShardDriver, core_missing, open_data_shard

STREAMS = (b"stream:0", b"stream:1")
GROUP = b"g"
CONSUMERS = (b"alice", b"bob")


def random_operations(seed: int, count: int) -> list[tuple[bytes, ...]]:
    """A seeded history: the group first, entries before the first read, SAVE and REWRITE
    inside (so the final writes are durable only by the policy's own means)."""
    rng = random.Random(f"streams:{seed}")
    added: dict[bytes, list[bytes]] = {key: [] for key in STREAMS}
    operations: list[tuple[bytes, ...]] = []
    for number in range(count):
        key = rng.choice(STREAMS)
        roll = rng.random()
        if number == 0:
            operations.append((b"XGROUP", b"CREATE", STREAMS[0], GROUP, b"0", b"MKSTREAM"))
            continue
        if number == count // 2:
            operations.append((b"SAVE",))
            continue
        if number == count - 2:
            operations.append((b"REWRITE",))
            continue
        if number in (1, 2) or roll < 0.3:
            key = STREAMS[0] if number in (1, 2) else key
            entry_id = b"%d-%d" % (number + 1, rng.randrange(2))
            added[key].append(entry_id)
            operations.append((b"XADD", key, entry_id, b"f", b"v%d" % number))
        elif number == 3 or roll < 0.55:
            operations.append(
                (b"XREADGROUP", b"GROUP", GROUP, rng.choice(CONSUMERS), b"COUNT", b"2", b"STREAMS", STREAMS[0], b">")
            )
        elif roll < 0.85 and added[STREAMS[0]]:
            entry_id = rng.choice(added[STREAMS[0]])
            verb = rng.choice((b"XCLAIM", b"XACK", b"XDEL", b"XTRIM"))
            if verb == b"XCLAIM":
                operations.append((b"XCLAIM", STREAMS[0], GROUP, rng.choice(CONSUMERS), b"0", entry_id))
            elif verb == b"XACK":
                operations.append((b"XACK", STREAMS[0], GROUP, entry_id))
            elif verb == b"XDEL":
                operations.append((b"XDEL", STREAMS[0], entry_id))
            else:
                operations.append((b"XTRIM", STREAMS[0], b"MAXLEN", b"1"))
        else:
            operations.append((b"INCR", b"counter"))
    return operations


def canonical_stream(stream) -> tuple:
    """A recovered stream in the model's canonical form (see sim.stream_model)."""
    def entry_id(packed: int) -> tuple[int, int]:
        return packed >> 64, packed & ((1 << 64) - 1)

    groups = tuple(
        (
            group.name,
            entry_id(group.last_delivered),
            tuple((entry_id(packed), row.consumer, row.delivery_count) for packed, row in group.pending.items()),
            tuple(sorted(group.consumers)),
        )
        for group in sorted(stream.groups.values(), key=lambda group: group.name)
    )
    entries = tuple((entry_id(packed), tuple(fields)) for packed, fields in stream.entries.items())
    return ("stream", entries, entry_id(stream.last_id), groups)


def shard_state(shard) -> model.CanonicalState:
    from kevy_persist.data.stream import Stream

    state = []
    for key, _, value, _ in shard.keyspace.iter_entries():
        if isinstance(value, Stream):
            state.append((key, canonical_stream(value)))
        else:
            state.append((key, value if isinstance(value, bytes) else tuple(value)))
    return tuple(sorted(state))


class StreamDriver(ShardDriver):
    """`ShardDriver` that also runs REWRITE (a synchronous log rewrite, durable on return)."""

    def command(self, index: int, argv) -> bool:
        if argv[0] != b"REWRITE":
            return super().command(index, argv)
        self.history.begin(index)
        try:
            self.shard.rewrite_log()
        except KevyError:
            self.history.fail(index)
            return False
        self.history.require(index + 1)
        return True


class StreamWorkload(Workload):
    operation_count = 9
    fault_kinds = ("eio", "enospc", "short-write", "bitflip")

    def __init__(self, policy: str) -> None:
        self.policy = policy
        self.name = f"streams-{policy}"
        self.summary = f"streams and consumer groups, SAVE and rewrite under appendfsync {policy}"

    def skip_reason(self) -> str | None:
        return core_missing()

    def operations(self, seed: int) -> list:
        return random_operations(seed, self.operation_count)

    def run(self, fs, operations, history) -> None:
        fs.make_dirs(DATA_DIR)
        clock = ManualClock()
        try:
            shard = open_data_shard(fs, clock, self.policy)
        except KevyError:
            return  # opening failed (a fault): nothing was acknowledged, nothing more is sent
        driver = StreamDriver(shard, clock, self.policy, history)
        for index, argv in enumerate(operations):
            driver.command(index, argv)

    def recover(self, fs) -> object:
        return shard_state(open_data_shard(fs, ManualClock(), self.policy))

    def checker(self, operations, *, bitflip: bool):
        return PrefixChecker(operations, bitflip=bitflip)


def workloads() -> list[Workload]:
    return [StreamWorkload("always"), StreamWorkload("everysec"), StreamWorkload("no")]
