"""Workloads: what the explorer runs, how it recovers, and which oracle judges the result.

A workload drives code on a `FileSystem` (the real core, or for the toy workloads a small
protocol written here), records in a `sim.model.History` what was issued and what must
survive, recovers a crash image with the real recovery code, and names the checker.
Operations are a list so that a failing case can be shrunk (`sim.shrink`) by dropping some.

Register a workload by adding it to `_REGISTRY` below; `python -m sim list` prints them.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..disk import Image

DATA_DIR = "/data"


class Workload:
    name = ""
    summary = ""
    operation_count = 8
    # Which faults make sense for it (the fault sweeps of `pytest sim/` use these).
    fault_kinds: tuple[str, ...] = ()

    def skip_reason(self) -> str | None:
        """Why this workload cannot run yet (a core module it needs is missing), or None."""
        return None

    def operations(self, seed: int) -> list:
        raise NotImplementedError

    def initial_image(self, seed: int) -> Image | None:
        """A pre-made data dir to start from (None: an empty file system)."""
        return None

    def run(self, fs, operations: Sequence, history) -> None:
        raise NotImplementedError

    def recover(self, fs) -> object:
        """Open the data dir with the real recovery code; return the canonical state."""
        raise NotImplementedError

    def checker(self, operations: Sequence, *, bitflip: bool):
        raise NotImplementedError


def _registry() -> dict[str, Workload]:
    from . import core_log, core_save, layout_meta, reshard, toy, torn_open, transactions

    workloads: list[Workload] = [
        toy.ToyWorkload(), toy.ToyWorkload(broken="no-fsync-before-rename"),
        toy.ToyWorkload(broken="no-fsync-dir-after-create"),
        toy.ToyWorkload(broken="retry-fsync-after-eio"),
        *core_log.workloads(), *core_save.workloads(), *torn_open.workloads(),
        *layout_meta.workloads(), *reshard.workloads(), *transactions.workloads(),
    ]
    return {workload.name: workload for workload in workloads}


def workload_named(name: str) -> Workload:
    registry = _registry()
    if name not in registry:
        raise KeyError(f"unknown workload {name!r}; known: {', '.join(sorted(registry))}")
    return registry[name]


def all_workloads() -> list[Workload]:
    return list(_registry().values())
