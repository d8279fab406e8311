"""Core workloads: a shard's log under each fsync policy (`log-always`, `log-everysec`, `log-no`).

What runs. One shard of `/data` is opened with the real recovery code
(`kevy_persist.opening.open_shard`) on an empty file system, then a seeded list of INCR /
APPEND / LPUSH commands goes through `Shard.execute` -- apply, then append the log record --
and is acknowledged per policy:
- `always`: `sync_log()` before the acknowledgement; every acknowledged write must survive.
- `everysec`: the clock moves 400 ms per command and `sync_if_due()` runs after each; every
  write acknowledged before a completed sync must survive, and -- the policy's promise,
  checked independently of the code -- so must every write acknowledged 2 s or more ago.
- `no`: nothing is required; recovery must still land on a prefix (no hole, no double apply).
A failed call (a refused write after EIO, ENOSPC) is not acknowledged; the workload carries on,
so writes after a failure test that the shard keeps refusing.

Recovery is `open_shard` on the crash image; the state compared is the keyspace as
`(key, bytes | tuple)` pairs. Replay a failure with the line the sweep prints.
"""

from __future__ import annotations

import random

from kevy_persist.disk.clock import ManualClock
from kevy_persist.errors import KevyError
from sim import model
from sim.checkers import PrefixChecker
from sim.log_frames import damage_in_log
from sim.workloads.base import DATA_DIR, Workload

_REQUIRED_MODULES = (
    "kevy_persist.engine.shard_opening", "kevy_persist.engine.shard", "kevy_persist.engine.aof", "kevy_persist.commands",
)


def core_missing() -> str | None:
    """Why the core cannot be driven yet (a module missing or broken), or None."""
    import importlib

    for name in _REQUIRED_MODULES:
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 -- any import failure means "not ready"
            return f"{name} is not importable yet: {type(error).__name__}: {error}"
    return None


def open_data_shard(fs, clock, policy: str):
    from kevy_persist.engine.aof import FsyncPolicy
    from kevy_persist.engine.shard import ShardOptions
    from kevy_persist.engine.shard_opening import open_shard

    fs.make_dirs(DATA_DIR)  # as the store does before opening shards
    return open_shard(fs, clock, ShardOptions(directory=DATA_DIR, index=0, fsync_policy=FsyncPolicy(policy)))


def shard_state(shard) -> model.CanonicalState:
    """The keyspace in the oracle's canonical form (strings as bytes, lists as tuples)."""
    return tuple(sorted((key, value if isinstance(value, bytes) else tuple(value))
                        for key, _, value, _ in shard.keyspace.iter_entries()))


class ShardDriver:
    """Runs commands through a shard and records acknowledgements per fsync policy."""

    def __init__(self, shard, clock: ManualClock, policy: str, history) -> None:
        from kevy_persist.commands import CommandContext

        self.shard = shard
        self.clock = clock
        self.policy = policy
        self.history = history
        self.context_type = CommandContext
        self.random = random.Random(0)
        self.acknowledged_at_ms: list[tuple[int, int]] = []  # (time, acknowledged count)

    def command(self, index: int, argv) -> bool:
        """Issue operation `index`; True when it was acknowledged."""
        history = self.history
        history.begin(index)
        try:
            if argv[0] == b"SAVE":
                self.shard.save()
                history.require(index + 1)  # a synchronous SAVE makes everything durable
                return True
            context = self.context_type(self.clock.now_ms(), self.random)
            _, ticket = self.shard.execute(list(argv), context)
            if self.policy == "always" and ticket is not None:
                self.shard.sync_log()
        except KevyError:
            history.fail(index)
            return False
        if self.policy == "always":
            history.require(index + 1)
        self.acknowledged_at_ms.append((self.clock.monotonic_ms(), index + 1))
        if self.policy == "everysec":
            self.clock.advance(400)
            try:
                if self.shard.sync_if_due():
                    history.require(index + 1)
            except KevyError:
                pass
            # The policy's promise: at most about a second (two, with slack) is lost.
            now_ms = self.clock.monotonic_ms()
            for acknowledged_ms, count in self.acknowledged_at_ms:
                if now_ms - acknowledged_ms >= 2000:
                    history.require(count)
        return True


class LogWorkload(Workload):
    operation_count = 6
    fault_kinds = ("eio", "enospc", "short-write", "bitflip")

    def __init__(self, policy: str) -> None:
        self.policy = policy
        self.name = f"log-{policy}"
        self.summary = f"shard log appends under appendfsync {policy} (open_shard recovers)"

    def skip_reason(self) -> str | None:
        return core_missing()

    def operations(self, seed: int) -> list:
        return model.random_operations(seed, self.operation_count)

    def run(self, fs, operations, history) -> None:
        fs.make_dirs(DATA_DIR)
        clock = ManualClock()
        try:
            shard = open_data_shard(fs, clock, self.policy)
        except KevyError:
            return  # opening failed (a fault): nothing was acknowledged, nothing more is sent
        driver = ShardDriver(shard, clock, self.policy, history)
        for index, argv in enumerate(operations):
            driver.command(index, argv)

    def recover(self, fs) -> object:
        return shard_state(open_data_shard(fs, ManualClock(), self.policy))

    def resume(self, fs, operations, history) -> None:
        """Recover, then issue `operations`, each acknowledged after an fsync (`sim.resume`)."""
        clock = ManualClock()
        driver = ShardDriver(open_data_shard(fs, clock, self.policy), clock, "always", history)
        for index, argv in enumerate(operations):
            driver.command(index, argv)

    def checker(self, operations, *, bitflip: bool):
        return PrefixChecker(operations, bitflip=bitflip)

    def damage_of(self, image, path: str, byte_offset: int):
        """The log holds one record per operation, in order, after its epoch marker."""
        if path != f"{DATA_DIR}/aof-0.aof":
            return None
        return damage_in_log(image.as_dict()[path], byte_offset)


class PageCrossingLogWorkload(LogWorkload):
    """Appends of ~1.5 KiB records, so the unsynced tail spans several 4 KiB pages: under
    `weakest` a crash may keep a later page and lose an earlier one (a zero-filled hole
    followed by valid records), which recovery must read as a torn tail, not corruption."""

    operation_count = 8
    fault_kinds = ()

    def __init__(self, policy: str) -> None:
        super().__init__(policy)
        self.name = f"log-pages-{policy}"
        self.summary = f"page-crossing appends under appendfsync {policy} (lost middle pages)"

    def operations(self, seed: int) -> list:
        padding = b"p" * 1500
        return [
            (argv[0], argv[1], argv[2] + padding) if len(argv) == 3 else argv
            for argv in model.random_operations(seed, self.operation_count)
        ]


def workloads() -> list[Workload]:
    return [LogWorkload("always"), LogWorkload("everysec"), LogWorkload("no"),
            PageCrossingLogWorkload("everysec"), PageCrossingLogWorkload("no")]
