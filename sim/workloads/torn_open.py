"""Core workloads: opening a data dir whose log ends in a crash artefact, then appending.

What runs. The initial image is built with the real core on a scratch `SimFileSystem`:
three acknowledged (`always`) writes, then the log's tail is damaged the way a crash leaves
it -- `open-torn` (the first half of one more record), `open-zeros` (a zero-filled tail),
`open-garbage` (junk bytes). The workload opens the shard (`open_shard`: quarantine the tail,
truncate, fsync) and appends more writes under `always`. Cuts fall inside the repair, so the
explorer checks that a crash while quarantining or truncating loses nothing acknowledged and
that new appends never land behind garbage. The three setup writes count as acknowledged
from the start.
"""

from __future__ import annotations

from kevy_persist.clock import ManualClock
from kevy_persist.errors import KevyError

from .. import model
from ..checkers import PrefixChecker
from ..disk import Image
from ..profiles import garbage
from . import DATA_DIR, Workload
from .core_log import ShardDriver, core_missing, open_data_shard, shard_state

SETUP_COUNT = 3


class TornOpenWorkload(Workload):
    operation_count = 3
    fault_kinds = ("eio", "enospc", "bitflip")

    def __init__(self, tail: str) -> None:
        self.tail = tail
        self.name = f"open-{tail}"
        self.summary = f"open a data dir whose log has a {tail} tail, then append (always)"

    def skip_reason(self) -> str | None:
        return core_missing()

    def _setup_operations(self, seed: int) -> list:
        return model.random_operations(seed + 1_000_003, SETUP_COUNT)

    def operations(self, seed: int) -> list:
        return model.random_operations(seed, self.operation_count)

    def initial_image(self, seed: int) -> Image:
        from kevy_persist.aof_format import encode_record

        from ..model import History
        from ..simfs import SimFileSystem

        scratch = SimFileSystem()
        scratch.make_dirs(DATA_DIR)
        clock = ManualClock()
        driver = ShardDriver(open_data_shard(scratch, clock, "always"), clock, "always", History())
        for index, argv in enumerate(self._setup_operations(0)):
            assert driver.command(index, argv), "the setup writes are acknowledged"
        files = {DATA_DIR + "/" + name: scratch.read_bytes(DATA_DIR + "/" + name)
                 for name in scratch.list_dir(DATA_DIR)}
        log = DATA_DIR + "/aof-0.aof"
        record = encode_record(2, [b"APPEND", b"text:9", b"torn-away"])
        tail = {"torn": record[:len(record) // 2], "zeros": bytes(24),
                "garbage": garbage(len(files[log]), 24)}[self.tail]
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
    return [TornOpenWorkload("torn"), TornOpenWorkload("zeros"), TornOpenWorkload("garbage")]
