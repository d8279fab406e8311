"""The Rust kevy 1.23's commit order, kept as a variant the simulator must catch (tests only).

What it models. kevy 1.23 saves by renaming the new snapshot over the old one and then
resetting the log, and rewrites the log as the commands that rebuild the state; neither file
says which history it belongs to (no epoch marker, no covered position), and loading is
always *snapshot + whole log*. `KevyOrderJob` is `BackgroundJob` with exactly that: the
snapshot's trailer names no position, the new logs carry no marker. Recovery is the real
`open_shard`, which reads such files the way kevy does (the legacy rows of
`engine/history.py`).

What the simulator finds (`sim/test_kevy_commit_order.py`): with no crash at all, SAVE then
BGREWRITEAOF then a restart applies the state twice -- the snapshot holds every list and the
rewritten log pushes every item again -- and a crash between the snapshot rename and the log
reset replays the old log over the new snapshot (INCR and LPUSH applied twice). Both are
`not-a-prefix` violations; the same schedule with our order (`background-*`) has none.
"""

from __future__ import annotations

from sim.disk import Image
from sim.workloads.background import SHARD_COUNT, BackgroundWorkload
from sim.workloads.base import DATA_DIR, Workload


def _kevy_order_job_class():
    from kevy_persist.engine.background_job import BackgroundJob

    class KevyOrderJob(BackgroundJob):
        """Our steps in kevy 1.23's shape: no covered position, no epoch markers."""

        def __init__(self, *arguments, **options) -> None:
            super().__init__(*arguments, **options)
            self.covered = None  # the snapshot does not say which log bytes it contains

        @property
        def next_epoch(self) -> int:
            return 0  # a marker-less log reads as epoch 0

        @property
        def next_marker(self):
            return None  # the log does not say whether it is the full state

    return KevyOrderJob


class KevyOrderWorkload(BackgroundWorkload):
    """`background-{policy}`'s schedule with kevy 1.23's commit order (expected to fail),
    starting from the logs kevy 1.23 writes: format 1, no epoch marker."""

    broken_on_purpose = True
    log_format = 1

    def __init__(self, policy: str) -> None:
        super().__init__(policy)
        self.name = f"kevy123-order-{policy}"
        self.summary = (f"the Rust kevy 1.23's commit order on the background schedule, appendfsync {policy} "
                        f"(expected to fail: doubled lists)")

    def job_class(self):
        return _kevy_order_job_class()

    def initial_image(self, seed: int) -> Image:
        """Empty kevy 1.23 logs (header only): no marker says they are the full state."""
        return Image(("/", DATA_DIR), tuple((f"{DATA_DIR}/aof-{index}.aof", b"KEVYAOF1\n")
                                            for index in range(SHARD_COUNT)))


def workloads() -> list[Workload]:
    return [KevyOrderWorkload("no")]
