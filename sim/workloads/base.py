"""The workload interface: what a workload tells the explorer, and the data dir it uses.

See the package docstring (`sim/workloads/__init__.py`).
"""


from __future__ import annotations

from collections.abc import Sequence

from sim.disk import Image

DATA_DIR = "/data"


class Workload:
    name = ""
    summary = ""
    operation_count = 8
    # Which faults make sense for it (the fault sweeps of `pytest sim/` use these).
    fault_kinds: tuple[str, ...] = ()
    # A variant kept to show that the simulator catches a broken protocol (kevy 1.23's
    # commit order): excluded from the sweeps that must be clean, tested to fail instead.
    broken_on_purpose = False

    def skip_reason(self) -> str | None:
        """Why this workload cannot run yet (a core module it needs is missing), or None."""
        return None

    def operations(self, seed: int) -> list:
        raise NotImplementedError

    def initial_image(self, seed: int) -> Image | None:
        """The disk to start from (None: an empty file system). By default an empty `/data`
        whose name is durable: the data dir an operator made long before the run. A workload
        that creates its data dir itself (`import-rdb`) starts without it, so a crash that
        loses the new directory's name is among its images."""
        return Image(("/", DATA_DIR), ())

    def run(self, fs, operations: Sequence, history) -> None:
        raise NotImplementedError

    def recover(self, fs) -> object:
        """Open the data dir with the real recovery code; return the canonical state."""
        raise NotImplementedError

    def checker(self, operations: Sequence, *, bitflip: bool):
        raise NotImplementedError

    def damage_of(self, image: Image, path: str, byte_offset: int):
        """Where a bit flip at `byte_offset` of `path` in `image` hit, for the oracle: a
        `sim.log_frames.Damage` (the first operation it can take away, valid records after
        it), or None when the workload cannot tell (the checker then accepts any prefix)."""
        return None
