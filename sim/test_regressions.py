"""Regression tests: every bug the simulator found, pinned by its replay line.

Method: each case re-runs `python -m sim replay ...` in process (`sim.explorer.replay`) and
asserts the oracle's verdict is ok. Bugs in the core that are reported but not yet fixed are
`xfail(strict=True)`: the day the fix lands the test passes, strict xfail turns that into a
failure, and the marker must be removed -- the line then guards the fix.
"""

from __future__ import annotations

import shlex

import pytest

from sim.__main__ import main
from sim.explorer import SweepConfig, replay
from sim.profiles import Limits


def _replay_verdict(line: str):
    words = shlex.split(line)
    assert words[:4] == ["python", "-m", "sim", "replay"], line
    options = dict(zip(words[4::2], words[5::2]))
    keep = tuple(int(index) for index in options["--keep"].split(",")) if "--keep" in options else None
    config = SweepConfig(options["--workload"], options["--profile"], seed=int(options["--seed"]),
                         fault=options.get("--fault"), keep=keep, limits=Limits(),
                         nested_limits=Limits(16, 8))
    return replay(config, int(options["--cut"]), options["--image"]).verdict


# Core bugs the sweeps found, all fixed in kevy_persist/engine/shard.py and engine/shard_opening.py:
# - a SAVE whose new-log install failed left the shard without a writer: later writes were
#   acknowledged but never logged (the first two lines);
# - after a failed log swap the next SAVE paired snapshot and log wrongly (the third);
# - a bit flip in a post-SAVE log's epoch marker made recovery write a log of the wrong epoch
#   (covered by the save-* bitflip fault sweeps in test_sweeps.py: the recovery it replayed
#   was rewritten by the fix below, so its nested image id no longer exists);
# - recovery "finished" an interrupted save by writing only the new log, dropping the old
#   log's records past the snapshot's covered offset when that recovery itself crashed (the
#   last core line, a nested crash); recovery now redoes the whole save. (Its nested image
#   was `0.27.0` until opening read the log once: six fewer recovery steps before the same
#   crash point, the new log temp's first write, renumber it `0.21.0`.)
@pytest.mark.parametrize("line", [
    pytest.param("python -m sim replay --workload save-always --profile strict --seed 0 --cut 26 "
                 "--image 0 --fault eio@25"),
    pytest.param("python -m sim replay --workload save-always --profile strict --seed 0 --cut 25 "
                 "--image 0 --fault enospc@24"),
    pytest.param("python -m sim replay --workload save-no --profile strict --seed 0 --cut 37 "
                 "--image 0 --fault eio@23"),
    # (Found at cut 39; the same image is cut 41 since a failed save removes its temp log,
    # two more steps -- exists, remove -- before the cut.)
    pytest.param("python -m sim replay --workload save-always --profile strict --seed 0 --cut 41 "
                 "--image 0.21.0 --fault eio@35 --keep 2,5,6"),
    # A crash kept a later page of unsynced appends and lost an earlier one (zeros to the page
    # end, then valid records): open refused it as corruption. Fixed in aof_scan.py: a
    # page-shaped hole is a torn tail (the records after it were never fsynced).
    pytest.param("python -m sim replay --workload log-pages-no --profile weakest --seed 0 --cut 16 "
                 "--image 50"),
    # Found in the toy protocol (sim/workloads/toy.py) by the weakest profile: a zero-filled
    # tail parsed as a valid empty record (crc32 of nothing is 0). Fixed in the toy.
    pytest.param("python -m sim replay --workload toy --profile weakest --seed 0 --cut 4 --image 23"),
])
def test_replay_line_of_a_found_bug_now_passes(line):
    """Method: replay the exact case; the oracle's verdict must be ok."""
    verdict = _replay_verdict(line)
    assert verdict.ok, f"{verdict.kind}: {verdict.detail}\n{line}"


def test_command_line_replay_exits_zero_on_a_passing_case(capsys):
    """Method: `python -m sim replay` through `main`; exit status 0 and a printed verdict."""
    status = main(shlex.split("replay --workload toy --profile strict --seed 0 --cut 5 --image 0"))
    assert status == 0
    assert "verdict: " in capsys.readouterr().out


def test_a_cut_transaction_block_is_dropped_by_a_save_not_a_truncate_in_place():
    """Found by the weakest profile's out-of-order pages (before the fix:
    `python -m sim replay --workload open-block --profile weakest --seed 0 --cut 19 --image 6`,
    a crash between the truncate and its fsync left zeros to the page's end followed by the
    block's later records: `refused:CorruptionError`). Fixed in kevy_persist/engine/shard_opening.py: the
    block is dropped by a full save. Method: recover the `open-block` image on a recording
    file system (no `truncate` step may occur), then the weakest sweep of `open-block` with
    the caps that found it has no violation."""
    from sim.explorer import sweep
    from sim.simfs import SimFileSystem
    from sim.workloads import workload_named

    workload = workload_named("open-block")
    fs = SimFileSystem.from_image(workload.initial_image(0), record_sites=True)
    workload.recover(fs)
    assert not [step for step in fs.steps if step[1] == "truncate"]
    result = sweep(SweepConfig("open-block", "weakest", limits=Limits(48, 12), nested_limits=Limits(8, 4)))
    assert result.violation_count == 0


# Issue 13, the databases' two-directory protocols (fixed by kevy_persist/store/database_fence.py):
# a SWAPDB or MOVE that failed where its journal may be durable went on as if it had not.
def test_a_swapdb_failed_after_its_commit_point_fences_until_a_restart():
    """Found by the `swapdb-1shard` door-fault sweeps (before the fix:
    `python -m sim replay --workload swapdb-1shard --profile strict --seed 0 --cut 159 --image 0 --fault eio@119`,
    the recovered state held `b` in databases 0 and 1). `SWAPDB 0 2` failed after its commit
    point (the fsync of the root's `reshard.journal`); the store reloaded both databases from
    their old files and served them, so the next `SWAPDB 0 1` replaced the committed swap's
    temps in the root dir and a crash rolled `swapdb.journal` (0 <-> 2) forward with database
    1's keys. With the fence the failed swap's databases refuse writes and the store refuses
    the next SWAPDB until a restart, so that cut no longer exists (the run ends sooner).
    Method: every cut of that fault run (every image, nested crashes) has no violation, and
    both later operations were refused."""
    from sim.explorer import record, sweep
    from sim.faults import parse_fault
    from sim.workloads import workload_named

    config = SweepConfig("swapdb-1shard", "strict", fault="eio@119", limits=Limits(), nested_limits=Limits(16, 8))
    result = sweep(config)
    assert result.cuts > 0 and result.violation_count == 0, [str(violation) for violation in result.violations[:3]]
    workload = workload_named("swapdb-1shard")
    recording = record(workload, workload.operations(0), config, parse_fault("eio@119"))
    assert recording.failed == frozenset({2, 3, 4})  # the failed SWAPDB, the refused SWAPDB and SET


def test_a_move_whose_delete_at_the_source_failed_keeps_its_journal():
    """Found by the `swapdb-1shard` ENOSPC sweep of seed 24 (before the fix:
    `python -m sim replay --workload swapdb-1shard --profile strict --seed 24 --cut 218 --image 0 --fault enospc@200`,
    the recovered state held `a` in databases 0 and 1). `MOVE 0 a 1`'s DEL at the source was
    refused (its log write failed) after the RESTORE in the target was durable; MOVE then
    removed its journal, so nothing would ever delete the key at the source. Now the journal
    stays for recovery and the two shards are fenced. Method: that replay line's verdict is
    ok, and so is every cut of its fault run."""
    line = ("python -m sim replay --workload swapdb-1shard --profile strict --seed 24 --cut 218 "
            "--image 0 --fault enospc@200")
    verdict = _replay_verdict(line)
    assert verdict.ok, f"{verdict.kind}: {verdict.detail}\n{line}"
    from sim.explorer import sweep

    result = sweep(SweepConfig("swapdb-1shard", "strict", seed=24, fault="enospc@200", limits=Limits(),
                               nested_limits=Limits(16, 8)))
    assert result.violation_count == 0
