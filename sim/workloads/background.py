"""Background job workloads: BGSAVE and BGREWRITEAOF on several shards with writes between
every step (`background-always`, `background-everysec`, `background-no`).

What runs. Three shards of `/data` (indexes 0-2) are opened with the real recovery code
(`open_shard`), then a seeded list of operations runs through them:
- `CMD s argv`: INCR / APPEND / LPUSH on a key of shard s, through `Shard.execute`;
- `MULTI s argv | argv ...`: a block of 2-3 writes on shard s, through
  `Shard.execute_transaction` (crash-atomic: one append between markers);
- `BGSAVE s`, `BGREWRITEAOF s`: freeze a job on shard s (`BackgroundJob.freeze`);
- `STEP`: every running job advances one step, as the store's worker and owner would run
  them: serialize, install the snapshot (BGSAVE), copy the tee (once more when the rewrite
  has nothing else to do), then commit (a failure aborts the job on the owner).
The schedule starts a BGSAVE and a BGREWRITEAOF on two shards, lets them overlap step by step
with a write after every step, then runs a BGREWRITEAOF on the shard that was just saved (the
kevy 1.23 double-application case) the same way, then a BGSAVE alone on the third shard. Writes are acknowledged per policy as in
`core_log` (`always`: after `sync_log`; `everysec`: 400 ms per operation and each shard's
`sync_if_due`; `no`: never), and a job's commit makes its shard durable up to that point.

The oracle (`sim.sharded_checker.ShardedPrefixChecker`): each shard's recovered keys equal
the plain-dict model of that shard's operations at one prefix -- nothing lost that was
acknowledged or committed, nothing applied twice, no half block. Replay a failure with the
line the sweep prints.

`KevyOrderWorkload` (`kevy123-order-*`) runs the same schedule with the Rust kevy 1.23's
commit order (`sim/workloads/kevy_commit_order.py`); it is expected to fail and is excluded
from the sweeps that must be clean.
"""

from __future__ import annotations

import random

from kevy_persist.disk.clock import ManualClock
from kevy_persist.errors import KevyError
from sim import model
from sim.sharded_checker import ShardedPrefixChecker
from sim.workloads.base import DATA_DIR, Workload
from sim.workloads.core_log import core_missing

SHARD_COUNT = 3
SEPARATOR = b"|"


def shard_of_key(key: bytes) -> int:
    """Keys are `kind:s`: the digit names the shard (the workload routes, not KevyHash)."""
    return int(key.rsplit(b":", 1)[1])


def shard_of_operation(operation: tuple) -> int | None:
    return int(operation[1]) if operation[0] in (b"CMD", b"MULTI") else None


def commands_of(operation: tuple) -> list[list[bytes]]:
    """The commands of a CMD or MULTI operation (flat tuples, so reports can print them)."""
    commands: list[list[bytes]] = [[]]
    for part in operation[2:]:
        if part == SEPARATOR:
            commands.append([])
        else:
            commands[-1].append(part)
    return commands


def apply_operation(state: dict, operation: tuple) -> None:
    if operation[0] in (b"CMD", b"MULTI"):
        for argv in commands_of(operation):
            model.apply(state, argv)


def _write(rng: random.Random, shard: int, number: int) -> list[bytes]:
    kind = rng.choice(("INCR", "APPEND", "LPUSH"))
    if kind == "INCR":
        return [b"INCR", b"counter:%d" % shard]
    if kind == "APPEND":
        return [b"APPEND", b"text:%d" % shard, b"t%d" % number]
    return [b"LPUSH", b"list:%d" % shard, b"l%d" % number]


def random_operations(seed: int) -> list[tuple]:
    rng = random.Random(f"background:{seed}")
    saved, rewritten, alone = rng.sample(range(SHARD_COUNT), 3)
    operations: list[tuple] = []

    def write(number: int, shard: int | None = None, block: bool = False) -> None:
        shard = rng.randrange(SHARD_COUNT) if shard is None else shard
        if block:
            argvs = [_write(rng, shard, number * 10 + step) for step in range(rng.randint(2, 3))]
            parts: list[bytes] = [b"MULTI", b"%d" % shard]
            for position, argv in enumerate(argvs):
                parts += ([SEPARATOR] if position else []) + argv
            operations.append(tuple(parts))
        else:
            operations.append((b"CMD", b"%d" % shard, *_write(rng, shard, number)))

    operations.append((b"CMD", b"%d" % saved, b"LPUSH", b"list:%d" % saved, b"first"))
    operations.append((b"BGSAVE", b"%d" % saved))
    write(1, saved)
    operations.append((b"BGREWRITEAOF", b"%d" % rewritten))
    write(2, rewritten)
    # Both jobs step together: the save serializes, installs its snapshot, copies the tee,
    # commits; the rewrite serializes, copies the tee, commits (a step earlier). Between a
    # job's copy and its commit its shard takes a write that only the commit's fsync makes
    # durable (the save's here, the second rewrite's below).
    operations.append((b"STEP",))
    write(3, block=True)
    operations.append((b"STEP",))
    write(4, saved)
    operations.append((b"STEP",))
    write(5, saved)
    write(6, rewritten)
    operations.append((b"STEP",))
    write(7)
    operations.append((b"BGREWRITEAOF", b"%d" % saved))  # a rewrite right after a save
    write(8, saved)
    operations.append((b"STEP",))
    write(9, saved, block=True)
    operations.append((b"STEP",))
    write(10, saved)
    operations.append((b"STEP",))
    write(11)
    # A BGSAVE with no other job around: no other shard's fsync_dir lands between its
    # snapshot rename and its log rename, so its own fsync_dir is what keeps them ordered.
    operations.append((b"BGSAVE", b"%d" % alone))
    for step in range(4):
        write(12 + step, alone, block=step == 1)
        operations.append((b"STEP",))
    write(16)
    return operations


def open_shards(fs, clock, policy: str, log_format: int = 2) -> list:
    from kevy_persist.engine.aof import FsyncPolicy
    from kevy_persist.engine.shard import ShardOptions
    from kevy_persist.engine.shard_opening import open_shard

    fs.make_dirs(DATA_DIR)
    return [open_shard(fs, clock, ShardOptions(directory=DATA_DIR, index=index, fsync_policy=FsyncPolicy(policy),
                                               log_format=log_format))
            for index in range(SHARD_COUNT)]


def shards_state(shards) -> model.CanonicalState:
    return tuple(sorted((key, value if isinstance(value, bytes) else tuple(value))
                        for shard in shards for key, _, value, _ in shard.keyspace.iter_entries()))


class JobRunner:
    """Runs the job steps the way the store does (one step per STEP operation)."""

    def __init__(self, job_class) -> None:
        self.job_class = job_class

    def start(self, shard, kind) -> None:
        if shard.background_job is None and (shard.writer is not None or kind.value == "bgsave"):
            self.job_class.freeze(shard, kind)

    def step(self, shard) -> bool:
        """Advance the shard's job by one step; True when it just committed."""
        from kevy_persist.engine.background_protocol import JobKind, Phase

        job = shard.background_job
        if job is None:
            return False
        try:
            if job.phase is Phase.FROZEN:
                job.serialize()
            elif job.phase is Phase.SERIALIZED and job.kind is JobKind.SNAPSHOT:
                job.install_snapshot()
            elif job.phase is not Phase.TEE_COPIED and job.has_log:
                job.copy_tee(job.take_tee())
            else:
                job.commit()
                job.close_retired_files()
                return True
        except KevyError as error:
            job.abort(error)  # a no-op when the commit already ended it (aborted or failed)
            job.close_retired_files()
        return False


class BackgroundWorkload(Workload):
    operation_count = 32
    log_format = 2
    fault_kinds = ("eio", "enospc", "short-write", "bitflip")

    def __init__(self, policy: str) -> None:
        self.policy = policy
        self.name = f"background-{policy}"
        self.summary = (f"BGSAVE and BGREWRITEAOF on {SHARD_COUNT} shards, a write between every step, "
                        f"appendfsync {policy}")

    def skip_reason(self) -> str | None:
        return core_missing()

    def job_class(self):
        from kevy_persist.engine.background_job import BackgroundJob

        return BackgroundJob

    def operations(self, seed: int) -> list:
        return random_operations(seed)[: self.operation_count]

    def run(self, fs, operations, history) -> None:
        from kevy_persist.commands import CommandContext
        from kevy_persist.engine.background_protocol import JobKind

        clock = ManualClock()
        try:
            shards = open_shards(fs, clock, self.policy, self.log_format)
        except KevyError:
            return  # opening failed (a fault): nothing was acknowledged
        runner = JobRunner(self.job_class())
        rng = random.Random(0)
        acknowledged_at_ms: list[tuple[int, int]] = []
        sync_failed = False
        for index, operation in enumerate(operations):
            history.begin(index)
            kind = operation[0]
            if kind in (b"BGSAVE", b"BGREWRITEAOF"):
                runner.start(shards[int(operation[1])], JobKind.SNAPSHOT if kind == b"BGSAVE" else JobKind.REWRITE)
                continue
            if kind == b"STEP":
                for shard in shards:
                    if runner.step(shard):
                        history.require_shard(shard.index, index + 1)
                continue
            shard = shards[int(operation[1])]
            context = CommandContext(clock.now_ms(), rng)
            try:
                if kind == b"CMD":
                    _, ticket = shard.execute(commands_of(operation)[0], context)
                else:
                    _, ticket = shard.execute_transaction(commands_of(operation), context, True)
                if self.policy == "always" and ticket is not None:
                    shard.sync_log()
            except KevyError:
                history.fail(index)
                sync_failed = True
                continue
            if self.policy == "always":
                history.require(index + 1)
            acknowledged_at_ms.append((clock.monotonic_ms(), index + 1))
            if self.policy == "everysec":
                sync_failed = self._tick(shards, clock, history, index, acknowledged_at_ms, sync_failed)

    def _tick(self, shards, clock, history, index, acknowledged_at_ms, sync_failed) -> bool:
        clock.advance(400)
        for shard in shards:
            try:
                shard.sync_if_due()
            except KevyError:
                sync_failed = True
        if sync_failed:
            return True  # after a failed fsync the policy promises nothing more
        if not any(shard.dirty for shard in shards):
            history.require(index + 1)
        now_ms = clock.monotonic_ms()
        for acknowledged_ms, count in acknowledged_at_ms:
            if now_ms - acknowledged_ms >= 2000:
                history.require(count)
        return False

    def recover(self, fs) -> object:
        return shards_state(open_shards(fs, ManualClock(), self.policy, self.log_format))

    def checker(self, operations, *, bitflip: bool):
        return ShardedPrefixChecker(
            operations, shard_count=SHARD_COUNT, shard_of_operation=shard_of_operation,
            shard_of_key=shard_of_key, apply_operation=apply_operation, bitflip=bitflip,
        )


def workloads() -> list[Workload]:
    return [BackgroundWorkload("always"), BackgroundWorkload("everysec"), BackgroundWorkload("no")]
