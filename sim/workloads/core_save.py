"""Core workloads: synchronous SAVE between appends (`save-always`, `save-no`).

What runs. Like `log-*` (see `core_log`), with SAVE operations at fixed places in the
history: `Shard.save()` = snapshot by durable replace, fsync_dir, then a fresh `incr` log of
the next epoch by durable replace (specs/shard-history.md). When SAVE returns, every earlier
operation must survive -- under `no` too. The cuts inside SAVE are the interesting ones: the
oracle's prefix rule catches a log replayed twice over a new snapshot (INCR and LPUSH applied
twice) and a snapshot lost behind a new log. Recovery is `open_shard`, which also finishes a
save interrupted after its snapshot rename -- so nested crashes cut that, too.
"""

from __future__ import annotations

from kevy_persist.clock import ManualClock
from kevy_persist.errors import KevyError

from .. import model
from ..checkers import PrefixChecker
from . import DATA_DIR, Workload
from .core_log import ShardDriver, core_missing, open_data_shard, shard_state


class SaveWorkload(Workload):
    operation_count = 7
    fault_kinds = ("eio", "enospc", "short-write", "bitflip")

    def __init__(self, policy: str) -> None:
        self.policy = policy
        self.name = f"save-{policy}"
        self.summary = f"appends with synchronous SAVEs under appendfsync {policy}"

    def skip_reason(self) -> str | None:
        return core_missing()

    def operations(self, seed: int) -> list:
        operations = model.random_operations(seed, self.operation_count - 2)
        operations.insert(2, (b"SAVE",))
        operations.insert(5, (b"SAVE",))
        return operations

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

    def checker(self, operations, *, bitflip: bool):
        return PrefixChecker(operations, bitflip=bitflip)


def workloads() -> list[Workload]:
    return [SaveWorkload("always"), SaveWorkload("no")]
