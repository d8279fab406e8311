"""The explorer itself, on the toy protocol of `sim/workloads/toy.py`.

What it proves: the correct toy passes every profile and fault with zero violations; each
deliberately broken variant (a missing fsync, a missing fsync_dir, an fsync retried after
EIO) is caught; the same seed gives the same summary; a replay line reproduces its violation;
shrinking keeps a 1-minimal failing operation list; the self-check notices a removed sync.
Replay any failure with the line the assertion message prints.
"""

from __future__ import annotations

import attrs
import pytest

from sim.explorer import SweepConfig, replay, sweep
from sim.profiles import PROFILE_NAMES
from sim.report import format_summary, replay_line, summary
from sim.selfcheck import self_check
from sim.shrink import shrink


@pytest.mark.parametrize("fault", [None, "eio", "enospc", "short-write", "bitflip"])
@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_correct_toy_protocol_has_no_violation(profile, fault):
    """Method: full sweep (nested crashes on) of the toy under the profile and fault."""
    result = sweep(SweepConfig("toy", profile, fault=fault))
    assert result.violation_count == 0, format_summary(result)
    assert result.distinct_images > 0 and result.cuts > 0


@pytest.mark.parametrize("workload, profile, fault, kind", [
    ("toy-broken-no-fsync-before-rename", "strict", None, "refused:CorruptionError"),
    ("toy-broken-no-fsync-before-rename", "ext4-ordered", None, "refused:CorruptionError"),
    ("toy-broken-no-fsync-dir-after-create", "strict", None, "lost-acknowledged"),
    ("toy-broken-no-fsync-dir-after-create", "weakest", None, "lost-acknowledged"),
    ("toy-broken-retry-fsync-after-eio", "strict", "eio", "lost-acknowledged"),
])
def test_explorer_catches_each_broken_variant(workload, profile, fault, kind):
    """Method: sweep the broken variant; the expected violation kind must be among those found."""
    result = sweep(SweepConfig(workload, profile, fault=fault))
    assert result.violation_count > 0
    assert kind in {violation.kind for violation in result.violations}, format_summary(result)


def test_retry_after_eio_is_invisible_without_the_fault():
    """Method: the retry variant sweeps clean without faults -- only the eio fault exposes it."""
    assert sweep(SweepConfig("toy-broken-retry-fsync-after-eio", "strict")).violation_count == 0


def test_same_seed_same_result_bit_for_bit():
    """Method: two weakest sweeps with sampling forced (tiny cap) give identical summaries."""
    from sim.profiles import Limits

    config = SweepConfig("toy", "weakest", seed=5, limits=Limits(8, 12), fault="bitflip")
    first, second = summary(sweep(config)), summary(sweep(config))
    for data in (first, second):
        for key in ("seconds", "cpu_seconds", "images_per_cpu_second"):
            data.pop(key)
    assert first == second


def test_replay_line_reproduces_the_violation_exactly():
    """Method: take each reported violation, replay its cut and image, get the same kind."""
    config = SweepConfig("toy-broken-no-fsync-dir-after-create", "weakest")
    result = sweep(config)
    assert result.violations
    for violation in result.violations[:5]:
        report = replay(config, violation.cut, violation.image)
        assert not report.verdict.ok and report.verdict.kind == violation.kind, replay_line(config, violation)


def test_replay_reproduces_a_fault_case():
    """Method: the eio violation of the retry variant replays with its `eio@STEP` label."""
    config = SweepConfig("toy-broken-retry-fsync-after-eio", "strict", fault="eio")
    violation = sweep(config).violations[0]
    report = replay(attrs.evolve(config, fault=violation.fault), violation.cut, violation.image)
    assert report.verdict.kind == "lost-acknowledged"


def test_shrinking_finds_a_one_minimal_failing_history():
    """Method: shrink, then check the kept list fails and dropping any one op passes."""
    config = SweepConfig("toy-broken-no-fsync-dir-after-create", "strict")
    shrunk_config, shrunk_result = shrink(config)
    assert shrunk_result.violation_count > 0
    assert len(shrunk_config.keep) == 1  # one acknowledged write in the never-synced log
    for index in range(len(shrunk_config.keep)):
        fewer = shrunk_config.keep[:index] + shrunk_config.keep[index + 1:]
        assert sweep(attrs.evolve(shrunk_config, keep=fewer)).violation_count == 0


def test_self_check_detects_the_removal_of_the_fsyncs_the_toy_needs():
    """Method: self-check over the toy's own sync sites; the log fsync, the snapshot fsync and
    the first fsync_dir must be detected. The later fsync_dirs of SAVE are each made redundant
    by the next one (one directory sync covers all pending names), which the table shows."""
    rows, unclean = self_check([SweepConfig("toy", profile) for profile in ("strict", "weakest")],
                               include_sim_sites=True)
    assert not unclean
    detected = {row.site.split(" in ")[1] for row in rows if row.detected_by}
    assert {"run", "_save", "_fsync"} <= detected
    by_function = [row for row in rows if row.site.endswith("in _fsync")]
    assert by_function and all(row.detected_by for row in by_function)
