"""Layout workload: creating shards and updating `shards.meta` (`layout-meta`).

What runs. For each shard count in the history (1, 2, 4 ... routed by KevyHash or slots), the
workload opens shards `0..n-1` of `/data` with the real `open_shard` (which creates each
shard's log by durable replace), then records the layout with `layout.write_layout` (durable
replace of `shards.meta`). A layout write counts as complete when `write_layout` returns.

Oracle (`sim.checkers.LayoutChecker`). Recovery reads the layout with `layout.read_layout`;
it must be one of the layouts written (or none before the first), no older than the last
completed write, and every shard file it names must be present and readable: `aof-{i}.aof`
for every i < n scans without a refusal. Re-shard will plug into this workload when it lands.
"""

from __future__ import annotations

from kevy_persist.disk.clock import ManualClock
from kevy_persist.errors import KevyError
from sim.checkers import LayoutChecker
from sim.workloads.base import DATA_DIR, Workload
from sim.workloads.core_log import core_missing


def _layouts(seed: int) -> list[tuple[int, str]]:
    choices = [(1, "kevyhash"), (2, "kevyhash"), (4, "slots"), (2, "slots"), (4, "kevyhash")]
    start = seed % len(choices)
    return (choices[start:] + choices[:start])[:3]


class LayoutMetaWorkload(Workload):
    name = "layout-meta"
    summary = "create shards then record shards.meta by durable replace, three times"
    operation_count = 3
    fault_kinds = ("eio", "enospc", "bitflip")

    def skip_reason(self) -> str | None:
        return core_missing() or _layout_missing()

    def operations(self, seed: int) -> list:
        return _layouts(seed)

    def run(self, fs, operations, history) -> None:
        from kevy_persist.engine.shard import ShardOptions
        from kevy_persist.engine.shard_opening import open_shard
        from kevy_persist.layout.meta import ShardLayout, write_layout
        from kevy_persist.layout.routing import Routing

        fs.make_dirs(DATA_DIR)
        clock = ManualClock()
        for index, (shard_count, routing) in enumerate(operations):
            history.begin(index)
            try:
                for shard_index in range(shard_count):
                    shard = open_shard(fs, clock, ShardOptions(directory=DATA_DIR, index=shard_index))
                    shard.close()
                write_layout(fs, DATA_DIR, ShardLayout(shard_count, Routing(routing)))
            except KevyError:
                return
            history.require(index + 1)

    def recover(self, fs) -> object:
        from kevy_persist.engine.aof import scan_log
        from kevy_persist.layout.meta import LayoutSource, log_name, read_layout

        reading = read_layout(fs, DATA_DIR)
        if reading.source is not LayoutSource.META:
            # No meta yet: read_layout infers a legacy (kevy 1.23) count from the file names,
            # which is not a layout this store recorded -- the store writes its meta next.
            return (None, ())
        layout = (reading.layout.shard_count, reading.layout.routing.value)
        problems = []
        for shard_index in range(reading.layout.shard_count):
            path = DATA_DIR + "/" + log_name(shard_index)
            if not fs.exists(path):
                problems.append(f"{path} missing")
                continue
            scan = scan_log(fs, path)
            if scan.format_version is None:
                problems.append(f"{path} has no readable header")
        return (layout, tuple(problems))

    def checker(self, operations, *, bitflip: bool):
        return LayoutChecker([None] + [tuple(layout) for layout in operations], bitflip=bitflip)


def _layout_missing() -> str | None:
    try:
        from kevy_persist.layout.meta import log_name, read_layout, write_layout  # noqa: F401
    except Exception as error:  # noqa: BLE001
        return f"kevy_persist.layout is not ready: {error}"
    return None


def workloads() -> list[Workload]:
    return [LayoutMetaWorkload()]
