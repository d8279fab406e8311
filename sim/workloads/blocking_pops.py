"""Blocking pops served under `appendfsync always` (`blocking-pops-always`): the element a
blocked client receives is durable before it sees it.

What runs. kevy-server's protocol for a blocked BRPOP, on one shard of `/data` driven through
`kevy_persist.store.owned.OwnedShards` (the single-owner path the server's event loop uses):
clients wait on a queue; a turn of the loop runs a producer's LPUSHes, then serves the
waiters from the queue by the pop their BRPOP stands for -- `RPOP queue`, which is what the
log records, never the blocking verb -- all into the shard's pending buffer; the turn ends
with one `write` of that buffer and one fsync, and only then do the replies leave: the
producer's and every served waiter's (`history.require`). The operations are the commands in
order (LPUSH, or RPOP for a served waiter); a turn is the LPUSHes up to the next LPUSH that
follows an RPOP. A turn whose write or fsync failed answers errors (nothing acknowledged),
and the shard refuses the writes after it.

What must survive: every LPUSH and every served pop of a turn whose fsync completed. The
oracle is `PrefixChecker` over the plain-dict model (`sim.model`, which knows RPOP): the
recovered queue must be the model's after one prefix of the commands that includes every
acknowledged one -- an element a waiter was handed can never come back, and none can be
lost or popped twice. Replay a failure with the line the sweep prints.
"""

from __future__ import annotations

import random

from kevy_persist.commands import ErrorReply
from kevy_persist.disk.clock import ManualClock
from kevy_persist.errors import KevyError
from sim.checkers import PrefixChecker
from sim.workloads.base import DATA_DIR, Workload
from sim.workloads.core_log import core_missing, open_data_shard, shard_state

QUEUES = (b"queue:jobs", b"queue:mail")


def turns_of(operations: list) -> list[list[int]]:
    """Operation indexes grouped into loop turns (an LPUSH after an RPOP starts a new turn)."""
    turns: list[list[int]] = []
    for index, argv in enumerate(operations):
        if not turns or (argv[0] == b"LPUSH" and operations[turns[-1][-1]][0] == b"RPOP"):
            turns.append([])
        turns[-1].append(index)
    return turns


class BlockingPopsWorkload(Workload):
    name = "blocking-pops-always"
    summary = "BRPOP waiters served by RPOP in the producer's turn; one write + one fsync before any reply"
    operation_count = 10
    fault_kinds = ("eio", "enospc", "short-write")

    def skip_reason(self) -> str | None:
        return core_missing()

    def operations(self, seed: int) -> list:
        """Turns of 1-2 pushes, each followed by 0-2 served waiters (never more than queued)."""
        rng = random.Random(f"blocking-pops:{seed}")
        operations: list[tuple[bytes, ...]] = []
        queued = {queue: 0 for queue in QUEUES}
        number = 0
        while len(operations) < self.operation_count:
            queue = rng.choice(QUEUES)
            for _ in range(rng.randint(1, 2)):
                operations.append((b"LPUSH", queue, b"e%d" % number))
                queued[queue] += 1
                number += 1
            for _ in range(min(rng.randint(0, 2), queued[queue])):
                operations.append((b"RPOP", queue))
                queued[queue] -= 1
        return operations[: self.operation_count]

    def run(self, fs, operations, history) -> None:
        from kevy_persist.layout.routing import Routing
        from kevy_persist.store.config import StoreConfig
        from kevy_persist.store.owned import OwnedShards
        from kevy_persist.store.shard_runner import ShardRunner

        fs.make_dirs(DATA_DIR)
        clock = ManualClock()
        try:
            shard = open_data_shard(fs, clock, "always")
        except KevyError:
            return  # opening failed (a fault): nothing was acknowledged
        runner = ShardRunner(StoreConfig(appendfsync="always", ticker="manual"), [shard], clock, Routing.KEVYHASH)
        owned = OwnedShards(runner, clock)
        for turn in turns_of(list(operations)):
            refused = []
            for index in turn:
                history.begin(index)
                reply = owned.execute(0, list(operations[index]))
                if isinstance(reply, ErrorReply):
                    refused.append(index)
            _, failed = owned.write_pending()
            synced = not failed
            if synced:
                try:
                    owned.sync(0)
                except KevyError:
                    synced = False
            if not synced:
                for index in turn:
                    history.fail(index)
                continue
            for index in refused:
                history.fail(index)
            # The replies of the turn -- the push's and each served waiter's -- leave now.
            history.require(turn[-1] + 1)

    def recover(self, fs) -> object:
        return shard_state(open_data_shard(fs, ManualClock(), "always"))

    def checker(self, operations, *, bitflip: bool):
        return PrefixChecker(operations, bitflip=bitflip)


def workloads() -> list[Workload]:
    return [BlockingPopsWorkload()]
