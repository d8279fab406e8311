"""Core workloads: opening a data dir whose log ends in a crash artefact, then appending.

What runs. The initial image is built with the real core on a scratch `SimFileSystem`:
three acknowledged (`always`) writes, then the log's tail is damaged the way a crash leaves
it -- `open-torn` (the first half of one more record), `open-zeros` (a zero-filled tail),
`open-garbage` (junk bytes), `open-block` (an interrupted transaction block: the begin marker
and two valid commands, no commit, the first command large enough that the block crosses a
4 KiB page), `open-hole` (zeros to the next 4 KiB boundary, then valid records: a crash kept
a later page of unsynced appends and lost the one before it -- those records were never
durable and must never be applied), `open-hole-filled` (the same, and the first append
fills the hole's zeros exactly: its record ends where the never-durable records begin, so
only the truncate's own fsync keeps them from coming back behind it at a record boundary --
the workload that demonstrates that sync, `sim/selfcheck.py`). The workload opens the shard (`open_shard`: quarantine a torn tail, or cut the
open block, truncate, fsync) and appends more writes under `always`. Cuts fall inside the
repair, so the explorer checks that a crash while quarantining or truncating loses nothing
acknowledged, that new appends never land behind garbage, and that no command of the cut
block is ever applied. The three setup writes count as acknowledged from the start.
"""

from __future__ import annotations

from kevy_persist.disk.clock import ManualClock
from kevy_persist.errors import KevyError
from sim import model
from sim.checkers import PrefixChecker
from sim.disk import Image
from sim.profiles.base import garbage
from sim.workloads.base import DATA_DIR, Workload
from sim.workloads.core_log import (
    ShardDriver,
    core_missing,
    open_data_shard,
    shard_state,
)

SETUP_COUNT = 3


class TornOpenWorkload(Workload):
    operation_count = 3
    fault_kinds = ("eio", "enospc", "bitflip")

    def __init__(self, tail: str) -> None:
        self.tail = tail
        self.name = f"open-{tail}"
        self.summary = {
            "block": "open a data dir whose log ends in an interrupted transaction block, then append",
            "hole": "open a data dir whose log has a lost page before valid records, then append",
            "hole-filled": "the same, and the first append fills the lost page exactly (needs the truncate's fsync)",
        }.get(tail, f"open a data dir whose log has a {tail} tail, then append (always)")

    def skip_reason(self) -> str | None:
        return core_missing()

    def _setup_operations(self, seed: int) -> list:
        return model.random_operations(seed + 1_000_003, SETUP_COUNT)

    def operations(self, seed: int) -> list:
        operations = model.random_operations(seed, self.operation_count)
        if self.tail == "hole-filled":
            # The first append fills the lost page's zeros exactly, so its record ends where the
            # never-durable records behind the hole begin: unless the open's truncate reached the
            # disk first, a crash can bring them back right behind it, at a record boundary.
            operations[0] = (b"APPEND", b"text:0", b"f" * self._filler_value_size())
        return operations

    def _filler_value_size(self) -> int:
        from kevy_persist.formats.aof_format import encode_record

        hole_size = 4096 - self._valid_log_size() % 4096
        for size in range(1, 4096):
            if len(encode_record(2, [b"APPEND", b"text:0", b"f" * size])) == hole_size:
                return size
        raise AssertionError("no APPEND record fills the hole exactly")

    def _valid_log_size(self) -> int:
        return len(self._setup_files()[DATA_DIR + "/aof-0.aof"])

    def _setup_files(self) -> dict:
        from sim.model import History
        from sim.simfs import SimFileSystem

        scratch = SimFileSystem()
        scratch.make_dirs(DATA_DIR)
        clock = ManualClock()
        driver = ShardDriver(open_data_shard(scratch, clock, "always"), clock, "always", History())
        for index, argv in enumerate(self._setup_operations(0)):
            assert driver.command(index, argv), "the setup writes are acknowledged"
        return {DATA_DIR + "/" + name: scratch.read_bytes(DATA_DIR + "/" + name) for name in scratch.list_dir(DATA_DIR)}

    def initial_image(self, seed: int) -> Image:
        from kevy_persist.engine.transaction_log import bracket
        from kevy_persist.formats.aof_format import encode_record, encode_records

        files = self._setup_files()
        log = DATA_DIR + "/aof-0.aof"
        record = encode_record(2, [b"APPEND", b"text:9", b"torn-away"])
        # No commit marker: the block reads as interrupted and must be cut, never applied.
        block = bracket([[b"APPEND", b"text:9", b"b" * 5000], [b"APPEND", b"text:9", b"block-end"]])[:-1]
        late = [[b"APPEND", b"text:9", b"late-%d" % number] for number in range(3)]
        hole = bytes(4096 - len(files[log]) % 4096) + encode_records(2, late)
        tail = {"torn": record[:len(record) // 2], "zeros": bytes(24),
                "garbage": garbage(len(files[log]), 24), "block": encode_records(2, block),
                "hole": hole, "hole-filled": hole}[self.tail]
        files[log] += tail
        return Image(("/", DATA_DIR), tuple(sorted(files.items())))

    def run(self, fs, operations, history) -> None:
        setup = self._setup_operations(0)
        for index in range(len(setup)):
            history.begin(index)
        history.require(len(setup))
        clock = ManualClock()
        try:
            shard = open_data_shard(fs, clock, "always")
        except KevyError:
            return  # opening failed (a fault): the setup writes stay required
        driver = ShardDriver(shard, clock, "always", history)
        for index, argv in enumerate(operations):
            driver.command(len(setup) + index, argv)

    def recover(self, fs) -> object:
        return shard_state(open_data_shard(fs, ManualClock(), "always"))

    def checker(self, operations, *, bitflip: bool):
        # The setup uses seed 0's setup list whatever the sweep seed (see run/initial_image).
        return PrefixChecker(self._setup_operations(0) + list(operations), bitflip=bitflip)


def workloads() -> list[Workload]:
    return [TornOpenWorkload("torn"), TornOpenWorkload("zeros"), TornOpenWorkload("garbage"),
            TornOpenWorkload("block"), TornOpenWorkload("hole"), TornOpenWorkload("hole-filled")]
