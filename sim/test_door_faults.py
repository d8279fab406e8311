"""Every door call fails, in every workload: EIO and ENOSPC on write, fsync, fsync_dir, rename,
create, remove and truncate, and EIO on the reads of recovery (`sim.faults`).

What it checks: for each core workload and each fault kind, one run per injection point (a
sample of evenly spaced points in the default tier, all of them in the exhaustive tier; per
fsync_dir point, one run per variant of which pending names the failed call wrote), every
cut after the fault recovered and judged by the workload's oracle; zero violations. A
workload with no call of a kind (no remove in a log workload) sweeps nothing for it.

Method and replay: `python -m sim sweep --workload W --profile strict --fault eio-rename`
prints the same figures; every violation prints its `python -m sim replay ...` line.
"""

from __future__ import annotations

import pytest

from sim.disk import Image
from sim.explorer import SweepConfig, sweep
from sim.faults import DOOR_FAULTS, READ_FAULT
from sim.profiles import Limits
from sim.report import format_summary
from sim.simfs import SimFileSystem
from sim.test_sweeps import CORE_WORKLOADS, default_limits

ALL_DOOR_FAULTS = (*DOOR_FAULTS, READ_FAULT)


def _skip_unavailable(workload) -> None:
    reason = workload.skip_reason()
    if reason:
        pytest.skip(reason)
DEFAULT_POINTS = 2  # injection points per kind in the default tier (first and last)


@pytest.mark.parametrize("workload", CORE_WORKLOADS, ids=lambda workload: workload.name)
def test_every_door_fault_at_sampled_points_finds_no_violation(workload):
    """Method: each kind of `ALL_DOOR_FAULTS` at its first and last injection point, strict
    profile, seed 0, nested crashes at the default caps; zero violations in all of them."""
    _skip_unavailable(workload)
    limits, nested_limits = default_limits(workload, "strict")
    failures = []
    for kind in ALL_DOOR_FAULTS:
        result = sweep(SweepConfig(workload.name, "strict", fault=kind, limits=limits,
                                   nested_limits=nested_limits, fault_points=DEFAULT_POINTS))
        if result.violation_count:
            failures.append(format_summary(result))
    assert not failures, "\n".join(failures)


@pytest.mark.exhaustive
@pytest.mark.parametrize("profile", ["strict", "ext4-ordered", "weakest"])
@pytest.mark.parametrize("kind", ALL_DOOR_FAULTS)
@pytest.mark.parametrize("workload", CORE_WORKLOADS, ids=lambda workload: workload.name)
def test_every_door_fault_at_every_point_finds_no_violation(workload, kind, profile):
    """Method: every injection point of the kind (every fsync_dir variant), caps 32/8
    (nested 4/2); zero violations. Long: run with `pytest -m exhaustive sim/test_door_faults.py`."""
    _skip_unavailable(workload)
    result = sweep(SweepConfig(workload.name, profile, fault=kind, limits=Limits(32, 8),
                               nested_limits=Limits(4, 2)))
    assert result.violation_count == 0, format_summary(result)


def _fs_with_d(**options) -> SimFileSystem:
    """A file system holding a durable, empty `/d` (the calls' `make_dirs` is then a no-op
    step): these tests are about the files in it, not about the directory's own name."""
    return SimFileSystem.from_image(Image(("/", "/d"), ()), **options)


def test_a_failed_fsync_dir_writes_the_variant_it_names():
    """The fault model itself: variant 0 writes no pending name, 1 all of them, 2+ a subset
    that keeps each name's order; the call raises either way and unwritten names stay pending."""
    from kevy_persist.errors import StorageIOError
    from sim.faults import FaultPlan

    written_counts = {}
    for variant in (0, 1, 2, 3):
        fs = _fs_with_d(faults=FaultPlan("eio-fsync_dir", 7, variant))
        fs.make_dirs("/d")
        for name in ("a", "b", "c"):
            fs.open_write(f"/d/{name}").close()  # steps 1..6: open + close each
        with pytest.raises(StorageIOError):
            fs.fsync_dir("/d")  # step 7
        state = fs.snapshot()
        written_counts[variant] = len(state.durable_entries["/d"])
        assert written_counts[variant] + len(state.pending_names) == 3
    assert written_counts[0] == 0 and written_counts[1] == 3


def test_a_failed_rename_create_remove_or_truncate_changes_nothing():
    """A failing rename, create, remove or truncate raises the errno and leaves the live and
    durable state as they were."""
    import errno

    from kevy_persist.errors import StorageIOError
    from sim.faults import FaultPlan

    for kind, action in [("eio-rename", lambda fs: fs.rename("/d/a", "/d/b")),
                         ("enospc-create", lambda fs: fs.open_write("/d/new")),
                         ("eio-remove", lambda fs: fs.remove("/d/a")),
                         ("enospc-truncate", lambda fs: fs.open_append("/d/a").truncate(1))]:
        fs = _fs_with_d()
        fs.make_dirs("/d")
        handle = fs.open_write("/d/a")
        handle.write(b"xyz")
        handle.fsync()
        fs.fsync_dir("/d")
        before = (fs.list_dir("/d"), fs.read_bytes("/d/a"), fs.snapshot())
        fs.faults = FaultPlan(kind, fs.step_count + (1 if kind.endswith("truncate") else 0))
        with pytest.raises(StorageIOError) as raised:
            action(fs)
        assert raised.value.errno == (errno.ENOSPC if kind.startswith("enospc") else errno.EIO)
        fs.faults = None
        assert (fs.list_dir("/d"), fs.read_bytes("/d/a")) == before[:2], kind
        assert fs.snapshot().pending_names == before[2].pending_names, kind
