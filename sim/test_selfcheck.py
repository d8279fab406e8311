"""Self-check of the syncs: every fsync / fsync_dir call site in the core is needed and checked.

Method (`sim.selfcheck`): sweep every core workload under `strict` and `weakest` to collect the
sync call sites the core reaches; then turn one site at a time into a no-op and sweep again.
A site whose removal no sweep detects must carry a written justification in
`sim.selfcheck.JUSTIFIED`; otherwise the test fails and prints the table. Reproduce a
detection with the replay line in the table (`--disable-sync SITE`).
"""

from __future__ import annotations

import pytest

from sim.explorer import SweepConfig
from sim.profiles import Limits
from sim.selfcheck import format_table, limits_for, self_check
from sim.workloads import all_workloads

CORE = [workload for workload in all_workloads()
        if not workload.name.startswith("toy") and not workload.broken_on_purpose
        and workload.skip_reason() is None]
# The default tier self-checks the log, save, open, layout and background-job paths; the re-shard and
# transaction workloads (slow sweeps) join in the exhaustive tier.
FAST = [workload for workload in CORE
        if workload.name.split("-")[0] in ("log", "save", "open", "layout", "background")]


def _run(workloads, profiles, limits, nested_limits):
    configs = [SweepConfig(workload.name, profile, limits=limits_for(workload.name, limits), nested_limits=nested_limits)
               for workload in workloads for profile in profiles]
    return self_check(configs)


def test_every_core_sync_site_is_detected_or_justified():
    """Method: strict + weakest self-check of the log, save, open and layout workloads with
    small caps; every row detected or justified."""
    if not FAST:
        pytest.skip("no core workload is runnable yet")
    rows, unclean = _run(FAST, ("strict", "weakest"), Limits(48, 12), Limits(4, 2))
    table = format_table(rows)
    print(table)
    assert not unclean, unclean
    assert rows, "the core reached no sync call site at all"
    assert not [row for row in rows if not row.detected_by and not row.justification], table


@pytest.mark.exhaustive
def test_every_core_sync_site_is_detected_or_justified_under_every_profile():
    """Method: every core workload (re-shard and transactions too), all three profiles."""
    rows, unclean = _run(CORE, ("strict", "ext4-ordered", "weakest"), Limits(64, 16), Limits(4, 2))
    table = format_table(rows)
    print(table)
    assert not unclean, unclean
    assert not [row for row in rows if not row.detected_by and not row.justification], table


def test_a_shared_helper_is_labelled_by_its_caller_and_disabled_by_key():
    """Method: `aof.create_log` fsyncs through `LogWriter.fsync` from `install_log`; the fsync's
    site names both frames, its key drops the line numbers, and disabling the key (as
    `--disable-sync` does) skips exactly that call while the caller-less test call still syncs."""
    from kevy_persist.engine import aof
    from sim.simfs import SimFileSystem, innermost_frame, site_key

    fs = SimFileSystem(record_sites=True)
    fs.make_dirs("/d")
    aof.create_log(fs, "/d/log", 2, None, [[b"SET", b"k", b"v"]])
    fsync_sites = [step[3] for step in fs.steps if step[1] == "fsync"]
    assert len(fsync_sites) == 1
    key = site_key(fsync_sites[0])
    assert key == "kevy_persist/engine/aof.py in install_log -> kevy_persist/engine/aof.py in fsync", key
    assert innermost_frame(fsync_sites[0]).startswith("kevy_persist/engine/aof.py:")

    disabled = SimFileSystem(disabled_sync_sites=frozenset({key}))
    disabled.make_dirs("/d")
    aof.create_log(disabled, "/d/log", 2, None, [[b"SET", b"k", b"v"]])
    assert disabled.skipped_syncs == 1
    handle = disabled.open_append("/d/other")
    handle.write(b"x")
    handle.fsync()  # a different site: not disabled
    assert disabled.skipped_syncs == 1
