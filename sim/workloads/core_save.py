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

from sim import model
from sim.workloads.base import Workload
from sim.workloads.core_log import LogWorkload


class SaveWorkload(LogWorkload):
    """`LogWorkload`'s run, recovery and oracle, with SAVEs in the history (the shard driver
    runs `Shard.save()` for them and marks every earlier operation required)."""

    operation_count = 7

    def __init__(self, policy: str) -> None:
        super().__init__(policy)
        self.name = f"save-{policy}"
        self.summary = f"appends with synchronous SAVEs under appendfsync {policy}"

    def damage_of(self, image, path: str, byte_offset: int):
        return None  # a SAVE resets the log: its records are not the operations by index

    def operations(self, seed: int) -> list:
        operations = model.random_operations(seed, self.operation_count - 2)
        operations.insert(2, (b"SAVE",))
        operations.insert(5, (b"SAVE",))
        return operations


def workloads() -> list[Workload]:
    return [SaveWorkload("always"), SaveWorkload("no")]
