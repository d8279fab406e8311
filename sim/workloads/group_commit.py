"""Concurrent workload: writers share one shard's group commit (`group-commit-always`).

What runs. One shard under `appendfsync always`, opened with the real recovery code, behind
the store's real `ShardRunner` (`kevy_persist/store/shard_runner.py`: apply and append under
the shard lock, then `GroupCommit.wait_durable` outside it) built on the simulator's
primitives, so its lock and the group commit's condition are those of `sim.scheduler`. Two
writer threads each take the next operation of the history under the shard lock (so the log
order is the history's order), run it, release the lock, and wait for their record to be
durable: the first waiter with no fsync in flight leads one, the others wait or join the
next. A writer's reply counts as an acknowledgement: every operation up to its own must
survive any later crash. The threads switch only at door calls (the middle of an fsync
included), lock operations and condition waits and notifies, chosen by the explorer's
schedule; every switch is a cut. The oracle is the plain-dict prefix checker.

What it catches: a leader that marks its offset durable when its fsync *starts* (a waiter
is acknowledged before the fsync returns), or that counts as covered a record appended after
its fsync began (`sim/mutants.py`, `sim/test_scheduler.py`).
"""

from __future__ import annotations

from kevy_persist.disk.clock import ManualClock
from kevy_persist.errors import KevyError
from sim import model
from sim.checkers import PrefixChecker
from sim.scheduler import Schedule, Scheduler, SimPrimitives
from sim.workloads.base import DATA_DIR, Workload
from sim.workloads.core_log import core_missing, open_data_shard, shard_state


class GroupCommitWorkload(Workload):
    name = "group-commit-always"
    summary = "two writer threads share one shard's group commit under always (simulated threads)"
    concurrent = True
    writer_count = 2
    operations_per_writer = 2
    operation_count = writer_count * operations_per_writer

    def __init__(self) -> None:
        self.schedule = Schedule()
        self.last_decisions: list = []

    def skip_reason(self) -> str | None:
        return core_missing()

    def operations(self, seed: int) -> list:
        return model.random_operations(seed, self.operation_count)

    def run(self, fs, operations, history) -> None:
        from kevy_persist.commands import ErrorReply
        from kevy_persist.layout.routing import Routing
        from kevy_persist.store.config import StoreConfig
        from kevy_persist.store.shard_runner import ShardRunner

        clock = ManualClock()
        fs.make_dirs(DATA_DIR)
        try:
            shard = open_data_shard(fs, clock, "always")
        except KevyError:
            return
        recorder = fs.observer
        scheduler = Scheduler(self.schedule, on_switch=lambda reason: fs.step("yield", reason))

        def observer(file_system, index: int, operation: str, path: str) -> None:
            if recorder is not None:
                recorder(file_system, index, operation, path)
            scheduler.switch(f"{operation} {path}")

        fs.observer = observer
        fs.during_sync = lambda file_system, index, path: scheduler.point(f"fsync-running {path}")
        runner = ShardRunner(StoreConfig(data_dir=DATA_DIR, shard_count=1, appendfsync="always"), [shard],
                             clock, Routing.KEVYHASH, primitives=SimPrimitives(scheduler))
        next_operation = iter(range(len(operations)))

        def writer() -> None:
            for _ in range(self.operations_per_writer):
                with runner.locks[0]:
                    index = next(next_operation, None)
                    if index is None:
                        return
                    history.begin(index)
                    ticket = runner.execute_locked(0, list(operations[index]))
                reply = runner.await_reply(0, ticket)
                if isinstance(reply, ErrorReply):
                    history.fail(index)
                else:
                    history.require(index + 1)  # a reply: this record and every one before it

        for number in range(self.writer_count):
            scheduler.spawn(f"writer{number}", writer)
        try:
            scheduler.run()
        finally:
            self.last_decisions = list(scheduler.decisions)
            fs.observer = recorder
            fs.during_sync = None

    def recover(self, fs) -> object:
        return shard_state(open_data_shard(fs, ManualClock(), "always"))

    def checker(self, operations, *, bitflip: bool):
        return PrefixChecker(operations, bitflip=bitflip)


def workloads() -> list[Workload]:
    return [GroupCommitWorkload()]
