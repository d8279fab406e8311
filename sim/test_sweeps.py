"""Crash sweeps of every workload under every profile (and fault) -- the simulator's verdict.

What it checks: for each workload (`python -m sim list`), the explorer cuts before every step,
enumerates the crash images the profile allows, runs the real recovery (`open_shard`,
`read_layout`) on each distinct image and on crashes of that recovery, and asks the oracle
(a plain-dict model of acknowledged writes; the layout checker) whether anything
acknowledged was lost, applied twice, or refused. Zero violations is the pass mark.

Tiers: the default tier (`pytest sim/`) runs each sweep with moderate caps; the exhaustive
tier (`pytest -m exhaustive sim/`) raises the caps and adds seeds. Replay a failure with the
`python -m sim replay ...` line in the assertion message.

Known core bugs (reported to the lead) are `xfail(strict=True)` in `KNOWN_BUGS`: when a fix
lands the sweep passes, the xfail turns into a failure, and the entry must be deleted.
"""

from __future__ import annotations

import pytest

from sim.explorer import SweepConfig, sweep
from sim.profiles import PROFILE_NAMES, Limits
from sim.report import format_summary
from sim.workloads import all_workloads

# Concurrent workloads sweep their interleavings in sim/test_scheduler.py.
CORE_WORKLOADS = [workload for workload in all_workloads()
                  if not workload.name.startswith("toy") and not workload.broken_on_purpose
                  and not getattr(workload, "concurrent", False)]
DEFAULT_LIMITS = {"strict": Limits(64, 16), "ext4-ordered": Limits(64, 16), "weakest": Limits(48, 12)}
DEFAULT_NESTED = Limits(8, 4)
# Re-shard recovery reads and rewrites every shard on every image (~600 images per CPU-second):
# smaller caps keep the default tier fast; the exhaustive tier raises them.
HEAVY_PREFIXES = ("reshard",)
HEAVY_DEFAULT = {"strict": Limits(64, 16), "ext4-ordered": Limits(32, 8), "weakest": Limits(16, 6)}
HEAVY_DEFAULT_NESTED = Limits(2, 1)


# SWAPDB's workloads: a SWAPDB is hundreds of steps (temps in two dirs, the journal, two
# roll-forwards) and each recovery opens three databases, so their full default sweeps take
# minutes: they run in the exhaustive tier, and the default tier runs a small sample of
# `swapdb-1shard` (`test_swapdb_sample_finds_no_violation`, about 20 s).
# `reshard-twice-1-3-2` and `import-rdb-1-kevyhash-then-3` (a re-shard right after a
# committed one, every recovery a re-shard) and `move-1shard` (each recovery opens three
# databases) take most of a minute under `weakest` alone: exhaustive tier too.
SLOW_PREFIXES = ("swapdb", "move-", "reshard-twice", "import-rdb-1-kevyhash-then")
SWAPDB_SAMPLE = {  # profile -> (limits, nested limits, nested crashes on)
    "strict": (Limits(16, 4), Limits(2, 1), True),
    "ext4-ordered": (Limits(8, 2), Limits(1, 1), True),
    "weakest": (Limits(4, 2), Limits(1, 1), False),
}


def _tiered(workload):
    marks = [pytest.mark.exhaustive] if workload.name.startswith(SLOW_PREFIXES) else []
    return pytest.param(workload, marks=marks, id=workload.name)


def default_limits(workload, profile: str) -> tuple[Limits, Limits]:
    if workload.name.startswith(HEAVY_PREFIXES):
        return HEAVY_DEFAULT[profile], HEAVY_DEFAULT_NESTED
    return DEFAULT_LIMITS[profile], DEFAULT_NESTED


def exhaustive_limits(workload) -> tuple[Limits, Limits]:
    if workload.name.startswith(HEAVY_PREFIXES):
        return Limits(256, 64), Limits(8, 4)
    return Limits(1024, 256), Limits(64, 16)

# (workload, fault) -> the bug, with its replay line. See sim/test_regressions.py.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def _skip_unavailable(workload) -> None:
    reason = workload.skip_reason()
    if reason:
        pytest.skip(reason)


def _fault_cases():
    for workload in CORE_WORKLOADS:
        for fault in workload.fault_kinds:
            marks = [pytest.mark.exhaustive] if workload.name.startswith(SLOW_PREFIXES) else []
            bug = KNOWN_BUGS.get((workload.name, fault))
            if bug:
                marks.append(pytest.mark.xfail(strict=True, reason=f"known core bug: {bug}"))
            yield pytest.param(workload, fault, marks=marks, id=f"{workload.name}-{fault}")


@pytest.mark.parametrize("profile", PROFILE_NAMES)
@pytest.mark.parametrize("workload", [_tiered(workload) for workload in CORE_WORKLOADS])
def test_default_sweep_finds_no_violation(workload, profile):
    """Method: one sweep, seed 0, moderate caps, nested crashes on; zero violations."""
    _skip_unavailable(workload)
    limits, nested_limits = default_limits(workload, profile)
    result = sweep(SweepConfig(workload.name, profile, limits=limits, nested_limits=nested_limits))
    assert result.violation_count == 0, format_summary(result)
    assert result.cuts > 0 and result.distinct_images > 0


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_swapdb_sample_finds_no_violation(profile):
    """Method: `swapdb-1shard`, seed 0, every cut with a few images each (see SWAPDB_SAMPLE);
    zero violations. The full sweeps: `pytest -m exhaustive sim/test_sweeps.py -k swapdb`."""
    limits, nested_limits, nested = SWAPDB_SAMPLE[profile]
    result = sweep(SweepConfig("swapdb-1shard", profile, limits=limits, nested_limits=nested_limits, nested=nested))
    assert result.violation_count == 0, format_summary(result)
    assert result.cuts > 100  # every step of both SWAPDBs and the MOVE / COPY protocol is cut


@pytest.mark.parametrize("workload, fault", list(_fault_cases()))
def test_fault_sweep_finds_no_violation(workload, fault):
    """Method: every injection point of the fault (strict profile), seed 0; zero violations."""
    _skip_unavailable(workload)
    limits, nested_limits = default_limits(workload, "strict")
    result = sweep(SweepConfig(workload.name, "strict", fault=fault, limits=limits,
                               nested_limits=nested_limits))
    assert result.violation_count == 0, format_summary(result)


@pytest.mark.exhaustive
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("profile", PROFILE_NAMES)
@pytest.mark.parametrize("workload", CORE_WORKLOADS, ids=lambda workload: workload.name)
def test_exhaustive_sweep_finds_no_violation(workload, profile, seed):
    """Method: larger caps (1024 listed, 256 sampled; nested 64/16; re-shard 256/64, 8/4),
    three more seeds."""
    _skip_unavailable(workload)
    limits, nested_limits = exhaustive_limits(workload)
    result = sweep(SweepConfig(workload.name, profile, seed=seed, limits=limits,
                               nested_limits=nested_limits))
    assert result.violation_count == 0, format_summary(result)


@pytest.mark.exhaustive
@pytest.mark.parametrize("profile", ["ext4-ordered", "weakest"])
@pytest.mark.parametrize("workload, fault", list(_fault_cases()))
def test_exhaustive_fault_sweep_finds_no_violation(workload, fault, profile):
    """Method: every injection point of the fault under the looser profiles."""
    _skip_unavailable(workload)
    result = sweep(SweepConfig(workload.name, profile, fault=fault, limits=Limits(64, 16),
                               nested_limits=Limits(8, 4)))
    assert result.violation_count == 0, format_summary(result)


RESUME_WORKLOADS = ["log-always", "log-no", "save-always", "save-no"]


@pytest.mark.parametrize("profile", ["strict", "weakest"])
@pytest.mark.parametrize("workload", RESUME_WORKLOADS)
def test_writing_after_every_recovery_and_crashing_again_finds_no_violation(workload, profile):
    """Method (sim/resume.py): after each accepted recovery, INCR, LPUSH, SAVE and APPEND on
    the recovered shard, each acknowledged after an fsync, a crash before every step of that,
    and recovery again: the state is the recovered one plus an acknowledged-including prefix
    of those writes. Caps 48/12 (nested and resumed crashes 8/4)."""
    result = sweep(SweepConfig(workload, profile, limits=Limits(48, 12), nested_limits=Limits(8, 4), resume=True))
    assert result.violation_count == 0, format_summary(result)
    assert any(kind == "resume resumed" for kind in result.outcomes)


@pytest.mark.parametrize("workload", ["log-always", "save-no", "layout-meta", "open-torn"])
def test_a_kill_then_recovery_on_the_live_state_then_a_crash_finds_no_violation(workload):
    """Method (sim/restart.py): at every cut the process is killed, not crashed; a new one
    recovers on the live state (pending effects still pending), and that recovery is crashed
    at each of its steps; weakest profile, caps 32/8 (restart crashes 8/4)."""
    result = sweep(SweepConfig(workload, "weakest", limits=Limits(32, 8), nested_limits=Limits(8, 4), restart=True))
    assert result.violation_count == 0, format_summary(result)
    assert any(kind.startswith("restart ") for kind in result.outcomes)
