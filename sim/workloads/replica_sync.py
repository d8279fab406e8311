"""A replica's full sync under `appendfsync always` (`replica-full-sync-always`): the dataset
its master sent replaces the old one in one step, never as a mix, and the stream that follows
is durable like any write.

What runs. kevy-server's protocol when it follows a Redis master
(`kevy_server/replication_replica.py`), on one shard of `/data`: stream commands are applied
and fsynced before they are acknowledged (the ACK a replica sends, which WAIT counts); a
`FULLSYNC k v ...` operation is the master's RDB arriving: every keyspace is emptied and
loaded with those pairs (`kevy_persist.store.dataset_replace`, nothing logged), then the
shard is saved (`Shard.save`: the snapshot by durable replace, then a fresh log), which makes
it durable when it returns. A save that fails ends the run, as the server drops its link
rather than log the stream on top of the old files.

What must survive: every acknowledged command and every full sync whose save returned. The
oracle is `PrefixChecker` over the plain-dict model (`sim.model` knows FULLSYNC): the
recovered state must be the model's after one prefix of the operations that includes every
acknowledged one -- so a crash inside the save yields the old dataset plus its stream, or
the new one, and never the new dataset with a piece of the old, or the stream replayed over
the wrong dataset. Replay a failure with the line the sweep prints.
"""

from __future__ import annotations

from kevy_persist.disk.clock import ManualClock
from kevy_persist.errors import KevyError
from kevy_persist.formats.records import ValueKind
from sim import model
from sim.workloads.base import DATA_DIR, Workload
from sim.workloads.core_log import LogWorkload, ShardDriver, open_data_shard

SYNCS = (
    (b"FULLSYNC", b"counter:0", b"40", b"text:1", b"from-master", b"other", b"x"),
    (b"FULLSYNC", b"text:0", b"second", b"counter:1", b"7"),
)


class ReplicaFullSyncWorkload(LogWorkload):
    """`LogWorkload`'s recovery and oracle (open_shard; PrefixChecker), with full syncs."""

    operation_count = 7
    fault_kinds = ("eio", "enospc", "short-write")

    def __init__(self) -> None:
        super().__init__("always")
        self.name = "replica-full-sync-always"
        self.summary = "a replica's full sync (replace the dataset, then SAVE) between stream commands"

    def operations(self, seed: int) -> list:
        operations = model.random_operations(seed, self.operation_count - 2)
        operations.insert(1, SYNCS[0])
        operations.insert(4, SYNCS[1])
        return operations

    def run(self, fs, operations, history) -> None:
        from kevy_persist.store.dataset_replace import replace_dataset

        fs.make_dirs(DATA_DIR)
        clock = ManualClock()
        try:
            shard = open_data_shard(fs, clock, "always")
        except KevyError:
            return
        driver = ShardDriver(shard, clock, "always", history)
        for index, argv in enumerate(operations):
            if argv[0] != b"FULLSYNC":
                driver.command(index, argv)
                continue
            history.begin(index)
            records = [(key, ValueKind.STRING, value, None) for key, value in zip(argv[1::2], argv[2::2])]
            replace_dataset([shard], lambda key: 0, records)
            try:
                shard.save()
            except KevyError:
                history.fail(index)
                return  # the link drops: nothing more is applied over the old files
            history.require(index + 1)


def workloads() -> list[Workload]:
    return [ReplicaFullSyncWorkload()]
