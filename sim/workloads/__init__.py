"""Workloads: what the explorer runs, how it recovers, and which oracle judges the result.

A workload drives code on a `FileSystem` (the real core, or for the toy workloads a small
protocol written here), records in a `sim.model.History` what was issued and what must
survive, recovers a crash image with the real recovery code, and names the checker.
Operations are a list so that a failing case can be shrunk (`sim.shrink`) by dropping some.

Register a workload by adding it to `_registry` below; `python -m sim list` prints them.
"""

from __future__ import annotations

from sim.workloads import (
    background,
    blocking_pops,
    core_log,
    core_save,
    databases,
    durable_holes,
    group_commit,
    kevy_commit_order,
    layout_meta,
    owned_background,
    rdb_import,
    replica_sync,
    reshard,
    store_background,
    streams,
    torn_open,
    toy,
    transactions,
)
from sim.workloads.base import DATA_DIR, Workload

__all__ = ["DATA_DIR", "Workload", "all_workloads", "workload_named"]


def _registry() -> dict[str, Workload]:
    workloads: list[Workload] = [
        toy.ToyWorkload(), toy.ToyWorkload(broken="no-fsync-before-rename"),
        toy.ToyWorkload(broken="no-fsync-dir-after-create"),
        toy.ToyWorkload(broken="retry-fsync-after-eio"),
        *core_log.workloads(), *core_save.workloads(), *torn_open.workloads(), *durable_holes.workloads(),
        *layout_meta.workloads(), *reshard.workloads(), *transactions.workloads(), *streams.workloads(),
        *rdb_import.workloads(), *blocking_pops.workloads(), *replica_sync.workloads(),
        *background.workloads(), *kevy_commit_order.workloads(), *store_background.workloads(),
        *group_commit.workloads(),
        *databases.workloads(),
        *owned_background.workloads(),
    ]
    return {workload.name: workload for workload in workloads}


def workload_named(name: str) -> Workload:
    registry = _registry()
    if name not in registry:
        raise KeyError(f"unknown workload {name!r}; known: {', '.join(sorted(registry))}")
    return registry[name]


def all_workloads() -> list[Workload]:
    return list(_registry().values())
